// The built exporter_prometheus.so, loaded with dlopen and run through the SDK's fake host: what
// a scraper gets from GET /metrics (headers, exact body, gzip, options), what happens when the
// client leaves, and promtool's verdict on a page built from the real collector_cpu plugin.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <zlib.h>
#include <catch2/catch.hpp>
#include "load_plugin.hpp"

#include <string>

#include "promtool.hpp"

using vigil::Emitter;
using vigil::MetricType;
using vigil::Status;
using vigil::testing::FakeHost;
using vigil::testing::FakeRequest;

namespace {

// The real .so files stay loaded for the whole run, so no instance can outlive its code.
const vigil_plugin_desc* exporter() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(PLUGIN_PATH);
  return desc;
}
const vigil_plugin_desc* cpu_collector() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(CPU_PLUGIN_PATH);
  return desc;
}

// A collector written here to put every kind of series in the store.
class SampleSeries final : public vigil::Collector {
 public:
  Status configure(const vigil::Config&) override {
    auto& h = host();
    h.describe("test_latency_seconds", MetricType::histogram, "Request latency.", "seconds",
               {0.1, 0.5, 1});
    h.describe("test_requests_total", MetricType::counter, "Requests served.");
    h.describe("test_stamped", MetricType::gauge, "A gauge with its own timestamp.");
    h.describe("test_temperature_celsius", MetricType::gauge,
               "Temperature, with a \\ backslash\nand a newline.");
    latency_ = h.histogram("test_latency_seconds");
    return Status::ok();
  }
  Status collect(Emitter& out) override {
    latency_.set({1, 3, 4}, 2.25, 5);
    out.counter("test_requests_total", 42, {{"path", "/a\"b\\c\nd"}});
    out.counter("test_requests_total", 7, {{"path", "/"}});
    host().gauge("test_stamped").set(7, 1690000000000);
    out.gauge("test_temperature_celsius", 21.5);
    return Status::ok();
  }

 private:
  vigil::Histogram latency_;
};
VIGIL_PLUGIN_DESCRIPTOR(sample_plugin, "sample", "1.0.0",
                        vigil::collector<SampleSeries>("Series of every type for tests"));

// Many series, for pages larger than one chunk.
class BulkSeries final : public vigil::Collector {
 public:
  Status collect(Emitter& out) override {
    for (int i = 0; i < 20000; ++i)
      out.gauge("bulk_metric", i * 1.5, {{"host", "h1"}, {"id", std::to_string(i)}});
    return Status::ok();
  }
};
VIGIL_PLUGIN_DESCRIPTOR(bulk_plugin, "bulk", "1.0.0",
                        vigil::collector<BulkSeries>("Many series for tests"));

const char* const kSamplePage =
    "# HELP test_latency_seconds Request latency.\n"
    "# TYPE test_latency_seconds histogram\n"
    "test_latency_seconds_bucket{le=\"0.1\"} 1\n"
    "test_latency_seconds_bucket{le=\"0.5\"} 3\n"
    "test_latency_seconds_bucket{le=\"1\"} 4\n"
    "test_latency_seconds_bucket{le=\"+Inf\"} 5\n"
    "test_latency_seconds_sum 2.25\n"
    "test_latency_seconds_count 5\n"
    "# HELP test_requests_total Requests served.\n"
    "# TYPE test_requests_total counter\n"
    "test_requests_total{path=\"/\"} 7\n"
    "test_requests_total{path=\"/a\\\"b\\\\c\\nd\"} 42\n"
    "# HELP test_stamped A gauge with its own timestamp.\n"
    "# TYPE test_stamped gauge\n"
    "test_stamped 7 1690000000000\n"
    "# HELP test_temperature_celsius Temperature, with a \\\\ backslash\\nand a newline.\n"
    "# TYPE test_temperature_celsius gauge\n"
    "test_temperature_celsius 21.5\n";

std::string gunzip(const std::string& compressed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  CHECK(rc == Z_STREAM_END);
  return out;
}

