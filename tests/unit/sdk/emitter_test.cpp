// Host and Emitter: families, series handles, the emitter's cache, re-registration after the host
// dropped a series, and histograms.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

using vigil::testing::FakeHost;

TEST_CASE("collect() writes gauges and counters with labels") {
  FakeHost host;
  auto inst = host.create(sdk_test::meter_plugin(), {{"cpus", "3"}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("meter_runs") == 1);
  CHECK(host.value("meter_cpu_seconds_total", {{"cpu", "2"}}) == 12);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("meter_runs") == 2);
  CHECK(host.value("meter_cpu_seconds_total", {{"cpu", "0"}}) == 20);
  CHECK(host.series("meter_cpu_seconds_total").size() == 3);
}

TEST_CASE("described families keep their type, help and unit, undescribed ones become gauges") {
  FakeHost host;
  auto inst = host.create(sdk_test::meter_plugin());
  REQUIRE(inst.collect().is_ok());
  auto counter = host.family("meter_cpu_seconds_total");
  REQUIRE(counter);
  CHECK(counter->type == vigil::MetricType::counter);
  CHECK(counter->help == "CPU time spent, by cpu.");
  CHECK(counter->unit == "seconds");
  auto runs = host.family("meter_runs");
  REQUIRE(runs);
  CHECK(runs->type == vigil::MetricType::gauge);
  CHECK(runs->help.empty());
}

TEST_CASE("the emitter registers each series once and then writes by handle") {
  FakeHost host;
  auto inst = host.create(sdk_test::meter_plugin(), {{"cpus", "4"}});
  REQUIRE(inst.collect().is_ok());
  uint64_t after_first = host.registrations();
  CHECK(after_first == 1 + 4 + 1);  // meter_runs, four cpus, the histogram
  for (int i = 0; i < 5; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == after_first);
  CHECK(host.value("meter_runs") == 6);
}

TEST_CASE("a series the host dropped is registered again on the next write") {
  FakeHost host;
  auto inst = host.create(sdk_test::meter_plugin(), {{"cpus", "1"}});
  REQUIRE(inst.collect().is_ok());
  uint64_t before = host.registrations();
  REQUIRE(host.drop_series("meter_runs"));
  CHECK_FALSE(host.has("meter_runs"));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == before + 1);
  CHECK(host.value("meter_runs") == 2);
}

TEST_CASE("histogram observations land in cumulative buckets") {
  FakeHost host;
  auto inst = host.create(sdk_test::meter_plugin(), {{"cpus", "0"}});
  REQUIRE(inst.collect().is_ok());
  vigil::testing::HistogramValue h = host.histogram("meter_latency_seconds");
  CHECK(h.bounds == std::vector<double>{0.1, 0.5, 1});
  CHECK(h.cumulative == std::vector<uint64_t>{1, 2, 3});
  CHECK(h.count == 4);
  CHECK(h.sum == Approx(3.05));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.histogram("meter_latency_seconds").count == 8);
}

TEST_CASE("Host handles write directly and report refusals") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}});
  vigil::Host h(host.api(), inst.ctx());
  h.describe("job_duration_seconds", vigil::MetricType::histogram, "How long jobs take.", "seconds",
             {1, 10});
  vigil::Histogram hist = h.histogram("job_duration_seconds", {{"job", "backup"}});
  REQUIRE(hist);
  CHECK(hist.set({3, 5}, 42.0, 6));
  auto v = host.histogram("job_duration_seconds", {{"job", "backup"}});
  CHECK(v.cumulative == std::vector<uint64_t>{3, 5});
  CHECK(v.count == 6);
  CHECK_FALSE(hist.set({3}, 1.0, 3));  // wrong number of buckets: refused, not crashed

  vigil::Gauge empty;
  CHECK_FALSE(empty);
  CHECK_FALSE(empty.set(1));

  vigil::Counter c = h.counter("jobs_total");
  CHECK(c.set(5, 1700000000000));
  auto series = host.series("jobs_total");
  REQUIRE(series.size() == 1);
  CHECK(series[0].timestamp_ms == 1700000000000);
  CHECK(series[0].explicit_timestamp);
}

TEST_CASE("using one metric name as two types is an error naming it") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}});
  vigil::Host h(host.api(), inst.ctx());
  h.describe("queue_depth", vigil::MetricType::gauge, "Items waiting.");
  CHECK_THROWS_WITH(h.counter("queue_depth"),
                    Catch::Contains("queue_depth") && Catch::Contains("gauge"));
  CHECK_THROWS_WITH(h.histogram("undescribed_seconds"),
                    Catch::Contains("undescribed_seconds") && Catch::Contains("describe"));
  CHECK_THROWS_WITH(h.describe("queue_depth", vigil::MetricType::counter, "x"),
                    Catch::Contains("queue_depth"));
}

TEST_CASE("the instance's extra labels are added to every series") {
  FakeHost host;
  vigil::testing::InstanceSettings settings;
  settings.labels = {{"site", "lab"}};
  auto inst = host.create(sdk_test::meter_plugin(), {{"cpus", "1"}}, settings);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("meter_cpu_seconds_total", {{"site", "lab"}, {"cpu", "0"}}) == 10);
  CHECK_THROWS_WITH(host.value("meter_cpu_seconds_total", {{"cpu", "0"}}),
                    Catch::Contains("site=\"lab\""));
}

TEST_CASE("Host logs through the host with levels") {
  FakeHost host;
  auto inst = host.create(sdk_test::pusher_plugin());
  host.set_log_level(VIGIL_LOG_INFO);
  REQUIRE(inst.push().is_ok());  // logs at debug: filtered
  REQUIRE(inst.flush(std::chrono::milliseconds(1500)).is_ok());
  auto logs = host.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].level == VIGIL_LOG_INFO);
  CHECK(logs[0].message == "flushed within 1500ms");
  CHECK(logs[0].instance == "test");
  vigil::Host h(host.api(), inst.ctx());
  CHECK_FALSE(h.log_enabled(VIGIL_LOG_DEBUG));
  CHECK(h.log_enabled(VIGIL_LOG_ERROR));
  host.set_now_ms(1234);
  CHECK(h.now_ms() == 1234);
}
