// Parsing of /proc/stat, and the per-CPU bookkeeping that keeps its counters monotonic.
//
// Pure functions over text: no file access, no SDK, so the tests drive them with fixtures. The
// plugin (collector_cpu.cpp) reads the file and turns these structs into series. This file must
// never emit metrics or log: it reports problems through its return values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_cpu {

// The eight modes of node_cpu_seconds_total, in /proc/stat's column order.
inline constexpr std::size_t kModeCount = 8;
inline constexpr const char* kModes[kModeCount] = {"user",   "nice", "system",  "idle",
                                                   "iowait", "irq",  "softirq", "steal"};
// The two modes of node_cpu_guest_seconds_total (guest and guest_nice columns).
inline constexpr std::size_t kGuestModeCount = 2;
inline constexpr const char* kGuestModes[kGuestModeCount] = {"user", "nice"};

// One "cpuN" line, converted to seconds. Columns an older kernel does not print read as 0.
struct CpuTimes {
  int cpu = -1;
  double modes[kModeCount] = {};
  double guest[kGuestModeCount] = {};
};

// What /proc/stat says as a whole. The optional fields are absent when their line is missing.
struct ProcStat {
  std::vector<CpuTimes>
      cpus;  // per-CPU lines only (the aggregate "cpu" line is skipped), in file order
  std::optional<double> interrupts;        // "intr", first column (the total)
  std::optional<double> context_switches;  // "ctxt"
  std::optional<double> boot_time;         // "btime", Unix seconds
  std::optional<double> forks;             // "processes"
  std::optional<double> procs_running;
  std::optional<double> procs_blocked;
};

// Parses the text of /proc/stat. Jiffies are divided by `user_hz` (sysconf(_SC_CLK_TCK)).
// Returns false and sets `error` (naming the line and what was expected) on a malformed cpu line
// or when no per-CPU line is present; unknown lines are ignored, as newer kernels add some.
bool parse_proc_stat(std::string_view text, double user_hz, ProcStat& out, std::string& error);

// Keeps each CPU's counters from going backwards between reads, as node_exporter does: the
// kernel's iowait (and, on some hypervisors, other columns) can step back slightly, which a
// Prometheus counter must never do. A drop of idle time by at least kJumpBackSeconds means the
// CPU was unplugged and plugged again: its state starts over from the new values.
// Not thread-safe: one collect at a time.
class MonotonicCpuTimes {
 public:
  static constexpr double kJumpBackSeconds = 3.0;

  // Folds a fresh read into the remembered state and returns the values to expose, one per
  // CPU present in `fresh`, in the same order. CPUs absent from `fresh` are forgotten.
  const std::vector<CpuTimes>& update(const std::vector<CpuTimes>& fresh);

 private:
  std::map<int, CpuTimes> state_;
  std::vector<CpuTimes> current_;
};

}  // namespace vigil::collector_cpu
