// See self_metrics.hpp. Names follow Prometheus conventions (base units, _total counters) and
// the process_* metrics match what client libraries export, so existing dashboards apply.
#include "core/self_metrics.hpp"

#include "log/logging.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

namespace vigil::core {
namespace {

// Open descriptors, from an open /proc/self/fd: Linux 6.2 and later give the count as the
// directory's size; older kernels list it. -1 when neither works.
long count_open_fds(int fd_dir) {
  if (fd_dir < 0) return -1;
  struct stat info {};
  if (::fstat(fd_dir, &info) == 0 && info.st_size > 0) return static_cast<long>(info.st_size);
  if (::lseek(fd_dir, 0, SEEK_SET) != 0) return -1;
  long count = 0;
  alignas(8) char entries[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd_dir, entries, sizeof entries);
    if (n < 0) return -1;
    if (n == 0) break;
    for (long at = 0; at < n;) {
      const auto* entry = reinterpret_cast<const dirent64*>(entries + at);
      if (entry->d_name[0] != '.') ++count;  // "." and ".."; descriptors are digits
      at += entry->d_reclen;
    }
  }
  return count;
}

// Call durations span 10 µs (a /proc read) to tens of seconds (a hung check).
const double kDurationBuckets[] = {0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                   0.1,     0.5,    1,      2.5,   5,     10,   30};

vigil_family_id family(store::Store& store, const char* name, vigil_metric_type type,
                       const char* help, const char* unit = "", bool with_buckets = false) {
  vigil_family_desc desc{};
  desc.size = sizeof desc;
  desc.name = name;
  desc.help = help;
  desc.unit = unit;
  desc.type = type;
  if (with_buckets) {
    desc.buckets = kDurationBuckets;
    desc.bucket_count = std::size(kDurationBuckets);
  }
  std::string error;
  auto id = store.register_family(desc, error);
  if (id == 0) log::host()->error("self-metric {}: {}", name, error);
  return id;
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

SelfMetrics::SelfMetrics(store::Store& store)
    : store_(store),
      statm_fd_(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC)),
      fd_dir_(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
  auto info = family(store, "vigil_build_info", VIGIL_METRIC_GAUGE,
                     "Always 1; labels carry the version of vigil and of its plugin ABI.");
  store_.write(series(info, {{"version", VIGIL_VERSION},
                             {"abi_version", std::to_string(VIGIL_ABI_MAJOR) + "." +
                                                 std::to_string(VIGIL_ABI_MINOR)}}),
               1, 0);
  call_duration_ = family(store, "vigil_plugin_call_duration_seconds", VIGIL_METRIC_HISTOGRAM,
                          "Duration of scheduled calls into plugin instances.", "seconds", true);
  errors_ = family(store, "vigil_plugin_errors_total", VIGIL_METRIC_COUNTER,
                   "Calls into plugin instances that returned an error.");
  timeouts_ = family(store, "vigil_plugin_timeouts_total", VIGIL_METRIC_COUNTER,
                     "Calls into plugin instances that overran their timeout.");
  skipped_ = family(store, "vigil_plugin_skipped_runs_total", VIGIL_METRIC_COUNTER,
                    "Scheduled runs skipped because the previous call was still running.");
  up_ = family(store, "vigil_plugin_up", VIGIL_METRIC_GAUGE,
               "1 when the plugin instance was created and runs, 0 when it failed to start.");
  health_status_ = family(store, "vigil_health_status", VIGIL_METRIC_GAUGE,
                          "Last result of each health check: 0 ok, 1 warning, 2 critical, "
                          "3 unknown.");
  health_duration_ = family(store, "vigil_health_check_duration_seconds", VIGIL_METRIC_GAUGE,
                            "Duration of the last run of each health check.", "seconds");
  scrape_duration_ =
      family(store, "vigil_scrape_duration_seconds", VIGIL_METRIC_HISTOGRAM,
             "Time to serve requests on plugin routes such as /metrics.", "seconds", true);
  series_count_ = series(
      family(store, "vigil_series", VIGIL_METRIC_GAUGE, "Live (non-stale) series in the store."),
      {});
  http_requests_ = series(family(store, "vigil_http_requests_total", VIGIL_METRIC_COUNTER,
                                 "HTTP requests served by the host."),
                          {});
  http_rejected_ =
      series(family(store, "vigil_http_rejected_busy_total", VIGIL_METRIC_COUNTER,
                    "Requests to expensive routes refused with 503 because too many ran."),
             {});
  rss_ = series(family(store, "process_resident_memory_bytes", VIGIL_METRIC_GAUGE,
                       "Resident memory size in bytes.", "bytes"),
                {});
  virtual_memory_ = series(family(store, "process_virtual_memory_bytes", VIGIL_METRIC_GAUGE,
                                  "Virtual memory size in bytes.", "bytes"),
                           {});
  cpu_ = series(family(store, "process_cpu_seconds_total", VIGIL_METRIC_COUNTER,
                       "Total user and system CPU time spent in seconds.", "seconds"),
                {});
  open_fds_ = series(
      family(store, "process_open_fds", VIGIL_METRIC_GAUGE, "Number of open file descriptors."),
      {});
  start_time_ = series(family(store, "process_start_time_seconds", VIGIL_METRIC_GAUGE,
                              "Start time of the process since unix epoch in seconds.", "seconds"),
                       {});
  store_.write(
      start_time_,
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
      0);
  refresh(0, 0);
}

vigil_series_id SelfMetrics::series(vigil_family_id family, store::Labels labels) {
  if (family == 0) return 0;
  std::string error;
  auto id = store_.register_series(family, std::move(labels), 0, 0, error);
  if (id == 0) log::host()->error("self-metric series: {}", error);
  return id;
}

void SelfMetrics::bind(InstanceMetrics& m, const std::string& plugin, const std::string& instance,
                       bool health_check) {
  store::Labels labels = {{"instance", instance}, {"plugin", plugin}};
  m.call_duration = series(call_duration_, labels);
  m.errors = series(errors_, labels);
  m.timeouts = series(timeouts_, labels);
  m.skipped = series(skipped_, labels);
  m.up = series(up_, labels);
  // Counters restart from what this instance name already counted, so a reload never makes a
  // counter go backwards.
  store_.write(m.errors, static_cast<double>(m.error_count.load()), 0);
  store_.write(m.timeouts, static_cast<double>(m.timeout_count.load()), 0);
  store_.write(m.skipped, static_cast<double>(m.skipped_count.load()), 0);
  if (health_check) {
    m.health_status = series(health_status_, {{"check", instance}});
    m.health_duration = series(health_duration_, {{"check", instance}});
  }
}

void SelfMetrics::call_finished(InstanceMetrics& m, std::chrono::nanoseconds duration, bool ok) {
  store_.observe(m.call_duration, seconds(duration));
  if (!ok) store_.write(m.errors, static_cast<double>(++m.error_count), 0);
}

void SelfMetrics::timed_out(InstanceMetrics& m) {
  store_.write(m.timeouts, static_cast<double>(++m.timeout_count), 0);
}

void SelfMetrics::skipped(InstanceMetrics& m) {
  store_.write(m.skipped, static_cast<double>(++m.skipped_count), 0);
}

void SelfMetrics::health(InstanceMetrics& m, int status, std::chrono::nanoseconds duration) {
  store_.write(m.health_status, status, 0);
  store_.write(m.health_duration, seconds(duration), 0);
}

void SelfMetrics::request_served(const std::string& path, std::chrono::nanoseconds duration) {
  vigil_series_id id = 0;
  {
    std::lock_guard lock(scrape_mutex_);
    auto it = scrape_series_.find(path);
    if (it == scrape_series_.end())
      it = scrape_series_.emplace(path, series(scrape_duration_, {{"path", path}})).first;
    id = it->second;
  }
  store_.observe(id, seconds(duration));
}

void SelfMetrics::refresh(uint64_t http_requests, uint64_t http_rejected) {
  store_.write(series_count_, static_cast<double>(store_.live_series()), 0);
  store_.write(http_requests_, static_cast<double>(http_requests), 0);
  store_.write(http_rejected_, static_cast<double>(http_rejected), 0);
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    store_.write(cpu_, cpu, 0);
  }
  // /proc/self/statm: size and resident, in pages.
  char statm[128];
  const ssize_t length = statm_fd_ < 0 ? -1 : ::pread(statm_fd_, statm, sizeof statm - 1, 0);
  unsigned long long pages_virtual = 0, pages_resident = 0;
  if (length > 0) {
    statm[length] = '\0';
    if (std::sscanf(statm, "%llu %llu", &pages_virtual, &pages_resident) == 2) {
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      store_.write(virtual_memory_, static_cast<double>(pages_virtual) * page, 0);
      store_.write(rss_, static_cast<double>(pages_resident) * page, 0);
    }
  }
  if (const long fds = count_open_fds(fd_dir_); fds >= 0)
    store_.write(open_fds_, static_cast<double>(fds), 0);
}

SelfMetrics::~SelfMetrics() {
  if (statm_fd_ >= 0) ::close(statm_fd_);
  if (fd_dir_ >= 0) ::close(fd_dir_);
}

}  // namespace vigil::core
