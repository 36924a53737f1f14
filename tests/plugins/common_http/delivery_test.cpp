// How every HTTP notifier judges an answer (vigil_plugin_http/delivery.hpp): against the real
// loopback server for the answers, and on its own for Retry-After values.
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/client.hpp"

#include "loopback.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>

#include <string>

using vigil::plugin_http::judge_delivery;
using vigil::plugin_http::parse_retry_after;
using vigil::plugin_http::Verdict;

namespace {

vigil::plugin_http::Judgement post(const std::string& url) {
  vigil::plugin_http::Client client;
  vigil::plugin_http::Request request;
  request.method = "POST";
  request.url = url;
  request.body = "{}";
  request.timeout = std::chrono::milliseconds(5000);
  return judge_delivery("POST " + url, client.perform(request));
}

}  // namespace

TEST_CASE("notifier answers: 2xx delivered, 408/429/5xx retryable, other 4xx and 3xx permanent") {
  vigil::testing::HttpTestServer server;
  CHECK(post(server.url("/status/200")).verdict == Verdict::delivered);
  CHECK(post(server.url("/status/202")).verdict == Verdict::delivered);
  const auto bad = post(server.url("/status/400"));
  CHECK(bad.verdict == Verdict::permanent);
  CHECK_THAT(bad.message, Catch::Contains("HTTP 400 (status 400)") &&
                              Catch::Contains("a client error will not change on a retry"));
  CHECK(post(server.url("/status/404")).verdict == Verdict::permanent);
  CHECK(post(server.url("/status/408")).verdict == Verdict::retryable);
  CHECK(post(server.url("/status/500")).verdict == Verdict::retryable);
  CHECK(post(server.url("/status/503")).verdict == Verdict::retryable);
  const auto busy = post(server.url("/retry-after/7"));
  CHECK(busy.verdict == Verdict::retryable);
  CHECK(busy.retry_after == std::chrono::seconds(7));
  CHECK_THAT(busy.message, Catch::Contains("HTTP 429") && Catch::Contains("Retry-After 7"));
  const auto moved = post(server.url("/redirect"));
  CHECK(moved.verdict == Verdict::permanent);
  CHECK_THAT(moved.message, Catch::Contains("a redirect to"));

  vigil::testing::ClosedPort closed;
  const auto down = post("http://127.0.0.1:" + std::to_string(closed.port) + "/");
  CHECK(down.verdict == Verdict::retryable);
  CHECK(down.retry_after.count() == 0);
}

TEST_CASE("Retry-After: seconds or an HTTP date, never negative, at most a day") {
  const int64_t now = 1'790'000'000;  // 2026-09-21T14:13:20Z
  CHECK(parse_retry_after("120", now) == std::chrono::seconds(120));
  CHECK(parse_retry_after(" 0 ", now) == std::chrono::seconds(0));
  CHECK(parse_retry_after("99999999999", now) == std::chrono::seconds(86400));
  CHECK(parse_retry_after("Mon, 21 Sep 2026 14:15:20 GMT", now) == std::chrono::seconds(120));
  CHECK(parse_retry_after("Mon, 21 Sep 2026 14:00:00 GMT", now) == std::chrono::seconds(0));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-5", now));
  CHECK_FALSE(parse_retry_after("", now));
}
