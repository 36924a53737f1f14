// collector_memory: node_exporter's "meminfo" collector, read from <proc_path>/meminfo, and the
// "memory" health check.
//
// Every meminfo field becomes its own gauge family, named as node_exporter names it
// (node_memory_MemTotal_bytes, node_memory_Active_anon_bytes, node_memory_HugePages_Total), so
// its dashboards and alert rules work unchanged. Handles are cached in file order, so a collect
// is one file read, one parse and handle writes. The health check judges used RAM (and, when
// asked, swap) against thresholds from the same file (memory_check.hpp). When the collect and
// the check run in the same tick, the file is read once: each uses a reading the other made
// less than kSameTick ago. It must never rename a field differently from node_exporter, nor
// register series by name on the hot path.
#include <vigil/sdk.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "meminfo.hpp"
#include "memory_check.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_memory {
namespace {

// How old the other kind's reading of meminfo may be for a collect() or check() to use it
// instead of reading the file again: the two calls of one scheduler tick, not the next tick's.
constexpr std::chrono::milliseconds kSameTick{250};

bool valid_percent(double v) {
  return v >= 0 && v <= 100;
}

// Reads a warning/critical pair; nullopt members for options that are not set.
Status read_pair(const Config& config, const char* warning_name, const char* critical_name,
                 std::optional<double>& warning, std::optional<double>& critical) {
  warning.reset();
  critical.reset();
  if (config.is_set(warning_name)) warning = config.number(warning_name);
  if (config.is_set(critical_name)) critical = config.number(critical_name);
  for (auto [name, value] : {std::pair{warning_name, warning}, std::pair{critical_name, critical}})
    if (value && !valid_percent(*value))
      return Status::invalid_argument("option \"" + std::string(name) + "\" is " +
                                      std::to_string(*value) +
                                      "; expected a percentage from 0 to 100");
  if (warning && critical && *warning > *critical)
    return Status::invalid_argument("option \"" + std::string(warning_name) + "\" (" +
                                    std::to_string(*warning) + "%) is above \"" + critical_name +
                                    "\" (" + std::to_string(*critical) +
                                    "%); expected warning <= critical, e.g. 80 and 90");
  return Status::ok();
}

}  // namespace

// One instance per configured "collector_memory" entry: a collector and a health check.
// Thread-safety: the host never runs two collect() of one instance at once, nor two check();
// collect() and check() may overlap, so each has its own buffers and they share only what
// configure() set.
class MemoryCollector final : public Collector, public HealthCheck {
 public:
  Status configure(const Config& config) override {
    text_.reserve(8192);
    std::string error;
    meminfo_path_ = procfs::proc_file(config.string("proc_path"), "meminfo", text_, error);
    if (meminfo_path_.empty()) return Status::invalid_argument(error);
    meminfo_ = procfs::ProcReader(meminfo_path_);
    check_meminfo_ = procfs::ProcReader(meminfo_path_);
    std::optional<double> warning, critical;
    Status thresholds = read_pair(config, "warning", "critical", warning, critical);
    if (!thresholds.is_ok()) return thresholds;
    thresholds_.warning = *warning;  // both have defaults
    thresholds_.critical = *critical;
    thresholds = read_pair(config, "swap_warning", "swap_critical", thresholds_.swap_warning,
                           thresholds_.swap_critical);
    if (!thresholds.is_ok()) return thresholds;
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!latest_.take(Reading::Kind::check, text_)) {
      if (!meminfo_.read(text_, error)) return Status::unavailable(error);
      latest_.keep(Reading::Kind::collect, text_);
    }
    if (!parse_meminfo(text_, fields_, error)) {
      return Status::unavailable(meminfo_path_ + ": " + error);
    }
    if (!same_layout()) relayout();

