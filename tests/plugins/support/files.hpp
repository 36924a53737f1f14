// Files for plugin tests: the fixture tree of the test executable (FIXTURES_DIR), temporary
// directories a test fills and changes between collects (a procfs stand-in, a mount point), and
// small secret files.
//
// Test fixtures: everything lives under the system's temporary directory and is removed by the
// destructor; nothing here may touch a path outside what it created, nor survive the test.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

namespace vigil::testing {

#ifdef FIXTURES_DIR
// The path of a file or directory in this test's fixture tree.
inline std::string fixture(const std::string& relative) {
  return std::string(FIXTURES_DIR) + "/" + relative;
}

// The text of a fixture file; REQUIREs that it exists.
inline std::string read_fixture(const std::string& relative) {
  std::ifstream in(fixture(relative));
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
#endif

// A temporary directory (<tmp>/<prefix>_XXXXXX) removed with its contents on destruction, with
// the operations tests use to stage a procfs or sysfs tree in it.
// Thread-safety: one test thread uses it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& relative) const { return (path_ / relative).string(); }

  // Writes `text` to <dir>/<relative>, replacing the file (its directory must exist).
  void write(const std::string& relative, const std::string& text) const {
    std::ofstream out(path_ / relative, std::ios::trunc);
    REQUIRE(out.good());
    out << text;
  }
  // Copies a file (or a whole tree) to <dir>/<relative>, replacing what is there.
  void copy(const std::string& from, const std::string& relative = "") const {
    std::filesystem::copy(from, relative.empty() ? path_ : path_ / relative,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  void remove(const std::string& relative) const {
    std::error_code ignored;
    std::filesystem::remove_all(path_ / relative, ignored);
  }

 private:
  std::filesystem::path path_;
};

// A procfs stand-in holding the one file a collector reads (`relative`: "stat", "net/dev"),
// which a test replaces or rewrites between collects; parent directories are created.
class TempProcFile : public TempDir {
 public:
  TempProcFile(const std::string& prefix, std::string relative)
      : TempDir(prefix), relative_(std::move(relative)) {
    std::filesystem::create_directories((path() / relative_).parent_path());
  }
#ifdef FIXTURES_DIR
  // Replaces the file with a fixture file.
  void use(const std::string& fixture_relative) const {
    copy(fixture(fixture_relative), relative_);
  }
#endif
  void write(const std::string& text) const {
    TempDir::write(relative_, text);
  }
  // The file's full path, as error messages name it.
  std::string target() const {
    return file(relative_);
  }

 private:
  std::string relative_;
};

// A file holding `text`, created with mode 0600 (mkstemp's) as a password file should be,
// removed at scope exit.
struct SecretFile {
  std::string path;
  explicit SecretFile(const std::string& text, const std::string& prefix = "vigil_secret") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    int fd = ::mkstemp(tmpl.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
    std::ofstream(path) << text;
  }
  ~SecretFile() { std::remove(path.c_str()); }
  SecretFile(const SecretFile&) = delete;
  SecretFile& operator=(const SecretFile&) = delete;
};

}  // namespace vigil::testing
