// statvfs with a deadline: helper threads make the calls, so a mount that does not answer (a dead
// NFS server) never blocks the caller, nor the other mounts, beyond the timeout.
//
// Why threads: statvfs on a hung network mount sleeps in the kernel for as long as the server is
// gone, and nothing can cancel it. So the calls are made by helper threads and the caller waits
// for the answers until a deadline. Normally one idle helper stats every mount in a row (one
// thread hand-off per collect, not one per mount); when the busy helpers have been inside a call
// for a while and mounts are still waiting, another helper is started, so a hung mount delays
// the others by a fraction of the timeout at most. A mount whose call has not returned is not
// asked again until it does: at most one call per mount is ever in flight, so threads are bounded
// by the number of hung mounts plus one, and a dead server can never pile them up.
// This file must never block the caller past the deadline, never start a second call on a path
// whose first has not returned, and never join a thread that is inside a call.
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <cstddef>
#include <functional>
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
// helper threads share the queue and results with it under an internal mutex.
class MountStatter {
 public:
  explicit MountStatter(StatFn fn);
  // Stops and joins the idle helpers; a helper still inside a call is detached and left to finish
  // on its own (and the plugin library pinned in memory so its code stays mapped).
  ~MountStatter();
  MountStatter(const MountStatter&) = delete;
  MountStatter& operator=(const MountStatter&) = delete;

  // Stats every path and waits until all answered or `timeout` passed, whichever comes first;
  // `out[i]` is the outcome for `paths[i]`. A path whose previous call has not returned yet is
  // reported stuck at once, without a new call and without waiting for it.
  void stat_all(const std::vector<std::string>& paths, std::chrono::milliseconds timeout,
                std::vector<StatOutcome>& out);

  // Forgets every path not in `keep` (mounts that went away).
  void retire_except(const std::set<std::string>& keep);

  // Helper threads alive right now in this process, including detached ones still in a call.
  static std::size_t live_threads();
  // This statter's helper threads, and the paths it remembers.
  std::size_t helpers() const;
  std::size_t paths() const;

  struct Shared;  // the queue, results and helper records the threads share (stat_helpers.cpp)

 private:
  void spawn_helper();
  std::shared_ptr<Shared> shared_;
};

}  // namespace vigil::collector_filesystem
