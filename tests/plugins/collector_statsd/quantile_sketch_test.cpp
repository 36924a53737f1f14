// The quantile sketch: quantiles within its 1 % relative accuracy of the exact ones, weights,
// negative values and zeros, bounded bins, and a clean start after clear().
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quantile_sketch.hpp"

using vigil::collector_statsd::QuantileSketch;

namespace {

// The value of rank floor(q * (n - 1)) in sorted order: what the sketch approximates.
double exact_quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

}  // namespace

TEST_CASE("an empty sketch answers NaN") {
  QuantileSketch s;
  CHECK(std::isnan(s.quantile(0.5)));
  CHECK(s.count() == 0);
}

TEST_CASE("quantiles of 1..1000 are within 1 % of the exact ones") {
  QuantileSketch s;
  std::vector<double> values;
  for (int i = 1; i <= 1000; ++i) values.push_back(i / 1000.0);
  std::shuffle(values.begin(), values.end(), std::mt19937(42));
  for (double v : values) s.add(v);
  CHECK(s.count() == 1000);
  for (double q : {0.0, 0.5, 0.9, 0.95, 0.99, 1.0}) {
    INFO("q = " << q);
    double exact = exact_quantile(values, q);
    CHECK(s.quantile(q) == Approx(exact).epsilon(0.0101));
  }
}

TEST_CASE("a log-normal spread over several decades keeps the relative accuracy") {
  QuantileSketch s;
  std::vector<double> values;
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(-3, 2);
  for (int i = 0; i < 20000; ++i) values.push_back(dist(rng));
  for (double v : values) s.add(v);
  for (double q : {0.5, 0.95, 0.99}) {
    INFO("q = " << q);
    CHECK(s.quantile(q) == Approx(exact_quantile(values, q)).epsilon(0.0101));
  }
}

TEST_CASE("weights count a value several times") {
  QuantileSketch s;
  s.add(1.0, 99);
  s.add(100.0, 1);
  CHECK(s.count() == 100);
  CHECK(s.quantile(0.5) == Approx(1.0).epsilon(0.0101));
  CHECK(s.quantile(0.98) == Approx(1.0).epsilon(0.0101));
  CHECK(s.quantile(1.0) == Approx(100.0).epsilon(0.0101));
}

TEST_CASE("negative values and zeros sort below positives") {
  QuantileSketch s;
  for (double v : {-10.0, -1.0, 0.0, 0.0, 1.0, 10.0, 100.0}) s.add(v);
  CHECK(s.quantile(0) == Approx(-10).epsilon(0.0101));
  // Ranks floor(q * 6) = 1, 2, 3, 4.
  CHECK(s.quantile(0.17) == Approx(-1).epsilon(0.0101));
  CHECK(s.quantile(0.34) == 0);
  CHECK(s.quantile(0.5) == 0);
  CHECK(s.quantile(0.67) == Approx(1).epsilon(0.0101));
  CHECK(s.quantile(1) == Approx(100).epsilon(0.0101));
}

TEST_CASE("a range wider than the bins merges the smallest values, not the largest") {
  QuantileSketch s(0.01, 64);  // 64 bins of 2 %: about one decade and a half
  for (double v : {1e-6, 1e-3, 1.0, 1000.0}) s.add(v);
  CHECK(s.count() == 4);
  CHECK(s.quantile(1) == Approx(1000).epsilon(0.0101));
  // The small ones collapsed into the lowest kept bin, still below the largest.
  CHECK(s.quantile(0) < 1000);
}

TEST_CASE("non-finite values are ignored and clear() starts afresh") {
  QuantileSketch s;
  s.add(std::nan(""));
  s.add(INFINITY);
  CHECK(s.count() == 0);
  s.add(5);
  s.clear();
  CHECK(std::isnan(s.quantile(0.5)));
  s.add(2);
  CHECK(s.quantile(0.5) == Approx(2).epsilon(0.0101));
}
