// collector_cpu: node_exporter's "cpu" and "stat" collectors, read from <proc_path>/stat.
//
// Emits node_cpu_seconds_total and node_cpu_guest_seconds_total per CPU and mode, plus the
// stat totals (interrupts, context switches, forks, boot time, runnable and blocked processes),
// with node_exporter's names, labels and help texts so its dashboards and rules work unchanged.
// Series handles are cached per CPU, so a collect is one file read, one parse and handle writes.
// It must never register series by name on the hot path, nor keep exposing a CPU that went
// offline when the host can drop it.
#include <vigil/sdk.hpp>

#include <unistd.h>

#include <string>
#include <vector>

#include "proc_stat.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_cpu {
namespace {

constexpr const char* kCpuSeconds = "node_cpu_seconds_total";
constexpr const char* kGuestSeconds = "node_cpu_guest_seconds_total";
constexpr const char* kInterrupts = "node_intr_total";
constexpr const char* kContextSwitches = "node_context_switches_total";
constexpr const char* kForks = "node_forks_total";
constexpr const char* kBootTime = "node_boot_time_seconds";
constexpr const char* kProcsRunning = "node_procs_running";
constexpr const char* kProcsBlocked = "node_procs_blocked";

}  // namespace

// One instance per configured "collector_cpu" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class CpuCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    long hz = ::sysconf(_SC_CLK_TCK);
    user_hz_ = hz > 0 ? static_cast<double>(hz) : 100.0;
    text_.reserve(65536);
    std::string error;
    stat_path_ = procfs::proc_file(config.string("proc_path"), "stat", text_, error);
    if (stat_path_.empty()) return Status::invalid_argument(error);
    stat_file_ = procfs::ProcReader(stat_path_);

    Host& h = host();
    h.describe(kCpuSeconds, MetricType::counter, "Seconds the CPUs spent in each mode.", "seconds");
    h.describe(kGuestSeconds, MetricType::counter,
               "Seconds the CPUs spent in guests (VMs) for each mode.", "seconds");
    h.describe(kInterrupts, MetricType::counter, "Total number of interrupts serviced.");
    h.describe(kContextSwitches, MetricType::counter, "Total number of context switches.");
    h.describe(kForks, MetricType::counter, "Total number of forks.");
    h.describe(kBootTime, MetricType::gauge, "Node boot time, in unixtime.", "seconds");
    h.describe(kProcsRunning, MetricType::gauge, "Number of processes in runnable state.");
    h.describe(kProcsBlocked, MetricType::gauge,
               "Number of processes blocked waiting for I/O to complete.");
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!stat_file_.read(text_, error)) return Status::unavailable(error);
    if (!parse_proc_stat(text_, user_hz_, stat_, error)) {
      return Status::unavailable(stat_path_ + ": " + error);
    }
    failed_writes_ = 0;
    first_failure_.clear();

    const std::vector<CpuTimes>& cpus = monotonic_.update(stat_.cpus);
    for (CpuSeries& s : by_cpu_) s.seen = false;
    for (const CpuTimes& cpu : cpus) {
      CpuSeries& s = series_for(cpu.cpu);
      s.seen = true;
      for (std::size_t m = 0; m < kModeCount; ++m) check(s.modes[m].set(cpu.modes[m]), kCpuSeconds);
      for (std::size_t g = 0; g < kGuestModeCount; ++g)
        check(s.guest[g].set(cpu.guest[g]), kGuestSeconds);
    }
    drop_offline_cpus();

    write_counter(interrupts_, kInterrupts, stat_.interrupts);
    write_counter(context_switches_, kContextSwitches, stat_.context_switches);
    write_counter(forks_, kForks, stat_.forks);
    write_gauge(boot_time_, kBootTime, stat_.boot_time);
    write_gauge(procs_running_, kProcsRunning, stat_.procs_running);
    write_gauge(procs_blocked_, kProcsBlocked, stat_.procs_blocked);

    if (failed_writes_ > 0) {
      return Status::internal("the host refused " + std::to_string(failed_writes_) +
                              " sample write(s), first for " + first_failure_ +
                              "; see the host's log for why");
    }
    return Status::ok();
  }

 private:
  struct CpuSeries {
    bool registered = false;
    bool seen = false;
    Counter modes[kModeCount];
    Counter guest[kGuestModeCount];
  };

  // The handles of one CPU, registered the first time the CPU is seen (again).
  CpuSeries& series_for(int cpu) {
    if (static_cast<std::size_t>(cpu) >= by_cpu_.size()) by_cpu_.resize(cpu + 1);
    CpuSeries& s = by_cpu_[cpu];
    if (!s.registered) {
      std::string id = std::to_string(cpu);
      for (std::size_t m = 0; m < kModeCount; ++m)
        s.modes[m] = host().counter(kCpuSeconds, {{"cpu", id}, {"mode", kModes[m]}});
      for (std::size_t g = 0; g < kGuestModeCount; ++g)
        s.guest[g] = host().counter(kGuestSeconds, {{"cpu", id}, {"mode", kGuestModes[g]}});
      s.registered = true;
    }
    return s;
  }

  // A CPU missing from /proc/stat is offline: its series leave the exposition now rather than
  // linger until they go stale. Without the 1.1 unregister slot they are just no longer written.
  void drop_offline_cpus() {
    for (std::size_t cpu = 0; cpu < by_cpu_.size(); ++cpu) {
      CpuSeries& s = by_cpu_[cpu];
      if (!s.registered || s.seen) continue;
      if (!host().can_unregister()) continue;
      for (const Counter& c : s.modes) host().unregister(c);
      for (const Counter& c : s.guest) host().unregister(c);
      s = CpuSeries{};
      host().debug("cpu " + std::to_string(cpu) + " is no longer listed in " + stat_path_ +
                   ": its series were removed");
    }
  }

  void write_counter(Counter& handle, const char* name, const std::optional<double>& value) {
    if (!value) return;
    if (!handle) handle = host().counter(name);
    check(handle.set(*value), name);
  }

  void write_gauge(Gauge& handle, const char* name, const std::optional<double>& value) {
    if (!value) return;
    if (!handle) handle = host().gauge(name);
    check(handle.set(*value), name);
  }

  void check(bool ok, const char* name) {
    if (ok) return;
    if (failed_writes_++ == 0) first_failure_ = name;
  }

  std::string stat_path_;
  procfs::ProcReader stat_file_;  // stat_path_, kept open between collects
  double user_hz_ = 100;
  std::string text_;
  ProcStat stat_;
  MonotonicCpuTimes monotonic_;
  std::vector<CpuSeries> by_cpu_;
  Counter interrupts_, context_switches_, forks_;
  Gauge boot_time_, procs_running_, procs_blocked_;
  std::size_t failed_writes_ = 0;
  std::string first_failure_;
};

}  // namespace vigil::collector_cpu

VIGIL_PLUGIN("collector_cpu", "1.0.0",
             vigil::collector<vigil::collector_cpu::CpuCollector>(
                 "CPU time per CPU and mode, and kernel totals, from procfs' stat file "
                 "(node_exporter's cpu and stat collectors)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read stat from (like node_exporter's "
                         "--path.procfs)"));
