// QuantileSketch: logarithmic bins, one dense vector per sign.
//
// A bin with index i holds the magnitudes in (gamma^(i-1), gamma^i]; its representative value
// 2 gamma^i / (gamma + 1) is within (gamma - 1) / (gamma + 1) = relative_accuracy of every value
// in it. This file must never loop over observations: everything is per bin.
#include "quantile_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vigil::collector_statsd {
namespace {

// Magnitudes below this count as zero: far below any duration or size a client sends, and it
// keeps the bin indices within int range.
constexpr double kMinMagnitude = 1e-9;

}  // namespace

QuantileSketch::QuantileSketch(double relative_accuracy, std::size_t max_bins)
    : gamma_((1 + relative_accuracy) / (1 - relative_accuracy)),
      inverse_log_gamma_(1 / std::log(gamma_)),
      max_bins_(std::max<std::size_t>(max_bins, 1)) {}

int QuantileSketch::index_of(double magnitude) const {
  return static_cast<int>(std::ceil(std::log(magnitude) * inverse_log_gamma_));
}

double QuantileSketch::value_of(int index) const {
  return 2 * std::pow(gamma_, index) / (gamma_ + 1);
}

void QuantileSketch::add(double value, std::uint64_t weight) {
  if (!std::isfinite(value) || weight == 0) return;
  double magnitude = std::fabs(value);
  if (magnitude < kMinMagnitude) {
    zeros_ += weight;
  } else if (value > 0) {
    positive_.add(index_of(magnitude), weight, max_bins_);
  } else {
    negative_.add(index_of(magnitude), weight, max_bins_);
  }
  count_ += weight;
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  // The rank (0-based) of the wanted value among count_ sorted values.
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
  std::uint64_t seen = 0;
  // Most negative first: the negative bins from the largest magnitude down.
  for (std::size_t i = negative_.size(); i-- > 0;) {
    seen += negative_.at(i);
    if (seen > rank) return -value_of(negative_.lowest() + static_cast<int>(i));
  }
  seen += zeros_;
  if (seen > rank) return 0;
  for (std::size_t i = 0; i < positive_.size(); ++i) {
    seen += positive_.at(i);
    if (seen > rank) return value_of(positive_.lowest() + static_cast<int>(i));
  }
  // Unreachable while the counts add up; the largest bin is the honest answer anyway.
  return positive_.empty() ? 0
                           : value_of(positive_.lowest() + static_cast<int>(positive_.size()) - 1);
}

void QuantileSketch::clear() {
  positive_.clear();
  negative_.clear();
  zeros_ = 0;
  count_ = 0;
}

void QuantileSketch::Bins::add(int index, std::uint64_t weight, std::size_t max_bins) {
  if (counts_.empty()) {
    offset_ = index;
    counts_.assign(1, 0);
  }
  const int low = offset_;
  const int high = offset_ + static_cast<int>(counts_.size()) - 1;
  int new_low = std::min(low, index);
  const int new_high = std::max(high, index);
  if (new_high - new_low + 1 > static_cast<int>(max_bins)) {
    new_low = new_high - static_cast<int>(max_bins) + 1;
  }
  if (new_low != low || new_high != high) {
    // Re-layout; bins below new_low (the smallest magnitudes) fold into the lowest kept bin.
    std::vector<std::uint64_t> grown(static_cast<std::size_t>(new_high - new_low + 1), 0);
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      int target = std::max(low + static_cast<int>(i), new_low);
      grown[static_cast<std::size_t>(target - new_low)] += counts_[i];
    }
    counts_.swap(grown);
    offset_ = new_low;
  }
  index = std::max(index, new_low);
  counts_[static_cast<std::size_t>(index - offset_)] += weight;
  total_ += weight;
}

void QuantileSketch::Bins::clear() {
  counts_.clear();
  total_ = 0;
}

}  // namespace vigil::collector_statsd
