// A streaming quantile sketch with a relative-error guarantee (the DDSketch idea): values fall in
// logarithmic bins whose width is a fixed fraction of their value, so any quantile it returns is
// within `relative_accuracy` of a value that was really observed at that rank.
//
// Used for the p50/p95/p99 of timers and histograms over one collect interval: memory is bounded
// by the number of bins (a few hundred for values spanning four decades), whatever the rate. It
// must never grow past `max_bins` per sign: when values span more than that, the bins of the
// smallest magnitudes are merged, which costs accuracy only down there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vigil::collector_statsd {

// Thread-safety: none; the aggregator guards it with its own mutex.
class QuantileSketch {
 public:
  explicit QuantileSketch(double relative_accuracy = 0.01, std::size_t max_bins = 512);

  // Adds `value` `weight` times. Non-finite values are ignored.
  void add(double value, std::uint64_t weight = 1);
  // The q-quantile (0 <= q <= 1) of what was added; NaN when nothing was.
  double quantile(double q) const;
  std::uint64_t count() const { return count_; }
  // Forgets every value, keeping the allocated bins for the next interval.
  void clear();

 private:
  // Bins of one sign, indexed by ceil(log_gamma(|v|)); dense from `offset_`.
  class Bins {
   public:
    void add(int index, std::uint64_t weight, std::size_t max_bins);
    void clear();
    bool empty() const { return total_ == 0; }
    std::uint64_t total() const { return total_; }
    int lowest() const { return offset_; }
    std::size_t size() const { return counts_.size(); }
    std::uint64_t at(std::size_t i) const { return counts_[i]; }

   private:
    std::vector<std::uint64_t> counts_;
    int offset_ = 0;
    std::uint64_t total_ = 0;
  };

  int index_of(double magnitude) const;
  double value_of(int index) const;

  double gamma_;
  double inverse_log_gamma_;
  std::size_t max_bins_;
  Bins positive_, negative_;
  std::uint64_t zeros_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace vigil::collector_statsd
