// The built collector_uptime.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape, from fixture procfs/sysfs trees, the machine's own /proc and /sys,
// and next to collector_cpu, which writes node_boot_time_seconds too.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "load_plugin.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "tz_guard.hpp"

namespace fs = std::filesystem;
using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;

namespace {

const vigil_plugin_desc* cpu_plugin() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(CPU_PLUGIN_PATH);
  return desc;
}

vigil::testing::OptionMap typical() {
  return {{"proc_path", fixture("typical/proc")}, {"sys_path", fixture("typical/sys")}};
}

vigil::Labels clock(const char* name) {
  return {{"clocksource", name}, {"device", "0"}};
}

// A writable copy of a fixture tree, whose files a test can replace between collects.
struct TempTree : vigil::testing::TempDir {
  explicit TempTree(const std::string& fixture_name) : TempDir("vigil_uptime_test") {
    copy(fixture(fixture_name));
  }
};

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("the plugin describes itself and its proc_path and sys_path options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_uptime");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"}, {"sys_path", "/sys"}});
}

TEST_CASE("fixtures give the boot time, the time, the zone and the clocksources") {
  TzGuard tz("UTC0");
  FakeHost host;
  host.set_now_ms(1700000123456);
  auto inst = host.create(plugin(), typical());
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(host.value("node_boot_time_seconds") == 1700000000.0);
  CHECK(host.value("node_time_seconds") == Approx(1700000123.456));
  CHECK(host.value("node_time_zone_offset_seconds", {{"time_zone", "UTC"}}) == 0);
  CHECK(host.series("node_time_clocksource_available_info").size() == 3);
  CHECK(host.value("node_time_clocksource_available_info", clock("tsc")) == 1);
  CHECK(host.value("node_time_clocksource_available_info", clock("hpet")) == 1);
  CHECK(host.value("node_time_clocksource_available_info", clock("acpi_pm")) == 1);
  CHECK(host.series("node_time_clocksource_current_info").size() == 1);
  CHECK(host.value("node_time_clocksource_current_info", clock("tsc")) == 1);

  for (const char* name :
       {"node_boot_time_seconds", "node_time_seconds", "node_time_zone_offset_seconds",
        "node_time_clocksource_available_info", "node_time_clocksource_current_info"}) {
    auto family = host.family(name);
    REQUIRE(family);
    CHECK(family->type == MetricType::gauge);
  }
  CHECK(host.family("node_boot_time_seconds")->help == "Node boot time, in unixtime.");
  CHECK(host.family("node_time_seconds")->help == "System time in seconds since epoch (1970).");
  CHECK(host.family("node_time_zone_offset_seconds")->help ==
        "System time zone offset in seconds.");
  CHECK(host.family("node_time_clocksource_available_info")->help ==
        "Available clocksources read from '/sys/devices/system/clocksource'.");
  CHECK(host.family("node_time_clocksource_current_info")->help ==
        "Current clocksource read from '/sys/devices/system/clocksource'.");
}

TEST_CASE("node_time_seconds follows the host's clock on every collect") {
  FakeHost host;
  host.set_now_ms(1700000000000);
  auto inst = host.create(plugin(), typical());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_time_seconds") == 1700000000.0);
  host.set_now_ms(1700000010500);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_time_seconds") == 1700000010.5);
}

TEST_CASE("when daylight saving time starts the zone's series is replaced, not duplicated") {
  TzGuard tz("CET-1CEST,M3.5.0,M10.5.0/3");
  FakeHost host;
  host.set_now_ms(int64_t{1711846800} * 1000 - 1000);  // 2024-03-31 00:59:59 UTC: still CET
  auto inst = host.create(plugin(), typical());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_time_zone_offset_seconds", {{"time_zone", "CET"}}) == 3600);

  host.set_now_ms(int64_t{1711846800} * 1000 + 1000);  // 01:00:01 UTC: CEST from 01:00 UTC
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_time_zone_offset_seconds", {{"time_zone", "CEST"}}) == 7200);
  CHECK_FALSE(host.has("node_time_zone_offset_seconds", {{"time_zone", "CET"}}));
  CHECK(host.series("node_time_zone_offset_seconds").size() == 1);
}

