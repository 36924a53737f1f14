// bench_schedule: a collector that measures how late the host's scheduler starts it, for the
// "a check that hangs never delays any other plugin's schedule by more than 10 ms" figure of
// tests/bench/pack/run.sh.
//
// The scheduler plans run n of an instance at phase + n × interval (its phase never drifts, see
// host/src/scheduler/scheduler.hpp), never starts a run early, and skips a due run while the
// previous one is still running or waiting for a worker. collect() stamps the steady clock as
// its first act; each run's lateness is its start minus its planned slot. The plugin cannot see
// the planned phase, so it takes the earliest one its runs allow (min over runs of start −
// slot × interval): the least late run counts as on time, and lateness is measured above the
// host's best wake-up latency, tens of microseconds. Slots are numbered in sequence, the slots
// that a late run was waiting through counted as skipped, so a run delayed by more than half an
// interval is not mistaken for an early run of the next slot.
//
// Each run later than `late_threshold` is logged at warning level, with the host's timestamp.
// It must never do slow work before the stamp. Runs are kept up to `max_runs`; the figures are
// recomputed over all of them at each collect (O(n log n)), fine for a benchmark's minutes.
// Built by run.sh with `c++ -shared` against the SDK headers only, like an out-of-tree plugin.
#include <vigil/sdk.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace vigil::bench_schedule {
namespace {

constexpr const char* kMax = "bench_schedule_lateness_max_seconds";
constexpr const char* kMaxAt = "bench_schedule_lateness_max_at_seconds";
constexpr const char* kP99 = "bench_schedule_lateness_p99_seconds";
constexpr const char* kP50 = "bench_schedule_lateness_p50_seconds";
constexpr const char* kRuns = "bench_schedule_runs_total";
constexpr const char* kLate = "bench_schedule_late_runs_total";
constexpr const char* kMissed = "bench_schedule_missed_slots_total";

// The value at quantile q of sorted values, nearest rank (the p99 of 200 runs is the 198th).
double quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e9;
}

// "12.34 ms"
std::string ms_text(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f ms", static_cast<double>(ns) / 1e6);
  return text;
}

}  // namespace

// One instance per probe; several instances give several independent timelines.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class ScheduleProbe final : public Collector {
 public:
  Status configure(const Config& config) override {
    interval_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(config.interval()).count();
    late_threshold_ns_ =
        std::chrono::duration_cast<std::chrono::nanoseconds>(config.duration("late_threshold"))
            .count();
    max_runs_ = config.integer("max_runs");
    if (max_runs_ < 1)
      return Status::invalid_argument("option \"max_runs\": found " + std::to_string(max_runs_) +
                                      ", expected at least 1");
    labels_ = {{"ticker", std::string(config.instance_name())}};
    host().describe(kMax, MetricType::gauge,
                    "Latest start of a collect() behind its planned slot, over every run so far.",
                    "seconds");
    host().describe(kMaxAt, MetricType::gauge,
                    "When the latest run started, in seconds after the first run: tells a "
                    "start-up stall from noise later on.",
                    "seconds");
    host().describe(kP99, MetricType::gauge,
                    "99th percentile of collect() start lateness over every run so far.",
                    "seconds");
    host().describe(kP50, MetricType::gauge,
                    "Median of collect() start lateness over every run so far.", "seconds");
    host().describe(kRuns, MetricType::counter, "collect() calls measured.");
    host().describe(kLate, MetricType::counter,
                    "Runs that started later than the late_threshold option after their slot.");
    host().describe(kMissed, MetricType::counter,
                    "Planned slots in which no run started (skipped while a late run waited).");
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    if (static_cast<int64_t>(starts_.size()) >= max_runs_)
      return Status::ok();  // full: the figures stay as they were at max_runs
    starts_.push_back(now);

    // Number the slots with a phase estimate, re-estimate the phase from them, and again: the
    // first estimate (the first run on time) is off only by that run's own lateness.
    std::vector<int64_t> slots(starts_.size());
    int64_t phase = starts_.front();
    for (int pass = 0; pass < 3; ++pass) {
      int64_t next_phase = starts_.front();
      for (std::size_t i = 0; i < starts_.size(); ++i) {
        if (i == 0) {
          slots[i] = 0;
        } else {
          // Slots that came due while the previous run waited for a worker were skipped.
          const int64_t prev_late = starts_[i - 1] - (phase + slots[i - 1] * interval_ns_);
          slots[i] = slots[i - 1] + 1 + (prev_late >= interval_ns_ ? prev_late / interval_ns_ : 0);
        }
        next_phase = std::min(next_phase, starts_[i] - slots[i] * interval_ns_);
      }
      if (next_phase == phase) break;
      phase = next_phase;
    }

    std::vector<int64_t> late(starts_.size());
    int64_t worst = -1, worst_at = 0, over = 0;
    for (std::size_t i = 0; i < starts_.size(); ++i) {
      late[i] = std::max<int64_t>(0, starts_[i] - (phase + slots[i] * interval_ns_));
      if (late[i] > worst) {
        worst = late[i];
        worst_at = starts_[i] - starts_.front();
      }
      if (late[i] > late_threshold_ns_) ++over;
    }
    // Logged with the host's timestamp, to be matched with what else the log says happened then
    // (a hung call's timeout, a replacement worker); the phase may still move a little later.
    const int64_t newest = late.back();
    if (newest > late_threshold_ns_)
      host().warn("run " + std::to_string(starts_.size()) + " started " + ms_text(newest) +
                  " after its planned slot (late_threshold " + ms_text(late_threshold_ns_) + ")");
    std::sort(late.begin(), late.end());
    const int64_t missed = slots.back() + 1 - static_cast<int64_t>(starts_.size());

    out.gauge(kMax, static_cast<double>(late.back()) / 1e9, labels_);
    out.gauge(kMaxAt, static_cast<double>(worst_at) / 1e9, labels_);
    out.gauge(kP99, quantile(late, 0.99), labels_);
    out.gauge(kP50, quantile(late, 0.50), labels_);
    out.counter(kRuns, static_cast<double>(starts_.size()), labels_);
    out.counter(kLate, static_cast<double>(over), labels_);
    out.counter(kMissed, static_cast<double>(missed), labels_);
    return Status::ok();
  }

 private:
  int64_t interval_ns_ = 1;
  int64_t late_threshold_ns_ = 0;
  int64_t max_runs_ = 0;
  std::vector<int64_t> starts_;  // steady clock, ns, one per run
  Labels labels_;
};

}  // namespace vigil::bench_schedule

VIGIL_PLUGIN("bench_schedule", "1.0.0",
             vigil::collector<vigil::bench_schedule::ScheduleProbe>(
                 "Measures how late each collect() starts against its planned slot (benchmark)")
                 .option("max_runs", vigil::Int, "100000",
                         "runs kept and measured; later runs are ignored")
                 .option("late_threshold", vigil::Duration, "10ms",
                         "a run starting later than this after its slot counts as late"));
