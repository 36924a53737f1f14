// collector_filesystem compiled into this test binary, with statvfs replaced through the plugin's
// test seam (set_stat_function_for_testing): exact numbers per mount, failing mounts, and mounts
// that hang like a dead NFS server, all through the SDK's fake host as a user would see them.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "fake_disks.hpp"
#include "files.hpp"
#include "host_results.hpp"
#include "stat_helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using vigil::testing::count_logs;
using vigil::testing::FakeDisks;
using vigil::testing::FakeHost;
using vigil::testing::fixture;

namespace {

constexpr double kBlock = 4096;
constexpr auto kBound = 5s;  // generous: the hung fake never returns until released

vigil::Labels mount(const char* device, const char* fstype, const char* mountpoint) {
  return {{"device", device}, {"fstype", fstype}, {"mountpoint", mountpoint}};
}

const vigil::Labels kRoot = mount("/dev/nvme0n1p2", "ext4", "/");
const vigil::Labels kNfs = mount("nfs.example.com:/export/home", "nfs4", "/mnt/nfs");
const vigil::Labels kBackup = mount("/dev/sdb1", "ext4", "/media/backup disk");
const vigil::Labels kArchive = mount("/dev/sdc1", "xfs", "/mnt/archive");

// Installs the fake statvfs for instances created while it lives; restores the real one after.
struct UseFakeDisks {
  std::shared_ptr<FakeDisks> disks = FakeDisks::make();
  UseFakeDisks() {
    // The fixture's eight reported mounts, each with its own numbers.
    disks->set("/", 1000, 400, 350, 5000, 4000);
    disks->set("/run", 100, 99, 99);
    disks->set("/run/lock", 10, 10, 10);
    disks->set("/run/user/1000", 100, 100, 100);
    disks->set("/boot/efi", 200, 150, 150);
    disks->set("/media/backup disk", 2000, 1000, 900, 800, 700);
    disks->set("/mnt/archive", 500, 0, 0);
    disks->set("/mnt/nfs", 3000, 2000, 2000);
    vigil::collector_filesystem::set_stat_function_for_testing(disks->function());
  }
  ~UseFakeDisks() {
    vigil::collector_filesystem::set_stat_function_for_testing(nullptr);
    disks->release_all();
  }
};

template <class Fn>
std::chrono::steady_clock::duration timed(Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::steady_clock::now() - start;
}

// A procfs stand-in whose mount table a test can rewrite between collects.
struct TempProc : vigil::testing::TempProcFile {
  TempProc() : TempProcFile("vigil_fs_seam", "1/mounts") {}
};

}  // namespace

TEST_CASE("the fixture's mounts give node_exporter's series with exact values") {
  UseFakeDisks fake;
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(host.series("node_filesystem_size_bytes").size() == 8);
  CHECK(host.series("node_filesystem_device_error").size() == 8);
  CHECK(host.value("node_filesystem_size_bytes", kRoot) == 1000 * kBlock);
  CHECK(host.value("node_filesystem_free_bytes", kRoot) == 400 * kBlock);
  CHECK(host.value("node_filesystem_avail_bytes", kRoot) == 350 * kBlock);
  CHECK(host.value("node_filesystem_files", kRoot) == 5000);
  CHECK(host.value("node_filesystem_files_free", kRoot) == 4000);
  CHECK(host.value("node_filesystem_readonly", kRoot) == 0);
  CHECK(host.value("node_filesystem_device_error", kRoot) == 0);
  CHECK(host.value("node_filesystem_size_bytes", kBackup) == 2000 * kBlock);
  CHECK(host.value("node_filesystem_files_free", kBackup) == 700);
  CHECK(host.value("node_filesystem_readonly", kArchive) == 1);
  CHECK(host.value("node_filesystem_avail_bytes", kArchive) == 0);
  // Excluded by node_exporter's defaults: pseudo filesystems, /dev, squashfs, docker's overlays.
  CHECK_FALSE(host.has("node_filesystem_size_bytes", mount("udev", "devtmpfs", "/dev")));
  CHECK_FALSE(host.has("node_filesystem_size_bytes", mount("tmpfs", "tmpfs", "/dev/shm")));
  CHECK_FALSE(
      host.has("node_filesystem_size_bytes", mount("/dev/loop0", "squashfs", "/snap/core22/864")));
  CHECK_FALSE(host.has("node_filesystem_size_bytes", mount("sysfs", "sysfs", "/sys")));

  auto size = host.family("node_filesystem_size_bytes");
  REQUIRE(size);
  CHECK(size->type == vigil::MetricType::gauge);
  CHECK(size->help == "Filesystem size in bytes.");
  CHECK(host.family("node_filesystem_free_bytes")->help == "Filesystem free space in bytes.");
  CHECK(host.family("node_filesystem_avail_bytes")->help ==
        "Filesystem space available to non-root users in bytes.");
  CHECK(host.family("node_filesystem_files")->help == "Filesystem total file nodes.");
  CHECK(host.family("node_filesystem_files_free")->help == "Filesystem total free file nodes.");
  CHECK(host.family("node_filesystem_readonly")->help == "Filesystem read-only status.");
  CHECK(host.family("node_filesystem_device_error")->help ==
        "Whether an error occurred while getting statistics for the given device.");
}

