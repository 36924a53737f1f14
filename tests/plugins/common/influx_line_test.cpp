// The InfluxDB line protocol parser of vigil_plugin_text: measurements, tags and fields become
// gauges `<measurement>_<field>{tags}` with Prometheus-safe names; bad lines are refused with
// their line and reason.
#include "vigil_plugin_text/exposition.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using vigil::MetricType;
using vigil::plugin_text::Exposition;
using vigil::plugin_text::Family;
using vigil::plugin_text::InfluxOptions;
using vigil::plugin_text::parse_influx;

namespace {

Exposition parse_ok(const std::string& text, const InfluxOptions& options = {}) {
  Exposition e;
  std::string error;
  INFO(text);
  bool ok = parse_influx(text, e, error, options);
  INFO(error);
  REQUIRE(ok);
  return e;
}

std::string parse_error(const std::string& text) {
  Exposition e;
  std::string error;
  INFO(text);
  REQUIRE_FALSE(parse_influx(text, e, error));
  return error;
}

const Family& family(const Exposition& e, const char* name) {
  const Family* f = e.find(name);
  INFO("family " << name);
  REQUIRE(f != nullptr);
  return *f;
}

}  // namespace

TEST_CASE("influx: each numeric field is a gauge named after measurement and field") {
  Exposition e = parse_ok(
      "# a comment\n"
      "cpu,host=web1,region=eu usage_user=12.5,usage_system=3i,online=true 1700000000000000000\n"
      "cpu,region=us,host=web2 usage_user=1,usage_system=0u,online=F\n");
  const Family& user = family(e, "cpu_usage_user");
  CHECK(user.type == MetricType::gauge);
  CHECK(user.help == "Field \"usage_user\" of measurement \"cpu\" (InfluxDB line protocol).");
  REQUIRE(user.series.size() == 2);
  CHECK(e.series_text(user, user.series[0]) == R"(cpu_usage_user{host="web1",region="eu"})");
  CHECK(user.series[0].value == 12.5);
  CHECK(user.series[0].has_timestamp());
  CHECK(user.series[0].timestamp_ms == 1700000000000);
  CHECK_FALSE(user.series[1].has_timestamp());
  CHECK(e.series_text(user, user.series[1]) == R"(cpu_usage_user{host="web2",region="us"})");
  CHECK(family(e, "cpu_usage_system").series[0].value == 3);
  CHECK(family(e, "cpu_online").series[0].value == 1);
  CHECK(family(e, "cpu_online").series[1].value == 0);
}

TEST_CASE("influx: names are sanitized, escapes decoded, strings skipped, empty tags dropped") {
  Exposition e = parse_ok(
      "disk\\ io,dev\\,ice=sd\\ a,mount-point=/,empty= read.bytes=5,label=\"a \\\"quoted\\\" "
      "string\",2xx=7\n");
  const Family& reads = family(e, "disk_io_read_bytes");
  REQUIRE(reads.series.size() == 1);
  CHECK(e.series_text(reads, reads.series[0]) ==
        R"(disk_io_read_bytes{dev_ice="sd a",mount_point="/"})");
  CHECK(family(e, "disk_io_2xx").series[0].value == 7);
  CHECK(e.find("disk_io_label") == nullptr);
  CHECK(e.families().size() == 2);
}

TEST_CASE("influx: a series written twice keeps the last value") {
  Exposition e = parse_ok("m,a=1 v=1 1000000\nm,a=1 v=2 2000000\nm,a=2 v=3\n");
  const Family& f = family(e, "m_v");
  REQUIRE(f.series.size() == 2);
  CHECK(f.series[0].value == 2);
  CHECK(f.series[0].timestamp_ms == 2);
}

TEST_CASE("influx: the timestamp precision is configurable") {
  InfluxOptions seconds;
  seconds.precision = "s";
  CHECK(family(parse_ok("m v=1 1700000000\n", seconds), "m_v").series[0].timestamp_ms ==
        1700000000000);
  InfluxOptions millis;
  millis.precision = "ms";
  CHECK(family(parse_ok("m v=1 1700000000123\n", millis), "m_v").series[0].timestamp_ms ==
        1700000000123);
  Exposition e;
  std::string error;
  InfluxOptions bad;
  bad.precision = "h";
  CHECK_FALSE(parse_influx("m v=1\n", e, error, bad));
  CHECK(error == R"(unknown timestamp precision "h"; expected ns, us, ms or s)");
}

TEST_CASE("influx: bad lines are refused with their line and reason") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"m\n",
       "line 1: expected a space and the fields after the measurement and tags, found "
       "end of line"},
      {"m,host v=1\n", R"(line 1: expected '=' after tag key "host", found " v=1")"},
      {"ok v=1\n,a=1 v=1\n", R"(line 2: expected a measurement name, found ",a=1 v=1")"},
      {"m v\n", R"(line 1: expected '=' after field key "v", found end of line)"},
      {"m v=abc\n",
       R"(line 1: invalid value "abc" for field "v"; expected a number, an integer (12i), a boolean or a quoted string)"},
      {"m v=-1u\n",
       R"(line 1: invalid value "-1u" for field "v"; expected a number, an integer (12i), a boolean or a quoted string)"},
      {"m v=\"open\n",
       R"(line 1: the string value of field "v" is not terminated; expected a closing '"')"},
      {"m v=1 soon\n",
       R"(line 1: expected a timestamp (integer, precision ns) after the fields, found "soon")"},
      {"m v=1 1 2\n", R"(line 1: unexpected text after the timestamp: "2")"},
      {"m,a-b=1,a_b=2 v=1\n", R"(line 1: two tags become the label "a_b"; rename one of them)"},
      {"m,__x=1 v=1\n",
       R"(line 1: tag "__x" would become a label starting with "__", which is reserved)"},
  };
  for (const auto& [input, expected] : cases) CHECK(parse_error(input) == expected);
}
