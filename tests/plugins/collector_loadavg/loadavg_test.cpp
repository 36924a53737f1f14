// The loadavg parser of collector_loadavg against fixture text: the values a user would see as
// node_load1/5/15, and the errors a malformed file gives.
#include "loadavg.hpp"

#include <catch2/catch.hpp>

#include <string>

using vigil::collector_loadavg::LoadAverages;
using vigil::collector_loadavg::parse_loadavg;

TEST_CASE("the three load averages are the file's first three fields") {
  LoadAverages load;
  std::string error;
  REQUIRE(parse_loadavg("0.21 0.37 0.39 1/719 19737\n", load, error));
  CHECK(load.load1 == 0.21);
  CHECK(load.load5 == 0.37);
  CHECK(load.load15 == 0.39);
}

TEST_CASE("large loads and whole numbers parse too") {
  LoadAverages load;
  std::string error;
  REQUIRE(parse_loadavg("1024.00 3 0.00 5/100 1\n", load, error));
  CHECK(load.load1 == 1024.0);
  CHECK(load.load5 == 3.0);
  CHECK(load.load15 == 0.0);
}

TEST_CASE("a malformed field is reported with its position and the text found") {
  LoadAverages load;
  std::string error;
  CHECK_FALSE(parse_loadavg("0.21 abc 0.39 1/719 19737\n", load, error));
  CHECK_THAT(error, Catch::Contains("5-minute") && Catch::Contains("field 2") &&
                        Catch::Contains("'0.21 abc 0.39 1/719 19737'"));

  CHECK_FALSE(parse_loadavg("0.21 0.37\n", load, error));
  CHECK_THAT(error, Catch::Contains("15-minute"));

  CHECK_FALSE(parse_loadavg("", load, error));
  CHECK_THAT(error, Catch::Contains("1-minute"));

  CHECK_FALSE(parse_loadavg("-1.0 0.37 0.39 1/719 19737\n", load, error));
  CHECK_THAT(error, Catch::Contains("non-negative"));

  CHECK_FALSE(parse_loadavg("0.21x 0.37 0.39 1/719 19737\n", load, error));
  CHECK_THAT(error, Catch::Contains("1-minute"));
}
