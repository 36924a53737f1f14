// The host's own metrics, `vigil_*` (and the standard `process_*`), written into the same store
// the plugins write to, so every exporter serves them with no special case.
#pragma once

#include "store/store.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace vigil::core {

// Per-instance handles and counters. Counters are atomics because the scheduler's threads,
// the timer thread and HTTP threads all bump them.
struct InstanceMetrics {
  vigil_series_id call_duration = 0;  // histogram
  vigil_series_id errors = 0, timeouts = 0, skipped = 0, up = 0;
  vigil_series_id health_status = 0, health_duration = 0;  // health checks only
  std::atomic<uint64_t> error_count{0}, timeout_count{0}, skipped_count{0};
};

// Thread-safety: all members are thread-safe.
class SelfMetrics {
 public:
  explicit SelfMetrics(store::Store& store);
  ~SelfMetrics();
  SelfMetrics(const SelfMetrics&) = delete;
  SelfMetrics& operator=(const SelfMetrics&) = delete;

  // Registers the series of one instance (owner 0: they outlive reloads of the instance).
  void bind(InstanceMetrics& metrics, const std::string& plugin, const std::string& instance,
            bool health_check);
  void call_finished(InstanceMetrics& metrics, std::chrono::nanoseconds duration, bool ok);
  void timed_out(InstanceMetrics& metrics);
  void skipped(InstanceMetrics& metrics);
  void health(InstanceMetrics& metrics, int status, std::chrono::nanoseconds duration);
  void request_served(const std::string& path, std::chrono::nanoseconds duration);
  // Series count, HTTP counters and process_* figures; called periodically, from one thread.
  void refresh(uint64_t http_requests, uint64_t http_rejected);

 private:
  vigil_series_id series(vigil_family_id family, store::Labels labels);
  store::Store& store_;
  vigil_family_id call_duration_ = 0, errors_ = 0, timeouts_ = 0, skipped_ = 0, up_ = 0;
  vigil_family_id health_status_ = 0, health_duration_ = 0, scrape_duration_ = 0;
  vigil_series_id series_count_ = 0, http_requests_ = 0, http_rejected_ = 0;
  vigil_series_id rss_ = 0, cpu_ = 0, start_time_ = 0, open_fds_ = 0, virtual_memory_ = 0;
  std::mutex scrape_mutex_;
  std::map<std::string, vigil_series_id> scrape_series_;
  // Kept open so a refresh costs a few system calls, not opens and allocations; -1 if the
  // open failed (the figure is then left out). Used by refresh() only.
  int statm_fd_ = -1;  // /proc/self/statm
  int fd_dir_ = -1;    // /proc/self/fd
};

}  // namespace vigil::core