    std::size_t failed = 0;
    const std::string* first_failure = nullptr;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (handles_[i].set(fields_[i].value)) continue;
      if (failed++ == 0) first_failure = &fields_[i].metric;
    }
    if (failed > 0) {
      return Status::internal("the host refused " + std::to_string(failed) +
                              " sample write(s), first for " + *first_failure +
                              "; see the host's log for why");
    }
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    std::string error;
    if (!latest_.take(Reading::Kind::collect, check_text_)) {
      if (!check_meminfo_.read(check_text_, error)) return Status::unavailable(error);
      latest_.keep(Reading::Kind::check, check_text_);
    }
    if (!parse_meminfo(check_text_, check_fields_, error))
      return Status::unavailable(meminfo_path_ + ": " + error);
    MemoryVerdict verdict = evaluate_memory(check_fields_, thresholds_);
    result.status = verdict.status;
    result.message = std::move(verdict.message);
    return Status::ok();
  }

 private:
  // The last file read of meminfo, by collect() or check(), for the other to use in the same
  // tick. A call never takes its own kind's reading (two collects read the file twice), and a
  // reading is taken at most once, within kSameTick of the read.
  // Thread-safety: guarded by its mutex (collect() and check() may overlap).
  class Reading {
   public:
    enum class Kind { none, collect, check };
    // Copies the reading into `text` when `from` made it less than kSameTick ago, once.
    bool take(Kind from, std::string& text) {
      std::lock_guard lock(mutex_);
      if (kind_ != from || std::chrono::steady_clock::now() - at_ >= kSameTick) return false;
      text.assign(text_);
      kind_ = Kind::none;  // used once
      return true;
    }
    void keep(Kind by, const std::string& text) {
      std::lock_guard lock(mutex_);
      kind_ = by;
      at_ = std::chrono::steady_clock::now();
      text_.assign(text);
    }

   private:
    std::mutex mutex_;
    Kind kind_ = Kind::none;
    std::chrono::steady_clock::time_point at_{};
    std::string text_;
  };

  // node_exporter types a key ending in "_total" as a counter (no Linux field does today), so a
  // field holds whichever handle its family's type needs.
  struct Handle {
    std::string metric;
    Gauge gauge;
    Counter counter;
    bool set(double value) const { return counter ? counter.set(value) : gauge.set(value); }
  };

  // The fast path: the kernel prints the same fields in the same order every time.
  bool same_layout() const {
    if (handles_.size() != fields_.size()) return false;
    for (std::size_t i = 0; i < fields_.size(); ++i)
      if (handles_[i].metric != fields_[i].metric) return false;
    return true;
  }

  static bool ends_with_bytes(const std::string& metric) {
    constexpr std::size_t kLen = sizeof("_bytes") - 1;
    return metric.size() > kLen && metric.compare(metric.size() - kLen, kLen, "_bytes") == 0;
  }

  // First collect, or the field list changed (a kernel feature toggled at run time): reuse the
  // handles of fields still present, register the new ones, and drop the ones that vanished.
  void relayout() {
    std::unordered_map<std::string, Handle> old;
    for (Handle& h : handles_) old.emplace(h.metric, std::move(h));
    handles_.clear();
    handles_.reserve(fields_.size());
    for (const MeminfoField& f : fields_) {
      auto it = old.find(f.metric);
      if (it != old.end()) {
        handles_.push_back(std::move(it->second));
        old.erase(it);
        continue;
      }
      Handle h;
      h.metric = f.metric;
      host().describe(f.metric, f.counter ? MetricType::counter : MetricType::gauge,
                      meminfo_help(f), ends_with_bytes(f.metric) ? "bytes" : "");
      if (f.counter) {
        h.counter = host().counter(f.metric);
      } else {
        h.gauge = host().gauge(f.metric);
      }
      handles_.push_back(std::move(h));
    }
    for (auto& [metric, h] : old) {
      if (h.counter) host().unregister(h.counter);
      if (h.gauge) host().unregister(h.gauge);
      host().debug(metric + " is no longer in " + meminfo_path_ + ": its series was removed");
    }
  }

  std::string meminfo_path_;
  procfs::ProcReader meminfo_;        // meminfo_path_ for collect(), kept open
  procfs::ProcReader check_meminfo_;  // the same for check(), which may run at the same time
  Reading latest_;
  std::string text_;
  std::vector<MeminfoField> fields_;
  std::vector<Handle> handles_;

  MemoryThresholds thresholds_;
  std::string check_text_;  // check()'s own buffers: it may overlap collect()
  std::vector<MeminfoField> check_fields_;
};

}  // namespace vigil::collector_memory

VIGIL_PLUGIN("collector_memory", "1.1.0",
             vigil::plugin<vigil::collector_memory::MemoryCollector>(
                 "Memory statistics from procfs' meminfo file (node_exporter's meminfo "
                 "collector), and the memory health check")
                 .collector("node_memory_* for every meminfo field")
                 .health_check("memory: used RAM (and optionally swap) against warning and "
                               "critical thresholds")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read meminfo from (like node_exporter's "
                         "--path.procfs)")
                 .option("warning", vigil::Double, "80",
                         "memory check: warning at or above this percentage of RAM used")
                 .option("critical", vigil::Double, "90",
                         "memory check: critical at or above this percentage of RAM used")
                 .option("swap_warning", vigil::Double, nullptr,
                         "memory check: warning at or above this percentage of swap used "
                         "(not set: swap is not judged)")
                 .option("swap_critical", vigil::Double, nullptr,
                         "memory check: critical at or above this percentage of swap used "
                         "(not set: swap is not judged)"));
