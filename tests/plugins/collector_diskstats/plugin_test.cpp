// The built collector_diskstats.so, loaded with dlopen and run through the SDK's fake host: the
// series a user would scrape from fixture procfs trees of several kernel generations (with a
// udev database fixture), devices that come and go, and the machine's own /proc.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::OptionMap;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

OptionMap options(const std::string& proc, OptionMap extra = {}) {
  extra["proc_path"] = proc;
  extra.emplace("udev_data_path", fixture("udev"));
  return extra;
}

vigil::Labels device(const char* name) {
  return {{"device", name}};
}

constexpr const char* kDefaultExclude = R"(^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$)";

// Every family, in the kernel's column order, with node_exporter 1.5's help.
const std::pair<const char*, const char*> kFamilies[17] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully."},
    {"node_disk_reads_merged_total", "The total number of reads merged."},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully."},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads."},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully."},
    {"node_disk_writes_merged_total", "The number of writes merged."},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully."},
    {"node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes."},
    {"node_disk_io_now", "The number of I/Os currently in progress."},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os."},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os."},
    {"node_disk_discards_completed_total", "The total number of discards completed successfully."},
    {"node_disk_discards_merged_total", "The total number of discards merged."},
    {"node_disk_discarded_sectors_total", "The total number of sectors discarded successfully."},
    {"node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards."},
    {"node_disk_flush_requests_total", "The total number of flush requests completed successfully"},
    {"node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests."},
};

std::set<std::string> devices(const FakeHost& host, const char* family = "node_disk_info") {
  return vigil::testing::label_values(host, family, "device");
}

// A writable procfs stand-in whose diskstats a test can replace between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_diskstats_test", "diskstats") {}
};

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_diskstats");
  REQUIRE(d->collector != nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"proc_path", "/proc"},
                                             {"udev_data_path", "/run/udev/data"},
                                             {"device_include", "<none>"},
                                             {"device_exclude", kDefaultExclude}});
}

TEST_CASE("a Linux 5.5 fixture gives node_exporter's series, units converted as it does") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_5_5")));
  REQUIRE(inst.collect().to_string() == "ok");

  // Partitions, loop devices and the like are left out by node_exporter's default pattern.
  CHECK(devices(host) ==
        std::set<std::string>{"vda", "nvme0n1", "sr0", "dm-0", "mmcblk0", "mmcblk0p1"});

  for (const auto& [name, help] : kFamilies) {
    INFO(name);
    auto family = host.family(name);
    REQUIRE(family);
    CHECK(family->help == help);
    CHECK(family->type ==
          (std::string(name) == "node_disk_io_now" ? MetricType::gauge : MetricType::counter));
    CHECK(host.series(name).size() == 6);
  }
  CHECK(host.family("node_disk_info")->help == "Info of /sys/block/<block_device>.");
  CHECK(host.family("node_disk_info")->type == MetricType::gauge);

  // The doubles node_exporter 1.5 prints for this file.
  CHECK(host.value("node_disk_reads_completed_total", device("vda")) == 98573);
  CHECK(host.value("node_disk_reads_merged_total", device("vda")) == 14821);
  CHECK(host.value("node_disk_read_bytes_total", device("vda")) == 3071529984.0);
  CHECK(host.value("node_disk_read_time_seconds_total", device("vda")) == 172.274);
  CHECK(host.value("node_disk_writes_completed_total", device("vda")) == 52511);
  CHECK(host.value("node_disk_writes_merged_total", device("vda")) == 21014);
  CHECK(host.value("node_disk_written_bytes_total", device("vda")) == 20724498432.0);
  CHECK(host.value("node_disk_write_time_seconds_total", device("vda")) == 157.725);
  CHECK(host.value("node_disk_io_now", device("vda")) == 0);
  CHECK(host.value("node_disk_io_time_seconds_total", device("vda")) == 38.992);
  CHECK(host.value("node_disk_io_time_weighted_seconds_total", device("vda")) == 336.409);
  CHECK(host.value("node_disk_discards_completed_total", device("vda")) == 13282);
  CHECK(host.value("node_disk_discards_merged_total", device("vda")) == 41);
  CHECK(host.value("node_disk_discarded_sectors_total", device("vda")) == 32079072);
  CHECK(host.value("node_disk_discard_time_seconds_total", device("vda")) == 6.354);
  CHECK(host.value("node_disk_flush_requests_total", device("vda")) == 1390);
  CHECK(host.value("node_disk_flush_requests_time_seconds_total", device("vda")) == 0.054);
  CHECK(host.value("node_disk_io_now", device("nvme0n1")) == 2);
  CHECK(host.value("node_disk_io_time_weighted_seconds_total", device("nvme0n1")) ==
        3912.3450000000003);
}

