// bench_series: a collector plugin that holds many series, so run.sh can measure what the host
// and exporter_prometheus cost when a page carries 100,000 of them (node_exporter's textfile
// collector is measured on the same series).
//
// configure() registers `bench_metric{host="h1",id="N"}` for N in [0, series) as gauges and keeps
// the handles; collect() writes every one of them by handle. The values are fixed functions of N
// (N * 0.5), the same ones run.sh writes into node_exporter's .prom file, so both pages carry the
// same text. It must never be shipped or installed: it exists to be measured.
#include <vigil/sdk.hpp>

#include <string>
#include <vector>

namespace {

// One instance per configured "bench_series" entry.
// Thread-safety: collect() runs on one scheduler worker at a time; nothing else touches it.
class BenchSeries final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    const int64_t count = cfg.integer("series");
    if (count < 1 || count > 10'000'000) {
      return vigil::Status::invalid_argument("option \"series\" is " + std::to_string(count) +
                                             "; expected 1 to 10000000");
    }
    host().describe("bench_metric", vigil::MetricType::gauge,
                    "A synthetic gauge the benchmarks serve in bulk.");
    gauges_.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      gauges_.push_back(host().gauge("bench_metric", {{"host", "h1"}, {"id", std::to_string(i)}}));
    }
    return vigil::Status::ok();
  }

  vigil::Status collect(vigil::Emitter&) override {
    for (size_t i = 0; i < gauges_.size(); ++i) {
      if (!gauges_[i].set(static_cast<double>(i) * 0.5)) {
        return vigil::Status::internal("the host refused a write to bench_metric{id=\"" +
                                       std::to_string(i) + "\"}");
      }
    }
    return vigil::Status::ok();
  }

 private:
  std::vector<vigil::Gauge> gauges_;
};

}  // namespace

VIGIL_PLUGIN("bench_series", "1.0.0",
             vigil::collector<BenchSeries>("Synthetic gauges for the exposition benchmark")
                 .option("series", vigil::Int, "100000",
                         "how many bench_metric{host=\"h1\",id=\"N\"} series to hold"));
