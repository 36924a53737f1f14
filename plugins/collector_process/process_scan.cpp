// See process_scan.hpp.
#include "process_scan.hpp"

#include <dirent.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_process {
namespace {

// "1234" -> 1234; anything else (self, sys, net, ...) -> -1.
int pid_of(const char* name) {
  int pid = 0;
  if (*name == '\0') return -1;
  for (const char* p = name; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return -1;
    if (pid > 100000000) return -1;
    pid = pid * 10 + (*p - '0');
  }
  return pid;
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

}  // namespace

ProcessScanner::ProcessScanner(std::string proc_path, std::vector<GroupSpec> groups,
                               double ticks_per_second, double page_size)
    : proc_path_(std::move(proc_path)),
      groups_(std::move(groups)),
      ticks_per_second_(ticks_per_second > 0 ? ticks_per_second : 100),
      page_size_(page_size > 0 ? page_size : 4096),
      totals_(groups_.size()) {
  for (const GroupSpec& g : groups_) {
    need_cmdline_ = need_cmdline_ || g.cmdline.is_set();
    need_uid_ = need_uid_ || g.uid.has_value();
  }
}

void ProcessScanner::classify(const std::string& pid_dir, const PidStat& stat, Known& known) {
  known.start_ticks = stat.start_ticks;
  known.comm = stat.comm;
  std::string cmdline;
  std::optional<uid_t> euid;
  std::string ignored;
  // A process that exits between its stat and these reads matches on what could be read; it
  // will not be listed next time anyway.
  if (need_cmdline_ && procfs::read_file(pid_dir + "/cmdline", buffer_, ignored))
    cmdline = join_cmdline(buffer_);
  if (need_uid_ && procfs::read_file(pid_dir + "/status", buffer_, ignored))
    euid = parse_effective_uid(buffer_);
  known.member.assign(groups_.size(), 0);
  for (std::size_t g = 0; g < groups_.size(); ++g)
    known.member[g] = group_matches(groups_[g], stat.comm, cmdline, euid) ? 1 : 0;
}

double ProcessScanner::count_fds(const std::string& pid_dir, bool& unreadable) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir((pid_dir + "/fd").c_str()));
  if (!dir) {
    // Gone (ENOENT) is not a problem; permission denied (another user's process) is.
    unreadable = errno != ENOENT && errno != ESRCH;
    return 0;
  }
  double n = 0;
  while (const dirent* entry = ::readdir(dir.get()))
    if (entry->d_name[0] != '.') ++n;
  return n;
}

bool ProcessScanner::scan(bool detailed, std::string& error) {
  std::unique_ptr<DIR, DirCloser> dir(::opendir(proc_path_.c_str()));
  if (!dir) {
    error = "cannot list " + proc_path_ + ": " + std::strerror(errno);
    return false;
  }
  ++generation_;
  parse_problem_.clear();
  for (GroupTotals& t : totals_) {
    t.count = 0;
    t.resident_bytes = 0;
    t.threads = 0;
    if (detailed) {
      t.open_fds = 0;
      t.fds_unreadable = 0;
    }
  }
  if (detailed) cpu_next_.clear();

  PidStat stat;
  std::string problem;
  while (const dirent* entry = ::readdir(dir.get())) {
    const int pid = pid_of(entry->d_name);
    if (pid < 0) continue;
    path_.assign(proc_path_).append("/").append(entry->d_name);
    if (!procfs::read_file(path_ + "/stat", buffer_, problem)) continue;  // exited meanwhile
    if (!parse_pid_stat(buffer_, stat, problem)) {
      if (parse_problem_.empty()) parse_problem_ = path_ + "/stat: " + problem;
      continue;
    }
    // A zombie has exited; only its parent has not collected its status yet.
    if (stat.state == 'Z' || stat.state == 'X') continue;

    Known& known = known_[pid];
    if (known.seen == 0 || known.start_ticks != stat.start_ticks || known.comm != stat.comm)
      classify(path_, stat, known);  // new, a reused pid, or an exec that renamed it
    known.seen = generation_;

    bool any = false;
    for (char m : known.member) any = any || m != 0;
    if (!any) continue;

    double fds = 0;
    bool fds_unreadable = false;
    uint64_t user_ticks = 0, system_ticks = 0;
    if (detailed) {
      fds = count_fds(path_, fds_unreadable);
      uint64_t du = stat.utime_ticks, ds = stat.stime_ticks;
      auto prev = cpu_seen_.find(pid);
      if (prev != cpu_seen_.end() && prev->second.start_ticks == stat.start_ticks) {
        du = stat.utime_ticks >= prev->second.utime ? stat.utime_ticks - prev->second.utime : 0;
        ds = stat.stime_ticks >= prev->second.stime ? stat.stime_ticks - prev->second.stime : 0;
      }
      user_ticks = du;
      system_ticks = ds;
      cpu_next_[pid] = CpuSeen{stat.start_ticks, stat.utime_ticks, stat.stime_ticks};
    }
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (known.member[g] == 0) continue;
      GroupTotals& t = totals_[g];
      ++t.count;
      t.resident_bytes += static_cast<double>(stat.rss_pages) * page_size_;
      t.threads += static_cast<double>(stat.num_threads);
      if (!detailed) continue;
      t.open_fds += fds;
      if (fds_unreadable) ++t.fds_unreadable;
      t.cpu_user_ticks += user_ticks;
      t.cpu_system_ticks += system_ticks;
    }
  }

  for (auto it = known_.begin(); it != known_.end();) {
    if (it->second.seen != generation_) {
      it = known_.erase(it);
    } else {
      ++it;
    }
  }
  if (detailed) cpu_seen_.swap(cpu_next_);
  return true;
}

}  // namespace vigil::collector_process
