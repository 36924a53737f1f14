// Window functions (see window_functions.hpp).
#include "rules/window_functions.hpp"

#include <algorithm>
#include <cmath>

namespace vigil::rules {

std::optional<double> window_avg(const Samples& s) {
  if (s.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& x : s) sum += x.v;
  return sum / static_cast<double>(s.size());
}

std::optional<double> window_min(const Samples& s) {
  if (s.empty()) return std::nullopt;
  double m = s[0].v;
  for (const auto& x : s) m = std::min(m, x.v);
  return m;
}

std::optional<double> window_max(const Samples& s) {
  if (s.empty()) return std::nullopt;
  double m = s[0].v;
  for (const auto& x : s) m = std::max(m, x.v);
  return m;
}

std::optional<double> window_sum(const Samples& s) {
  if (s.empty()) return std::nullopt;
  double sum = 0;
  for (const auto& x : s) sum += x.v;
  return sum;
}

double window_count(const Samples& s) {
  return static_cast<double>(s.size());
}

std::optional<double> window_last(const Samples& s) {
  if (s.empty()) return std::nullopt;
  return s.back().v;
}

std::optional<double> window_increase(const Samples& s) {
  if (s.size() < 2) return std::nullopt;
  double total = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    const double d = s[i].v - s[i - 1].v;
    total += d >= 0 ? d : s[i].v;  // a reset: the counter restarted from zero
  }
  return total;
}

std::optional<double> window_rate(const Samples& s) {
  auto inc = window_increase(s);
  if (!inc) return std::nullopt;
  const double seconds = static_cast<double>(s.back().t_ms - s.front().t_ms) / 1000.0;
  if (seconds <= 0) return std::nullopt;
  return *inc / seconds;
}

std::optional<double> window_delta(const Samples& s) {
  if (s.size() < 2) return std::nullopt;
  return s.back().v - s.front().v;
}

std::optional<double> window_quantile(const Samples& s, double phi) {
  if (s.empty() || std::isnan(phi)) return std::nullopt;
  if (phi < 0) return -INFINITY;
  if (phi > 1) return INFINITY;
  std::vector<double> v;
  v.reserve(s.size());
  for (const auto& x : s) v.push_back(x.v);
  std::sort(v.begin(), v.end());
  // Linear interpolation between closest ranks, as Prometheus' quantile_over_time.
  const double rank = phi * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double w = rank - static_cast<double>(lo);
  return v[lo] * (1 - w) + v[hi] * w;
}

namespace {
// Slope and intercept at `origin_ms` of the least-squares line through the samples.
bool fit(const Samples& s, int64_t origin_ms, double& slope, double& intercept) {
  if (s.size() < 2) return false;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& p : s) {
    const double x = static_cast<double>(p.t_ms - origin_ms) / 1000.0;
    n += 1;
    sx += x;
    sy += p.v;
    sxx += x * x;
    sxy += x * p.v;
  }
  const double den = n * sxx - sx * sx;
  if (den == 0) return false;
  slope = (n * sxy - sx * sy) / den;
  intercept = (sy - slope * sx) / n;
  return true;
}
}  // namespace

std::optional<double> window_deriv(const Samples& s) {
  double slope = 0, intercept = 0;
  if (!fit(s, s.empty() ? 0 : s.front().t_ms, slope, intercept)) return std::nullopt;
  return slope;
}

std::optional<double> window_predict_linear(const Samples& s, int64_t now_ms, double seconds) {
  double slope = 0, intercept = 0;
  if (!fit(s, now_ms, slope, intercept)) return std::nullopt;
  return intercept + slope * seconds;
}

}  // namespace vigil::rules
