// Functions over a window of samples (oldest first), as rules call them: avg, min, max, sum,
// count, last, rate, increase, delta, quantile, deriv, predict_linear. Each returns nullopt when
// the window holds too few samples to say anything (rate needs two), never a made-up number.
#pragma once

#include "store/store.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace vigil::rules {

using Samples = std::vector<store::Sample>;

std::optional<double> window_avg(const Samples& s);
std::optional<double> window_min(const Samples& s);
std::optional<double> window_max(const Samples& s);
std::optional<double> window_sum(const Samples& s);
double window_count(const Samples& s);
std::optional<double> window_last(const Samples& s);
// Counter functions: a drop is a reset, counted from zero, as Prometheus does. Per second.
std::optional<double> window_increase(const Samples& s);
std::optional<double> window_rate(const Samples& s);
std::optional<double> window_delta(const Samples& s);                 // gauges: last - first
std::optional<double> window_quantile(const Samples& s, double phi);  // phi in [0, 1]
// Least-squares slope per second, and the value `seconds` after `now_ms` on that line.
std::optional<double> window_deriv(const Samples& s);
std::optional<double> window_predict_linear(const Samples& s, int64_t now_ms, double seconds);

}  // namespace vigil::rules
