// Unit test of the example plugin against the SDK's fake host: no daemon, no dlopen, the same
// C ABI path the host takes.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  TempDir() {
    path = fs::temp_directory_path() / ("custom_collector_test_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const std::string& name, size_t bytes) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name) << std::string(bytes, 'x');
  }
  fs::path path;
};

}  // namespace

TEST_CASE("counts matching files and their bytes") {
  TempDir dir;
  dir.write("a.log", 100);
  dir.write("b.log", 20);
  dir.write("c.txt", 5);
  dir.write("sub/d.log", 1000);
  vigil::testing::FakeHost host;
  const vigil::Labels at = {{"path", dir.path.string()}};

  SECTION("every file at the top level by default") {
    auto inst = host.create(vigil_plugin_entry(), {{"path", dir.path.string()}});
    REQUIRE(inst.collect().is_ok());
    CHECK(host.value("custom_dir_files", at) == 3);
    CHECK(host.value("custom_dir_bytes", at) == 125);
    CHECK(host.value("custom_dir_newest_mtime_seconds", at) > 0);
  }
  SECTION("a pattern and recursion") {
    auto inst =
        host.create(vigil_plugin_entry(),
                    {{"path", dir.path.string()}, {"pattern", "*.log"}, {"recursive", "true"}});
    REQUIRE(inst.collect().is_ok());
    CHECK(host.value("custom_dir_files", at) == 3);
    CHECK(host.value("custom_dir_bytes", at) == 1120);
  }
}

TEST_CASE("follows the directory as it changes") {
  TempDir dir;
  vigil::testing::FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"path", dir.path.string()}});
  const vigil::Labels at = {{"path", dir.path.string()}};
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("custom_dir_files", at) == 0);
  dir.write("new.bin", 7);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("custom_dir_files", at) == 1);
  CHECK(host.value("custom_dir_bytes", at) == 7);
}

TEST_CASE("a missing directory is reported as unavailable, naming it") {
  vigil::testing::FakeHost host;
  auto inst = host.create(vigil_plugin_entry(), {{"path", "/nonexistent/custom_collector"}});
  vigil::Status s = inst.collect();
  CHECK(s.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK_THAT(s.message(), Catch::Contains("/nonexistent/custom_collector"));
}

TEST_CASE("the path option is required") {
  vigil::testing::FakeHost host;
  auto inst = host.try_create(vigil_plugin_entry(), {});
  CHECK_FALSE(inst);
  CHECK_THAT(inst.status().message(), Catch::Contains("\"path\""));
}