FakeRequest get(const std::string& target, const std::string& accept_encoding = "") {
  FakeRequest r;
  r.method = "GET";
  r.target = target;
  if (!accept_encoding.empty()) r.headers.emplace_back("Accept-Encoding", accept_encoding);
  return r;
}

}  // namespace

TEST_CASE("the plugin describes itself and its four options") {
  const vigil_plugin_desc* d = exporter();
  CHECK(std::string(d->name) == "exporter_prometheus");
  REQUIRE(d->exporter != nullptr);
  CHECK(d->exporter->push == nullptr);  // a pull exporter: never scheduled
  REQUIRE(d->option_count == 4);
  CHECK(std::string(d->options[0].name) == "path");
  CHECK(std::string(d->options[0].default_value) == "/metrics");
  CHECK(std::string(d->options[1].name) == "timestamps");
  CHECK(std::string(d->options[2].name) == "gzip");
  CHECK(std::string(d->options[3].name) == "gzip_level");
}

TEST_CASE("GET /metrics serves the store in the text format, exactly") {
  FakeHost host;
  host.set_now_ms(1700000000000);
  auto sample = host.create(sample_plugin());
  REQUIRE(sample.collect().to_string() == "ok");
  auto exp = host.create(exporter());
  CHECK(host.routes() == std::vector<std::string>{"GET /metrics"});

  auto response = host.request(get("/metrics"));
  CHECK(response.result.to_string() == "ok");
  CHECK(response.status == 200);
  CHECK(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_FALSE(response.header("Content-Encoding"));
  CHECK(response.body == kSamplePage);

  SECTION("a query string does not change the page") {
    CHECK(host.request(get("/metrics?name[]=x")).body == kSamplePage);
  }
}

TEST_CASE("instance labels from the host's config appear in every line, le and all") {
  FakeHost host;
  vigil::testing::InstanceSettings settings;
  settings.labels = {{"role", "db"}};
  auto sample = host.create(sample_plugin(), {}, settings);
  REQUIRE(sample.collect().is_ok());
  auto exp = host.create(exporter());
  std::string body = host.request(get("/metrics")).body;
  CHECK_THAT(body, Catch::Contains("test_latency_seconds_bucket{role=\"db\",le=\"0.5\"} 3\n"));
  CHECK_THAT(body, Catch::Contains("test_latency_seconds_bucket{role=\"db\",le=\"+Inf\"} 5\n"));
  CHECK_THAT(body, Catch::Contains("test_latency_seconds_count{role=\"db\"} 5\n"));
  CHECK_THAT(body, Catch::Contains("test_temperature_celsius{role=\"db\"} 21.5\n"));
}

TEST_CASE("a client that accepts gzip gets a gzip body that inflates to the same page") {
  FakeHost host;
  auto bulk = host.create(bulk_plugin());
  REQUIRE(bulk.collect().is_ok());
  auto exp = host.create(exporter());
  auto plain = host.request(get("/metrics"));
  REQUIRE(plain.status == 200);
  REQUIRE(plain.body.size() > 512 * 1024);  // several chunks

  auto zipped = host.request(get("/metrics", "gzip, deflate"));
  CHECK(zipped.result.is_ok());
  CHECK(zipped.header("Content-Encoding") == "gzip");
  CHECK(zipped.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(zipped.body.size() < plain.body.size() / 3);
  CHECK(gunzip(zipped.body) == plain.body);

  CHECK_FALSE(host.request(get("/metrics", "gzip;q=0")).header("Content-Encoding"));
}

TEST_CASE("options: path, gzip off, gzip_level, forced timestamps") {
  FakeHost host;
  host.set_now_ms(1700000000000);
  auto sample = host.create(sample_plugin());
  REQUIRE(sample.collect().is_ok());

  SECTION("path mounts the page elsewhere") {
    auto exp = host.create(exporter(), {{"path", "/custom/metrics"}});
    CHECK(host.routes() == std::vector<std::string>{"GET /custom/metrics"});
    CHECK(host.request(get("/custom/metrics")).body == kSamplePage);
    CHECK(host.request(get("/metrics")).status == 404);
  }
  SECTION("gzip false answers in plain text even to a gzip client") {
    auto exp = host.create(exporter(), {{"gzip", "false"}});
    auto response = host.request(get("/metrics", "gzip"));
    CHECK_FALSE(response.header("Content-Encoding"));
    CHECK(response.body == kSamplePage);
  }
  SECTION("gzip_level 9 still inflates to the page") {
    auto exp = host.create(exporter(), {{"gzip_level", "9"}});
    CHECK(gunzip(host.request(get("/metrics", "gzip")).body) == kSamplePage);
  }
  SECTION("timestamps true writes every sample's time") {
    auto exp = host.create(exporter(), {{"timestamps", "true"}});
    std::string body = host.request(get("/metrics")).body;
    CHECK_THAT(body, Catch::Contains("test_temperature_celsius 21.5 1700000000000\n"));
    CHECK_THAT(body, Catch::Contains("test_latency_seconds_bucket{le=\"+Inf\"} 5 1700000000000\n"));
    CHECK_THAT(body, Catch::Contains("test_stamped 7 1690000000000\n"));
  }
}

TEST_CASE("bad options are refused at start, saying what was expected") {
  FakeHost host;
  auto level = host.try_create(exporter(), {{"gzip_level", "12"}});
  REQUIRE_FALSE(level);
  CHECK_THAT(level.status().message(), Catch::Contains("gzip_level") && Catch::Contains("0"));
  auto path = host.try_create(exporter(), {{"path", "metrics"}});
  REQUIRE_FALSE(path);
  CHECK_THAT(path.status().message(), Catch::Contains("absolute URL path"));
}

TEST_CASE("a client that goes away stops the work and the handler reports cancelled") {
  FakeHost host;
  auto bulk = host.create(bulk_plugin());
  REQUIRE(bulk.collect().is_ok());
  auto exp = host.create(exporter());

  SECTION("while the body is being sent") {
    FakeRequest r = get("/metrics");
    r.client_gone_after = 100000;
    auto response = host.request(r);
    CHECK(response.result.code() == VIGIL_ERR_CANCELLED);
    CHECK(response.body.size() <= 100000);
  }
  SECTION("before rendering finished") {
    FakeRequest r = get("/metrics", "gzip");
    r.cancelled = true;
    auto response = host.request(r);
    CHECK(response.result.code() == VIGIL_ERR_CANCELLED);
    CHECK_THAT(response.result.message(), Catch::Contains("went away"));
    CHECK(response.body.find("bulk_metric{") == std::string::npos);
  }
}

TEST_CASE("an empty store gives an empty page, not an error") {
  FakeHost host;
  auto exp = host.create(exporter());
  auto response = host.request(get("/metrics"));
  CHECK(response.status == 200);
  CHECK(response.result.is_ok());
  CHECK(response.body.empty());
}

TEST_CASE("promtool accepts the page served from collector_cpu and the sample series") {
  FakeHost host;
  auto cpu = host.create(cpu_collector(), {{"proc_path", CPU_FIXTURES_DIR "/four_cpus"}});
  REQUIRE(cpu.collect().is_ok());
  auto sample = host.create(sample_plugin());
  REQUIRE(sample.collect().is_ok());
  auto exp = host.create(exporter());
  std::string page = host.request(get("/metrics")).body;
  CHECK_THAT(page, Catch::Contains("# TYPE node_cpu_seconds_total counter\n"));
  CHECK_THAT(page, Catch::Contains("node_cpu_seconds_total{cpu=\"3\",mode=\"user\"} "));
  CHECK_THAT(page, Catch::Contains("node_boot_time_seconds 1.7e+09\n"));

  auto result = vigil_test::promtool_check_metrics(page);
  if (!result) {
    WARN("promtool is not installed (Debian package 'prometheus'): skipping the check");
    return;
  }
  INFO("promtool said:\n" << result->output);
  CHECK(result->exit_code == 0);
  CHECK(result->output.empty());
}
