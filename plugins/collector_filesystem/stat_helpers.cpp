// See stat_helpers.hpp.
#include "stat_helpers.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace vigil::collector_filesystem {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<std::size_t> g_live_threads{0};

std::mutex g_stat_fn_mutex;
StatFn& stat_fn_override() {
  static StatFn fn;
  return fn;
}

// A detached helper may return from a stuck statvfs long after its statter was destroyed; if the
// host had unloaded the plugin by then, the thread would return into unmapped code. Loading
// ourselves once more with RTLD_NODELETE keeps this library mapped for the life of the process.
void pin_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&pin_library), &info) != 0 && info.dli_fname != nullptr)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // never closed, on purpose
  });
}

// How long the busy helpers may be inside their calls, with mounts still waiting, before another
// helper is started for those mounts.
std::chrono::milliseconds slow_after(std::chrono::milliseconds timeout) {
  return std::clamp(timeout / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(50));
}

}  // namespace

int system_statvfs(const std::string& path, struct statvfs& out) {
  for (;;) {
    if (::statvfs(path.c_str(), &out) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

StatFn default_stat_function() {
  std::lock_guard<std::mutex> lock(g_stat_fn_mutex);
  if (stat_fn_override()) return stat_fn_override();
  return &system_statvfs;
}

void set_stat_function_for_testing(StatFn fn) {
  std::lock_guard<std::mutex> lock(g_stat_fn_mutex);
  stat_fn_override() = std::move(fn);
}

// One path the statter knows. requested > answered: a call is queued or running.
struct PathState {
  std::string path;
  uint64_t requested = 0;
  uint64_t answered = 0;
  bool running = false;
  bool retired = false;  // the mount went away while its call was running: drop it on return
  struct statvfs stats {};
  int error = 0;
  bool reported_stuck = false;  // only the caller touches this
};

// One helper thread. The caller owns `thread` (join or detach); the rest is guarded by the
// shared mutex.
struct Helper {
  std::thread thread;
  bool busy = false;
  Clock::time_point since;
  bool quit = false;
};

// Everything the statter and its helpers share. Each helper holds a reference, so a helper
// detached inside a stuck call keeps this alive after the statter is gone.
// Thread-safety: every field is guarded by `mutex` (fn is immutable).
struct MountStatter::Shared {
  std::mutex mutex;
  std::condition_variable work;  // to helpers: a queued path, quit or stop
  std::condition_variable done;  // to the caller: an answer
  std::shared_ptr<const StatFn> fn;
  std::map<std::string, PathState> paths;  // node-based: pointers stay valid until erased
  std::deque<PathState*> queue;
  std::list<Helper> helpers;  // list: a helper's record never moves
  bool stop = false;

  std::size_t idle() const {
    std::size_t n = 0;
    for (const Helper& h : helpers) n += !h.busy && !h.quit;
    return n;
  }
};

namespace {

void helper_main(std::shared_ptr<MountStatter::Shared> shared, Helper* self) {
  std::unique_lock<std::mutex> lock(shared->mutex);
  for (;;) {
    shared->work.wait(lock, [&] { return shared->stop || self->quit || !shared->queue.empty(); });
    if (shared->stop || self->quit) break;
    PathState* p = shared->queue.front();
    shared->queue.pop_front();
    p->running = true;
    self->busy = true;
    self->since = Clock::now();
    const uint64_t generation = p->requested;
    const std::string path = p->path;
    lock.unlock();
    struct statvfs stats {};
    int error = 0;
    try {
      error = (*shared->fn)(path, stats);
    } catch (...) {
      error = EIO;  // a throwing stat function is a failed stat, never a dead helper
    }
    lock.lock();
    p->stats = stats;
    p->error = error;
    p->answered = generation;
    p->running = false;
    self->busy = false;
    if (p->retired) shared->paths.erase(path);
    shared->done.notify_all();
  }
  lock.unlock();
  g_live_threads.fetch_sub(1);
}

}  // namespace

MountStatter::MountStatter(StatFn fn) : shared_(std::make_shared<Shared>()) {
  shared_->fn = std::make_shared<const StatFn>(std::move(fn));
}

MountStatter::~MountStatter() {
  std::vector<std::thread> join, detach;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stop = true;
    shared_->queue.clear();
    for (Helper& h : shared_->helpers) (h.busy ? detach : join).push_back(std::move(h.thread));
  }
  shared_->work.notify_all();
  for (std::thread& t : join) t.join();
  if (!detach.empty()) pin_library();
  for (std::thread& t : detach) t.detach();  // inside statvfs: it exits when the call returns
}

std::size_t MountStatter::live_threads() {
  return g_live_threads.load();
}

std::size_t MountStatter::helpers() const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  return shared_->helpers.size();
}

std::size_t MountStatter::paths() const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  return shared_->paths.size();
}

