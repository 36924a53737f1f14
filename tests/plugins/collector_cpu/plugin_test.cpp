// The built collector_cpu.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape, from fixture procfs trees and from the machine's own /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

double hz() {
  return static_cast<double>(sysconf(_SC_CLK_TCK));
}

vigil::Labels cpu_mode(const char* cpu, const char* mode) {
  return {{"cpu", cpu}, {"mode", mode}};
}

// A writable procfs stand-in whose stat file a test can replace between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_cpu_test", "stat") {}
};

}  // namespace

TEST_CASE("the plugin describes itself and its proc_path option") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_cpu");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"}});
}

TEST_CASE("a four-CPU fixture gives node_exporter's cpu and stat series") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("four_cpus")}});
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(host.series("node_cpu_seconds_total").size() == 4 * 8);
  CHECK(host.series("node_cpu_guest_seconds_total").size() == 4 * 2);
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("0", "user")) == Approx(564321 / hz()));
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("0", "idle")) == Approx(24351720 / hz()));
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("0", "softirq")) == Approx(30041 / hz()));
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("3", "steal")) == Approx(302 / hz()));
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("2", "irq")) == 0);
  CHECK(host.value("node_cpu_guest_seconds_total", cpu_mode("1", "user")) == Approx(75 / hz()));
  CHECK(host.value("node_cpu_guest_seconds_total", cpu_mode("1", "nice")) == Approx(3 / hz()));
  CHECK_FALSE(host.has("node_cpu_seconds_total", cpu_mode("", "user")));  // aggregate line skipped

  CHECK(host.value("node_intr_total") == 190834829.0);
  CHECK(host.value("node_context_switches_total") == 412830914.0);
  CHECK(host.value("node_forks_total") == 1803544.0);
  CHECK(host.value("node_boot_time_seconds") == 1700000000.0);
  CHECK(host.value("node_procs_running") == 3.0);
  CHECK(host.value("node_procs_blocked") == 1.0);

  auto cpu = host.family("node_cpu_seconds_total");
  REQUIRE(cpu);
  CHECK(cpu->type == MetricType::counter);
  CHECK(cpu->help == "Seconds the CPUs spent in each mode.");
  auto guest = host.family("node_cpu_guest_seconds_total");
  REQUIRE(guest);
  CHECK(guest->help == "Seconds the CPUs spent in guests (VMs) for each mode.");
  CHECK(host.family("node_intr_total")->help == "Total number of interrupts serviced.");
  CHECK(host.family("node_context_switches_total")->help == "Total number of context switches.");
  CHECK(host.family("node_forks_total")->help == "Total number of forks.");
  CHECK(host.family("node_boot_time_seconds")->help == "Node boot time, in unixtime.");
  CHECK(host.family("node_boot_time_seconds")->type == MetricType::gauge);
  CHECK(host.family("node_procs_running")->help == "Number of processes in runnable state.");
  CHECK(host.family("node_procs_blocked")->help ==
        "Number of processes blocked waiting for I/O to complete.");
}

TEST_CASE("later collects write through cached handles: no new registrations") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("four_cpus")}});
  REQUIRE(inst.collect().is_ok());
  uint64_t after_first = host.registrations();
  CHECK(after_first == 4 * 10 + 6);
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == after_first);
}

TEST_CASE("an old kernel's stat without procs lines leaves those series out") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("old_kernel")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.series("node_cpu_seconds_total").size() == 2 * 8);
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("1", "steal")) == 0);
  CHECK_FALSE(host.has("node_procs_running"));
  CHECK_FALSE(host.has("node_procs_blocked"));
  CHECK(host.value("node_forks_total") == 4321.0);
}

TEST_CASE("a CPU that goes offline leaves the exposition when the host can unregister") {
  TempProc proc;
  proc.use("four_cpus/stat");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_cpu_seconds_total", cpu_mode("2", "idle")));

  proc.use("cpu2_offline/stat");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("node_cpu_seconds_total", cpu_mode("2", "idle")));
  CHECK_FALSE(host.has("node_cpu_guest_seconds_total", cpu_mode("2", "user")));
  CHECK(host.series("node_cpu_seconds_total").size() == 3 * 8);
  CHECK(host.unregister_calls() == 10);
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("3", "idle")) == Approx(24355548 / hz()));

  SECTION("and comes back when the CPU is online again") {
    proc.use("four_cpus/stat");
    REQUIRE(inst.collect().is_ok());
    CHECK(host.has("node_cpu_seconds_total", cpu_mode("2", "idle")));
    CHECK(host.series("node_cpu_seconds_total").size() == 4 * 8);
  }
}

TEST_CASE("on a 1.0 host without unregister, an offline CPU is only no longer written") {
  TempProc proc;
  proc.use("four_cpus/stat");
  FakeHost host(FakeHost::api_size_1_0);
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  proc.use("cpu2_offline/stat");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.unregister_calls() == 0);
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("2", "idle")) == Approx(24354307 / hz()));
}

TEST_CASE("a series the host dropped is registered again on the next collect") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("four_cpus")}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.drop_series("node_cpu_seconds_total", cpu_mode("1", "user")));
  CHECK_FALSE(host.has("node_cpu_seconds_total", cpu_mode("1", "user")));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("1", "user")) == Approx(563890 / hz()));
}

TEST_CASE("a proc_path without a stat file is refused at start with the path and a hint") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}}),
             Catch::Contains("/nonexistent/vigil/proc/stat") && Catch::Contains("proc_path"));
}

TEST_CASE("a stat file that turns malformed fails the collect with the file and line") {
  TempProc proc;
  proc.use("four_cpus/stat");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  proc.write("cpu0 1 2 three\n");
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("line 1"));
}

TEST_CASE("the machine's own /proc gives a positive idle time for cpu 0") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("node_cpu_seconds_total", cpu_mode("0", "idle")) > 0);
  CHECK(host.value("node_boot_time_seconds") > 1e9);
}
