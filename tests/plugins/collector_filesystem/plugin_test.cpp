// The built collector_filesystem.so, loaded with dlopen and run through the SDK's fake host,
// with the real statvfs: a temporary directory listed as a mount point, paths that do not exist,
// and the machine's own mount table.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "load_plugin.hpp"

#include <sys/statvfs.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

namespace fs = std::filesystem;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::plugin;

namespace {

// A procfs stand-in with a mount table the test writes, and a directory to use as a mount point
// (it lives on whatever filesystem holds /tmp, so statvfs on it is real).
struct TempTree : vigil::testing::TempDir {
  TempTree() : TempDir("vigil_fs_test") {
    fs::create_directories(path() / "proc" / "1");
    fs::create_directories(path() / "data dir");
  }
  std::string proc() const { return file("proc"); }
  std::string data() const { return file("data dir"); }
  void mounts(const std::string& text) { write("proc/1/mounts", text); }
};

std::string escape_spaces(const std::string& path) {
  std::string out;
  for (char c : path) out += c == ' ' ? std::string("\\040") : std::string(1, c);
  return out;
}

}  // namespace

TEST_CASE("the plugin is a collector and a health check with node_exporter's options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_filesystem");
  CHECK(d->collector != nullptr);
  CHECK(d->health_check != nullptr);
  std::set<std::string> names;
  for (size_t i = 0; i < d->option_count; ++i) names.insert(d->options[i].name);
  CHECK(names == std::set<std::string>{"proc_path", "rootfs_path", "mount_points_include",
                                       "mount_points_exclude", "fs_types_include",
                                       "fs_types_exclude", "stat_timeout", "warning", "critical",
                                       "paths"});
}

TEST_CASE("a real directory listed as a mount point gets statvfs' real numbers") {
  TempTree tree;
  tree.mounts("/dev/test1 " + escape_spaces(tree.data()) + " ext4 rw,relatime 0 0\n" +
              "/dev/test2 " + escape_spaces(tree.data()) + "/nowhere xfs ro 0 0\n");
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", tree.proc()}});
  REQUIRE(inst.collect().to_string() == "ok");

  struct statvfs expected {};
  REQUIRE(statvfs(tree.data().c_str(), &expected) == 0);
  const vigil::Labels labels{
      {"device", "/dev/test1"}, {"fstype", "ext4"}, {"mountpoint", tree.data()}};
  CHECK(host.value("node_filesystem_size_bytes", labels) ==
        static_cast<double>(expected.f_blocks) * static_cast<double>(expected.f_frsize));
  CHECK(host.value("node_filesystem_files", labels) == static_cast<double>(expected.f_files));
  CHECK(host.value("node_filesystem_avail_bytes", labels) > 0);
  CHECK(host.value("node_filesystem_free_bytes", labels) >=
        host.value("node_filesystem_avail_bytes", labels) * 0.9);
  CHECK(host.value("node_filesystem_readonly", labels) == 0);
  CHECK(host.value("node_filesystem_device_error", labels) == 0);

  // statvfs on a path that does not exist fails for real: device_error 1, nothing else.
  const vigil::Labels missing{
      {"device", "/dev/test2"}, {"fstype", "xfs"}, {"mountpoint", tree.data() + "/nowhere"}};
  CHECK(host.value("node_filesystem_device_error", missing) == 1);
  CHECK_FALSE(host.has("node_filesystem_size_bytes", missing));
  CHECK_FALSE(host.has("node_filesystem_readonly", missing));
}

TEST_CASE("the mount table falls back to self/mounts when pid 1's is hidden") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("hidepid")}});
  REQUIRE(inst.collect().is_ok());
  CHECK(host.has("node_filesystem_device_error",
                 {{"device", "/dev/vda1"}, {"fstype", "ext4"}, {"mountpoint", "/"}}));
  CHECK(host.series("node_filesystem_device_error").size() == 1);  // proc is excluded
}

TEST_CASE("disk_space on a real directory: thresholds at 0 are critical, at 100 ok") {
  TempTree tree;
  tree.mounts("");
  FakeHost host;
  auto critical = host.create(plugin(),
                              {{"proc_path", tree.proc()},
                               {"paths", "[\"" + tree.data() + "\"]"},
                               {"warning", "0"},
                               {"critical", "0"}},
                              vigil::testing::InstanceSettings{"critical"});
  REQUIRE(critical.check().is_ok());
  CHECK(critical.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(critical.health().message,
             Catch::StartsWith(tree.data() + " ") && Catch::Contains("% used ("));

  auto ok = host.create(plugin(),
                        {{"proc_path", tree.proc()},
                         {"paths", "[\"" + tree.data() + "\"]"},
                         {"warning", "100"},
                         {"critical", "100"}},
                        vigil::testing::InstanceSettings{"ok"});
  REQUIRE(ok.check().is_ok());
  CHECK(ok.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(ok.health().message, Catch::EndsWith("the only filesystem checked"));
}

TEST_CASE("options a person got wrong are refused with what was expected") {
  FakeHost host;
  auto bad_regex = host.try_create(plugin(), {{"mount_points_exclude", "^/(dev|proc"}});
  REQUIRE_FALSE(bad_regex);
  CHECK_THAT(bad_regex.status().message(), Catch::Contains("option \"mount_points_exclude\""));

  auto inverted = host.try_create(plugin(), {{"warning", "95"}, {"critical", "90"}});
  REQUIRE_FALSE(inverted);
  CHECK_THAT(inverted.status().message(),
             Catch::Contains("\"warning\" (95") && Catch::Contains("above \"critical\" (90"));

  auto relative = host.try_create(plugin(), {{"paths", "[\"var/lib\"]"}});
  REQUIRE_FALSE(relative);
  CHECK_THAT(relative.status().message(),
             Catch::Contains("option \"paths\"[0]: \"var/lib\" is not an absolute path"));

  auto no_proc = host.try_create(plugin(), {{"proc_path", "/nonexistent/vigil/proc"}});
  REQUIRE_FALSE(no_proc);
  CHECK_THAT(no_proc.status().message(),
             Catch::Contains("/nonexistent/vigil/proc/1/mounts") &&
                 Catch::Contains("/nonexistent/vigil/proc/self/mounts") &&
                 Catch::Contains("proc_path"));

  auto zero = host.try_create(plugin(), {{"stat_timeout", "0s"}});
  REQUIRE_FALSE(zero);
  CHECK_THAT(zero.status().message(), Catch::Contains("expected a positive duration"));
}

TEST_CASE("a stat_timeout not below the instance's timeout is lowered, with a warning") {
  FakeHost host;
  vigil::testing::InstanceSettings settings;
  settings.timeout = std::chrono::milliseconds(2000);
  auto inst = host.create(plugin(), {{"stat_timeout", "10s"}}, settings);
  CHECK(
      host.logged("stat_timeout 10s is not below the instance's timeout 2s: a mount is given "
                  "up on after 1600ms instead"));
}

TEST_CASE("the machine's own mount table: every reported mount answers or says why") {
  FakeHost host;
  auto inst = host.create(plugin());
  REQUIRE(inst.collect().to_string() == "ok");
  auto errors = host.series("node_filesystem_device_error");
  CHECK_FALSE(errors.empty());
  for (const auto& s : errors) {
    const bool has_size = host.has("node_filesystem_size_bytes", s.labels);
    CHECK(has_size == (s.value == 0));
  }
  REQUIRE(inst.check().is_ok());
  CHECK_THAT(inst.health().message, Catch::Contains("% used") || Catch::Contains("statvfs") ||
                                        Catch::Contains("no filesystem"));
}