// Called with the shared mutex held.
void MountStatter::spawn_helper() {
  Helper& h = shared_->helpers.emplace_back();
  g_live_threads.fetch_add(1);
  try {
    h.thread = std::thread(&helper_main, shared_, &h);
  } catch (...) {
    g_live_threads.fetch_sub(1);
    shared_->helpers.pop_back();
    throw;
  }
}

void MountStatter::stat_all(const std::vector<std::string>& paths,
                            std::chrono::milliseconds timeout, std::vector<StatOutcome>& out) {
  out.assign(paths.size(), StatOutcome{});
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  const auto slow = slow_after(timeout);
  Shared& s = *shared_;

  // Two mounts stacked on one directory share one call.
  std::unordered_map<std::string, std::size_t> first_index;
  std::vector<std::size_t> same_as(paths.size());
  std::vector<PathState*> state(paths.size(), nullptr);
  std::vector<uint64_t> awaited(paths.size(), 0);
  std::vector<std::thread> quitting;

  std::unique_lock<std::mutex> lock(s.mutex);
  bool queued = false;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto [it, fresh] = first_index.emplace(paths[i], i);
    same_as[i] = it->second;
    if (!fresh) continue;
    PathState& p = s.paths[paths[i]];
    p.path = paths[i];
    p.retired = false;  // a mount that came back while its old call was still running
    state[i] = &p;
    if (p.requested != p.answered) continue;  // its last call has not returned: do not ask
    awaited[i] = ++p.requested;
    s.queue.push_back(&p);
    queued = true;
  }
  if (queued) {
    if (s.idle() == 0) spawn_helper();
    s.work.notify_all();
  }

  auto all_answered = [&] {
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (awaited[i] != 0 && state[i]->answered < awaited[i]) return false;
    return true;
  };
  while (!all_answered()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    s.done.wait_until(lock, std::min(deadline, now + slow));
    // Mounts are waiting and every helper has been inside a call for a while: one of them is
    // probably hung, so the waiting mounts get a helper of their own.
    if (!s.queue.empty() && s.idle() == 0) {
      bool all_slow = true;
      for (const Helper& h : s.helpers)
        if (h.busy && Clock::now() - h.since < slow) all_slow = false;
      if (all_slow) {
        spawn_helper();
        s.work.notify_all();
      }
    }
  }

  for (std::size_t i = 0; i < paths.size(); ++i) {
    PathState* p = state[i];
    if (p == nullptr) continue;
    if (awaited[i] != 0 && p->answered >= awaited[i]) {
      out[i].state = p->error == 0 ? StatOutcome::State::ok : StatOutcome::State::failed;
      out[i].stats = p->stats;
      out[i].error = p->error;
      if (p->reported_stuck) {
        out[i].recovered = true;
        p->reported_stuck = false;
      }
      continue;
    }
    out[i].state = StatOutcome::State::stuck;
    if (!p->running && p->requested != p->answered) {
      // Never got a helper before the deadline (several mounts hung at once): withdraw the
      // request so the next call asks again; it is not known to be stuck, so nothing is logged.
      s.queue.erase(std::remove(s.queue.begin(), s.queue.end(), p), s.queue.end());
      p->requested = p->answered;
      continue;
    }
    out[i].became_stuck = !p->reported_stuck;
    p->reported_stuck = true;
  }

  // Helpers left idle after hung mounts recovered: keep one.
  while (s.idle() > 1) {
    for (auto it = s.helpers.begin(); it != s.helpers.end(); ++it) {
      if (it->busy || it->quit) continue;
      it->quit = true;
      quitting.push_back(std::move(it->thread));
      break;
    }
  }
  lock.unlock();
  if (!quitting.empty()) {
    s.work.notify_all();
    for (std::thread& t : quitting) t.join();
    lock.lock();
    s.helpers.remove_if([](const Helper& h) { return h.quit; });
    lock.unlock();
  }

  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (same_as[i] == i) continue;
    out[i] = out[same_as[i]];
    out[i].became_stuck = false;
    out[i].recovered = false;
  }
}

void MountStatter::retire_except(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  Shared& s = *shared_;
  for (auto it = s.paths.begin(); it != s.paths.end();) {
    PathState& p = it->second;
    if (keep.count(it->first) != 0) {
      ++it;
      continue;
    }
    if (p.running) {
      p.retired = true;  // its helper drops it when the call returns
      ++it;
      continue;
    }
    s.queue.erase(std::remove(s.queue.begin(), s.queue.end(), &p), s.queue.end());
    it = s.paths.erase(it);
  }
}

}  // namespace vigil::collector_filesystem
