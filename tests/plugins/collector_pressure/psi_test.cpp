// The PSI parser of collector_pressure against fixture text: the totals a user would see as
// node_pressure_*_seconds_total, and the errors a malformed file gives.
#include "psi.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "files.hpp"

using vigil::collector_pressure::parse_pressure;
using vigil::collector_pressure::Pressure;
using vigil::testing::read_fixture;

TEST_CASE("the some and full totals are read in microseconds") {
  Pressure p;
  std::string error;
  REQUIRE(parse_pressure(read_fixture("psi/pressure/io"), p, error));
  REQUIRE(p.some.present);
  CHECK(p.some.total_us == 17795766);
  REQUIRE(p.full.present);
  CHECK(p.full.total_us == 10995871);
}

TEST_CASE("a cpu file from before Linux 5.13 has no full line") {
  Pressure p;
  std::string error;
  REQUIRE(parse_pressure(read_fixture("psi_4_20/pressure/cpu"), p, error));
  CHECK(p.some.total_us == 123456);
  CHECK_FALSE(p.full.present);
}

TEST_CASE("the total is found wherever it sits among the fields, and other lines are ignored") {
  Pressure p;
  std::string error;
  REQUIRE(parse_pressure("some total=42 avg10=0.00\nnewkind total=7\n", p, error));
  CHECK(p.some.total_us == 42);
  CHECK_FALSE(p.full.present);
}

TEST_CASE("a line without a whole-number total, or a file without lines, is reported") {
  Pressure p;
  std::string error;
  CHECK_FALSE(parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00\n", p, error));
  CHECK_THAT(error, Catch::Contains("line 1") && Catch::Contains("total=MICROSECONDS"));

  CHECK_FALSE(
      parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull total=1.5\n", p, error));
  CHECK_THAT(error, Catch::Contains("line 2") && Catch::Contains("'full total=1.5'"));

  CHECK_FALSE(parse_pressure("", p, error));
  CHECK_THAT(error, Catch::Contains("found none"));
}
