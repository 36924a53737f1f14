// The built collector_loadavg.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape, from fixture procfs trees and from the machine's own /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <stdlib.h>
#include <catch2/catch.hpp>

#include <string>

using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

// A writable procfs stand-in whose loadavg file a test can replace between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_loadavg_test", "loadavg") {}
};

}  // namespace

TEST_CASE("the plugin describes itself and its proc_path option") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_loadavg");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"}});
}

TEST_CASE("a fixture gives node_exporter's three load gauges with its help texts") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("node_load1") == 0.21);
  CHECK(host.value("node_load5") == 0.37);
  CHECK(host.value("node_load15") == 0.39);
  for (const char* name : {"node_load1", "node_load5", "node_load15"}) {
    auto family = host.family(name);
    REQUIRE(family);
    CHECK(family->type == MetricType::gauge);
  }
  CHECK(host.family("node_load1")->help == "1m load average.");
  CHECK(host.family("node_load5")->help == "5m load average.");
  CHECK(host.family("node_load15")->help == "15m load average.");
}

TEST_CASE("each collect shows the file's current values through the same three series") {
  TempProc proc;
  proc.use("typical/loadavg");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  const uint64_t registered = host.registrations();
  CHECK(registered == 3);

  proc.use("busy/loadavg");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_load1") == 12.5);
  CHECK(host.value("node_load5") == 8.03);
  CHECK(host.value("node_load15") == 4.0);
  CHECK(host.registrations() == registered);
}

TEST_CASE("a series the host dropped is registered again on the next collect") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.drop_series("node_load5"));
  CHECK_FALSE(host.has("node_load5"));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_load5") == 0.37);
}

TEST_CASE("a proc_path without a loadavg file is refused at start with the path and a hint") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", "/nonexistent/vigil/proc/"}}),
             Catch::Contains("/nonexistent/vigil/proc/loadavg") && Catch::Contains("proc_path"));
}

TEST_CASE("an empty proc_path is refused with what is expected") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", ""}}),
             Catch::Contains("proc_path") && Catch::Contains("/proc"));
}

TEST_CASE("a loadavg file that turns malformed or vanishes fails the collect, naming the file") {
  TempProc proc;
  proc.use("typical/loadavg");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());

  proc.write("garbage\n");
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("'garbage'"));
  CHECK(host.value("node_load1") == 0.21);  // the last good value stays

  proc.remove("loadavg");
  status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains("cannot open " + proc.target()));
}

TEST_CASE("the machine's own /proc gives the same load averages as getloadavg()") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  double expected[3] = {};
  REQUIRE(getloadavg(expected, 3) == 3);
  // Both read the kernel's figures, which move only every 5 s: a generous bound covers a change
  // between the two reads.
  CHECK(host.value("node_load1") == Approx(expected[0]).epsilon(0.2).margin(2.0));
  CHECK(host.value("node_load15") == Approx(expected[2]).epsilon(0.2).margin(2.0));
  CHECK(host.value("node_load5") >= 0);
}
