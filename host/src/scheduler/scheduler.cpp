// The scheduler's threads: a pool of workers that can grow past its size while calls hang, and a
// timer thread that stands in for them when none is free.
//
// All bookkeeping lives in detail::State, shared by the Scheduler and by every thread it starts,
// so a worker abandoned at stop() still finds valid memory if its call ever returns. Observer
// callbacks and log lines are emitted outside the state lock so a slow sink cannot stall the
// timer. Nothing here may block on a task's call except the worker making it.
//
// Wake-ups are the idle cost of the host (tens of microseconds each on a small VM), so:
// - tasks with the same interval share one random phase, and the timer wakes once per tick for
//   all of them, not once per task;
// - one worker is woken per tick and takes the due runs one after another; only when the call in
//   progress has lasted kBusyGrace does every run still waiting get a worker of its own, so a
//   tick of short collects costs two wake-ups (timer and one worker), not one per task, and a
//   hung call delays the others by about kBusyGrace;
// - the due times live in one timerfd that any thread re-arms under the state lock, so a worker
//   can move the next wake-up (a call returned before its timeout; the ready queue drained)
//   without waking anyone. Nobody wakes for the timeout of a call that already returned.
// - idle workers sleep on that timerfd themselves (epoll, EPOLLEXCLUSIVE: normally one sleeper
//   per expiry), so the worker the timer wakes turns due times into runs and takes the first
//   itself: a tick costs one wake-up. The timer thread's watch is registered behind every
//   worker's, so the kernel wakes it only when no worker sleeps (all are in calls); it then
//   wakes workers as they free up, and notices timeouts and hung pools. Wake tokens for more
//   workers go through an eventfd watched the same way. EPOLLEXCLUSIVE may wake more than one
//   sleeper: whoever reads an expiry or a token first acts on it and the others go back to
//   sleep, and a worker that takes a run without a token takes one that is outstanding, so the
//   count of workers on their way stays true.
// - when due runs wait and every worker has been inside a call for kBusyGrace, replacement
//   workers start at once rather than when those calls pass their timeout, so hung plugins delay
//   the others by about kBusyGrace, not by their timeout.
#include "scheduler/scheduler.hpp"

#include "log/logging.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace vigil::scheduler {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// How long every worker must have been inside its call, with due runs waiting, before the pool
// starts replacements for them. Below the "a hung plugin delays the others by at most 10 ms"
// promise; above the few hundred microseconds an ordinary collect takes, so a burst of due runs
// on a busy pool does not start threads.
constexpr nanoseconds kBusyGrace = milliseconds(2);

long long to_ms(nanoseconds d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

// Thread-safety: the spec is immutable after add(); every other field is guarded by State::mutex.
struct Task {
  explicit Task(TaskSpec s) : spec(std::move(s)) {}
  const TaskSpec spec;
  TaskStats stats;
  TimePoint call_started{};
  std::uint64_t call_seq = 0;  // tells a timeout entry for this call from one for an older call
  bool queued = false;         // waiting in the ready queue for a worker
  bool timed_out = false;      // the current call has passed its timeout
  bool rerun_requested = false;
};

// One point on the timer's timeline: a task's planned start, or a call's timeout.
struct Entry {
  enum class Kind { due, timeout };
  TimePoint at;
  Kind kind;
  std::size_t task;
  std::uint64_t call_seq;  // timeout entries only
};
struct Later {
  bool operator()(const Entry& a, const Entry& b) const { return a.at > b.at; }
};

// Thread-safety: guarded by State::mutex.
struct WorkerSlot {
  std::thread thread;
  bool in_call = false;
  std::size_t task = 0;      // the task of the call in progress
  TimePoint call_started{};  // when that call began
};

// Something to log and tell the observer once the state lock is released.
struct Event {
  enum class Kind { finished, failed, timeout, late, skipped, pool_full };
  Kind kind;
  std::size_t task;
  nanoseconds duration{0};
  std::string detail;
};

}  // namespace

