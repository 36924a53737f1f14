// The built collector_memory.so, loaded with dlopen and run through the SDK's fake host: the
// node_memory_* series a user would scrape, from a fixture procfs tree and from the real /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

// A writable procfs stand-in whose meminfo a test can rewrite between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_mem_test", "meminfo") {}
};

}  // namespace

TEST_CASE("the plugin is a collector and a memory health check with its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_memory");
  REQUIRE(d->collector != nullptr);
  REQUIRE(d->health_check != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"},
                                             {"warning", "80"},
                                             {"critical", "90"},
                                             {"swap_warning", "<none>"},
                                             {"swap_critical", "<none>"}});
}

TEST_CASE("a fixture meminfo gives node_exporter's node_memory_ series") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(host.value("node_memory_MemTotal_bytes") == 16273196.0 * 1024);
  CHECK(host.value("node_memory_MemAvailable_bytes") == 9785444.0 * 1024);
  CHECK(host.value("node_memory_Active_anon_bytes") == 4019632.0 * 1024);
  CHECK(host.value("node_memory_Inactive_file_bytes") == 5633368.0 * 1024);
  CHECK(host.value("node_memory_HugePages_Total") == 16);
  CHECK(host.value("node_memory_HugePages_Free") == 12);
  CHECK(host.value("node_memory_Hugepagesize_bytes") == 2048.0 * 1024);
  CHECK(host.value("node_memory_DirectMap1G_bytes") == 2097152.0 * 1024);
  CHECK_FALSE(host.has("node_memory_HugePages_Total_bytes"));

  std::size_t memory_families = 0;
  for (const auto& name : host.family_names())
    if (name.rfind("node_memory_", 0) == 0) ++memory_families;
  CHECK(memory_families == 57);

  auto total = host.family("node_memory_MemTotal_bytes");
  REQUIRE(total);
  CHECK(total->type == MetricType::gauge);
  CHECK(total->help == "Memory information field MemTotal_bytes.");
  CHECK(host.family("node_memory_Active_anon_bytes")->help ==
        "Memory information field Active_anon_bytes.");
  CHECK(host.family("node_memory_HugePages_Total")->help ==
        "Memory information field HugePages_Total.");
}

TEST_CASE("later collects write through cached handles: no new registrations") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().is_ok());
  uint64_t after_first = host.registrations();
  CHECK(after_first == 57);
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == after_first);
}

TEST_CASE("a field that appears is added, one that disappears leaves the exposition") {
  TempProc proc;
  proc.write("MemTotal: 100 kB\nMemFree: 40 kB\nShmemHugePages: 0 kB\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_memory_ShmemHugePages_bytes"));

  proc.write("MemTotal: 100 kB\nMemFree: 30 kB\nZswap: 8 kB\n");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("node_memory_ShmemHugePages_bytes"));
  CHECK(host.value("node_memory_Zswap_bytes") == 8 * 1024);
  CHECK(host.value("node_memory_MemFree_bytes") == 30 * 1024);
  CHECK(host.unregister_calls() == 1);
  CHECK(host.registrations() == 4);
}

TEST_CASE("a proc_path without meminfo is refused at start with the path and a hint") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}}),
             Catch::Contains("/nonexistent/vigil/proc/meminfo") && Catch::Contains("proc_path"));
}

TEST_CASE("a malformed meminfo fails the collect with the file and line") {
  TempProc proc;
  proc.write("MemTotal: 100 kB\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  proc.write("MemTotal: 100 kB\nMemFree: ??? kB\n");
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("line 2"));
}

TEST_CASE("the machine's own /proc gives a positive MemTotal") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("node_memory_MemTotal_bytes") > 0);
  CHECK(host.value("node_memory_MemAvailable_bytes") > 0);
}

TEST_CASE("the memory check gives each status from fixture meminfo files") {
  FakeHost host;
  struct Case {
    const char* fixture;
    vigil_health_status status;
    const char* message;
  };
  for (const Case& c : {Case{"typical", VIGIL_HEALTH_OK, "memory 39.9% used (6.2 GiB of 15.5 GiB)"},
                        Case{"warning", VIGIL_HEALTH_WARNING,
                             "memory 83.1% used (6.6 GiB of 7.9 GiB), warning at 80%"},
                        Case{"critical", VIGIL_HEALTH_CRITICAL,
                             "memory 93.9% used (14.6 GiB of 15.5 GiB), critical at 90%"}}) {
    INFO(c.fixture);
    auto inst = host.create(plugin(), {{"proc_path", fixture(c.fixture)}},
                            vigil::testing::InstanceSettings{c.fixture});
    REQUIRE(inst.check().is_ok());
    CHECK(inst.health().status == c.status);
    CHECK(inst.health().message == c.message);
  }
}

TEST_CASE("the memory check's thresholds and swap thresholds are options") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("swapping")},
                                     {"warning", "40"},
                                     {"critical", "60"},
                                     {"swap_warning", "70"},
                                     {"swap_critical", "80"}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK(inst.health().message ==
        "memory 50.0% used (3.9 GiB of 7.9 GiB), warning at 40%; swap 85.0% used (1.7 GiB of "
        "2.0 GiB), critical at 80%");
  // The collector is unchanged by the check.
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_memory_SwapFree_bytes") == 314572.0 * 1024);
}

TEST_CASE("inverted or out-of-range thresholds are refused with what was expected") {
  FakeHost host;
  auto inverted = host.try_create(plugin(), {{"warning", "95"}, {"critical", "90"}});
  REQUIRE_FALSE(inverted);
  CHECK_THAT(inverted.status().message(),
             Catch::Contains("option \"warning\" (95") && Catch::Contains("above \"critical\""));
  auto swap = host.try_create(plugin(), {{"swap_warning", "90"}, {"swap_critical", "50"}});
  REQUIRE_FALSE(swap);
  CHECK_THAT(swap.status().message(), Catch::Contains("option \"swap_warning\""));
  auto range = host.try_create(plugin(), {{"critical", "150"}});
  REQUIRE_FALSE(range);
  CHECK_THAT(range.status().message(), Catch::Contains("option \"critical\" is 150") &&
                                           Catch::Contains("expected a percentage from 0 to 100"));
}

TEST_CASE("a meminfo that turns malformed makes the check fail with the file and line") {
  TempProc proc;
  proc.write("MemTotal: 100 kB\nMemAvailable: 50 kB\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  proc.write("MemTotal: 100 kB\nMemAvailable: lots kB\n");
  auto status = inst.check();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK(inst.health().status == VIGIL_HEALTH_UNKNOWN);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("line 2"));
}

TEST_CASE("the memory check on the machine's own /proc reports a percentage") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status != VIGIL_HEALTH_UNKNOWN);
  CHECK_THAT(inst.health().message, Catch::StartsWith("memory ") && Catch::Contains("% used ("));
}

TEST_CASE("a check right after a collect uses the collect's reading and a later one reads anew") {
  TempProc proc;
  proc.write("MemTotal: 100 kB\nMemAvailable: 50 kB\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  // The same scheduler tick: the file is not read again.
  proc.write("MemTotal: 100 kB\nMemAvailable: 5 kB\n");
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  // A second check never takes the reading the first one used.
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  // Nor does a collect well after the check's reading.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_memory_MemAvailable_bytes") == 5 * 1024);
}