TEST_CASE("node_disk_info carries the device numbers and udev's identity") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_5_5")));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_disk_info", {{"device", "vda"},
                                      {"major", "254"},
                                      {"minor", "0"},
                                      {"model", "QEMU_HARDDISK"},
                                      {"path", "pci-0000:00:05.0"},
                                      {"revision", "2.5+"},
                                      {"serial", "vigil-serial-1"},
                                      {"wwn", "0x5000c500a1b2c3d4"}}) == 1);
  // Without a udev entry the identity labels are absent (empty, in Prometheus' model).
  CHECK(host.value("node_disk_info", {{"device", "nvme0n1"}, {"major", "259"}, {"minor", "0"}}) ==
        1);
}

TEST_CASE("older kernels: no flush series on 4.18, no discard series on 4.4") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_4_18")));
  REQUIRE(inst.collect().is_ok());
  CHECK(devices(host) == std::set<std::string>{"sda", "sdb"});
  CHECK(host.value("node_disk_discard_time_seconds_total", device("sda")) == 12.345);
  CHECK(host.value("node_disk_io_now", device("sdb")) == 1);
  CHECK(host.series("node_disk_flush_requests_total").empty());
  CHECK(host.series("node_disk_flush_requests_time_seconds_total").empty());

  FakeHost host2;
  auto inst2 = host2.create(plugin(), options(fixture("kernel_4_4")));
  REQUIRE(inst2.collect().is_ok());
  CHECK(host2.value("node_disk_io_time_weighted_seconds_total", device("sda")) == 82621.804);
  CHECK(host2.series("node_disk_discards_completed_total").empty());
  CHECK(host2.series("node_disk_flush_requests_total").empty());
  CHECK(host2.series("node_disk_reads_completed_total").size() == 1);
}

TEST_CASE("a 2.6 kernel's partition line gives the four series it carries") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_2_6"), {{"device_exclude", "^$"}}));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_disk_reads_completed_total", device("hda1")) == 35486);
  CHECK(host.value("node_disk_read_bytes_total", device("hda1")) == 1171712.0 * 512);
  CHECK(host.value("node_disk_writes_completed_total", device("hda1")) == 402);
  CHECK(host.value("node_disk_written_bytes_total", device("hda1")) == 3216.0 * 512);
  CHECK_FALSE(host.has("node_disk_reads_merged_total", device("hda1")));
  CHECK_FALSE(host.has("node_disk_io_now", device("hda1")));
  CHECK(host.value("node_disk_reads_merged_total", device("hda")) == 784926);
}

TEST_CASE("device_include and device_exclude choose the devices") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_5_5"), {{"device_include", "^nvme"}}));
  REQUIRE(inst.collect().is_ok());
  CHECK(devices(host) == std::set<std::string>{"nvme0n1"});  // nvme0n1p1: default exclusion

  FakeHost host2;
  auto all = host2.create(plugin(), options(fixture("kernel_5_5"), {{"device_exclude", "^$"}}));
  REQUIRE(all.collect().is_ok());
  CHECK(devices(host2).size() == 9);

  FakeHost host3;
  auto bad = host3.try_create(plugin(), options(fixture("kernel_5_5"), {{"device_exclude", "(("}}));
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.status().message(),
             Catch::Contains("device_exclude") && Catch::Contains("\"((\""));
}

