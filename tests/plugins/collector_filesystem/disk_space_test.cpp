// The disk_space verdict: each status, and the one-line message a person reads on
// /api/v1/health (the fullest filesystem and its percentage, what could not be read).
#include "disk_space.hpp"

#include <catch2/catch.hpp>

#include "vigil_plugin_procfs/human.hpp"

using namespace vigil::collector_filesystem;
using vigil::procfs::format_bytes;
using State = DiskReading::State;

namespace {

constexpr double GiB = 1024.0 * 1024 * 1024;

DiskReading disk(const std::string& name, double size_gib, double avail_gib) {
  DiskReading r;
  r.name = name;
  r.size_bytes = size_gib * GiB;
  r.avail_bytes = avail_gib * GiB;
  return r;
}

DiskReading stuck(const std::string& name) {
  DiskReading r;
  r.name = name;
  r.state = State::stuck;
  return r;
}

}  // namespace

TEST_CASE("below the warning threshold: ok, naming the fullest filesystem") {
  auto v = evaluate_disk_space({disk("/", 100, 60), disk("/home", 200, 190)}, 80, 90, "5s");
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message == "/ 40.0% used (40.0 GiB of 100.0 GiB), the fullest of 2 filesystems");
}

TEST_CASE("the default thresholds: warning at 80, critical at 90, inclusive") {
  CHECK(evaluate_disk_space({disk("/", 100, 20.01)}, 80, 90, "5s").status == VIGIL_HEALTH_OK);
  CHECK(evaluate_disk_space({disk("/", 100, 20)}, 80, 90, "5s").status == VIGIL_HEALTH_WARNING);
  CHECK(evaluate_disk_space({disk("/", 100, 10.01)}, 80, 90, "5s").status == VIGIL_HEALTH_WARNING);
  CHECK(evaluate_disk_space({disk("/", 100, 10)}, 80, 90, "5s").status == VIGIL_HEALTH_CRITICAL);
}

TEST_CASE("warning and critical messages name the worst mount, its percentage and the limit") {
  auto w = evaluate_disk_space({disk("/", 100, 60), disk("/var", 20, 3.4)}, 80, 90, "5s");
  CHECK(w.status == VIGIL_HEALTH_WARNING);
  CHECK(w.message == "/var 83.0% used (16.6 GiB of 20.0 GiB), warning at 80%");

  auto c = evaluate_disk_space({disk("/", 100, 15), disk("/data", 100, 6.8)}, 80, 90, "5s");
  CHECK(c.status == VIGIL_HEALTH_CRITICAL);
  CHECK(c.message ==
        "/data 93.2% used (93.2 GiB of 100.0 GiB), critical at 90%; 2 filesystems at or above 80%");
}

TEST_CASE("a mount that does not answer makes it unknown, naming the mount and the timeout") {
  auto v = evaluate_disk_space({disk("/", 100, 60), stuck("/mnt/nfs")}, 80, 90, "5s");
  CHECK(v.status == VIGIL_HEALTH_UNKNOWN);
  CHECK(v.message ==
        "/mnt/nfs did not answer statvfs within 5s; fullest of the others: / 40.0% used (40.0 "
        "GiB of 100.0 GiB)");
}

TEST_CASE("a full disk is critical even when another mount does not answer") {
  auto v = evaluate_disk_space({disk("/", 100, 5), stuck("/mnt/nfs")}, 80, 90, "5s");
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(v.message, Catch::StartsWith("/ 95.0% used") &&
                            Catch::EndsWith("; /mnt/nfs did not answer statvfs within 5s"));
}

TEST_CASE("a failed statvfs is unknown with its reason, and so are empty inputs") {
  DiskReading missing;
  missing.name = "/srv/data";
  missing.state = State::failed;
  missing.problem = "cannot statvfs: No such file or directory";
  auto v = evaluate_disk_space({missing}, 80, 90, "5s");
  CHECK(v.status == VIGIL_HEALTH_UNKNOWN);
  CHECK(v.message == "/srv/data: cannot statvfs: No such file or directory");

  CHECK(evaluate_disk_space({}, 80, 90, "5s").status == VIGIL_HEALTH_UNKNOWN);
  CHECK(evaluate_disk_space({disk("/proc", 0, 0)}, 80, 90, "5s").status == VIGIL_HEALTH_UNKNOWN);
}

TEST_CASE("sizes are printed in binary units") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(1048574.0 * 1024) == "1.0 GiB");  // not "1024.0 MiB"
  CHECK(format_bytes(512.0 * 1024 * 1024) == "512.0 MiB");
  CHECK(format_bytes(7.9 * GiB) == "7.9 GiB");
  CHECK(format_bytes(3.5 * 1024 * GiB) == "3.5 TiB");
}
