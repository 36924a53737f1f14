// The shared HTTP client against real servers on loopback: the Beast test server for plain
// HTTP (methods, headers, bodies, gzip, redirects, limits, timeouts) and `openssl s_server` for
// TLS (verification on by default, ca_file, skip-verify, host names, client certificates, the
// certificate's expiry date).
#include "vigil_plugin_http/client.hpp"

#include "loopback.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

using namespace vigil::plugin_http;
using vigil::testing::ClosedPort;
using vigil::testing::HttpTestServer;
using vigil::testing::TempDir;
using vigil::testing::TlsTestServer;

namespace {

Request get(const std::string& url) {
  Request r;
  r.url = url;
  return r;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a GET returns status, headers, body, HTTP version and timings") {
  HttpTestServer server;
  Result r = fetch(get(server.url("/ok")));
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.response.status == 200);
  CHECK(r.response.body == "hello from the test server");
  CHECK(r.response.header("content-type") == std::optional<std::string>("text/plain"));
  CHECK(r.response.http_version == "1.1");
  CHECK(r.response.remote_address == "127.0.0.1");
  CHECK(r.response.timing.total_seconds > 0);
  CHECK(r.response.timing.total_seconds >= r.response.timing.connect_seconds);
  CHECK(r.response.certificates.empty());
  CHECK(server.last_request().headers["user-agent"] == "vigil");
}

TEST_CASE("an HTTP error status is a response, not a transport error") {
  HttpTestServer server;
  Result r = fetch(get(server.url("/status/503")));
  REQUIRE(r.ok());
  CHECK(r.response.status == 503);
  CHECK(r.response.body == "status 503");
}

TEST_CASE("method, headers and body reach the server") {
  HttpTestServer server;
  Client client;
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    Request r = get(server.url("/echo"));
    r.method = method;
    r.body = std::string("payload for ") + method;
    r.headers = {{"X-Test", "yes"}, {"Content-Type", "application/json"}};
    Result res = client.perform(r);
    INFO(method << ": " << res.error);
    REQUIRE(res.ok());
    CHECK(res.response.body ==
          std::string("method=") + method + "\nbody=payload for " + method + "\nx-test=yes\n");
    CHECK(server.last_request().headers["content-type"] == "application/json");
    CHECK(server.last_request().headers.count("expect") == 0);
  }
}

TEST_CASE("HEAD gets the headers and no body, without waiting for one") {
  HttpTestServer server;
  Request r = get(server.url("/ok"));
  r.method = "HEAD";
  Result res = fetch(r);
  REQUIRE(res.ok());
  CHECK(res.response.status == 200);
  CHECK(res.response.body.empty());
  CHECK(server.last_request().method == "HEAD");
}

TEST_CASE("a server slower than the timeout gives a timeout error well before it answers") {
  HttpTestServer server;
  Request r = get(server.url("/slow/8000"));
  r.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  Result res = fetch(r);
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(res.error_kind == ErrorKind::timeout);
  CHECK(contains(res.error, "GET " + server.url("/slow/8000") + ": "));
  CHECK(contains(res.error, "timed out"));
  CHECK(elapsed < std::chrono::seconds(6));  // generous: the server would answer at 8 s
}

TEST_CASE("a refused connection is a connect error naming the URL") {
  ClosedPort closed;
  std::string url = "http://127.0.0.1:" + std::to_string(closed.port) + "/health";
  Result res = fetch(get(url));
  CHECK(res.error_kind == ErrorKind::connect);
  CHECK(contains(res.error, "GET " + url + ": "));
  CHECK(contains(res.error, "(curl error 7)"));
  CHECK(res.response.status == 0);
}

TEST_CASE("a password in the URL never appears in an error") {
  ClosedPort closed;
  Result res = fetch(get("http://monitor:s3cret@127.0.0.1:" + std::to_string(closed.port) + "/"));
  CHECK_FALSE(res.ok());
  CHECK_FALSE(contains(res.error, "s3cret"));
  CHECK(contains(res.error, "monitor:***@127.0.0.1"));
}

