// Window functions on their own, with windows as the store hands them out (oldest first): what
// a rule's s:rate("5m") or s:predict_linear("6h", 86400) answers, including counter resets,
// windows too short to say anything, and quantiles between samples.
#include "rules/window_functions.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace vigil::rules;

TEST_CASE("window: avg, min, max, sum, count and last over a window") {
  const Samples s = {{0, 4}, {10'000, -2}, {20'000, 7}, {30'000, 3}};
  CHECK(*window_avg(s) == Approx(3));
  CHECK(*window_min(s) == -2);
  CHECK(*window_max(s) == 7);
  CHECK(*window_sum(s) == Approx(12));
  CHECK(window_count(s) == 4);
  CHECK(*window_last(s) == 3);
}

TEST_CASE("window: an empty window gives no value, and count 0") {
  const Samples none;
  CHECK_FALSE(window_avg(none));
  CHECK_FALSE(window_min(none));
  CHECK_FALSE(window_max(none));
  CHECK_FALSE(window_sum(none));
  CHECK_FALSE(window_last(none));
  CHECK_FALSE(window_quantile(none, 0.5));
  CHECK(window_count(none) == 0);
}

TEST_CASE("window: increase and rate of a counter without resets") {
  const Samples s = {{0, 100}, {15'000, 130}, {30'000, 160}, {45'000, 190}};
  CHECK(*window_increase(s) == Approx(90));
  CHECK(*window_rate(s) == Approx(2));  // 90 over the 45 s the samples span
}

TEST_CASE("window: a counter reset counts from zero, as Prometheus does") {
  // 10 -> 20 (+10), restart -> 5 (+5 since zero), -> 15 (+10)
  const Samples s = {{0, 10}, {10'000, 20}, {20'000, 5}, {30'000, 15}};
  CHECK(*window_increase(s) == Approx(25));
  CHECK(*window_rate(s) == Approx(25.0 / 30));
  // A restart to exactly zero, then growth.
  const Samples z = {{0, 50}, {10'000, 0}, {20'000, 8}};
  CHECK(*window_increase(z) == Approx(8));
}

TEST_CASE("window: rate and increase need two samples at different times") {
  CHECK_FALSE(window_rate({{0, 1}}));
  CHECK_FALSE(window_increase({{0, 1}}));
  CHECK_FALSE(window_rate({}));
  CHECK_FALSE(window_delta({{5'000, 3}}));
}

TEST_CASE("window: delta is last minus first, resets included (gauges)") {
  const Samples s = {{0, 10}, {10'000, 20}, {20'000, 5}};
  CHECK(*window_delta(s) == Approx(-5));
}

TEST_CASE("window: quantile interpolates between ranks like quantile_over_time") {
  const Samples s = {{0, 10}, {1, 40}, {2, 20}, {3, 30}};  // sorted: 10 20 30 40
  CHECK(*window_quantile(s, 0) == 10);
  CHECK(*window_quantile(s, 1) == 40);
  CHECK(*window_quantile(s, 0.5) == Approx(25));
  CHECK(*window_quantile(s, 0.9) == Approx(37));
  CHECK(*window_quantile({{0, 7}}, 0.99) == 7);
}

TEST_CASE("window: quantile outside 0..1 gives infinities, NaN gives no value") {
  const Samples s = {{0, 1}, {1, 2}};
  CHECK(std::isinf(*window_quantile(s, -0.1)));
  CHECK(*window_quantile(s, -0.1) < 0);
  CHECK(std::isinf(*window_quantile(s, 1.5)));
  CHECK(*window_quantile(s, 1.5) > 0);
  CHECK_FALSE(window_quantile(s, std::nan("")));
}

TEST_CASE("window: deriv is the least-squares slope per second") {
  const Samples line = {{0, 100}, {60'000, 90}, {120'000, 80}};  // -1/6 per second
  CHECK(*window_deriv(line) == Approx(-1.0 / 6));
  const Samples noisy = {{0, 0}, {1'000, 2}, {2'000, 1}, {3'000, 3}};
  CHECK(*window_deriv(noisy) == Approx(0.8));
  CHECK_FALSE(window_deriv({{0, 1}}));
  CHECK_FALSE(window_deriv({{0, 1}, {0, 2}}));  // no time spread, no slope
}

TEST_CASE("window: predict_linear tells when a disk fills") {
  // Free bytes falling 1,000 per second from 1,000,000 at t=0: zero at t=1000 s.
  Samples free;
  for (int t = 0; t <= 600; t += 60) free.push_back({t * 1000, 1'000'000.0 - 1000.0 * t});
  const int64_t now = 600'000;
  CHECK(*window_predict_linear(free, now, 0) == Approx(400'000));
  CHECK(*window_predict_linear(free, now, 400) == Approx(0).margin(1e-6));
  CHECK(*window_predict_linear(free, now, 3600) < 0);  // gone within the hour
  CHECK_FALSE(window_predict_linear({{0, 5}}, now, 60));
}
