// The built check_http.so, loaded with dlopen and run through the SDK's fake host against real
// servers on loopback: the Beast test server for plain HTTP, and `openssl s_server` with
// certificates made by the test for HTTPS (verification, ca_file, expiry thresholds).
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"
#include "loopback.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <string>

using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;
using vigil::testing::ClosedPort;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::plugin;
using vigil::testing::TempDir;
using vigil::testing::TlsTestServer;

namespace {

vigil::Labels labels_for(const std::string& url, const std::string& check = "test") {
  return {{"check", check}, {"url", url}};
}

int64_t now_unix() {
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace

TEST_CASE("the plugin is a health check with a required url and documented defaults") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "check_http");
  CHECK(d->health_check != nullptr);
  CHECK(d->collector == nullptr);
  bool saw_url = false, saw_warning = false, saw_critical = false;
  for (size_t i = 0; i < d->option_count; ++i) {
    const vigil_option_desc& o = d->options[i];
    std::string name = o.name;
    if (name == "url") saw_url = o.required != 0;
    if (name == "cert_warning_days") saw_warning = std::string(o.default_value) == "14";
    if (name == "cert_critical_days") saw_critical = std::string(o.default_value) == "7";
  }
  CHECK(saw_url);
  CHECK(saw_warning);
  CHECK(saw_critical);
}