TEST_CASE("a mount whose statvfs fails shows device_error 1 and no other series") {
  UseFakeDisks fake;
  fake.disks->fail("/mnt/nfs", EACCES);
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"proc_path", fixture("typical")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_filesystem_device_error", kNfs) == 1);
  CHECK_FALSE(host.has("node_filesystem_size_bytes", kNfs));
  CHECK_FALSE(host.has("node_filesystem_avail_bytes", kNfs));
  CHECK(host.logged("statvfs /mnt/nfs (nfs.example.com:/export/home, nfs4) failed"));
}

TEST_CASE("a hung mount never blocks the collect: it is reported stale and not asked again") {
  REQUIRE(vigil::testing::no_helper_threads_left());
  UseFakeDisks fake;
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(),
                          {{"proc_path", fixture("typical")}, {"stat_timeout", "300ms"}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_filesystem_size_bytes", kNfs));

  fake.disks->hang("/mnt/nfs");
  vigil::Status status;
  auto took = timed([&] { status = inst.collect(); });
  CHECK(took < kBound);
  CHECK(status.is_ok());
  CHECK(host.value("node_filesystem_device_error", kNfs) == 1);
  CHECK_FALSE(host.has("node_filesystem_size_bytes", kNfs));
  CHECK_FALSE(host.has("node_filesystem_files", kNfs));
  // The other mounts were stated as usual.
  CHECK(host.value("node_filesystem_size_bytes", kRoot) == 1000 * kBlock);
  CHECK(host.value("node_filesystem_device_error", kRoot) == 0);

  // The helper stuck in /mnt/nfs is busy: the next collect starts one more for the others.
  REQUIRE(inst.collect().is_ok());
  const auto threads = vigil::collector_filesystem::MountStatter::live_threads();
  for (int i = 0; i < 3; ++i) {
    took = timed([&] { status = inst.collect(); });
    CHECK(took < kBound);
    CHECK(status.is_ok());
  }
  CHECK(fake.disks->calls("/mnt/nfs") == 2);  // the first healthy one, then the hung one only
  CHECK(vigil::collector_filesystem::MountStatter::live_threads() == threads);
  CHECK(count_logs(host,
                   "/mnt/nfs (nfs.example.com:/export/home, nfs4) did not answer statvfs "
                   "within 300ms") == 1);

  SECTION("the disk_space check says unknown and names the mount, without waiting again") {
    took = timed([&] { REQUIRE(inst.check().is_ok()); });
    CHECK(took < kBound);
    CHECK(inst.health().status == VIGIL_HEALTH_UNKNOWN);
    CHECK_THAT(inst.health().message,
               Catch::StartsWith("/mnt/nfs did not answer statvfs within 300ms"));
  }

  SECTION("when the server comes back, its series come back and it is logged once") {
    fake.disks->release("/mnt/nfs");
    for (int i = 0; i < 500 && fake.disks->blocked() > 0; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(inst.collect().is_ok());
    CHECK(host.value("node_filesystem_device_error", kNfs) == 0);
    CHECK(host.value("node_filesystem_size_bytes", kNfs) == 3000 * kBlock);
    CHECK(count_logs(host, "/mnt/nfs answers statvfs again") == 1);
  }
}

TEST_CASE("an instance destroyed while a mount hangs goes away at once") {
  UseFakeDisks fake;
  FakeHost host;
  fake.disks->hang("/mnt/nfs");
  auto took = timed([&] {
    auto inst = host.create(vigil_plugin_entry(),
                            {{"proc_path", fixture("typical")}, {"stat_timeout", "100ms"}});
    REQUIRE(inst.collect().is_ok());
  });
  CHECK(took < kBound);
}

TEST_CASE("a mount that is unmounted leaves the exposition") {
  UseFakeDisks fake;
  TempProc proc;
  proc.write("/dev/nvme0n1p2 / ext4 rw 0 0\nnfs.example.com:/export/home /mnt/nfs nfs4 rw 0 0\n");
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"proc_path", proc.path().string()}});
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("node_filesystem_avail_bytes", kNfs));
  proc.write("/dev/nvme0n1p2 / ext4 rw 0 0\n");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("node_filesystem_avail_bytes", kNfs));
  CHECK_FALSE(host.has("node_filesystem_device_error", kNfs));
  CHECK(host.has("node_filesystem_avail_bytes", kRoot));
}

