// check_http's judgement on its own: which status codes count as up, the headers option, and
// the status and message a result gives, on a fixed clock.
#include "http_check.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "vigil_plugin_procfs/human.hpp"

using namespace vigil::check_http;
using vigil::plugin_http::Certificate;
using vigil::plugin_http::ErrorKind;
using vigil::plugin_http::Result;
using vigil::procfs::format_duration;

namespace {

constexpr int64_t kNow = 1700000000;
constexpr int64_t kDay = 86400;

Result answered(long status, double seconds, std::string body = "") {
  Result r;
  r.response.status = status;
  r.response.timing.total_seconds = seconds;
  r.response.body = std::move(body);
  return r;
}

Certificate cert(const std::string& subject, int64_t not_after) {
  Certificate c;
  c.subject = subject;
  c.not_after_unix = not_after;
  return c;
}

}  // namespace

TEST_CASE("by default any 2xx or 3xx is up") {
  StatusMatcher m;
  CHECK(m.matches(200));
  CHECK(m.matches(204));
  CHECK(m.matches(302));
  CHECK(m.matches(399));
  CHECK_FALSE(m.matches(199));
  CHECK_FALSE(m.matches(404));
  CHECK_FALSE(m.matches(500));
  CHECK(m.describe() == "2xx or 3xx");
  std::string error;
  REQUIRE(StatusMatcher::parse("", m, error));
  CHECK(m.describe() == "2xx or 3xx");
}

TEST_CASE("expected_status takes codes and classes") {
  StatusMatcher m;
  std::string error;
  REQUIRE(StatusMatcher::parse("[200,204]", m, error));
  CHECK(m.matches(204));
  CHECK_FALSE(m.matches(201));
  CHECK(m.describe() == "200 or 204");
  REQUIRE(StatusMatcher::parse("[\"2xx\",301,\"5XX\"]", m, error));
  CHECK(m.matches(299));
  CHECK(m.matches(301));
  CHECK(m.matches(503));
  CHECK_FALSE(m.matches(302));
  CHECK(m.describe() == "2xx, 301 or 5xx");
}

TEST_CASE("a bad expected_status says which item and what is expected") {
  StatusMatcher m;
  std::string error;
  CHECK_FALSE(StatusMatcher::parse("200", m, error));
  CHECK(error ==
        "found 200, expected a non-empty array of status codes and classes such as "
        "[200, 204] or [\"2xx\", 301]");
  CHECK_FALSE(StatusMatcher::parse("[200,99]", m, error));
  CHECK(error == "item 1 is 99, expected a status code from 100 to 599");
  CHECK_FALSE(StatusMatcher::parse("[\"2x\"]", m, error));
  CHECK(error.rfind("item 0 is \"2x\", expected a class such as \"2xx\"", 0) == 0);
  CHECK_FALSE(StatusMatcher::parse("[true]", m, error));
  CHECK_FALSE(StatusMatcher::parse("[]", m, error));
}

TEST_CASE("headers come from a JSON object") {
  vigil::plugin_http::Headers h;
  std::string error;
  REQUIRE(parse_headers("{\"Accept\":\"application/json\",\"X-Retries\":3}", h, error));
  REQUIRE(h.size() == 2);
  CHECK(h[0] == std::make_pair(std::string("Accept"), std::string("application/json")));
  CHECK(h[1] == std::make_pair(std::string("X-Retries"), std::string("3")));
  REQUIRE(parse_headers("", h, error));
  CHECK(h.empty());

  CHECK_FALSE(parse_headers("[\"Accept: x\"]", h, error));
  CHECK(error.rfind("found [\"Accept: x\"], expected a JSON object of header names", 0) == 0);
  CHECK_FALSE(parse_headers("{\"Bad Name\":\"x\"}", h, error));
  CHECK(error == "header name \"Bad Name\" is empty or holds a space, ':' or line break");
  CHECK_FALSE(parse_headers("{\"X\":\"a\\r\\nInjected: 1\"}", h, error));
  CHECK(error == "header \"X\" has a line break in its value; one line per header");
  CHECK_FALSE(parse_headers("{\"X\":{\"nested\":1}}", h, error));
}

TEST_CASE("an expected answer is ok, with the time in the message") {
  Verdict v = judge(answered(200, 0.0123), Expectations{}, kNow);
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message == "HTTP 200 in 12 ms");
  CHECK(v.certificate == nullptr);
}