TEST_CASE("a 200 is ok, and the status code and duration are written") {
  HttpTestServer server;
  FakeHost host;
  const std::string url = server.url("/ok");
  auto inst = host.create(plugin(), {{"url", url}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(inst.health().message, Matches("HTTP 200 in [0-9.]+ ms"));
  CHECK(host.value("vigil_http_check_status_code", labels_for(url)) == 200);
  CHECK(host.value("vigil_http_check_duration_seconds", labels_for(url)) > 0);
  CHECK(host.value("vigil_http_check_duration_seconds", labels_for(url)) < 30);
  CHECK_FALSE(host.has("vigil_http_check_cert_expiry_seconds", labels_for(url)));
  REQUIRE(host.family("vigil_http_check_duration_seconds"));
  CHECK(host.family("vigil_http_check_duration_seconds")->unit == "seconds");
}

TEST_CASE("a 500 is critical, naming the status that was expected") {
  HttpTestServer server;
  FakeHost host;
  const std::string url = server.url("/status/500");
  auto inst = host.create(plugin(), {{"url", url}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Matches("HTTP 500 in [0-9.]+ ms, expected 2xx or 3xx"));
  CHECK(host.value("vigil_http_check_status_code", labels_for(url)) == 500);
}

TEST_CASE("expected_status changes what counts as up") {
  HttpTestServer server;
  FakeHost host;
  auto teapot =
      host.create(plugin(), {{"url", server.url("/status/418")}, {"expected_status", "[418]"}});
  REQUIRE(teapot.check().is_ok());
  CHECK(teapot.health().status == VIGIL_HEALTH_OK);

  auto only_2xx = host.create(
      plugin(), {{"url", server.url("/redirect")}, {"expected_status", "[\"2xx\"]"}}, {"only_2xx"});
  REQUIRE(only_2xx.check().is_ok());
  CHECK(only_2xx.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(only_2xx.health().message, Contains("HTTP 302") && Contains("expected 2xx"));
}

TEST_CASE("redirects pass as 3xx, or are followed when asked") {
  HttpTestServer server;
  FakeHost host;
  auto plain = host.create(plugin(), {{"url", server.url("/redirect")}}, {"plain"});
  REQUIRE(plain.check().is_ok());
  CHECK(plain.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(plain.health().message, StartsWith("HTTP 302"));

  auto follow = host.create(plugin(),
                            {{"url", server.url("/redirect")},
                             {"follow_redirects", "true"},
                             {"body_pattern", "hello from"}},
                            {"follow"});
  REQUIRE(follow.check().is_ok());
  CHECK(follow.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(follow.health().message, StartsWith("HTTP 200"));
}

TEST_CASE("body_pattern must match the body") {
  HttpTestServer server;
  FakeHost host;
  auto good = host.create(
      plugin(), {{"url", server.url("/ok")}, {"body_pattern", "^hello (from|to)"}}, {"good"});
  REQUIRE(good.check().is_ok());
  CHECK(good.health().status == VIGIL_HEALTH_OK);

  auto bad =
      host.create(plugin(), {{"url", server.url("/ok")}, {"body_pattern", "goodbye"}}, {"bad"});
  REQUIRE(bad.check().is_ok());
  CHECK(bad.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(bad.health().message,
             Matches("HTTP 200 in [0-9.]+ ms, body does not match /goodbye/"));
}

TEST_CASE("method, headers and body are sent as configured") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", server.url("/echo")},
                 {"method", "POST"},
                 {"headers", "{\"X-Test\":\"from-config\",\"Content-Type\":\"application/json\"}"},
                 {"body", "{\"ping\":1}"},
                 {"body_pattern", "method=POST.*x-test=from-config"}});
  REQUIRE(inst.check().is_ok());
  INFO(inst.health().message);
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  vigil::testing::SeenRequest seen = server.last_request();
  CHECK(seen.method == "POST");
  CHECK(seen.body == "{\"ping\":1}");
  CHECK(seen.headers["content-type"] == "application/json");
}

TEST_CASE("a server slower than the timeout is critical, reported before the host's timeout") {
  HttpTestServer server;
  FakeHost host;
  const std::string url = server.url("/slow/8000");
  auto inst = host.create(plugin(), {{"url", url}, {"timeout", "300ms"}});
  auto start = std::chrono::steady_clock::now();
  REQUIRE(inst.check().is_ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(6));
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, StartsWith("GET " + url + ": ") && Contains("timed out"));
  CHECK(host.value("vigil_http_check_status_code", labels_for(url)) == 0);
}

TEST_CASE("without a timeout option the request stops before the instance's timeout") {
  HttpTestServer server;
  FakeHost host;
  vigil::testing::InstanceSettings settings("short");
  settings.timeout = std::chrono::milliseconds(1000);
  auto inst = host.create(plugin(), {{"url", server.url("/slow/8000")}}, settings);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(inst.check().is_ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(6));
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Contains("timed out after 9"));  // 900 ms: 90 % of 1 s
}

TEST_CASE("a refused connection is critical") {
  ClosedPort closed;
  FakeHost host;
  const std::string url = "http://127.0.0.1:" + std::to_string(closed.port) + "/";
  auto inst = host.create(plugin(), {{"url", url}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, StartsWith("GET " + url + ": ") && Contains("(curl error 7)"));
}

TEST_CASE("a password in the URL stays out of messages and labels") {
  ClosedPort closed;
  FakeHost host;
  const std::string url = "http://monitor:s3cret@127.0.0.1:" + std::to_string(closed.port) + "/";
  const std::string shown = "http://monitor:***@127.0.0.1:" + std::to_string(closed.port) + "/";
  auto inst = host.create(plugin(), {{"url", url}});
  REQUIRE(inst.check().is_ok());
  CHECK_THAT(inst.health().message, !Contains("s3cret"));
  CHECK(host.has("vigil_http_check_status_code", labels_for(shown)));
}

TEST_CASE("options that cannot work are refused when the instance is created") {
  FakeHost host;
  auto refused = [&](vigil::testing::OptionMap options) {
    auto inst = host.try_create(plugin(), options);
    CHECK_FALSE(inst);
    return inst.status().message();
  };
  CHECK_THAT(
      refused({{"url", "ftp://example.com/"}}),
      Contains(
          "option \"url\": found \"ftp://example.com/\", expected an http:// or https:// URL"));
  CHECK_THAT(refused({{"url", "http://x/"}, {"headers", "[1]"}}),
             StartsWith("option \"headers\": found [1], expected a JSON object"));
  CHECK_THAT(
      refused({{"url", "http://x/"}, {"expected_status", "[600]"}}),
      Contains(
          "option \"expected_status\": item 0 is 600, expected a status code from 100 to 599"));
  CHECK_THAT(
      refused({{"url", "http://x/"}, {"body_pattern", "(open"}}),
      StartsWith("option \"body_pattern\": /(open/ is not a POSIX extended regular expression"));
  CHECK_THAT(refused({{"url", "http://x/"}, {"method", "HEAD"}, {"body_pattern", "x"}}),
             Contains("method is HEAD, whose answer has no body"));
  CHECK_THAT(refused({{"url", "http://x/"}, {"method", "GET /"}}),
             Contains("option \"method\": found \"GET /\", expected an HTTP method"));
  CHECK_THAT(
      refused({{"url", "https://x/"}, {"ca_file", "/nonexistent/ca.pem"}}),
      Contains(
          "option \"ca_file\": /nonexistent/ca.pem cannot be read: No such file or directory"));
  CHECK_THAT(
      refused({{"url", "https://x/"}, {"cert_warning_days", "3"}, {"cert_critical_days", "7"}}),
      Contains("expected 0 <= cert_critical_days <= cert_warning_days"));
  CHECK_THAT(refused({{"method", "GET"}}), Contains("url"));  // required
}

TEST_CASE("HTTPS: a self-signed certificate is critical by default, saying why and what to do") {
  if (!vigil::testing::have_openssl())
    FAIL("the openssl command is needed (apt-get install openssl)");
  TempDir dir("vigil_check_http");
  auto cert = vigil::testing::make_certificate(dir, "server", 60);
  TlsTestServer server(cert);
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url()}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message,
             Contains("self-signed certificate") && Contains("trust the server's CA with ca_file"));
}

// A certificate made with -days N expires N days from the second it was made; a check within
// that same second sees exactly N days left, a later one N-1 and a bit: both are right.
TEST_CASE("HTTPS: with ca_file the check passes and reports the days left") {
  TempDir dir("vigil_check_http");
  auto cert = vigil::testing::make_certificate(dir, "server", 60);
  TlsTestServer server(cert);
  FakeHost host;
  const std::string url = server.url("localhost");
  auto inst = host.create(plugin(), {{"url", url}, {"ca_file", cert.cert}});
  REQUIRE(inst.check().is_ok());
  INFO(inst.health().message);
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(inst.health().message,
             Matches("HTTP 200 in [0-9.]+ m?s, certificate expires in (59|60) days"));
  double expiry = host.value("vigil_http_check_cert_expiry_seconds", labels_for(url));
  CHECK(expiry > now_unix() + 59 * 86400);
  CHECK(expiry < now_unix() + 61 * 86400);

  SECTION("every run reads the certificate again (a fresh connection each time)") {
    REQUIRE(inst.check().is_ok());
    CHECK_THAT(inst.health().message, Matches(".*certificate expires in (59|60) days"));
  }
  SECTION("when the clock passes the expiry date the check is critical") {
    host.set_now_ms((now_unix() + 61 * 86400) * 1000);
    REQUIRE(inst.check().is_ok());
    CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
    CHECK_THAT(inst.health().message, Contains("certificate expired 1 day ago"));
  }
}

TEST_CASE("HTTPS: a certificate expiring in 10 days warns, in 5 days is critical") {
  TempDir dir("vigil_check_http");
  auto ten = vigil::testing::make_certificate(dir, "ten", 10);
  auto five = vigil::testing::make_certificate(dir, "five", 5);
  TlsTestServer ten_server(ten), five_server(five);
  FakeHost host;
  auto warn = host.create(plugin(), {{"url", ten_server.url()}, {"ca_file", ten.cert}}, {"ten"});
  auto crit = host.create(plugin(), {{"url", five_server.url()}, {"ca_file", five.cert}}, {"five"});
  REQUIRE(warn.check().is_ok());
  REQUIRE(crit.check().is_ok());
  CHECK(warn.health().status == VIGIL_HEALTH_WARNING);
  CHECK_THAT(warn.health().message,
             Matches(".*certificate expires in (9|10) days \\(warning below 14 days\\)"));
  CHECK(crit.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(
      crit.health().message,
      Matches("HTTP 200 in .*, certificate expires in (4|5) days \\(critical below 7 days\\)"));

  SECTION("thresholds are options") {
    auto relaxed = host.create(plugin(),
                               {{"url", five_server.url()},
                                {"ca_file", five.cert},
                                {"cert_warning_days", "3"},
                                {"cert_critical_days", "1"}},
                               {"relaxed"});
    REQUIRE(relaxed.check().is_ok());
    CHECK(relaxed.health().status == VIGIL_HEALTH_OK);
  }
}

TEST_CASE(
    "HTTPS: insecure_skip_verify connects, still checks the expiry, and says it is insecure") {
  TempDir dir("vigil_check_http");
  auto cert = vigil::testing::make_certificate(dir, "server", 5);
  TlsTestServer server(cert);
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url()}, {"insecure_skip_verify", "true"}});
  CHECK(host.logged("insecure_skip_verify is set"));
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Contains("HTTP 200") && Contains("critical below 7 days"));
}

TEST_CASE("HTTPS: client_cert and client_key for a server that demands one") {
  TempDir dir("vigil_check_http");
  auto server_cert = vigil::testing::make_certificate(dir, "server", 60);
  auto client_cert = vigil::testing::make_certificate(dir, "client", 60);
  TlsTestServer server(server_cert, client_cert.cert);
  FakeHost host;
  auto without =
      host.create(plugin(), {{"url", server.url()}, {"ca_file", server_cert.cert}}, {"without"});
  REQUIRE(without.check().is_ok());
  CHECK(without.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(without.health().message, Contains("certificate required"));

  auto with = host.create(plugin(),
                          {{"url", server.url()},
                           {"ca_file", server_cert.cert},
                           {"client_cert", client_cert.cert},
                           {"client_key", client_cert.key}},
                          {"with"});
  REQUIRE(with.check().is_ok());
  INFO(with.health().message);
  CHECK(with.health().status == VIGIL_HEALTH_OK);
}
