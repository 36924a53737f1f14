// The built collector_prometheus_scrape.so, loaded with dlopen and run through the SDK's fake
// host, scraping real HTTP servers on loopback: a small server in the test (a fixed exposition,
// a 500, a response slower than the timeout, gzip) and `openssl s_server` for TLS. What a user
// would see: the scraped series with the target label, vigil_scrape_up, series removed when a
// target fails or stops exposing them, and the label-clash rules of honor_labels.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"
#include "metrics_server.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::InstanceSettings;
using vigil::testing::MetricsServer;
using vigil::testing::OptionMap;
using vigil::testing::Route;

namespace {

const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(PLUGIN_PATH);
  return desc;
}

const char* kExposition =
    "# HELP app_requests_total Requests served.\n"
    "# TYPE app_requests_total counter\n"
    "app_requests_total{code=\"200\"} 1027\n"
    "app_requests_total{code=\"500\"} 3\n"
    "# HELP app_latency_seconds Request latency.\n"
    "# TYPE app_latency_seconds histogram\n"
    "app_latency_seconds_bucket{le=\"0.1\"} 900\n"
    "app_latency_seconds_bucket{le=\"1\"} 1020\n"
    "app_latency_seconds_bucket{le=\"+Inf\"} 1030\n"
    "app_latency_seconds_sum 60.5\n"
    "app_latency_seconds_count 1030\n"
    "app_up 1\n";

OptionMap urls(std::initializer_list<std::string> list, OptionMap extra = {}) {
  std::string json = "[";
  for (const std::string& u : list) json += (json.size() > 1 ? ",\"" : "\"") + u + "\"";
  extra["urls"] = json + "]";
  return extra;
}

InstanceSettings scrape_settings(vigil::Labels labels = {}) {
  InstanceSettings s{"app"};
  s.timeout = std::chrono::seconds(5);
  s.labels = std::move(labels);
  return s;
}

vigil::Labels self(const std::string& target) {
  return {{"instance", "app"}, {"target", target}};
}

std::string all_logs(const FakeHost& host) {
  std::string out;
  for (const auto& line : host.logs()) out += line.message + "\n";
  return out;
}

int count_logged(const FakeHost& host, const std::string& text) {
  int n = 0;
  for (const auto& line : host.logs()) n += line.message.find(text) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_prometheus_scrape");
  REQUIRE(d->collector != nullptr);
  REQUIRE(d->option_count == 13);
  CHECK(std::string(d->options[0].name) == "urls");
  CHECK(d->options[0].required != 0);
}

TEST_CASE("a target's exposition is served with the target label, and up is 1") {
  MetricsServer server;
  server.set("/metrics", Route{200, kExposition});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().to_string() == "ok");
  INFO(all_logs(host));
  CHECK(host.value("app_requests_total", {{"code", "200"}, {"target", target}}) == 1027);
  CHECK(host.family("app_requests_total")->type == MetricType::counter);
  CHECK(host.family("app_requests_total")->help == "Requests served.");
  auto h = host.histogram("app_latency_seconds", {{"target", target}});
  CHECK(h.bounds == std::vector<double>{0.1, 1});
  CHECK(h.cumulative == std::vector<uint64_t>{900, 1020});
  CHECK(h.count == 1030);
  CHECK(host.value("app_up", {{"target", target}}) == 1);
  CHECK(host.value("vigil_scrape_up", self(target)) == 1);
  CHECK(host.value("vigil_scrape_samples_scraped", self(target)) == 4);
  double seconds = host.value("vigil_scrape_target_duration_seconds", self(target));
  CHECK(seconds > 0);
  CHECK(seconds < 5);
  // What the scraper asked for.
  CHECK(server.last_header("/metrics", "accept").rfind("text/plain;version=0.0.4", 0) == 0);
  CHECK(server.last_header("/metrics", "accept-encoding").find("gzip") != std::string::npos);
  CHECK(server.last_header("/metrics", "x-prometheus-scrape-timeout-seconds") != "");
  CHECK(server.last_header("/metrics", "authorization") == "");
}

TEST_CASE("a gzip-encoded response is decoded") {
  MetricsServer server;
  server.set("/metrics", Route{200, kExposition, std::chrono::milliseconds(0), true});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("app_up", {{"target", target}}) == 1);
}

