// The built collector_netdev.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape from fixture procfs trees (filters, devices that come and go) and
// from the machine's own /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

namespace fs = std::filesystem;
using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

vigil::Labels device(const char* name) {
  return {{"device", name}};
}

// node_exporter 1.5's names, in /proc/net/dev's column order.
const char* const kMetrics[16] = {
    "node_network_receive_bytes_total",      "node_network_receive_packets_total",
    "node_network_receive_errs_total",       "node_network_receive_drop_total",
    "node_network_receive_fifo_total",       "node_network_receive_frame_total",
    "node_network_receive_compressed_total", "node_network_receive_multicast_total",
    "node_network_transmit_bytes_total",     "node_network_transmit_packets_total",
    "node_network_transmit_errs_total",      "node_network_transmit_drop_total",
    "node_network_transmit_fifo_total",      "node_network_transmit_colls_total",
    "node_network_transmit_carrier_total",   "node_network_transmit_compressed_total"};

std::set<std::string> devices(const FakeHost& host) {
  return vigil::testing::label_values(host, "node_network_receive_bytes_total", "device");
}

// A writable procfs stand-in whose net/dev a test can replace between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_netdev_test", "net/dev") {}
};

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_netdev");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"},
                                             {"device_include", "<none>"},
                                             {"device_exclude", "^$"}});
}

TEST_CASE("a fixture gives node_exporter's 16 counters per device, every device by default") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(devices(host) == std::set<std::string>{"lo", "eth0", "wlan0", "docker0", "veth1a2b3c4"});
  for (const char* name : kMetrics) {
    INFO(name);
    auto family = host.family(name);
    REQUIRE(family);
    CHECK(family->type == MetricType::counter);
    const std::string statistic = std::string(name).substr(
        std::string("node_network_").size(),
        std::string(name).size() - std::string("node_network__total").size());
    CHECK(family->help == "Network device statistic " + statistic + ".");
    CHECK(host.series(name).size() == 5);
  }

  CHECK(host.value("node_network_receive_bytes_total", device("eth0")) == 66734478);
  CHECK(host.value("node_network_receive_packets_total", device("eth0")) == 1558);
  CHECK(host.value("node_network_receive_errs_total", device("eth0")) == 1);
  CHECK(host.value("node_network_receive_drop_total", device("eth0")) == 2);
  CHECK(host.value("node_network_receive_fifo_total", device("eth0")) == 3);
  CHECK(host.value("node_network_receive_frame_total", device("eth0")) == 4);
  CHECK(host.value("node_network_receive_compressed_total", device("eth0")) == 5);
  CHECK(host.value("node_network_receive_multicast_total", device("eth0")) == 6);
  CHECK(host.value("node_network_transmit_bytes_total", device("eth0")) == 66435);
  CHECK(host.value("node_network_transmit_packets_total", device("eth0")) == 835);
  CHECK(host.value("node_network_transmit_errs_total", device("eth0")) == 7);
  CHECK(host.value("node_network_transmit_drop_total", device("eth0")) == 8);
  CHECK(host.value("node_network_transmit_fifo_total", device("eth0")) == 9);
  CHECK(host.value("node_network_transmit_colls_total", device("eth0")) == 10);
  CHECK(host.value("node_network_transmit_carrier_total", device("eth0")) == 11);
  CHECK(host.value("node_network_transmit_compressed_total", device("eth0")) == 12);
  CHECK(host.value("node_network_receive_bytes_total", device("wlan0")) == 9876543210.0);
  CHECK(host.value("node_network_receive_bytes_total", device("veth1a2b3c4")) ==
        18446744073709551615.0);
  CHECK(host.value("node_network_transmit_bytes_total", device("lo")) == 4368443565.0);
}

TEST_CASE("device_exclude leaves devices out, device_include keeps only matching ones") {
  FakeHost host;
  auto excluded = host.create(
      plugin(), {{"proc_path", fixture("typical")}, {"device_exclude", "^(lo|veth.*|docker\\d+)$"}},
      vigil::testing::InstanceSettings{"excluded"});
  REQUIRE(excluded.collect().is_ok());
  CHECK(devices(host) == std::set<std::string>{"eth0", "wlan0"});

  FakeHost host2;
  auto included = host2.create(plugin(), {{"proc_path", fixture("typical")},
                                          {"device_include", "^(eth|wlan)"},
                                          {"device_exclude", "^wlan"}});
  REQUIRE(included.collect().is_ok());
  CHECK(devices(host2) == std::set<std::string>{"eth0"});
  CHECK(host2.series("node_network_transmit_colls_total").size() == 1);
}

TEST_CASE("a bad pattern is refused at start naming the option") {
  CHECK_THAT(
      refused_start(plugin(), {{"proc_path", fixture("typical")}, {"device_include", "eth("}}),
      Catch::Contains("device_include") && Catch::Contains("\"eth(\""));
}

TEST_CASE("later collects write through cached handles: no new registrations") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 5 * 16);
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 5 * 16);
}

TEST_CASE("a device that disappears leaves the exposition and comes back when it returns") {
  TempProc proc;
  proc.use("typical/net/dev");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_network_receive_bytes_total", device("wlan0")));

  proc.use("wlan0_gone/net/dev");
  REQUIRE(inst.collect().is_ok());
  for (const char* name : kMetrics) CHECK_FALSE(host.has(name, device("wlan0")));
  CHECK(host.unregister_calls() == 16);
  CHECK(devices(host) == std::set<std::string>{"lo", "eth0", "docker0", "veth1a2b3c4"});
  CHECK(host.logged("wlan0 is no longer listed"));

  proc.use("typical/net/dev");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_network_receive_bytes_total", device("wlan0")) == 9876543210.0);
}

TEST_CASE("on a 1.0 host without unregister, a vanished device is only no longer written") {
  TempProc proc;
  proc.use("typical/net/dev");
  FakeHost host(FakeHost::api_size_1_0);
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  proc.use("wlan0_gone/net/dev");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.unregister_calls() == 0);
  CHECK(host.value("node_network_receive_bytes_total", device("wlan0")) == 9876543210.0);
}

TEST_CASE("a series the host dropped is registered again on the next collect") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.drop_series("node_network_transmit_packets_total", device("eth0")));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_network_transmit_packets_total", device("eth0")) == 835);
}

TEST_CASE("a proc_path without net/dev is refused at start with the path and a hint") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}}),
             Catch::Contains("/nonexistent/vigil/proc/net/dev") && Catch::Contains("proc_path"));
}

TEST_CASE("a net/dev that turns malformed fails the collect with the file and line") {
  TempProc proc;
  proc.use("typical/net/dev");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  proc.write("h1\nh2\n  eth0: 1 2 3\n");
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("line 3"));
  // Nothing is unregistered on a bad read: the devices were not seen to go.
  CHECK(host.unregister_calls() == 0);
}

TEST_CASE("the machine's own /proc lists the loopback device with its traffic") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  REQUIRE(host.has("node_network_receive_bytes_total", device("lo")));
  CHECK(host.value("node_network_receive_bytes_total", device("lo")) >= 0);
  // The loopback device receives exactly what it transmits.
  CHECK(host.value("node_network_receive_packets_total", device("lo")) ==
        Approx(host.value("node_network_transmit_packets_total", device("lo"))).margin(1000));
}
