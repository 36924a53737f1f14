// The host's scheduler: runs every collector, health-check and push-exporter instance on its own
// interval (with jitter on the first run, then a fixed phase), on a worker pool, with a timeout
// per call.
//
// One timer thread keeps the next due time of every task; worker threads take due tasks and call
// them. A call that passes its timeout is reported once and its task is skipped until the call
// returns. When due runs wait and every worker has been inside a call for a couple of
// milliseconds, the pool starts replacement workers at once (not at the calls' timeout), so hung
// plugins cannot starve the others.
// This file must never let a task run twice at once, never wait on a hung call past stop()'s
// deadline, and never let a task's exception escape a worker thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vigil::scheduler {

// Thread-safety: a plain value; Scheduler::add() takes its own copy.
struct TaskSpec {
  std::string name;                    // "collector_cpu:cpu", used in every log line
  std::chrono::milliseconds interval;  // > 0
  std::chrono::milliseconds timeout;   // > 0
  // In [0, 1]. The first run starts at a random offset in [0, jitter*interval) after start(),
  // drawn once per (interval, jitter) so that tasks with the same interval share their ticks;
  // later runs keep that phase (next = previous planned start + interval), so they never drift.
  double jitter = 0.1;
  // The call. Runs on a worker thread, never twice at once. It may outlive stop() if it hangs, so
  // whatever it captures must stay valid on its own (capture shared_ptrs, not references).
  std::function<void()> run;
};

// Thread-safety: a snapshot value returned by Scheduler::stats().
struct TaskStats {
  std::uint64_t runs = 0;      // calls that returned, normally or by throwing
  std::uint64_t timeouts = 0;  // calls that passed their timeout (counted when they pass it)
  std::uint64_t skipped = 0;   // due runs not started because the previous run was still pending
  std::chrono::nanoseconds last_duration{0};  // of the last call that returned
  bool running = false;                       // a call is in progress now
  bool ran_once = false;                      // at least one call has returned
  std::uint64_t failures = 0;                 // calls that threw (also counted in `runs`)
};

// Events for self-metrics. Thread-safety: each callback is invoked on scheduler threads, possibly
// several at once, so it must be thread-safe and cheap. None is invoked once stop() has returned.
// A callback may call Scheduler::stats() but must not call stop().
struct Observer {
  // Every call that returned, including late ones and ones that threw.
  std::function<void(std::size_t task, std::chrono::nanoseconds duration)> on_finished;
  // Once per call that overran its timeout, when it passes the timeout (not when it ends).
  std::function<void(std::size_t task)> on_timeout;
  // A due run skipped because the previous call still runs (or is still waiting for a worker).
  std::function<void(std::size_t task)> on_skipped;
};

namespace detail {
struct State;
}

// Thread-safety: add() only before start(), from the thread that owns the scheduler; every other
// member may be called from any thread.
class Scheduler {
 public:
  // At most this many workers beyond the configured count are started to replace hung ones.
  static constexpr unsigned kExtraWorkersPerWorker = 4;

  // `workers` >= 1, else std::invalid_argument.
  explicit Scheduler(unsigned workers, Observer observer = {});
  ~Scheduler();  // stop(0ms)
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Returns the task index used everywhere else. Throws std::invalid_argument when the spec is
  // unusable (the message names the task and the value), std::logic_error after start().
  std::size_t add(TaskSpec spec);

  // Plans every task's first run and starts the timer and the workers. Throws std::logic_error
  // when called twice or after stop().
  void start();

  // Schedules one extra run as soon as a worker is free, without moving the task's schedule.
  // If the task is running, the extra run starts when that call returns; if a run is already
  // waiting for a worker, that run serves. Ignored after stop(). Throws std::out_of_range.
  void run_now(std::size_t task);

  // Stops scheduling, drops runs waiting for a worker, waits up to `deadline` for calls in
  // flight, then abandons (detaches) the threads still in a call. Returns the names of the tasks
  // whose calls were abandoned. A second call returns an empty list.
  std::vector<std::string> stop(std::chrono::milliseconds deadline);

  // Throws std::out_of_range for an index add() did not return.
  TaskStats stats(std::size_t task) const;
  std::size_t task_count() const;
  // Workers inside a call now, including hung ones.
  std::size_t busy_workers() const;
  // Worker threads alive now: the configured count plus replacements for hung calls.
  std::size_t worker_count() const;

 private:
  std::shared_ptr<detail::State> state_;
  std::thread timer_;
};

}  // namespace vigil::scheduler