TEST_CASE("a wrong status or a body that does not match is critical, saying why") {
  Expectations e;
  std::string error;
  e.body_pattern = vigil::plugin_pattern::Pattern::compile("\"status\":\"up\"", error);
  Verdict v = judge(answered(500, 0.0004, "{\"status\":\"down\"}"), e, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message ==
        "HTTP 500 in 0.4 ms, expected 2xx or 3xx, body does not match /\"status\":\"up\"/");
  v = judge(answered(200, 1.5, "{\"status\":\"up\"}"), e, kNow);
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message == "HTTP 200 in 1.50 s");
}

TEST_CASE("no answer is critical with the client's error") {
  Result r;
  r.error_kind = ErrorKind::connect;
  r.error = "GET http://127.0.0.1:1/: Failed to connect (curl error 7)";
  Verdict v = judge(r, Expectations{}, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == r.error);

  r.error_kind = ErrorKind::tls_verify;
  r.error = "GET https://x/: SSL certificate problem: self-signed certificate (curl error 60)";
  v = judge(r, Expectations{}, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == r.error + "; trust the server's CA with ca_file, or set insecure_skip_verify");
}

TEST_CASE("certificate expiry against the warning and critical days") {
  Expectations e;  // 14 and 7 days
  auto with_cert = [](int64_t not_after) {
    Result r = answered(200, 0.02);
    r.response.certificates.push_back(cert("CN = example.com", not_after));
    return r;
  };
  Result r = with_cert(kNow + 80 * kDay + 100);
  Verdict v = judge(r, e, kNow);
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message == "HTTP 200 in 20 ms, certificate expires in 80 days");
  REQUIRE(v.certificate != nullptr);
  CHECK(v.certificate->not_after_unix == kNow + 80 * kDay + 100);

  r = with_cert(kNow + 10 * kDay);
  v = judge(r, e, kNow);
  CHECK(v.status == VIGIL_HEALTH_WARNING);
  CHECK(v.message == "HTTP 200 in 20 ms, certificate expires in 10 days (warning below 14 days)");

  r = with_cert(kNow + 5 * kDay - 60);
  v = judge(r, e, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == "HTTP 200 in 20 ms, certificate expires in 4 days (critical below 7 days)");

  r = with_cert(kNow + 3 * 3600 + 5);
  CHECK(judge(r, e, kNow).message ==
        "HTTP 200 in 20 ms, certificate expires in 3 hours (critical below 7 days)");

  r = with_cert(kNow - 2 * kDay - 5);
  v = judge(r, e, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == "HTTP 200 in 20 ms, certificate expired 2 days ago");

  SECTION("thresholds of zero turn the expiry alarms off") {
    Expectations off;
    off.cert_warning_days = 0;
    off.cert_critical_days = 0;
    r = with_cert(kNow + 3600);
    CHECK(judge(r, off, kNow).status == VIGIL_HEALTH_OK);
  }
}

TEST_CASE("an intermediate that expires before the leaf is named") {
  Result r = answered(200, 0.02);
  r.response.certificates.push_back(cert("CN = example.com", kNow + 60 * kDay));
  r.response.certificates.push_back(cert("CN = Example Intermediate", kNow + 3 * kDay));
  Verdict v = judge(r, Expectations{}, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message ==
        "HTTP 200 in 20 ms, certificate \"CN = Example Intermediate\" expires in 3 "
        "days (critical below 7 days)");
  CHECK(v.certificate == &r.response.certificates[1]);
}

TEST_CASE("a wrong status and an expiring certificate are both reported") {
  Result r = answered(503, 0.02);
  r.response.certificates.push_back(cert("CN = example.com", kNow + 10 * kDay));
  Verdict v = judge(r, Expectations{}, kNow);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message ==
        "HTTP 503 in 20 ms, expected 2xx or 3xx, certificate expires in 10 days "
        "(warning below 14 days)");
}

TEST_CASE("durations read the way people write them") {
  CHECK(format_duration(0.00042) == "0.4 ms");
  CHECK(format_duration(0.0099) == "9.9 ms");
  CHECK(format_duration(0.012) == "12 ms");
  CHECK(format_duration(0.9994) == "999 ms");
  CHECK(format_duration(2.5) == "2.50 s");
}
