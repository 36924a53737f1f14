// One pass over procfs' process directories, summed per process group.
//
// Each scan lists <proc_path>, reads every process's stat file once, and adds the processes that
// match a group to that group's totals. Which groups a process belongs to is remembered per
// (pid, start time, name), so the command line and status files are read once per process, not
// on every scan. CPU seconds are kept as counters that never go backwards: each scan adds what
// the group's processes used since the previous scan (a new process counts whole), so a process
// that exits does not take its CPU time out of the group. This file must never read a process's
// cmdline or status more than once per process identity, and never let a counter decrease.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "groups.hpp"
#include "proc_pid.hpp"

namespace vigil::collector_process {

// One group's sums after a scan.
struct GroupTotals {
  uint64_t count = 0;  // processes (zombies excluded)
  double resident_bytes = 0;
  double threads = 0;
  double open_fds = 0;          // detailed scans only
  uint64_t fds_unreadable = 0;  // processes whose fd directory could not be listed (permissions)
  // Counters advanced by detailed scans, kept in clock ticks so that summing never drifts.
  uint64_t cpu_user_ticks = 0;
  uint64_t cpu_system_ticks = 0;
};

// Thread-safety: not thread-safe; the plugin serialises scans with its own mutex.
class ProcessScanner {
 public:
  ProcessScanner(std::string proc_path, std::vector<GroupSpec> groups, double ticks_per_second,
                 double page_size);

  // Scans every process. `detailed` (the collector) also counts open fds and advances the CPU
  // counters; the health check only needs counts. Returns false and sets `error` when the
  // process list itself cannot be read; a process that vanishes mid-scan is simply skipped.
  bool scan(bool detailed, std::string& error);

  const std::vector<GroupSpec>& groups() const { return groups_; }
  const std::vector<GroupTotals>& totals() const { return totals_; }
  double ticks_per_second() const { return ticks_per_second_; }
  // A stat file that did not parse during the last scan (empty if none): "PATH: reason".
  const std::string& last_parse_problem() const { return parse_problem_; }
  // Processes remembered between scans (every live process, matched or not).
  std::size_t remembered() const { return known_.size(); }

 private:
  struct Known {
    uint64_t start_ticks = 0;
    std::string comm;
    std::vector<char> member;  // one flag per group
    uint64_t seen = 0;         // scan generation
  };
  struct CpuSeen {
    uint64_t start_ticks = 0, utime = 0, stime = 0;
  };

  void classify(const std::string& pid_dir, const PidStat& stat, Known& known);
  double count_fds(const std::string& pid_dir, bool& unreadable);

  std::string proc_path_;
  std::vector<GroupSpec> groups_;
  bool need_cmdline_ = false;
  bool need_uid_ = false;
  double ticks_per_second_;
  double page_size_;

  std::vector<GroupTotals> totals_;
  std::unordered_map<int, Known> known_;
  std::unordered_map<int, CpuSeen> cpu_seen_, cpu_next_;
  uint64_t generation_ = 0;
  std::string buffer_, path_, parse_problem_;
};

}  // namespace vigil::collector_process
