// notifier_webhook against real servers on loopback: what it sends (method, headers, signature,
// body), and how each kind of answer becomes delivered, retryable or permanent — including a slow
// receiver past the timeout, 429 with Retry-After, 400, and an untrusted certificate.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "support/test_servers.hpp"
#include "webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::plugin;

namespace {

Notification firing() {
  Notification n;
  n.idempotency_key = "5f2a-3-ops";
  n.receiver = "ops";
  n.status = "firing";
  n.group_key = "0:{alertname=\"DiskFull\",}";
  n.escalation_step = 1;
  n.attempt = 2;
  n.payload_json = R"({"version":"4","status":"firing","receiver":"ops","alerts":[]})";
  return n;
}

}  // namespace

TEST_CASE("the webhook POSTs the payload with its headers, idempotency key and HMAC signature") {
  HttpTestServer server;
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"url", server.url("/echo")},
                             {"headers", R"({"Authorization": "Bearer t0k", "X-Test": "yes"})"},
                             {"hmac_secret", "s3cret"}});
  REQUIRE(inst.notify(firing()).is_ok());
  auto seen = server.last_request();
  CHECK(seen.method == "POST");
  CHECK(seen.body == firing().payload_json);
  CHECK(seen.headers["content-type"] == "application/json");
  CHECK(seen.headers["authorization"] == "Bearer t0k");
  CHECK(seen.headers["idempotency-key"] == "5f2a-3-ops");
  CHECK(seen.headers["x-vigil-attempt"] == "2");
  // The receiver can check the signature with the shared secret.
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "s3cret", 6, reinterpret_cast<const unsigned char*>(seen.body.data()),
       seen.body.size(), mac, &len);
  std::string hex = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", mac[i]);
    hex += b;
  }
  CHECK(seen.headers["x-vigil-signature"] == hex);
  CHECK(vigil::notifier_webhook::signature("s3cret", seen.body) == hex);
}

TEST_CASE("answers map to delivered, retryable or permanent as Alertmanager users expect") {
  HttpTestServer server;
  FakeHost host;
  auto send = [&](const std::string& path, const std::string& timeout = "10s") {
    auto inst = host.create(plugin(), {{"url", server.url(path)}, {"timeout", timeout}});
    return inst.notify(firing());
  };
  CHECK(send("/status/202").is_ok());
  auto bad = send("/status/400");
  CHECK(bad.code() == VIGIL_ERR_PERMANENT);
  CHECK(bad.message().find("HTTP 400") != std::string::npos);
  CHECK(send("/status/404").code() == VIGIL_ERR_PERMANENT);
  CHECK(send("/status/408").code() == VIGIL_ERR_RETRYABLE);
  auto busy = send("/retry-after/30");
  CHECK(busy.code() == VIGIL_ERR_RETRYABLE);
  CHECK(busy.message().find("HTTP 429") != std::string::npos);
  CHECK(busy.message().find("Retry-After 30") != std::string::npos);
  CHECK(busy.retry_after() == std::chrono::seconds(30));  // reaches the host through the ABI
  CHECK(send("/status/503").retry_after().count() == 0);
  CHECK(send("/status/503").code() == VIGIL_ERR_RETRYABLE);
  auto redirect = send("/redirect");
  CHECK(redirect.code() == VIGIL_ERR_PERMANENT);
  CHECK(redirect.message().find("a redirect to") != std::string::npos);
  auto slow = send("/slow/3000", "300ms");
  CHECK(slow.code() == VIGIL_ERR_RETRYABLE);
  CHECK(slow.message().find("timed out") != std::string::npos);
}

TEST_CASE("a receiver that is down is retryable, and an untrusted certificate is permanent") {
  FakeHost host;
  vigil::testing::ClosedPort closed;
  auto down =
      host.create(plugin(), {{"url", "http://127.0.0.1:" + std::to_string(closed.port) + "/x"}});
  auto r = down.notify(firing());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.message().find("127.0.0.1") != std::string::npos);

  vigil::testing::TempDir dir("vigil_webhook_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  vigil::testing::TlsTestServer tls(cert);
  auto untrusted =
      host.create(plugin(), {{"url", "https://localhost:" + std::to_string(tls.port()) + "/"}});
  auto refused = untrusted.notify(firing());
  CHECK(refused.code() == VIGIL_ERR_PERMANENT);
  CHECK(refused.message().find("not trusted") != std::string::npos);
}

TEST_CASE("bad options are refused when the instance is created, with what was expected") {
  using vigil::testing::refused_start;
  CHECK(refused_start(plugin(), {{"url", "ftp://example.test/"}})
            .find("expected an http:// or https:// URL") != std::string::npos);
  CHECK(refused_start(plugin(), {{"url", "http://127.0.0.1/"}, {"headers", "[1, 2]"}})
            .find("expected an object of header names") != std::string::npos);
  CHECK(refused_start(plugin(), {{"url", "http://127.0.0.1/"},
                                 {"hmac_secret", "a"},
                                 {"hmac_secret_file", "/etc/hostname"}})
            .find("both set, expected one") != std::string::npos);
}