TEST_CASE("a 500 makes the target down, removes its series, and is logged once") {
  MetricsServer server;
  server.set("/metrics", Route{200, kExposition});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("app_up", {{"target", target}}));

  server.set("/metrics", Route{500, "database is down\nstack trace...\n"});
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_scrape_up", self(target)) == 0);
  CHECK_FALSE(host.has("app_up", {{"target", target}}));
  CHECK_FALSE(host.has("app_requests_total", {{"code", "200"}, {"target", target}}));
  CHECK_FALSE(host.has("vigil_scrape_samples_scraped", self(target)));
  CHECK(count_logged(host, "scrape failed: HTTP 500 from " + target + ": database is down") == 1);

  server.set("/metrics", Route{200, kExposition});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_scrape_up", self(target)) == 1);
  CHECK(host.has("app_up", {{"target", target}}));
  CHECK(host.logged(target + " is up again"));
}

TEST_CASE("a response slower than the timeout makes the target down without waiting for it") {
  MetricsServer server;
  server.set("/slow", Route{200, kExposition, std::chrono::milliseconds(20000)});
  server.set("/fast", Route{200, "fast_metric 1\n"});
  FakeHost host;
  auto inst = host.create(plugin(),
                          urls({server.url("/slow"), server.url("/fast")}, {{"timeout", "500ms"}}),
                          scrape_settings());
  auto start = std::chrono::steady_clock::now();
  REQUIRE(inst.collect().is_ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
  INFO(all_logs(host));
  CHECK(host.value("vigil_scrape_up", self(server.url("/slow"))) == 0);
  CHECK(host.value("vigil_scrape_up", self(server.url("/fast"))) == 1);
  CHECK(host.value("fast_metric", {{"target", server.url("/fast")}}) == 1);
  CHECK(host.logged("scrape failed: "));
}

TEST_CASE("an exposition that does not parse makes the target down, with the line") {
  MetricsServer server;
  server.set("/metrics", Route{200, "ok_metric 1\nbroken{=\"x\"} 2\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_scrape_up", self(target)) == 0);
  CHECK_FALSE(host.has("ok_metric", {{"target", target}}));
  CHECK(host.logged("scrape failed: " + target +
                    ": line 2: expected a label name, found \"=\\\"x\\\"}\""));
}

TEST_CASE("a target that refuses connections is down") {
  int port;
  {
    MetricsServer gone;  // take a free port, then give it back
    port = std::stoi(gone.url("").substr(17));
  }
  const std::string target = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_scrape_up", self(target)) == 0);
}

TEST_CASE("series a target stops exposing are removed") {
  MetricsServer server;
  server.set("/metrics", Route{200, "q{name=\"a\"} 1\nq{name=\"b\"} 2\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.series("q").size() == 2);
  server.set("/metrics", Route{200, "q{name=\"a\"} 5\n"});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("q", {{"name", "a"}, {"target", target}}) == 5);
  CHECK_FALSE(host.has("q", {{"name", "b"}, {"target", target}}));
}

TEST_CASE("the bearer token is sent, from the option or from a file read at every scrape") {
  MetricsServer server;
  server.set("/metrics", Route{200, "m 1\n"});
  const std::string target = server.url("/metrics");
  {
    FakeHost host;
    auto inst =
        host.create(plugin(), urls({target}, {{"bearer_token", "s3cret"}}), scrape_settings());
    REQUIRE(inst.collect().is_ok());
    CHECK(server.last_header("/metrics", "authorization") == "Bearer s3cret");
  }
  const std::string file = "/tmp/vigil_scrape_test_token";
  { std::ofstream(file) << "first-token\n"; }
  FakeHost host;
  auto inst =
      host.create(plugin(), urls({target}, {{"bearer_token_file", file}}), scrape_settings());
  REQUIRE(inst.collect().is_ok());
  CHECK(server.last_header("/metrics", "authorization") == "Bearer first-token");
  { std::ofstream(file) << "rotated-token\n"; }
  REQUIRE(inst.collect().is_ok());
  CHECK(server.last_header("/metrics", "authorization") == "Bearer rotated-token");
  std::remove(file.c_str());
  CHECK(inst.collect().to_string() ==
        "unavailable: option \"bearer_token_file\": cannot read " + file);
  CHECK(host.value("vigil_scrape_up", self(target)) == 0);
}

TEST_CASE(
    "honor_labels false: a scraped label clashing with the target or instance labels is "
    "renamed exported_<name>") {
  MetricsServer server;
  server.set("/metrics", Route{200, "job_ok{env=\"dev\",target=\"db\",job=\"backup\"} 1\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}), scrape_settings({{"env", "prod"}}));
  REQUIRE(inst.collect().is_ok());
  INFO(all_logs(host));
  CHECK(host.value("job_ok", {{"exported_env", "dev"},
                              {"exported_target", "db"},
                              {"job", "backup"},
                              {"target", target},
                              {"env", "prod"}}) == 1);
}

TEST_CASE("honor_labels true: the scraped labels win") {
  MetricsServer server;
  server.set("/metrics", Route{200, "job_ok{env=\"dev\",target=\"db\"} 1\nplain 2\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto inst = host.create(plugin(), urls({target}, {{"honor_labels", "true"}}),
                          scrape_settings({{"env", "prod"}}));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("job_ok", {{"env", "dev"}, {"target", "db"}}) == 1);
  CHECK(host.value("plain", {{"env", "prod"}, {"target", target}}) == 2);
}

TEST_CASE("target_label can be renamed or left out") {
  MetricsServer server;
  server.set("/metrics", Route{200, "m 1\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  auto renamed =
      host.create(plugin(), urls({target}, {{"target_label", "scraped_from"}}), scrape_settings());
  REQUIRE(renamed.collect().is_ok());
  CHECK(host.value("m", {{"scraped_from", target}}) == 1);
  FakeHost other;
  auto none = other.create(plugin(), urls({target}, {{"target_label", ""}}), scrape_settings());
  REQUIRE(none.collect().is_ok());
  CHECK(other.value("m") == 1);
}

TEST_CASE("timestamps are honored only when asked") {
  MetricsServer server;
  server.set("/metrics", Route{200, "stamped 1 1700000000000\n"});
  const std::string target = server.url("/metrics");
  FakeHost host;
  host.set_now_ms(1800000000000);
  auto plain = host.create(plugin(), urls({target}), scrape_settings());
  REQUIRE(plain.collect().is_ok());
  CHECK(host.series("stamped").at(0).timestamp_ms == 1800000000000);
  FakeHost other;
  auto honor =
      other.create(plugin(), urls({target}, {{"honor_timestamps", "true"}}), scrape_settings());
  REQUIRE(honor.collect().is_ok());
  CHECK(other.series("stamped").at(0).timestamp_ms == 1700000000000);
}

TEST_CASE("https targets: the certificate is verified unless told otherwise") {
  if (!vigil::testing::have_openssl()) {
    WARN("openssl is not installed; skipping the TLS test");
    return;
  }
  vigil::testing::TempDir dir("vigil_scrape_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  vigil::testing::TlsTestServer tls(cert);
  const std::string target = tls.url("127.0.0.1");
  {
    FakeHost host;
    auto inst = host.create(plugin(), urls({target}), scrape_settings());
    REQUIRE(inst.collect().is_ok());
    CHECK(host.value("vigil_scrape_up", self(target)) == 0);
    INFO(all_logs(host));
    CHECK(host.logged("scrape failed: "));
    CHECK_FALSE(host.logged("line 1:"));  // refused before any body was read
  }
  // Trusting the certificate gets through TLS; s_server's page is not an exposition, which
  // shows the body was read.
  for (const OptionMap& extra :
       {OptionMap{{"ca_file", cert.cert}}, OptionMap{{"insecure_skip_verify", "true"}}}) {
    FakeHost host;
    auto inst = host.create(plugin(), urls({target}, extra), scrape_settings());
    REQUIRE(inst.collect().is_ok());
    INFO(all_logs(host));
    CHECK(host.logged("scrape failed: " + target + ": line 1: "));
  }
}

TEST_CASE("bad options are refused with the reason") {
  FakeHost host;
  CHECK(host.try_create(plugin(), {{"urls", "[]"}})
            .status()
            .message()
            .rfind("option \"urls\" is empty", 0) == 0);
  CHECK(host.try_create(plugin(), {{"urls", R"(["ftp://x/metrics"])"}}).status().message() ==
        "option \"urls\": \"ftp://x/metrics\" is not an http:// or https:// URL");
  CHECK(
      host.try_create(plugin(), {{"urls", R"(["http://a/m","http://a/m"])"}}).status().message() ==
      "option \"urls\": \"http://a/m\" is listed twice");
  CHECK(host.try_create(plugin(), urls({"http://a/m"}, {{"target_label", "a-b"}}))
            .status()
            .message() ==
        "option \"target_label\": \"a-b\" is not a valid label name; expected "
        "[a-zA-Z_][a-zA-Z0-9_]*");
  CHECK(host.try_create(plugin(), urls({"http://a/m"}, {{"client_cert", "/x.pem"}}))
            .status()
            .message() ==
        "options \"client_cert\" and \"client_key\" go together; set both or neither");
  CHECK(host.try_create(plugin(), urls({"http://a/m"}, {{"bearer_token_file", "/nonexistent"}}))
            .status()
            .message() == "option \"bearer_token_file\": cannot read /nonexistent");
}
