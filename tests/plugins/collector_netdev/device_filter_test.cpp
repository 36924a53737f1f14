// The include/exclude device filter shared by collector_netdev and collector_diskstats: which
// devices a user's patterns let through, and the error a bad pattern gives.
#include "device_filter.hpp"

#include <catch2/catch.hpp>

#include <string>

using vigil::device_filter::DeviceFilter;

TEST_CASE("without patterns every device is collected") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "", error));
  CHECK(f.allowed("lo"));
  CHECK(f.allowed("eth0"));
}

TEST_CASE("the exclude pattern is searched, not fully matched, as node_exporter does") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "veth", error));
  CHECK_FALSE(f.allowed("veth1a2b3c4"));
  CHECK_FALSE(f.allowed("myveth0"));
  CHECK(f.allowed("eth0"));

  REQUIRE(f.set("device_include", "", "device_exclude", "^lo$", error));
  CHECK_FALSE(f.allowed("lo"));
  CHECK(f.allowed("lo0"));
}

TEST_CASE("an include pattern lets only matching devices through, then exclude removes some") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "^(eth|wlan)\\d+$", "device_exclude", "^eth1$", error));
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
                R"(^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$)", error));
  for (const char* out : {"ram0", "loop7", "fd0", "sda1", "vda2", "hdb3", "xvda1", "nvme0n1p1"})
    CHECK_FALSE(f.allowed(out));
  for (const char* in : {"sda", "vda", "nvme0n1", "dm-0", "sr0", "md0", "zram0", "mmcblk0"})
    CHECK(f.allowed(in));
}

TEST_CASE("a bad pattern is refused naming the option and the pattern") {
  DeviceFilter f;
  std::string error;
  CHECK_FALSE(f.set("device_include", "", "device_exclude", "(eth", error));
  CHECK_THAT(error, Catch::Contains("option \"device_exclude\"") && Catch::Contains("\"(eth\"") &&
                        Catch::Contains("not a valid regular expression"));
  CHECK_FALSE(f.set("device_include", "[", "device_exclude", "", error));
  CHECK_THAT(error, Catch::Contains("option \"device_include\""));
}

TEST_CASE("many distinct names do not grow the decision cache without bound") {
  DeviceFilter f;
  std::string error;
  REQUIRE(f.set("device_include", "", "device_exclude", "^veth", error));
  std::size_t allowed = 0;
  for (std::size_t i = 0; i < 3 * DeviceFilter::kMaxCachedNames; ++i)
    allowed += f.allowed("veth" + std::to_string(i)) ? 1 : 0;
  CHECK(allowed == 0);
  CHECK(f.cached_names() <= DeviceFilter::kMaxCachedNames);
  CHECK(f.allowed("eth0"));
}
