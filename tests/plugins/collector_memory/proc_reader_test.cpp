// procfs::ProcReader, the kept-open reader the system collectors use for /proc/stat,
// /proc/meminfo and the like: every read is a new reading, files that are not on procfs are
// opened again each time, and errors name the file.
#include "files.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using vigil::procfs::ProcReader;
using vigil::testing::TempDir;

TEST_CASE("a kept-open procfs file gives a new reading on every read") {
  ProcReader uptime("/proc/uptime");
  std::string first, second, error;
  REQUIRE(uptime.read(first, error));
  CHECK(first.find('.') != std::string::npos);
  // /proc/uptime moves in hundredths of a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  REQUIRE(uptime.read(second, error));
  CHECK(second != first);
}

TEST_CASE("a procfs file larger than one read comes whole") {
  ProcReader maps("/proc/self/smaps");  // tens of kilobytes for any process
  std::string text, error;
  REQUIRE(maps.read(text, error));
  CHECK(text.size() > 16384);
  CHECK(text.back() == '\n');
  std::string again;
  REQUIRE(maps.read(again, error));
  CHECK(again.size() > 16384);
}

TEST_CASE("a file that is not on procfs is read afresh after it is replaced") {
  TempDir dir("vigil_proc_reader");
  dir.write("meminfo", "MemTotal: 100 kB\n");
  ProcReader reader(dir.file("meminfo"));
  std::string text, error;
  REQUIRE(reader.read(text, error));
  CHECK(text == "MemTotal: 100 kB\n");
  // Replaced by a new file, as a tool rewriting a fixture tree does.
  dir.write("meminfo.new", "MemTotal: 200 kB\n");
  REQUIRE(std::rename(dir.file("meminfo.new").c_str(), dir.file("meminfo").c_str()) == 0);
  REQUIRE(reader.read(text, error));
  CHECK(text == "MemTotal: 200 kB\n");
}

TEST_CASE("a missing file is an error naming it, and the reader recovers when it appears") {
  TempDir dir("vigil_proc_reader");
  ProcReader reader(dir.file("stat"));
  std::string text, error;
  CHECK_FALSE(reader.read(text, error));
  CHECK(error == "cannot open " + dir.file("stat") + ": No such file or directory");
  dir.write("stat", "cpu 1 2 3\n");
  error.clear();
  REQUIRE(reader.read(text, error));
  CHECK(text == "cpu 1 2 3\n");
}

TEST_CASE("read_file reads a whole file and names a missing one") {
  TempDir dir("vigil_proc_reader");
  std::string big(40000, 'x');
  dir.write("big", big);
  std::string text, error;
  REQUIRE(vigil::procfs::read_file(dir.file("big"), text, error));
  CHECK(text == big);
  CHECK_FALSE(vigil::procfs::read_file(dir.file("none"), text, error));
  CHECK(error == "cannot open " + dir.file("none") + ": No such file or directory");
}