TEST_CASE("later collects write through cached handles: no new registrations") {
  FakeHost host;
  auto inst = host.create(plugin(), options(fixture("kernel_5_5")));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 6 * (17 + 1));
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == 6 * (17 + 1));
}

TEST_CASE("a disk that disappears leaves the exposition and comes back when it returns") {
  TempProc proc;
  proc.use("kernel_5_5/diskstats");
  FakeHost host;
  auto inst = host.create(plugin(), options(proc.path().string()));
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_disk_reads_completed_total", device("sr0")));

  std::ifstream in(fixture("kernel_5_5/diskstats"));
  std::string line, without_sr0;
  while (std::getline(in, line))
    if (line.find(" sr0 ") == std::string::npos) without_sr0 += line + "\n";
  proc.write(without_sr0);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.unregister_calls() == 17 + 1);
  for (const auto& [name, help] : kFamilies) CHECK_FALSE(host.has(name, device("sr0")));
  CHECK(devices(host).count("sr0") == 0);
  CHECK(host.logged("sr0 is no longer listed"));

  proc.use("kernel_5_5/diskstats");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_disk_reads_completed_total", device("sr0")) == 18);
}

TEST_CASE("a name that now has other device numbers gets a new node_disk_info") {
  TempProc proc;
  proc.write("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n");
  FakeHost host;
  auto inst = host.create(plugin(), options(proc.path().string()));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.has("node_disk_info", {{"device", "sda"}, {"major", "8"}, {"minor", "0"}}));

  proc.write("8 16 sda 1 2 3 4 5 6 7 8 9 10 11\n");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("node_disk_info", {{"device", "sda"}, {"major", "8"}, {"minor", "0"}}));
  CHECK(host.value("node_disk_info", {{"device", "sda"}, {"major", "8"}, {"minor", "16"}}) == 1);
  CHECK(host.series("node_disk_info").size() == 1);
  CHECK(host.value("node_disk_reads_completed_total", device("sda")) == 1);
}

TEST_CASE("on a 1.0 host without unregister, a vanished disk is only no longer written") {
  TempProc proc;
  proc.write("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n");
  FakeHost host(FakeHost::api_size_1_0);
  auto inst = host.create(plugin(), options(proc.path().string()));
  REQUIRE(inst.collect().is_ok());
  proc.write("8 0 sda 2 2 3 4 5 6 7 8 9 10 11\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.unregister_calls() == 0);
  CHECK(host.value("node_disk_reads_completed_total", device("sdb")) == 1);
  CHECK(host.value("node_disk_reads_completed_total", device("sda")) == 2);
}

TEST_CASE("a proc_path without diskstats is refused at start with the path and a hint") {
  CHECK_THAT(refused_start(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}}),
             Catch::Contains("/nonexistent/vigil/proc/diskstats") && Catch::Contains("proc_path"));
}

TEST_CASE("a diskstats that turns malformed fails the collect with the file and line") {
  TempProc proc;
  proc.use("kernel_5_5/diskstats");
  FakeHost host;
  auto inst = host.create(plugin(), options(proc.path().string()));
  REQUIRE(inst.collect().is_ok());
  proc.write("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 1 sda1 1 2\n");
  auto status = inst.collect();
  CHECK(status.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(status.message(), Catch::Contains(proc.target()) && Catch::Contains("line 2"));
  CHECK(host.unregister_calls() == 0);
}

TEST_CASE("the machine's own /proc: one node_disk_info per device the default pattern keeps") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");

  std::ifstream in("/proc/diskstats");
  REQUIRE(in.good());
  const std::regex exclude(kDefaultExclude);
  std::set<std::string> expected;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string major, minor, name;
    if (fields >> major >> minor >> name && !std::regex_search(name, exclude))
      expected.insert(name);
  }
  // Both reads see the same devices unless one is attached in between (loop devices, the usual
  // ones to come and go, are excluded).
  CHECK(devices(host) == expected);
  for (const auto& s : host.series("node_disk_reads_completed_total")) CHECK(s.value >= 0);
  for (const auto& s : host.series("node_disk_read_bytes_total"))
    CHECK(std::fmod(s.value, 512.0) == 0);
}