TEST_CASE("requests the client refuses before sending anything") {
  SECTION("a scheme other than http and https") {
    Result res = fetch(get("file:///etc/passwd"));
    CHECK(res.error_kind == ErrorKind::invalid_request);
    CHECK(contains(res.error, "expected one starting with http:// or https://"));
    CHECK(res.response.body.empty());
  }
  SECTION("a ca_file that does not exist") {
    Request r = get("https://127.0.0.1:1/");
    r.ca_file = "/nonexistent/ca.pem";
    Result res = fetch(r);
    CHECK(res.error_kind == ErrorKind::invalid_request);
    CHECK(contains(res.error, "ca_file /nonexistent/ca.pem cannot be read: No such file"));
  }
  SECTION("a header with a line break (header injection)") {
    Request r = get("http://127.0.0.1:1/");
    r.headers = {{"X-A", "1\r\nX-Injected: 2"}};
    Result res = fetch(r);
    CHECK(res.error_kind == ErrorKind::invalid_request);
    CHECK(contains(res.error, "header \"X-A\" has a line break"));
  }
  SECTION("a method that is not a token") {
    Request r = get("http://127.0.0.1:1/");
    r.method = "GET /x HTTP/1.1\r\n";
    CHECK(fetch(r).error_kind == ErrorKind::invalid_request);
  }
}

TEST_CASE("gzip is asked for and decoded, and can be turned off") {
  HttpTestServer server;
  std::string expected;
  for (int i = 0; i < 200; ++i) expected += "compressed line " + std::to_string(i) + "\n";

  Result res = fetch(get(server.url("/gzip")));
  REQUIRE(res.ok());
  CHECK(contains(server.last_request().headers["accept-encoding"], "gzip"));
  CHECK(res.response.header("Content-Encoding") == std::optional<std::string>("gzip"));
  CHECK(res.response.body == expected);

  Request plain = get(server.url("/gzip"));
  plain.accept_gzip = false;
  res = fetch(plain);
  REQUIRE(res.ok());
  CHECK(server.last_request().headers.count("accept-encoding") == 0);
  CHECK(res.response.body == expected);
}

TEST_CASE("a body over max_body_bytes fails as too_large") {
  HttpTestServer server;
  Request r = get(server.url("/big/200000"));
  r.max_body_bytes = 1000;
  Result res = fetch(r);
  CHECK(res.error_kind == ErrorKind::too_large);
  CHECK(contains(res.error, "exceeds max_body_bytes (1000 bytes)"));

  r.max_body_bytes = 0;  // no limit
  res = fetch(r);
  REQUIRE(res.ok());
  CHECK(res.response.body.size() == 200000);
}

TEST_CASE("redirects are reported, and followed only when asked") {
  HttpTestServer server;
  Result res = fetch(get(server.url("/redirect")));
  REQUIRE(res.ok());
  CHECK(res.response.status == 302);
  CHECK(res.response.header("location") == std::optional<std::string>("/ok"));

  Request follow = get(server.url("/redirect"));
  follow.follow_redirects = true;
  res = fetch(follow);
  REQUIRE(res.ok());
  CHECK(res.response.status == 200);
  CHECK(res.response.body == "hello from the test server");
  CHECK(res.response.effective_url == server.url("/ok"));
  CHECK_FALSE(res.response.header("location"));  // only the final response's headers
}

TEST_CASE("one Client reuses its connection unless a fresh one is asked for") {
  HttpTestServer server;
  Client client;
  REQUIRE(client.perform(get(server.url("/ok"))).ok());
  REQUIRE(client.perform(get(server.url("/ok"))).ok());
  CHECK(server.connections() == 1);

  Request fresh = get(server.url("/ok"));
  fresh.fresh_connection = true;
  REQUIRE(client.perform(fresh).ok());
  REQUIRE(client.perform(fresh).ok());
  CHECK(server.connections() == 3);
}

TEST_CASE("a cancel flag stops a transfer in progress") {
  HttpTestServer server;
  std::atomic<bool> cancel{false};
  Request r = get(server.url("/slow/8000"));
  r.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  Result res = fetch(r);
  canceller.join();
  CHECK(res.error_kind == ErrorKind::cancelled);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(6));
}

TEST_CASE("the environment's proxy is ignored unless asked for") {
  HttpTestServer server;
  ClosedPort dead_proxy;
  std::string proxy = "http://127.0.0.1:" + std::to_string(dead_proxy.port);
  ::setenv("http_proxy", proxy.c_str(), 1);
  Result direct = fetch(get(server.url("/ok")));
  Request via_env = get(server.url("/ok"));
  via_env.proxy_from_environment = true;
  Result through = fetch(via_env);
  Request explicit_proxy = get(server.url("/ok"));
  explicit_proxy.proxy = proxy;
  Result through_explicit = fetch(explicit_proxy);
  ::unsetenv("http_proxy");

  CHECK(direct.ok());
  CHECK(through.error_kind == ErrorKind::connect);  // went to the dead proxy
  CHECK(through_explicit.error_kind == ErrorKind::connect);
}

