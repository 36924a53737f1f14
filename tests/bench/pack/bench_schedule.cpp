// bench_schedule: a collector that measures how late the host's scheduler starts it, for the
// "a check that hangs never delays any other plugin's schedule by more than 10 ms" figure of
// tests/bench/pack/run.sh.
//
// The scheduler plans run n of an instance at phase + n × interval (its phase never drifts, see
// host/src/scheduler/scheduler.hpp). collect() stamps the steady clock as its first act, and
// reports each run's lateness against that ideal timeline. The plugin cannot see the planned
// phase, so it takes the earliest one its runs allow — min over runs of (start − n × interval) —
// which makes the least late run count as on time: lateness is measured above the host's best
// wake-up latency, which is tens of microseconds. It must never do slow work before the stamp,
// nor hold anything that grows without bound (runs are kept up to `max_runs`).
//
// Built by run.sh with `c++ -shared` against the SDK headers only, like an out-of-tree plugin.
#include <vigil/sdk.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil::bench_schedule {
namespace {

constexpr const char* kMax = "bench_schedule_lateness_max_seconds";
constexpr const char* kP99 = "bench_schedule_lateness_p99_seconds";
constexpr const char* kP50 = "bench_schedule_lateness_p50_seconds";
constexpr const char* kRuns = "bench_schedule_runs_total";
constexpr const char* kMissed = "bench_schedule_missed_slots_total";

// The value at quantile q of sorted values, nearest rank (the p99 of 200 runs is the 198th).
double quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e9;
}

}  // namespace

// One instance per ticker; several instances give several independent timelines.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class ScheduleProbe final : public Collector {
 public:
  Status configure(const Config& config) override {
    interval_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(config.interval()).count();
    max_runs_ = config.integer("max_runs");
    if (max_runs_ < 1)
      return Status::invalid_argument("option \"max_runs\": found " + std::to_string(max_runs_) +
                                      ", expected at least 1");
    labels_ = {{"ticker", std::string(config.instance_name())}};
    host().describe(kMax, MetricType::gauge,
                    "Latest start of a collect() behind its planned slot, over every run so far.",
                    "seconds");
    host().describe(kP99, MetricType::gauge,
                    "99th percentile of collect() start lateness over every run so far.",
                    "seconds");
    host().describe(kP50, MetricType::gauge,
                    "Median of collect() start lateness over every run so far.", "seconds");
    host().describe(kRuns, MetricType::counter, "collect() calls measured.");
    host().describe(kMissed, MetricType::counter,
                    "Planned slots between the first and the last run in which no run started.");
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    if (static_cast<int64_t>(starts_.size()) >= max_runs_)
      return Status::ok();  // full: the figures stay as they were at max_runs
    if (starts_.empty()) first_ = now;
    // The slot this run belongs to; a run more than half an interval late would be counted in
    // the next slot, which no sane scheduler gets near.
    const int64_t slot = std::llround(static_cast<double>(now - first_) / interval_ns_);
    starts_.push_back({slot, now});

    int64_t phase = starts_.front().at;
    for (const Start& s : starts_) phase = std::min(phase, s.at - s.slot * interval_ns_);
    std::vector<int64_t> late;
    late.reserve(starts_.size());
    for (const Start& s : starts_) late.push_back(s.at - s.slot * interval_ns_ - phase);
    std::sort(late.begin(), late.end());

    out.gauge(kMax, static_cast<double>(late.back()) / 1e9, labels_);
    out.gauge(kP99, quantile(late, 0.99), labels_);
    out.gauge(kP50, quantile(late, 0.50), labels_);
    out.counter(kRuns, static_cast<double>(starts_.size()), labels_);
    out.counter(kMissed, static_cast<double>(slot + 1 - static_cast<int64_t>(starts_.size())),
                labels_);
    return Status::ok();
  }

 private:
  struct Start {
    int64_t slot;  // planned run number, counted from the first run
    int64_t at;    // steady clock, ns
  };
  int64_t interval_ns_ = 1;
  int64_t max_runs_ = 0;
  int64_t first_ = 0;
  std::vector<Start> starts_;
  Labels labels_;
};

}  // namespace vigil::bench_schedule

VIGIL_PLUGIN("bench_schedule", "1.0.0",
             vigil::collector<vigil::bench_schedule::ScheduleProbe>(
                 "Measures how late each collect() starts against its planned slot (benchmark)")
                 .option("max_runs", vigil::Int, "100000",
                         "runs kept and measured; later runs are ignored"));