TEST_CASE("disk_space: ok, warning and critical from the fullest reported mount") {
  UseFakeDisks fake;
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"proc_path", fixture("typical")}});
  // "/" is (1000 - 350) / 1000 = 65% used; /mnt/archive is full but read-only, so ignored.
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK(inst.health().message == "/ 65.0% used (2.5 MiB of 3.9 MiB), the fullest of 7 filesystems");

  fake.disks->set("/media/backup disk", 2000, 300, 360);  // 82%
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_WARNING);
  CHECK_THAT(inst.health().message, Catch::StartsWith("/media/backup disk 82.0% used") &&
                                        Catch::EndsWith("warning at 80%"));

  fake.disks->set("/boot/efi", 200, 0, 10);  // 95%
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Catch::StartsWith("/boot/efi 95.0% used (760.0 KiB of 800.0 "
                                                      "KiB), critical at 90%"));
}

TEST_CASE("disk_space: thresholds are options") {
  UseFakeDisks fake;
  FakeHost host;
  auto inst =
      host.create(vigil_plugin_entry(),
                  {{"proc_path", fixture("typical")}, {"warning", "50"}, {"critical", "60"}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);  // "/" at 65%
  CHECK_THAT(inst.health().message, Catch::Contains("critical at 60%"));
}

TEST_CASE("disk_space: paths are checked instead of the mount table") {
  UseFakeDisks fake;
  fake.disks->set("/srv/uploads", 100, 15, 15);  // 85%
  FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"proc_path", fixture("typical")},
                                                 {"paths", "[\"/srv/uploads\", \"/run\"]"}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_WARNING);
  CHECK_THAT(inst.health().message, Catch::StartsWith("/srv/uploads 85.0% used"));

  SECTION("a path that does not exist makes it unknown with the reason") {
    auto missing = host.create(vigil_plugin_entry(),
                               {{"proc_path", fixture("typical")}, {"paths", "[\"/srv/nothing\"]"}},
                               vigil::testing::InstanceSettings{"missing"});
    REQUIRE(missing.check().is_ok());
    CHECK(missing.health().status == VIGIL_HEALTH_UNKNOWN);
    CHECK(missing.health().message == "/srv/nothing: cannot statvfs: No such file or directory");
  }
}