TEST_CASE("certificate times as curl prints them") {
  int64_t t = 0;
  REQUIRE(parse_certificate_time("Nov 28 10:30:58 2026 GMT", t));
  CHECK(t == 1795861858);
  REQUIRE(parse_certificate_time("Jan  2 03:04:05 2030 GMT", t));
  CHECK(t == 1893553445);
  REQUIRE(parse_certificate_time(" Feb 29 00:00:00.123 2024 GMT", t));
  CHECK(t == 1709164800);
  CHECK_FALSE(parse_certificate_time("2026-11-28T10:30:58Z", t));
  CHECK_FALSE(parse_certificate_time("Nov 28 10:30:58 2026", t));
  CHECK_FALSE(parse_certificate_time("Foo 28 10:30:58 2026 GMT", t));
  CHECK_FALSE(parse_certificate_time("", t));
}

TEST_CASE("TLS: a self-signed certificate is refused by default, with the reason") {
  if (!vigil::testing::have_openssl())
    FAIL("the openssl command is needed (apt-get install openssl)");
  TempDir dir("vigil_http_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  TlsTestServer server(cert);

  Result res = fetch(get(server.url()));
  CHECK(res.error_kind == ErrorKind::tls_verify);
  CHECK(contains(res.error, "self-signed certificate"));
  CHECK(contains(res.error, "GET " + server.url() + ": "));
}

TEST_CASE("TLS: ca_file trusts the server, and the certificate's dates are read") {
  TempDir dir("vigil_http_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  TlsTestServer server(cert);

  Request r = get(server.url());
  r.ca_file = cert.cert;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  Result res = fetch(r);
  INFO(res.error);
  REQUIRE(res.ok());
  CHECK(res.response.status == 200);
  CHECK(res.response.timing.tls_seconds > 0);
  REQUIRE(res.response.peer_certificate() != nullptr);
  const Certificate& c = *res.response.peer_certificate();
  INFO("subject: " << c.subject << ", issuer: " << c.issuer);
  CHECK(contains(c.subject, "localhost"));
  CHECK(c.not_after_unix > now + 29 * 86400);
  CHECK(c.not_after_unix < now + 31 * 86400);
  CHECK(c.not_before_unix <= now + 60);
  CHECK(res.response.earliest_expiring() == res.response.peer_certificate());

  SECTION("by host name too") {
    r.url = server.url("localhost");
    Result by_name = fetch(r);
    INFO(by_name.error);
    CHECK(by_name.ok());
  }
}

TEST_CASE("TLS: insecure_skip_verify connects and still reports the certificate") {
  TempDir dir("vigil_http_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 5);
  TlsTestServer server(cert);
  Request r = get(server.url());
  r.insecure_skip_verify = true;
  Result res = fetch(r);
  INFO(res.error);
  REQUIRE(res.ok());
  REQUIRE(res.response.peer_certificate() != nullptr);
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  CHECK(res.response.peer_certificate()->not_after_unix < now + 6 * 86400);
}

TEST_CASE("TLS: a certificate for another name is refused even when its CA is trusted") {
  TempDir dir("vigil_http_tls");
  vigil::testing::TestCertificate other{dir.file("other.pem"), dir.file("other.key")};
  std::string out;
  REQUIRE(
      vigil::testing::run_program(
          {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", other.key, "-out", other.cert, "-days", "30", "-subj",
           "/CN=other.example", "-addext", "subjectAltName=DNS:other.example"},
          out) == 0);
  TlsTestServer server(other);
  Request r = get(server.url());
  r.ca_file = other.cert;
  Result res = fetch(r);
  CHECK(res.error_kind == ErrorKind::tls_verify);
  CHECK(contains(res.error, "127.0.0.1"));
}

TEST_CASE("TLS: a server that demands a client certificate gets ours") {
  TempDir dir("vigil_http_tls");
  auto server_cert = vigil::testing::make_certificate(dir, "server", 30);
  auto client_cert = vigil::testing::make_certificate(dir, "client", 30);
  TlsTestServer server(server_cert, client_cert.cert);

  Request r = get(server.url());
  r.ca_file = server_cert.cert;
  Result without = fetch(r);
  INFO(without.error);
  CHECK_FALSE(without.ok());
  CHECK(without.error_kind == ErrorKind::tls);
  CHECK(contains(without.error, "alert"));

  r.client_cert = client_cert.cert;
  r.client_key = client_cert.key;
  Result with = fetch(r);
  INFO(with.error);
  CHECK(with.ok());
  CHECK(with.response.status == 200);
}
