// collector_filesystem's mount-table parsing and node_exporter's default filters, against a
// fixture mount table: which mounts a user sees, and with which labels.
#include "mount_table.hpp"

#include <catch2/catch.hpp>

#include <set>

#include "files.hpp"

using namespace vigil::collector_filesystem;
using vigil::testing::read_fixture;

namespace {

MountFilter default_filter() {
  std::string error;
  MountFilter::Patterns p;
  p.mount_points_exclude = kDefaultMountPointsExclude;
  p.fs_types_exclude = kDefaultFsTypesExclude;
  auto f = MountFilter::create(p, error);
  INFO(error);
  REQUIRE(f);
  return *f;
}

std::set<std::string> kept(const std::vector<MountEntry>& mounts, const MountFilter& filter) {
  std::set<std::string> out;
  for (const auto& m : mounts)
    if (filter.accepts(m)) out.insert(m.mount_point);
  return out;
}

}  // namespace

TEST_CASE("every line of the fixture mount table is parsed with its four columns") {
  std::vector<MountEntry> mounts;
  std::string error;
  REQUIRE(parse_mounts(read_fixture("typical/1/mounts"), "/", mounts, error));
  REQUIRE(mounts.size() == 22);
  CHECK(mounts[5].device == "/dev/nvme0n1p2");
  CHECK(mounts[5].mount_point == "/");
  CHECK(mounts[5].fs_type == "ext4");
  CHECK(mounts[5].options == "rw,relatime,errors=remount-ro");
  CHECK(mounts[5].stat_path == "/");
  CHECK_FALSE(mounts[5].read_only());
}

TEST_CASE("an escaped space in a mount point is decoded") {
  std::vector<MountEntry> mounts;
  std::string error;
  REQUIRE(parse_mounts(read_fixture("typical/1/mounts"), "/", mounts, error));
  CHECK(mounts[16].mount_point == "/media/backup disk");
  CHECK(unescape_octal("a\\011b\\012c\\134d") == "a\tb\nc\\d");
  CHECK(unescape_octal("trailing\\04") == "trailing\\04");  // not a full escape: kept
  CHECK(unescape_octal("\\999") == "\\999");
}

TEST_CASE("read-only is the ro option, not a substring of another option") {
  MountEntry m;
  m.options = "ro,relatime";
  CHECK(m.read_only());
  m.options = "rw,errors=remount-ro";
  CHECK_FALSE(m.read_only());
  m.options = "nodev,ro";
  CHECK(m.read_only());
}

TEST_CASE("node_exporter's default filters keep the real filesystems of the fixture") {
  std::vector<MountEntry> mounts;
  std::string error;
  REQUIRE(parse_mounts(read_fixture("typical/1/mounts"), "/", mounts, error));
  CHECK(kept(mounts, default_filter()) ==
        std::set<std::string>{"/", "/run", "/run/lock", "/run/user/1000", "/boot/efi",
                              "/media/backup disk", "/mnt/archive", "/mnt/nfs"});
}

TEST_CASE("include patterns narrow, exclude patterns can be emptied") {
  std::vector<MountEntry> mounts;
  std::string error;
  REQUIRE(parse_mounts(read_fixture("typical/1/mounts"), "/", mounts, error));

  MountFilter::Patterns p;
  p.mount_points_include = "^/(mnt|media)/";
  p.fs_types_exclude = "^nfs4?$";
  auto f = MountFilter::create(p, error);
  REQUIRE(f);
  CHECK(kept(mounts, *f) == std::set<std::string>{"/media/backup disk", "/mnt/archive"});

  MountFilter::Patterns only_tmpfs;
  only_tmpfs.fs_types_include = "^tmpfs$";
  f = MountFilter::create(only_tmpfs, error);
  REQUIRE(f);
  CHECK(kept(mounts, *f) ==
        std::set<std::string>{"/run", "/dev/shm", "/run/lock", "/run/user/1000"});

  auto everything = MountFilter::create({}, error);
  REQUIRE(everything);
  CHECK(kept(mounts, *everything).size() == 21);  // "/" is listed twice
}

TEST_CASE("a bad regex is refused with the option's name") {
  std::string error;
  MountFilter::Patterns p;
  p.fs_types_include = "(ext4";
  CHECK_FALSE(MountFilter::create(p, error));
  CHECK_THAT(error, Catch::Contains("option \"fs_types_include\"") &&
                        Catch::Contains("\"(ext4\" is not a valid regular expression"));
}

TEST_CASE("rootfs_path is stripped from labels and prepended for statvfs") {
  std::vector<MountEntry> mounts;
  std::string error;
  REQUIRE(
      parse_mounts("/dev/sda1 /rootfs ext4 rw 0 0\n"
                   "/dev/sda2 /rootfs/var xfs rw 0 0\n"
                   "/dev/sda3 /data ext4 rw 0 0\n"
                   "/dev/sda4 /rootfsx ext4 rw 0 0\n",
                   "/rootfs", mounts, error));
  REQUIRE(mounts.size() == 4);
  CHECK(mounts[0].mount_point == "/");
  CHECK(mounts[0].stat_path == "/rootfs");
  CHECK(mounts[1].mount_point == "/var");
  CHECK(mounts[1].stat_path == "/rootfs/var");
  CHECK(mounts[2].mount_point == "/data");  // pid 1's view: not under the prefix
  CHECK(mounts[2].stat_path == "/rootfs/data");
  CHECK(mounts[3].mount_point == "/rootfsx");  // only at a path boundary
}

TEST_CASE("a line with too few columns is refused with its number") {
  std::vector<MountEntry> mounts;
  std::string error;
  CHECK_FALSE(parse_mounts("/dev/sda1 / ext4 rw 0 0\n\n/dev/sdb1 /data\n", "/", mounts, error));
  CHECK_THAT(error, Catch::Contains("line 3") && Catch::Contains("at least 4 columns") &&
                        Catch::Contains("found 2"));
}
