// /proc/meminfo parsing of collector_memory against a fixture: node_exporter's exact metric
// names, help texts and byte values, which dashboards built for node_exporter depend on.
#include "meminfo.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "files.hpp"

using vigil::collector_memory::meminfo_help;
using vigil::collector_memory::MeminfoField;
using vigil::collector_memory::parse_meminfo;
using vigil::testing::read_fixture;

namespace {

std::map<std::string, double> by_name(const std::vector<MeminfoField>& fields) {
  std::map<std::string, double> out;
  for (const auto& f : fields) out[f.metric] = f.value;
  return out;
}

}  // namespace

TEST_CASE("every meminfo line becomes one node_memory_ series, in file order") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo(read_fixture("typical/meminfo"), fields, error));
  CHECK(fields.size() == 57);
  CHECK(fields.front().metric == "node_memory_MemTotal_bytes");
  CHECK(fields.back().metric == "node_memory_DirectMap1G_bytes");
}

TEST_CASE("kB fields are bytes with a _bytes suffix, unitless fields keep their name") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo(read_fixture("typical/meminfo"), fields, error));
  auto m = by_name(fields);
  CHECK(m.at("node_memory_MemTotal_bytes") == 16273196.0 * 1024);
  CHECK(m.at("node_memory_MemAvailable_bytes") == 9785444.0 * 1024);
  CHECK(m.at("node_memory_VmallocTotal_bytes") == 34359738367.0 * 1024);
  CHECK(m.at("node_memory_Hugepagesize_bytes") == 2048.0 * 1024);
  CHECK(m.at("node_memory_HugePages_Total") == 16);
  CHECK(m.at("node_memory_HugePages_Free") == 12);
  CHECK(m.at("node_memory_HugePages_Rsvd") == 2);
  CHECK(m.at("node_memory_HugePages_Surp") == 0);
  CHECK(m.count("node_memory_HugePages_Total_bytes") == 0);
  CHECK(m.at("node_memory_Committed_AS_bytes") == 17817572.0 * 1024);
  CHECK(m.at("node_memory_NFS_Unstable_bytes") == 0);
}

TEST_CASE("parenthesised field names become underscores, as node_exporter names them") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo(read_fixture("typical/meminfo"), fields, error));
  auto m = by_name(fields);
  CHECK(m.at("node_memory_Active_anon_bytes") == 4019632.0 * 1024);
  CHECK(m.at("node_memory_Inactive_anon_bytes") == 1328852.0 * 1024);
  CHECK(m.at("node_memory_Active_file_bytes") == 2911728.0 * 1024);
  CHECK(m.at("node_memory_Inactive_file_bytes") == 5633368.0 * 1024);
  for (const auto& f : fields) {
    CHECK(f.metric.find('(') == std::string::npos);
    CHECK_FALSE(f.counter);  // no Linux field ends in "_total": all gauges
  }
}

TEST_CASE("help text is node_exporter's") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo("Active(anon):    4019632 kB\nHugePages_Total:      16\n", fields, error));
  REQUIRE(fields.size() == 2);
  CHECK(meminfo_help(fields[0]) == "Memory information field Active_anon_bytes.");
  CHECK(meminfo_help(fields[1]) == "Memory information field HugePages_Total.");
}

TEST_CASE("blank lines are skipped, malformed lines are refused with the line named") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo("\nMemTotal: 1 kB\n\n", fields, error));
  CHECK(fields.size() == 1);

  CHECK_FALSE(parse_meminfo("MemTotal: 1 kB\nMemFree: lots kB\n", fields, error));
  CHECK(error.find("line 2") != std::string::npos);
  CHECK(error.find("expected a number in the second column, found 'lots'") != std::string::npos);

  CHECK_FALSE(parse_meminfo("MemTotal: 1 kB extra\n", fields, error));
  CHECK(error.find("2 or 3 columns") != std::string::npos);

  CHECK_FALSE(parse_meminfo("Mem-Total: 1 kB\n", fields, error));
  CHECK(error.find("valid metric name") != std::string::npos);

  CHECK_FALSE(parse_meminfo("", fields, error));
  CHECK(error.find("found none") != std::string::npos);
}
