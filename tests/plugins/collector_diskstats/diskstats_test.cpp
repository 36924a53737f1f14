// The diskstats and udev parsers of collector_diskstats against fixture files from kernels with
// 4, 11, 15 and 17 statistics per line, and the errors a malformed file gives.
#include "diskstats.hpp"
#include "udev.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "files.hpp"

using namespace vigil::collector_diskstats;
using vigil::testing::read_fixture;

namespace {

std::vector<DiskStats> parse_ok(const std::string& text) {
  std::vector<DiskStats> disks;
  std::string error;
  INFO(error);
  REQUIRE(parse_diskstats(text, disks, error));
  return disks;
}

constexpr std::uint32_t kAll17 = (1u << kDiskFieldCount) - 1;
constexpr std::uint32_t kFirst11 = (1u << 11) - 1;
constexpr std::uint32_t kFirst15 = (1u << 15) - 1;

}  // namespace

TEST_CASE("a Linux 5.5+ line carries all 17 statistics in the kernel's order") {
  const std::string text = read_fixture("kernel_5_5/diskstats");
  auto disks = parse_ok(text);
  REQUIRE(disks.size() == 9);
  const DiskStats& vda = disks[0];
  CHECK(vda.major == 254);
  CHECK(vda.minor == 0);
  CHECK(vda.name == "vda");
  CHECK(vda.present == kAll17);
  CHECK(vda.values[kReadsCompleted] == 98573);
  CHECK(vda.values[kReadsMerged] == 14821);
  CHECK(vda.values[kSectorsRead] == 5999082);
  CHECK(vda.values[kReadTimeMs] == 172274);
  CHECK(vda.values[kWritesCompleted] == 52511);
  CHECK(vda.values[kWritesMerged] == 21014);
  CHECK(vda.values[kSectorsWritten] == 40477536);
  CHECK(vda.values[kWriteTimeMs] == 157725);
  CHECK(vda.values[kIoInProgress] == 0);
  CHECK(vda.values[kIoTimeMs] == 38992);
  CHECK(vda.values[kIoTimeWeightedMs] == 336409);
  CHECK(vda.values[kDiscardsCompleted] == 13282);
  CHECK(vda.values[kDiscardsMerged] == 41);
  CHECK(vda.values[kSectorsDiscarded] == 32079072);
  CHECK(vda.values[kDiscardTimeMs] == 6354);
  CHECK(vda.values[kFlushesCompleted] == 1390);
  CHECK(vda.values[kFlushTimeMs] == 54);
  CHECK(disks[2].name == "nvme0n1");
  CHECK(disks[2].values[kIoInProgress] == 2);
}

TEST_CASE("Linux 4.18 lines have discards but no flushes, 4.4 lines neither") {
  auto k418 = parse_ok(read_fixture("kernel_4_18/diskstats"));
  REQUIRE(k418.size() == 3);
  CHECK(k418[0].present == kFirst15);
  CHECK(k418[0].has(kSectorsDiscarded));
  CHECK_FALSE(k418[0].has(kFlushesCompleted));
  CHECK(k418[0].values[kDiscardTimeMs] == 12345);

  auto k44 = parse_ok(read_fixture("kernel_4_4/diskstats"));
  REQUIRE(k44.size() == 2);
  CHECK(k44[0].present == kFirst11);
  CHECK_FALSE(k44[0].has(kDiscardsCompleted));
  CHECK(k44[0].values[kIoTimeWeightedMs] == 82621804);
}

TEST_CASE("a 2.6 kernel's four-statistic partition line maps to reads, writes and sectors") {
  auto disks = parse_ok(read_fixture("kernel_2_6/diskstats"));
  REQUIRE(disks.size() == 2);
  CHECK(disks[0].present == kFirst11);
  const DiskStats& hda1 = disks[1];
  CHECK(hda1.name == "hda1");
  CHECK(hda1.present == ((1u << kReadsCompleted) | (1u << kSectorsRead) | (1u << kWritesCompleted) |
                         (1u << kSectorsWritten)));
  CHECK(hda1.values[kReadsCompleted] == 35486);
  CHECK(hda1.values[kSectorsRead] == 1171712);
  CHECK(hda1.values[kWritesCompleted] == 402);
  CHECK(hda1.values[kSectorsWritten] == 3216);
  CHECK(hda1.values[kReadsMerged] == 0);
}

TEST_CASE("statistics a future kernel adds after the 17th are ignored") {
  auto disks = parse_ok("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n");
  CHECK(disks[0].present == kAll17);
  CHECK(disks[0].values[kFlushTimeMs] == 17);
}

TEST_CASE("malformed lines are reported with the line number and what was found") {
  std::vector<DiskStats> disks;
  std::string error;
  CHECK_FALSE(
      parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 1 sda1 1 2 3 4 5\n", disks, error));
  CHECK_THAT(error, Catch::Contains("line 2") && Catch::Contains("'sda1', found 5"));

  CHECK_FALSE(parse_diskstats("8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n", disks, error));
  CHECK_THAT(error, Catch::Contains("line 1") && Catch::Contains("found 'x' as statistic 3"));

  CHECK_FALSE(parse_diskstats("eight 0 sda 1 2 3 4\n", disks, error));
  CHECK_THAT(error, Catch::Contains("expected 'MAJOR MINOR DEVICE'"));

  CHECK_FALSE(parse_diskstats("8 0\n", disks, error));
  CHECK_THAT(error, Catch::Contains("expected 'MAJOR MINOR DEVICE'"));
}

TEST_CASE("udev's E: lines give node_disk_info's identity labels") {
  UdevInfo info = parse_udev_info(read_fixture("udev/b254:0"));
  CHECK(info.path == "pci-0000:00:05.0");
  CHECK(info.wwn == "0x5000c500a1b2c3d4");
  CHECK(info.model == "QEMU_HARDDISK");
  CHECK(info.serial == "vigil-serial-1");  // ID_SERIAL_SHORT, as node_exporter 1.5
  CHECK(info.revision == "2.5+");

  UdevInfo missing = read_udev_info(vigil::testing::fixture("udev"), 8, 0);
  CHECK(missing.model.empty());
  CHECK(missing.serial.empty());
}
