// bench_series: a collector plugin that holds many series, so run.sh can measure what the host
// and exporter_prometheus cost when a page carries 100,000 of them (node_exporter's textfile
// collector is measured on the same series).
//
// configure() registers `bench_metric{host="h1",id="N"}` for N in [0, series) as gauges and keeps
// the handles; collect() writes every one of them by handle. The values are fixed functions of N
// (N * 0.5), the same ones run.sh writes into node_exporter's .prom file, so both pages carry the
// same text. With handles = "sdk" (the default) it keeps one vigil::Gauge per series, as a plugin
// author would; with "raw" it keeps bare vigil_series_id handles from the C slots, so run.sh can
// tell the host's memory from the SDK handles'. It must never be shipped or installed: it exists
// to be measured.
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
    const std::string handles = cfg.string("handles");
    if (handles != "sdk" && handles != "raw") {
      return vigil::Status::invalid_argument("option \"handles\" is \"" + handles +
                                             "\"; expected \"sdk\" or \"raw\"");
    }
    raw_ = handles == "raw";
    host().describe("bench_metric", vigil::MetricType::gauge,
                    "A synthetic gauge the benchmarks serve in bulk.");
    if (raw_) return register_raw(count);
    gauges_.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      gauges_.push_back(host().gauge("bench_metric", {{"host", "h1"}, {"id", std::to_string(i)}}));
    }
    return vigil::Status::ok();
  }

  vigil::Status collect(vigil::Emitter&) override {
    const size_t count = raw_ ? ids_.size() : gauges_.size();
    const vigil_host_api* api = host().api();
    vigil_host_ctx* ctx = host().ctx();
    for (size_t i = 0; i < count; ++i) {
      const double value = static_cast<double>(i) * 0.5;
      const bool ok = raw_ ? api->write(ctx, ids_[i], value, 0) == VIGIL_OK : gauges_[i].set(value);
      if (!ok) {
        return vigil::Status::internal("the host refused a write to bench_metric{id=\"" +
                                       std::to_string(i) + "\"}");
      }
    }
    return vigil::Status::ok();
  }

 private:
  // The family was registered by describe(); registering it again with the same description
  // returns its id (plugin.h), which the C slots need.
  vigil::Status register_raw(int64_t count) {
    const vigil_host_api* api = host().api();
    vigil_host_ctx* ctx = host().ctx();
    vigil_family_desc desc{sizeof(vigil_family_desc),
                           "bench_metric",
                           "A synthetic gauge the benchmarks serve in bulk.",
                           "",
                           VIGIL_METRIC_GAUGE,
                           nullptr,
                           0};
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_family_id family = 0;
    if (api->register_family(ctx, &desc, &family, &err) != VIGIL_OK) {
      return vigil::Status::internal(std::string("registering bench_metric failed: ") + buffer);
    }
    ids_.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      const std::string id = std::to_string(i);
      const vigil_label labels[] = {{"host", "h1"}, {"id", id.c_str()}};
      vigil_series_id series = 0;
      if (api->register_series(ctx, family, labels, 2, &series, &err) != VIGIL_OK) {
        return vigil::Status::internal("registering bench_metric{id=\"" + id +
                                       "\"} failed: " + buffer);
      }
      ids_.push_back(series);
    }
    return vigil::Status::ok();
  }

  bool raw_ = false;
  std::vector<vigil::Gauge> gauges_;
  std::vector<vigil_series_id> ids_;
};

}  // namespace

VIGIL_PLUGIN("bench_series", "1.0.0",
             vigil::collector<BenchSeries>("Synthetic gauges for the exposition benchmark")
                 .option("series", vigil::Int, "100000",
                         "how many bench_metric{host=\"h1\",id=\"N\"} series to hold")
                 .option("handles", vigil::String, "sdk",
                         "\"sdk\": one vigil::Gauge per series; \"raw\": bare C handles"));
