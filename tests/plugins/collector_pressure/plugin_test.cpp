// The built collector_pressure.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape from fixture procfs trees with and without PSI, what is logged when
// PSI is missing, and the machine's own /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using vigil::MetricType;
using vigil::testing::count_logs;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;

namespace {

// A writable procfs stand-in; starts without a pressure/ directory.
struct TempProc : vigil::testing::TempDir {
  TempProc() : TempDir("vigil_pressure_test") {}
  void add_psi(const std::string& fixture_name) {
    copy(fixture(fixture_name) + "/pressure", "pressure");
  }
  void remove_psi() { remove("pressure"); }
};

constexpr const char* kFamilies[] = {
    "node_pressure_cpu_waiting_seconds_total", "node_pressure_io_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total", "node_pressure_memory_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total"};

}  // namespace

TEST_CASE("the plugin describes itself and its proc_path option") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_pressure");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"}});
}

TEST_CASE("a PSI fixture gives node_exporter's five counters in seconds, with its help texts") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("psi")}});
  REQUIRE(inst.collect().to_string() == "ok");

  // The same doubles node_exporter 1.5 prints for these files.
  CHECK(host.value("node_pressure_cpu_waiting_seconds_total") == 1494478319.0 / 1000 / 1000);
  CHECK(host.value("node_pressure_io_waiting_seconds_total") == 17.795766);
  CHECK(host.value("node_pressure_io_stalled_seconds_total") == 10.995871);
  CHECK(host.value("node_pressure_memory_waiting_seconds_total") == 2.500001);
  CHECK(host.value("node_pressure_memory_stalled_seconds_total") == 1.25);
  CHECK_FALSE(host.has("node_pressure_cpu_stalled_seconds_total"));  // not in node_exporter 1.5

  for (const char* name : kFamilies) {
    auto family = host.family(name);
    REQUIRE(family);
    CHECK(family->type == MetricType::counter);
    CHECK(host.series(name).size() == 1);
  }
  CHECK(host.family("node_pressure_cpu_waiting_seconds_total")->help ==
        "Total time in seconds that processes have waited for CPU time");
  CHECK(host.family("node_pressure_io_waiting_seconds_total")->help ==
        "Total time in seconds that processes have waited due to IO congestion");
  CHECK(host.family("node_pressure_io_stalled_seconds_total")->help ==
        "Total time in seconds no process could make progress due to IO congestion");
  CHECK(host.family("node_pressure_memory_waiting_seconds_total")->help ==
        "Total time in seconds that processes have waited for memory");
  CHECK(host.family("node_pressure_memory_stalled_seconds_total")->help ==
        "Total time in seconds no process could make progress due to memory congestion");
}

TEST_CASE("a Linux 4.20 cpu file without a full line still gives the cpu waiting time") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("psi_4_20")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_pressure_cpu_waiting_seconds_total") == Approx(0.123456));
  CHECK(host.has("node_pressure_io_stalled_seconds_total"));
}

TEST_CASE("later collects write through the same handles") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("psi")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 5);
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 5);
}

TEST_CASE("a kernel without PSI: collects succeed, one warning is logged, no series") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("no_psi")}});
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().to_string() == "ok");
  CHECK(count_logs(host, VIGIL_LOG_WARN, "pressure stall information (PSI) is unavailable") == 1);
  CHECK(host.logged(fixture("no_psi") + "/pressure/cpu"));
  CHECK(host.logged("CONFIG_PSI"));
  for (const char* name : kFamilies) CHECK(host.series(name).empty());
}

TEST_CASE("PSI that disappears takes its series away and they return with it") {
  TempProc proc;
  proc.add_psi("psi");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_pressure_io_stalled_seconds_total"));

  proc.remove_psi();
  REQUIRE(inst.collect().is_ok());
  REQUIRE(inst.collect().is_ok());
  CHECK(count_logs(host, VIGIL_LOG_WARN, "is unavailable") == 1);
  for (const char* name : kFamilies) CHECK_FALSE(host.has(name));
  CHECK(host.unregister_calls() == 5);

  proc.add_psi("psi");
  REQUIRE(inst.collect().is_ok());
  CHECK(count_logs(host, VIGIL_LOG_INFO, "available again") == 3);
  CHECK(host.value("node_pressure_memory_stalled_seconds_total") == 1.25);
}

TEST_CASE("a malformed PSI file fails the collect with the file and line, the others are kept") {
  TempProc proc;
  proc.add_psi("psi");
  proc.write("pressure/io", "some avg10=0.00 total=abc\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains((proc.path() / "pressure" / "io").string()) &&
                                   Catch::Contains("line 1"));
  CHECK(host.has("node_pressure_cpu_waiting_seconds_total"));
  CHECK(host.has("node_pressure_memory_waiting_seconds_total"));
  CHECK_FALSE(host.has("node_pressure_io_waiting_seconds_total"));
}

TEST_CASE("a proc_path that does not exist is refused at start but a missing PSI is not") {
  FakeHost host;
  auto inst = host.try_create(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}});
  REQUIRE_FALSE(inst);
  CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(inst.status().message(),
             Catch::Contains("/nonexistent/vigil/proc") && Catch::Contains("proc_path"));
  CHECK(host.try_create(plugin(), {{"proc_path", fixture("no_psi")}}));
}

TEST_CASE("the machine's own /proc: the five counters when the kernel has PSI, else one warning") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  if (fs::exists("/proc/pressure/cpu")) {
    for (const char* name : kFamilies) CHECK(host.value(name) >= 0);
    CHECK_FALSE(host.logged("unavailable"));
  } else {
    CHECK(host.logged("pressure stall information (PSI) is unavailable"));
  }
}