namespace detail {

// A descriptor the scheduler cannot work without; throws naming the call that failed.
int must(int fd, const char* what) {
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(),
                            std::string("scheduler: cannot create its ") + what);
  return fd;
}

// Thread-safety: every field is guarded by `mutex`, except `tasks` (whose vector is fixed once
// start() ran), `log`, the descriptors (created before any thread starts), and the observer,
// which is guarded by `observer_mutex`.
struct State {
  State()
      : timer_fd(must(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
                      "timer (timerfd_create)")),
        wake_fd(must(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE),
                     "wake-up tokens (eventfd)")),
        stop_fd(must(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "stop signal (eventfd)")),
        timer_watch(must(::epoll_create1(EPOLL_CLOEXEC), "timer's watch (epoll_create1)")) {}
  ~State() {
    for (int fd : {timer_fd, wake_fd, stop_fd, timer_watch}) ::close(fd);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  std::mutex mutex;
  // Armed (absolute, CLOCK_MONOTONIC, which steady_clock is on Linux) for the next moment someone
  // must look at the timeline. Re-arming it wakes nobody.
  const int timer_fd;
  // One token per worker that dispatch() wants awake (EFD_SEMAPHORE: each read takes one).
  const int wake_fd;
  // Readable for good once stop() began.
  const int stop_fd;
  // The timer thread's epoll set: timer_fd (exclusive) and stop_fd.
  const int timer_watch;
  bool timer_watching = false;            // timer_fd is in timer_watch
  TimePoint armed_at = TimePoint::max();  // what timer_fd is armed for; max: disarmed
  std::condition_variable call_done;

  std::shared_mutex observer_mutex;
  Observer observer;
  bool observer_enabled = true;

  std::shared_ptr<spdlog::logger> log = vigil::log::host();
  std::size_t target = 0;  // workers that should be free of hung calls
  std::size_t cap = 0;     // most worker threads at once

  std::vector<std::shared_ptr<Task>> tasks;
  std::priority_queue<Entry, std::vector<Entry>, Later> timeline;
  std::deque<std::size_t> ready;

  std::map<std::uint64_t, WorkerSlot> workers;
  std::vector<std::uint64_t> retired;  // exited workers whose thread the timer should join
  std::uint64_t next_worker_id = 0;
  std::size_t live = 0;    // worker threads that have not exited
  std::size_t busy = 0;    // workers inside a call
  std::size_t idle = 0;    // workers sleeping in their epoll set
  std::size_t waking = 0;  // wake tokens written and not taken yet
  std::size_t stuck = 0;   // workers inside a call past its timeout (for the pool-full message)
  bool started = false;
  bool stopping = false;
  bool pool_full_reported = false;
};

}  // namespace detail

namespace {

using detail::State;

void worker_main(std::shared_ptr<State> state, std::uint64_t id, int watch);

// Adds `fd` to the epoll set `watch`; with `exclusive`, one sleeper per event across every set
// that watches it exclusively, the earliest registered first.
bool watch_fd(int watch, int fd, bool exclusive) {
  epoll_event event{};
  event.events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0u);
  event.data.fd = fd;
  return ::epoll_ctl(watch, EPOLL_CTL_ADD, fd, &event) == 0;
}

// Caller holds state.mutex. Puts the timer thread's watch on timer_fd behind every worker's, so
// an expiry wakes the timer thread only when no worker sleeps.
void watch_timer_last(State& state) {
  if (state.timer_watching) ::epoll_ctl(state.timer_watch, EPOLL_CTL_DEL, state.timer_fd, nullptr);
  state.timer_watching = watch_fd(state.timer_watch, state.timer_fd, true);
  if (!state.timer_watching)
    state.log->error("scheduler: cannot watch its timer ({}); runs wait for a free worker",
                     std::generic_category().message(errno));
}