TEST_CASE("a clocksource switch replaces the current series and drops what is gone") {
  TempTree tree("typical");
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"proc_path", tree.file("proc")}, {"sys_path", tree.file("sys")}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_time_clocksource_current_info", clock("tsc")));

  // The kernel marks the TSC unstable and falls back to the HPET.
  tree.copy(fixture("hpet/sys"), "sys");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_time_clocksource_current_info", clock("hpet")) == 1);
  CHECK_FALSE(host.has("node_time_clocksource_current_info", clock("tsc")));
  CHECK_FALSE(host.has("node_time_clocksource_available_info", clock("tsc")));
  CHECK(host.series("node_time_clocksource_available_info").size() == 2);
}

TEST_CASE("a sysfs without clocksources leaves only those series out") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical/proc")},
                                     {"sys_path", fixture("no_clocksource/sys")}});
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("node_boot_time_seconds") == 1700000000.0);
  CHECK(host.series("node_time_clocksource_available_info").empty());
  CHECK(host.series("node_time_clocksource_current_info").empty());
}

TEST_CASE("a stat file without btime is refused at start, naming the file") {
  FakeHost host;
  auto inst = host.try_create(plugin(), {{"proc_path", fixture("no_btime/proc")}});
  REQUIRE_FALSE(inst);
  CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(inst.status().message(),
             Catch::Contains(fixture("no_btime/proc/stat")) && Catch::Contains("btime"));

  auto missing = host.try_create(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.status().message(),
             Catch::Contains("/nonexistent/vigil/proc/stat") && Catch::Contains("proc_path"));
}

TEST_CASE("a stat file that breaks later fails the collect but the time is still written") {
  TempTree tree("typical");
  FakeHost host;
  host.set_now_ms(1700000000000);
  auto inst =
      host.create(plugin(), {{"proc_path", tree.file("proc")}, {"sys_path", tree.file("sys")}});
  REQUIRE(inst.collect().is_ok());
  tree.write("proc/stat", "btime never\n");
  host.set_now_ms(1700000060000);
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(),
             Catch::Contains(tree.file("proc/stat")) && Catch::Contains("line 1"));
  CHECK(host.value("node_time_seconds") == 1700000060.0);
  CHECK(host.value("node_boot_time_seconds") == 1700000000.0);  // the last good value stays
}

TEST_CASE("loaded next to collector_cpu, both write the one node_boot_time_seconds series") {
  FakeHost host;
  auto cpu = host.create(cpu_plugin(), {{"proc_path", fixture("typical/proc")}},
                         vigil::testing::InstanceSettings{"cpu"});
  auto uptime = host.create(plugin(), typical(), vigil::testing::InstanceSettings{"uptime"});
  REQUIRE(cpu.collect().to_string() == "ok");
  REQUIRE(uptime.collect().to_string() == "ok");
  CHECK(host.series("node_boot_time_seconds").size() == 1);
  CHECK(host.value("node_boot_time_seconds") == 1700000000.0);
  auto family = host.family("node_boot_time_seconds");
  REQUIRE(family);
  CHECK(family->type == MetricType::gauge);
  CHECK(family->help == "Node boot time, in unixtime.");
}

TEST_CASE("the machine's own /proc and /sys give a past boot time and the current time") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  const double now = static_cast<double>(now_ms()) / 1000.0;
  const double boot = host.value("node_boot_time_seconds");
  CHECK(boot > 1e9);
  CHECK(boot <= now + 1);
  CHECK(host.value("node_time_seconds") == Approx(now).margin(60));
  CHECK(host.series("node_time_zone_offset_seconds").size() == 1);
  if (fs::exists("/sys/devices/system/clocksource/clocksource0/current_clocksource")) {
    CHECK(host.series("node_time_clocksource_current_info").size() == 1);
    CHECK_FALSE(host.series("node_time_clocksource_available_info").empty());
  }
}
