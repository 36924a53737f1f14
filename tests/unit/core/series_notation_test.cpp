// The series notation of `vigil test-rules`: what each token expands to, and the message a typo
// gets.
#include "core/series_notation.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using vigil::core::expand_health;
using vigil::core::expand_series;
using vigil::core::Step;

namespace {

std::string show(const std::vector<Step>& steps) {
  std::string out;
  for (const auto& s : steps) {
    if (!out.empty()) out += ' ';
    if (s.kind == Step::missing)
      out += "_";
    else if (s.kind == Step::stale)
      out += "stale";
    else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", s.v);
      out += buf;
    }
  }
  return out;
}

std::string series(std::string_view text) {
  std::string error;
  auto steps = expand_series(text, error);
  INFO(error);
  REQUIRE(steps);
  return show(*steps);
}

std::string series_error(std::string_view text) {
  std::string error;
  CHECK_FALSE(expand_series(text, error));
  return error;
}

}  // namespace

TEST_CASE("series tokens expand like promtool's") {
  CHECK(series("1 2 3") == "1 2 3");
  CHECK(series("0+10x5") == "0 10 20 30 40 50");
  CHECK(series("100-5x3") == "100 95 90 85");
  CHECK(series("7x3") == "7 7 7 7");
  CHECK(series("-1+1x2") == "-1 0 1");
  CHECK(series("1e-3 _x2 stale 4") == "0.001 _ _ _ stale 4");
  CHECK(series("1.5+0.25x2") == "1.5 1.75 2");
  CHECK(series("") == "");
  std::string error;
  auto inf = expand_series("Inf -Inf NaN", error);
  REQUIRE(inf);
  CHECK(std::isinf((*inf)[0].v));
  CHECK(std::isnan((*inf)[2].v));
}

TEST_CASE("a bad series token names itself and what was expected") {
  CHECK(series_error("1 0+x5") == R"(token 2 "0+x5": found "" after "+", expected a number)");
  CHECK(series_error("0+1") == R"(token 1 "0+1": expected a repetition such as "0+1x10")");
  CHECK(series_error("1 two") ==
        R"(token 2 "two": expected a number, a+bxN, a-bxN, axN, _, _xN or stale)");
  CHECK(series_error("0+1x99999999").find("expected a number") != std::string::npos);
  CHECK(series_error("0+1x9999999").find("expands past 1000000 steps") != std::string::npos);
}

TEST_CASE("health tokens take status names or numbers") {
  std::string error;
  auto steps = expand_health("ok warning criticalx2 unknown _ 0", error);
  REQUIRE(steps);
  CHECK(show(*steps) == "0 1 2 2 2 3 _ 0");
  CHECK_FALSE(expand_health("ok down", error));
  CHECK(
      error ==
      R"(token 2 "down": expected ok, warning, critical, unknown (or 0-3), _ or one of them with xN)");
  CHECK_FALSE(expand_health("stale", error));
  CHECK(error.find("\"stale\" is for series") != std::string::npos);
}
