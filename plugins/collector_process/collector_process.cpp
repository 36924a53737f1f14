// collector_process: per process group CPU, memory, open files, threads and count, and the
// "process" health check (count bounds per group).
//
// Groups are configured by name (comm), command line (regex) and/or user (groups.hpp); one scan
// of procfs sums the matching processes per group (process_scan.hpp). node_exporter has no
// per-process metrics, so the names follow process-exporter's namedprocess ideas under the
// vigil_process_ prefix, with Prometheus conventions (base units, _total counters). A group with
// no process still reports count 0, so "is it running" is always answerable. This file must never
// let one group's failure hide another's series, nor scan procfs twice for one collect+check.
#include <vigil/sdk.hpp>

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "groups.hpp"
#include "process_scan.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_process {
namespace {

constexpr const char* kCpu = "vigil_process_cpu_seconds_total";
constexpr const char* kResident = "vigil_process_resident_memory_bytes";
constexpr const char* kOpenFds = "vigil_process_open_fds";
constexpr const char* kThreads = "vigil_process_threads";
constexpr const char* kCount = "vigil_process_num_procs";

// The health check reuses the counts of a collect that ran just before it (the host runs them
// back to back on one schedule) instead of scanning procfs a second time.
constexpr int64_t kReuseWindowNs = 1'000'000'000;

}  // namespace

// One instance per configured "collector_process" entry: a collector and a health check.
// Thread-safety: collect() and check() may run concurrently; both take mutex_ for the scanner
// and what they share.
class ProcessPlugin final : public Collector, public HealthCheck {
 public:
  Status configure(const Config& config) override {
    std::string error;
    proc_path_ = procfs::root_option(config.string("proc_path"), "proc_path", "/proc", error);
    if (proc_path_.empty()) return Status::invalid_argument(error);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(proc_path_.c_str()), &::closedir);
    if (!dir)
      return Status::invalid_argument("cannot list " + proc_path_ + ": " + std::strerror(errno) +
                                      "; " + procfs::kProcPathHint);

    std::vector<GroupSpec> groups;
    if (!parse_groups(config.json("groups"), groups, error)) return Status::invalid_argument(error);

    const long hz = ::sysconf(_SC_CLK_TCK);
    const long page = ::sysconf(_SC_PAGESIZE);
    scanner_ = std::make_unique<ProcessScanner>(proc_path_, std::move(groups),
                                                hz > 0 ? static_cast<double>(hz) : 100.0,
                                                page > 0 ? static_cast<double>(page) : 4096.0);

    Host& h = host();
    h.describe(kCpu, MetricType::counter,
               "CPU time used by the group's processes, by mode (user, system), including "
               "processes that exited while watched.",
               "seconds");
    h.describe(kResident, MetricType::gauge, "Resident memory of the group's processes.", "bytes");
    h.describe(kOpenFds, MetricType::gauge, "Open file descriptors of the group's processes.");
    h.describe(kThreads, MetricType::gauge, "Threads of the group's processes.");
    h.describe(kCount, MetricType::gauge, "Number of processes in the group.");
    for (const GroupSpec& g : scanner_->groups()) {
      Series s;
      const Labels group{{"group", g.name}};
      s.cpu_user = h.counter(kCpu, {{"group", g.name}, {"mode", "user"}});
      s.cpu_system = h.counter(kCpu, {{"group", g.name}, {"mode", "system"}});
      s.resident = h.gauge(kResident, group);
      s.open_fds = h.gauge(kOpenFds, group);
      s.threads = h.gauge(kThreads, group);
      s.count = h.gauge(kCount, group);
      series_.push_back(std::move(s));
    }
    fds_warned_.assign(series_.size(), false);
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string error;
    if (!scanner_->scan(/*detailed=*/true, error)) return Status::unavailable(error);
    report_parse_problem();
    const auto& groups = scanner_->groups();
    const auto& totals = scanner_->totals();
    std::size_t failed = 0;
    for (std::size_t i = 0; i < series_.size(); ++i) {
      const GroupTotals& t = totals[i];
      Series& s = series_[i];
      const double hz = scanner_->ticks_per_second();
      failed += !s.cpu_user.set(static_cast<double>(t.cpu_user_ticks) / hz);
      failed += !s.cpu_system.set(static_cast<double>(t.cpu_system_ticks) / hz);
      failed += !s.resident.set(t.resident_bytes);
      failed += !s.open_fds.set(t.open_fds);
      failed += !s.threads.set(t.threads);
      failed += !s.count.set(static_cast<double>(t.count));
      if (t.fds_unreadable > 0 && !fds_warned_[i]) {
        fds_warned_[i] = true;
        host().info("group \"" + groups[i].name + "\": cannot list the open files of " +
                    std::to_string(t.fds_unreadable) +
                    " of its processes (another user's, without CAP_SYS_PTRACE); "
                    "vigil_process_open_fds leaves them out");
      }
    }
    last_collect_ns_ = host().monotonic_ns();
    counts_fresh_ = true;
    if (failed > 0)
      return Status::internal("the host refused " + std::to_string(failed) +
                              " sample write(s) of vigil_process_* series; see the host's log "
                              "for why");
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool reuse = counts_fresh_ && host().monotonic_ns() - last_collect_ns_ < kReuseWindowNs;
    counts_fresh_ = false;  // used once: the next check without a collect scans again
    if (!reuse) {
      std::string error;
      if (!scanner_->scan(/*detailed=*/false, error)) return Status::unavailable(error);
      report_parse_problem();
    }
    std::vector<uint64_t> counts;
    for (const GroupTotals& t : scanner_->totals()) counts.push_back(t.count);
    BoundsVerdict verdict = check_bounds(scanner_->groups(), counts);
    result.status = verdict.status;
    result.message = std::move(verdict.message);
    return Status::ok();
  }

 private:
  struct Series {
    Counter cpu_user, cpu_system;
    Gauge resident, open_fds, threads, count;
  };

  // A stat file that does not parse is a kernel format this plugin does not know: say so once.
  void report_parse_problem() {
    const std::string& problem = scanner_->last_parse_problem();
    if (problem.empty() || parse_warned_) return;
    parse_warned_ = true;
    host().warn("skipping processes whose stat file does not parse, first: " + problem);
  }

  std::mutex mutex_;
  std::string proc_path_;
  std::unique_ptr<ProcessScanner> scanner_;
  std::vector<Series> series_;
  std::vector<bool> fds_warned_;
  bool parse_warned_ = false;
  bool counts_fresh_ = false;
  int64_t last_collect_ns_ = 0;
};

}  // namespace vigil::collector_process

VIGIL_PLUGIN(
    "collector_process", "1.0.0",
    vigil::plugin<vigil::collector_process::ProcessPlugin>(
        "Per process group CPU, memory, open files, threads and count, and the process health "
        "check")
        .collector("vigil_process_* per group of processes matched by name, command line or user")
        .health_check("process: each group's process count within its min/max bounds")
        .required_option(
            "groups", vigil::Json,
            "list of groups: [{\"name\": \"nginx\", \"comm\": \"nginx\", \"cmdline\": \"regex\", "
            "\"user\": \"www-data\", \"min\": 1, \"max\": 8}]; name and one matcher required")
        .option("proc_path", vigil::String, "/proc",
                "procfs mount point (like node_exporter's --path.procfs)"));