// Takes one expiry or token from a non-blocking timerfd or semaphore eventfd; false when another
// thread took it first.
bool take(int fd) {
  std::uint64_t value = 0;
  ssize_t n;
  while ((n = ::read(fd, &value, sizeof value)) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(sizeof value);
}

// Caller holds state.mutex. Workers inside a call that has passed its timeout, or that has run
// for kBusyGrace: they will not take the next due run soon.
std::size_t stalled_workers(const State& state, TimePoint now) {
  std::size_t n = 0;
  for (const auto& [id, slot] : state.workers) {
    (void)id;
    if (slot.in_call &&
        (now - slot.call_started >= kBusyGrace || state.tasks[slot.task]->timed_out))
      ++n;
  }
  return n;
}

// Caller holds state.mutex. A timeout entry whose call has returned (or was succeeded by a newer
// call) means nothing any more.
bool stale(const State& state, const Entry& entry) {
  if (entry.kind != Entry::Kind::timeout) return false;
  const Task& task = *state.tasks[entry.task];
  return !task.stats.running || task.call_seq != entry.call_seq;
}

// Caller holds state.mutex. When the timer must next look: the first meaningful entry of the
// timeline, and, while more runs wait than notified workers are on their way, the moment the
// next call in progress has been running for kBusyGrace (dispatch() then wakes more workers or
// starts replacements). Stale timeout entries at the front are dropped here, so no thread ever
// wakes for them.
TimePoint next_wake(State& state) {
  if (state.stopping || !state.retired.empty()) return TimePoint::min();
  while (!state.timeline.empty() && stale(state, state.timeline.top())) state.timeline.pop();
  TimePoint wake = state.timeline.empty() ? TimePoint::max() : state.timeline.top().at;
  if (state.ready.size() > state.waking) {
    // Only calls still younger than kBusyGrace: the older ones were counted by dispatch() already
    // (waking for them again would spin while the pool is at its cap).
    const TimePoint now = Clock::now();
    for (const auto& [id, slot] : state.workers) {
      (void)id;
      const TimePoint stalls_at = slot.call_started + kBusyGrace;
      if (slot.in_call && !state.tasks[slot.task]->timed_out && stalls_at > now)
        wake = std::min(wake, stalls_at);
    }
  }
  return wake;
}

// Caller holds state.mutex. Points the timer at next_wake(); a system call only when that moved.
// TimePoint::min() means at once.
void rearm(State& state) {
  const TimePoint wake = next_wake(state);
  if (wake == state.armed_at) return;
  itimerspec spec{};
  if (wake == TimePoint::min()) {
    spec.it_value.tv_nsec = 1;  // relative: fires now
    ::timerfd_settime(state.timer_fd, 0, &spec, nullptr);
  } else {
    if (wake != TimePoint::max()) {
      const auto ns = std::max<nanoseconds::rep>(nanoseconds(wake.time_since_epoch()).count(),
                                                 1);  // 0 would disarm
      spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
      spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
    }
    ::timerfd_settime(state.timer_fd, TFD_TIMER_ABSTIME, &spec, nullptr);
  }
  state.armed_at = wake;
}

// Caller holds state->mutex. The new worker's epoll set is made here, in spawn order, so the
// kernel's wake order (earliest registered first) is the pool's, with the timer thread last.
bool spawn_worker(const std::shared_ptr<State>& state) {
  const int watch = ::epoll_create1(EPOLL_CLOEXEC);
  if (watch < 0 || !watch_fd(watch, state->timer_fd, true) ||
      !watch_fd(watch, state->wake_fd, true) || !watch_fd(watch, state->stop_fd, false)) {
    state->log->error("scheduler: cannot set up a worker's wake-ups ({}); {} workers remain",
                      std::generic_category().message(errno), state->live);
    if (watch >= 0) ::close(watch);
    return false;
  }
  const std::uint64_t id = state->next_worker_id++;
  try {
    auto [slot, inserted] = state->workers.try_emplace(id);
    (void)inserted;
    slot->second.thread = std::thread(worker_main, state, id, watch);
  } catch (const std::exception& e) {
    state->workers.erase(id);
    ::close(watch);
    state->log->error("scheduler: cannot start a worker thread ({}); {} workers remain", e.what(),
                      state->live);
    return false;
  }
  ++state->live;
  if (state->timer_watching) watch_timer_last(*state);
  return true;
}

// Caller holds state.mutex. Queues a run; dispatch() decides who takes it.
void enqueue(State& state, std::size_t index) {
  state.tasks[index]->queued = true;
  state.ready.push_back(index);
}

// Caller holds state->mutex. Makes sure someone takes the ready runs soon, and returns how many
// idle workers the caller must wake (wake(), after unlocking when it can, so a woken
// worker does not block on the mutex at once):
// - a call younger than kBusyGrace is running: none; its worker takes the next run when it
//   returns, and the timer looks again when that call turns kBusyGrace old;
// - nothing is running (a new tick): one, which takes the runs one after another;
// - every running call is older than kBusyGrace (slow or hung): one per waiting run, and when
//   too few workers are idle, replacements start now instead of when those calls pass their
//   timeout, up to the pool's cap. Replacements retire once they are more than the pool needs
//   (worker_main).
[[nodiscard]] std::size_t dispatch(const std::shared_ptr<State>& state, TimePoint now) {
  if (state->ready.size() <= state->waking) return 0;
  const std::size_t stalled = stalled_workers(*state, now);
  if (state->busy > stalled) return 0;  // a fresh call will come back for them
  const std::size_t available = state->idle - std::min(state->idle, state->waking);
  if (stalled == 0) {
    if (state->waking > 0 || available == 0) return 0;
    ++state->waking;
    return 1;
  }
  const std::size_t waiting = state->ready.size() - state->waking;
  const std::size_t woken = std::min(waiting, available);
  state->waking += woken;
  // Workers not stuck in a call: idle (woken or not), just started, or retiring.
  const std::size_t fresh = state->live - stalled;
  if (woken < waiting && fresh < state->target) {
    std::size_t wanted = std::min(waiting - woken, state->target - fresh);
    while (wanted-- > 0 && state->live < state->cap)
      if (!spawn_worker(state)) break;  // a new worker looks at the queue as it starts
  }
  return woken;
}

// One token per worker: each write wakes one sleeping worker (or waits for the next to sleep).
void wake(State& state, std::size_t workers) {
  const std::uint64_t one = 1;
  while (workers-- > 0) {
    while (::write(state.wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

void emit(State& state, std::vector<Event>& events) {
  for (const Event& event : events) {
    const std::string& name = state.tasks[event.task]->spec.name;
    switch (event.kind) {
      case Event::Kind::failed:
        state.log->error("{}: call threw {}; it stays on its schedule", name, event.detail);
        break;
      case Event::Kind::timeout:
        state.log->warn(
            "{}: call still running after its timeout of {}ms; its runs are skipped "
            "until it returns",
            name, state.tasks[event.task]->spec.timeout.count());
        break;
      case Event::Kind::late:
        state.log->warn(
            "{}: call returned after {}ms, past its timeout of {}ms; runs resume at "
            "its next slot",
            name, to_ms(event.duration), state.tasks[event.task]->spec.timeout.count());
        break;
      case Event::Kind::skipped:
        state.log->debug("{}: due run skipped, the previous run is still pending", name);
        break;
      case Event::Kind::pool_full:
        state.log->error(
            "scheduler: {}; raise the plugins' timeouts or fix the hung plugin (the "
            "last one to hang is {})",
            event.detail, name);
        break;
      case Event::Kind::finished:
        break;
    }
  }
  std::shared_lock guard(state.observer_mutex);
  if (state.observer_enabled) {
    const Observer& o = state.observer;
    for (const Event& event : events) {
      switch (event.kind) {
        case Event::Kind::finished:
          if (o.on_finished) o.on_finished(event.task, event.duration);
          break;
        case Event::Kind::timeout:
          if (o.on_timeout) o.on_timeout(event.task);
          break;
        case Event::Kind::skipped:
          if (o.on_skipped) o.on_skipped(event.task);
          break;
        default:
          break;
      }
    }
  }
  events.clear();
}

std::size_t on_timer(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock,
                     std::vector<Event>& events);

// Closes a worker's epoll set when the worker leaves, after it released the state lock.
struct WatchCloser {
  int fd;
  ~WatchCloser() { ::close(fd); }
};

void worker_main(std::shared_ptr<State> state, std::uint64_t id, int watch) {
  vigil::log::name_this_thread("vigil-worker");
  const WatchCloser closer{watch};
  std::vector<Event> events;
  bool had_token = false;  // took a wake-up token since it last took a run
  std::unique_lock lock(state->mutex);
  for (;;) {
    if (state->stopping) break;
    // A replacement worker retires once the pool has more free workers than it should.
    if (state->live > state->target &&
        state->live - stalled_workers(*state, Clock::now()) > state->target)
      break;
    if (state->ready.empty()) {
      ++state->idle;
      lock.unlock();
      std::array<epoll_event, 3> fired;
      const int n = ::epoll_wait(watch, fired.data(), static_cast<int>(fired.size()), -1);
      bool timer = false, token = false;
      for (int i = 0; i < n; ++i) {
        if (fired[i].data.fd == state->timer_fd) timer = take(state->timer_fd);
        if (fired[i].data.fd == state->wake_fd) token = take(state->wake_fd);
      }
      lock.lock();
      --state->idle;
      if (token) {
        had_token = true;
        if (state->waking > 0) --state->waking;
      }
      if (timer && !state->stopping) {
        // This worker does the timer's work and then takes the first ready run itself, so
        // dispatch() counts it as an idle worker already woken and wakes nobody else for a
        // plain tick.
        ++state->idle;
        ++state->waking;
        const std::size_t to_wake = on_timer(state, lock, events);
        --state->idle;
        if (state->waking > 0) --state->waking;
        had_token = true;  // it counted itself as woken: the tokens it writes are for others
        if (to_wake > 0 || !events.empty()) {
          lock.unlock();
          wake(*state, to_wake);
          emit(*state, events);
          lock.lock();
        }
      }
      continue;
    }
    // A worker that takes a run without having been woken for it (just started, back from a
    // call, or woken by the timer another thread served) stands in for a worker a token is
    // waking: it takes that token, or `waking` would promise dispatch() a worker that never
    // comes once every thread is busy, and no replacement would start.
    if (!had_token && state->waking > 0 && take(state->wake_fd)) --state->waking;
    had_token = false;
    const std::size_t index = state->ready.front();
    state->ready.pop_front();
    const std::shared_ptr<Task> task = state->tasks[index];
    task->queued = false;
    task->stats.running = true;
    const std::uint64_t seq = ++task->call_seq;
    const TimePoint started = Clock::now();
    task->call_started = started;
    state->timeline.push({started + task->spec.timeout, Entry::Kind::timeout, index, seq});
    ++state->busy;
    if (auto slot = state->workers.find(id); slot != state->workers.end()) {
      slot->second.in_call = true;
      slot->second.task = index;
      slot->second.call_started = started;
    }
    // The timeout may come before the timer's next wake-up, or the pool may just have filled up
    // with runs still waiting.
    rearm(*state);
    lock.unlock();

    std::string failure;
    try {
      task->spec.run();
    } catch (const std::exception& e) {
      failure = std::string("an exception: ") + e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    const nanoseconds duration = Clock::now() - started;

    lock.lock();
    --state->busy;
    if (auto slot = state->workers.find(id); slot != state->workers.end())
      slot->second.in_call = false;
    TaskStats& stats = task->stats;
    stats.running = false;
    stats.ran_once = true;
    ++stats.runs;
    stats.last_duration = duration;
    if (task->timed_out) {
      task->timed_out = false;
      --state->stuck;
      state->pool_full_reported = false;
      events.push_back({Event::Kind::late, index, duration, {}});
    }
    if (!failure.empty()) {
      ++stats.failures;
      events.push_back({Event::Kind::failed, index, duration, std::move(failure)});
    }
    events.push_back({Event::Kind::finished, index, duration, {}});
    if (task->rerun_requested && !state->stopping) {
      task->rerun_requested = false;
      enqueue(*state, index);
    }
    // This call's timeout entry may be what the timer sleeps for: move it on, without a wake-up.
    if (!state->timeline.empty() && state->timeline.top().kind == Entry::Kind::timeout &&
        state->timeline.top().task == index)
      rearm(*state);
    state->call_done.notify_all();
    lock.unlock();
    emit(*state, events);
    lock.lock();
  }
  --state->live;
  // A retiring worker may have been woken for a queued run: pass that wake-up on.
  wake(*state, dispatch(state, Clock::now()));
  if (auto slot = state->workers.find(id); slot != state->workers.end()) {
    state->retired.push_back(id);
    rearm(*state);  // at once: the timer joins retired threads
  }
  state->call_done.notify_all();
}

// Caller holds state.mutex. A due run starts only if the task has no run pending; either way the
// task's next run is planned one interval after this one, so its phase never drifts.
void on_due(State& state, const Entry& entry, TimePoint now, std::vector<Event>& events) {
  Task& task = *state.tasks[entry.task];
  if (task.stats.running || task.queued) {
    ++task.stats.skipped;
    events.push_back({Event::Kind::skipped, entry.task, {}, {}});
  } else {
    enqueue(state, entry.task);
  }
  const auto interval = task.spec.interval;
  TimePoint next = entry.at + interval;
  // After a stall longer than an interval (a suspended machine), start again at the next slot of
  // the same phase instead of running the missed ones in a burst.
  if (next <= now) next = entry.at + interval * ((now - entry.at) / interval + 1);
  state.timeline.push({next, Entry::Kind::due, entry.task, 0});
}

// Caller holds state->mutex.
void on_timeout(const std::shared_ptr<State>& state, const Entry& entry,
                std::vector<Event>& events) {
  Task& task = *state->tasks[entry.task];
  if (!task.stats.running || task.call_seq != entry.call_seq || task.timed_out) return;
  task.timed_out = true;
  ++task.stats.timeouts;
  ++state->stuck;
  events.push_back({Event::Kind::timeout, entry.task, {}, {}});
  if (state->live - stalled_workers(*state, Clock::now()) >= state->target) return;
  if (state->live < state->cap) {
    spawn_worker(state);
  } else if (!state->pool_full_reported) {
    state->pool_full_reported = true;
    events.push_back({Event::Kind::pool_full,
                      entry.task,
                      {},
                      std::to_string(state->stuck) + " of " + std::to_string(state->live) +
                          " worker threads are stuck in calls past their timeout and the pool "
                          "is at its cap of " +
                          std::to_string(state->cap) + " threads, so due runs wait"});
  }
}

// Caller holds the lock (it may be released and taken again). Joins retired workers, turns
// everything due by now into runs and timeouts, and points the timer at what comes next. Returns
// how many workers to wake.
std::size_t on_timer(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock,
                     std::vector<Event>& events) {
  std::vector<std::thread> to_join;
  for (std::uint64_t id : state->retired) {
    auto slot = state->workers.find(id);
    if (slot == state->workers.end()) continue;
    to_join.push_back(std::move(slot->second.thread));
    state->workers.erase(slot);
  }
  state->retired.clear();
  if (!to_join.empty()) {
    lock.unlock();
    // These threads have left their loop; joining only waits for them to unwind.
    for (std::thread& t : to_join) t.join();
    lock.lock();
  }
  const TimePoint now = Clock::now();
  while (!state->timeline.empty() && state->timeline.top().at <= now) {
    const Entry next = state->timeline.top();
    state->timeline.pop();
    if (next.kind == Entry::Kind::due)
      on_due(*state, next, now, events);
    else
      on_timeout(state, next, events);
  }
  const std::size_t to_wake = dispatch(state, now);
  // Whoever changes what the timer waits for re-arms it under the lock, so nothing is missed:
  // an expiry that happens before the next sleep stays readable in the timerfd.
  state->armed_at = TimePoint{};  // forces rearm() to set it: the expiry was just consumed
  rearm(*state);
  return to_wake;
}

// The stand-in: the kernel wakes it for the timer only when no worker sleeps.
void timer_main(std::shared_ptr<State> state) {
  vigil::log::name_this_thread("vigil-timer");
  std::vector<Event> events;
  std::unique_lock lock(state->mutex);
  while (!state->stopping) {
    lock.unlock();
    std::array<epoll_event, 2> fired;
    const int n =
        ::epoll_wait(state->timer_watch, fired.data(), static_cast<int>(fired.size()), -1);
    bool timer = false;
    for (int i = 0; i < n; ++i)
      if (fired[i].data.fd == state->timer_fd) timer = take(state->timer_fd);
    lock.lock();
    if (!timer || state->stopping) continue;
    const std::size_t to_wake = on_timer(state, lock, events);
    lock.unlock();
    wake(*state, to_wake);
    emit(*state, events);
    lock.lock();
  }
}

std::size_t checked(const State& state, std::size_t task, const char* what) {
  if (task >= state.tasks.size())
    throw std::out_of_range(std::string("scheduler: ") + what + "(" + std::to_string(task) +
                            "): no such task, expected an index below " +
                            std::to_string(state.tasks.size()));
  return task;
}

}  // namespace

Scheduler::Scheduler(unsigned workers, Observer observer)
    : state_(std::make_shared<detail::State>()) {
  if (workers == 0) throw std::invalid_argument("scheduler: found 0 workers, expected at least 1");
  state_->target = workers;
  state_->cap = static_cast<std::size_t>(workers) * (1 + kExtraWorkersPerWorker);
  state_->observer = std::move(observer);
}

Scheduler::~Scheduler() {
  stop(milliseconds(0));
}

std::size_t Scheduler::add(TaskSpec spec) {
  const std::string who = "scheduler: task '" + spec.name + "'";
  if (spec.interval.count() <= 0)
    throw std::invalid_argument(who + ": found interval " + std::to_string(spec.interval.count()) +
                                "ms, expected more than 0ms");
  if (spec.timeout.count() <= 0)
    throw std::invalid_argument(who + ": found timeout " + std::to_string(spec.timeout.count()) +
                                "ms, expected more than 0ms");
  if (!(spec.jitter >= 0.0 && spec.jitter <= 1.0))
    throw std::invalid_argument(who + ": found jitter " + std::to_string(spec.jitter) +
                                ", expected a fraction of the interval between 0 and 1");
  if (!spec.run) throw std::invalid_argument(who + ": has no function to run");
  std::lock_guard lock(state_->mutex);
  if (state_->started || state_->stopping)
    throw std::logic_error(who + ": added after start(); add every task before starting");
  state_->tasks.push_back(std::make_shared<Task>(std::move(spec)));
  return state_->tasks.size() - 1;
}

void Scheduler::start() {
  std::lock_guard lock(state_->mutex);
  if (state_->started) throw std::logic_error("scheduler: start() called a second time");
  if (state_->stopping) throw std::logic_error("scheduler: start() called after stop()");
  state_->started = true;

  // One random phase per (interval, jitter): tasks that share an interval share their ticks, so
  // the timer and the pool wake once per tick rather than once per task, while hosts of a fleet
  // still start at different moments.
  std::mt19937_64 random(std::random_device{}());
  std::map<std::pair<milliseconds::rep, double>, nanoseconds> phases;
  const TimePoint now = Clock::now();
  for (std::size_t i = 0; i < state_->tasks.size(); ++i) {
    const TaskSpec& spec = state_->tasks[i]->spec;
    auto [phase, fresh] = phases.try_emplace({spec.interval.count(), spec.jitter});
    if (fresh) {
      const double span = spec.jitter * static_cast<double>(nanoseconds(spec.interval).count());
      phase->second = nanoseconds{0};
      if (span >= 1.0)
        phase->second = nanoseconds(static_cast<nanoseconds::rep>(
            std::floor(std::uniform_real_distribution<double>(0.0, span)(random))));
    }
    state_->timeline.push({now + phase->second, Entry::Kind::due, i, 0});
  }
  for (std::size_t i = 0; i < state_->target; ++i) spawn_worker(state_);
  if (state_->live == 0)
    state_->log->error("scheduler: no worker thread could be started; no task will run");
  if (!watch_fd(state_->timer_watch, state_->stop_fd, false))
    state_->log->error("scheduler: cannot watch for stop ({})",
                       std::generic_category().message(errno));
  watch_timer_last(*state_);
  rearm(*state_);
  timer_ = std::thread(timer_main, state_);
}

void Scheduler::run_now(std::size_t task) {
  std::lock_guard lock(state_->mutex);
  checked(*state_, task, "run_now");
  if (state_->stopping) return;
  Task& t = *state_->tasks[task];
  if (t.stats.running) {
    t.rerun_requested = true;
  } else if (!t.queued) {
    enqueue(*state_, task);
    wake(*state_, dispatch(state_, Clock::now()));
    rearm(*state_);  // the pool may be full of hung calls
  }
}

std::vector<std::string> Scheduler::stop(milliseconds deadline) {
  const TimePoint give_up = Clock::now() + std::max(deadline, milliseconds(0));
  std::unique_lock lock(state_->mutex);
  if (state_->stopping) return {};
  state_->stopping = true;
  for (std::size_t index : state_->ready) state_->tasks[index]->queued = false;
  state_->ready.clear();
  for (auto& task : state_->tasks) task->rerun_requested = false;
  state_->timeline = {};
  rearm(*state_);  // at once: the timer sees `stopping` and leaves
  const std::uint64_t one = 1;
  while (::write(state_->stop_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }  // every thread's epoll set watches it: all wake, and it stays readable
  lock.unlock();
  if (timer_.joinable()) timer_.join();
  lock.lock();
  state_->call_done.wait_until(lock, give_up, [&] { return state_->busy == 0; });

  std::vector<std::string> abandoned;
  for (const auto& task : state_->tasks)
    if (task->stats.running) abandoned.push_back(task->spec.name);
  std::vector<std::thread> to_join;
  for (auto& [id, slot] : state_->workers) {
    (void)id;
    if (slot.in_call)
      slot.thread.detach();  // still in a call; it keeps `state_` alive if it ever returns
    else
      to_join.push_back(std::move(slot.thread));
  }
  state_->workers.clear();
  state_->retired.clear();
  lock.unlock();
  // Workers outside a call have seen `stopping` (or will on waking) and exit without running.
  for (std::thread& t : to_join) t.join();
  {
    // Waits for callbacks in progress, so none runs once stop() has returned.
    std::unique_lock guard(state_->observer_mutex);
    state_->observer_enabled = false;
  }
  if (!abandoned.empty()) {
    std::string names;
    for (const std::string& name : abandoned) names += (names.empty() ? "" : ", ") + name;
    state_->log->warn(
        "scheduler: abandoning {} call(s) still running {}ms after stop began: {}; their threads "
        "are left behind",
        abandoned.size(), deadline.count(), names);
  }
  return abandoned;
}

TaskStats Scheduler::stats(std::size_t task) const {
  std::lock_guard lock(state_->mutex);
  return state_->tasks[checked(*state_, task, "stats")]->stats;
}

std::size_t Scheduler::task_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->tasks.size();
}

std::size_t Scheduler::busy_workers() const {
  std::lock_guard lock(state_->mutex);
  return state_->busy;
}

std::size_t Scheduler::worker_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->live;
}

}  // namespace vigil::scheduler
