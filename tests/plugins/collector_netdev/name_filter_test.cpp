// The include/exclude filter (vigil_plugin_procfs' CachedNameFilter) as collector_netdev and
// collector_diskstats use it: which devices a user's patterns let through, and the error a bad
// pattern gives.
#include "vigil_plugin_procfs/name_filter.hpp"

#include <catch2/catch.hpp>

#include <string>

using DeviceFilter = vigil::procfs::CachedNameFilter;
using vigil::procfs::kDevicePatternExpected;

TEST_CASE("without patterns every device is collected") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "", kDevicePatternExpected, error));
  CHECK(f.allowed("lo"));
  CHECK(f.allowed("eth0"));
}

TEST_CASE("the exclude pattern is searched, not fully matched, as node_exporter does") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "veth", kDevicePatternExpected, error));
  CHECK_FALSE(f.allowed("veth1a2b3c4"));
  CHECK_FALSE(f.allowed("myveth0"));
  CHECK(f.allowed("eth0"));

  REQUIRE(f.set("device_include", "", "device_exclude", "^lo$", kDevicePatternExpected, error));
  CHECK_FALSE(f.allowed("lo"));
  CHECK(f.allowed("lo0"));
}

TEST_CASE("an include pattern lets only matching devices through, then exclude removes some") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "^(eth|wlan)\\d+$", "device_exclude", "^eth1$",
                kDevicePatternExpected, error));
  CHECK(f.allowed("eth0"));
  CHECK(f.allowed("wlan0"));
  CHECK_FALSE(f.allowed("eth1"));
  CHECK_FALSE(f.allowed("docker0"));
  // Cached decisions stay right on the second look.
  CHECK(f.allowed("eth0"));
  CHECK_FALSE(f.allowed("docker0"));
}

TEST_CASE("node_exporter's default disk exclusion leaves out partitions, ram, loop and floppies") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude",
                R"(^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$)", kDevicePatternExpected,
                error));
  for (const char* out : {"ram0", "loop7", "fd0", "sda1", "vda2", "hdb3", "xvda1", "nvme0n1p1"})
    CHECK_FALSE(f.allowed(out));
  for (const char* in : {"sda", "vda", "nvme0n1", "dm-0", "sr0", "md0", "zram0", "mmcblk0"})
    CHECK(f.allowed(in));
}

TEST_CASE("a bad pattern is refused naming the option and the pattern") {
  DeviceFilter f;
  std::string error;
  CHECK_FALSE(f.set("device_include", "", "device_exclude", "(eth", kDevicePatternExpected, error));
  CHECK_THAT(error,
             Catch::StartsWith("option \"device_exclude\": \"(eth\" is not a valid regular "
                               "expression (") &&
                 Catch::EndsWith("; expected ECMAScript syntax such as \"^(lo|docker\\\\d+)$\""));
  CHECK_FALSE(f.set("device_include", "[", "device_exclude", "", kDevicePatternExpected, error));
  CHECK_THAT(error, Catch::Contains("option \"device_include\""));
}

TEST_CASE("many distinct names do not grow the decision cache without bound") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "^veth", kDevicePatternExpected, error));
  std::size_t allowed = 0;
  for (std::size_t i = 0; i < 3 * DeviceFilter::kMaxCachedNames; ++i)
    allowed += f.allowed("veth" + std::to_string(i)) ? 1 : 0;
  CHECK(allowed == 0);
  CHECK(f.cached_names() <= DeviceFilter::kMaxCachedNames);
  CHECK(f.allowed("eth0"));
}
