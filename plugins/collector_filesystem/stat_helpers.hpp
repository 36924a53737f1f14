// statvfs with a deadline: one helper thread per path, so a mount that does not answer (a dead
// NFS server) never blocks the caller, nor the other mounts, beyond the timeout.
//
// Why threads: statvfs on a hung network mount sleeps in the kernel, uninterruptibly, for as long
// as the server is gone; nothing can cancel it. So each path gets a long-lived helper thread that
// makes the call, and the caller waits for its answer until a deadline. A helper still stuck in
// its call is not asked again until that call returns: at most one thread per path, ever, so a
// dead server can never pile threads up. This file must never block the caller past the deadline,
// never start a second call on a path whose first has not returned, and never join a stuck thread.
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace vigil::collector_filesystem {

// The call the helpers make: fills `out` and returns 0, or returns an errno value. ::statvfs in
// the plugin; a test seam replaces it (see set_stat_function_for_testing).
using StatFn = std::function<int(const std::string& path, struct statvfs& out)>;

// The real statvfs, retried on EINTR.
int system_statvfs(const std::string& path, struct statvfs& out);

// The stat function new instances use: system_statvfs unless a test replaced it. Only tests
// that compile the plugin into their own binary call the setter; the shipped .so never does.
StatFn default_stat_function();
void set_stat_function_for_testing(StatFn fn);

struct StatOutcome {
  enum class State { ok, failed, stuck };
  State state = State::failed;
  struct statvfs stats {};
  int error = 0;              // errno when failed
  bool became_stuck = false;  // this call found it stuck for the first time: log it once
  bool recovered = false;     // it answered again after having been stuck: log it once
};

// Thread-safety: not for concurrent use; the plugin serialises calls with its own mutex. The
// helper threads only share their own slot with it, under that slot's mutex.
class MountStatter {
 public:
  explicit MountStatter(StatFn fn);
  // Stops idle helpers and joins them; a helper still inside its call is detached and left to
  // finish on its own (and the plugin library pinned in memory so its code stays mapped).
  ~MountStatter();
  MountStatter(const MountStatter&) = delete;
  MountStatter& operator=(const MountStatter&) = delete;

  // Stats every path in parallel and waits until all answered or `timeout` passed, whichever
  // comes first; `out[i]` is the outcome for `paths[i]`. A path whose previous call has not
  // returned yet is reported stuck at once, without a new call and without waiting.
  void stat_all(const std::vector<std::string>& paths, std::chrono::milliseconds timeout,
                std::vector<StatOutcome>& out);

  // Stops the helpers of every path not in `keep` (mounts that went away).
  void retire_except(const std::set<std::string>& keep);

  // Helper threads alive right now, including detached ones still stuck in their call.
  static std::size_t live_threads();
  std::size_t helpers() const { return helpers_.size(); }

 private:
  struct Slot;
  struct Helper;
  static void helper_main(std::shared_ptr<Slot> slot);
  Helper& helper_for(const std::string& path);
  void stop(Helper& helper);

  std::shared_ptr<const StatFn> fn_;
  std::map<std::string, std::unique_ptr<Helper>> helpers_;
};

}  // namespace vigil::collector_filesystem
