// See stat_helpers.hpp.
#include "stat_helpers.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace vigil::collector_filesystem {
namespace {

std::atomic<std::size_t> g_live_threads{0};

std::mutex g_stat_fn_mutex;
StatFn& stat_fn_override() {
  static StatFn fn;
  return fn;
}

// A detached helper may return from a stuck statvfs long after its instance was destroyed; if
// the host had unloaded the plugin by then, the thread would return into unmapped code. Loading
// ourselves once more with RTLD_NODELETE keeps this library mapped for the life of the process.
void pin_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&pin_library), &info) != 0 && info.dli_fname != nullptr)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // never closed, on purpose
  });
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

// What a helper thread and the statter share. The thread holds its own reference, so a detached
// thread still stuck in its call keeps the slot alive after the statter is gone.
// Thread-safety: every field below `mutex` is guarded by it.
struct MountStatter::Slot {
  std::mutex mutex;
  std::condition_variable wake;  // to the helper: a new request, or exit
  std::condition_variable done;  // to the caller: an answer
  std::string path;
  std::shared_ptr<const StatFn> fn;
  uint64_t requested = 0;
  uint64_t answered = 0;
  bool exit = false;
  struct statvfs stats {};
  int error = 0;
};

struct MountStatter::Helper {
  std::shared_ptr<Slot> slot;
  std::thread thread;
  bool reported_stuck = false;  // only touched by the statter's caller
};

MountStatter::MountStatter(StatFn fn) : fn_(std::make_shared<const StatFn>(std::move(fn))) {}

MountStatter::~MountStatter() {
  for (auto& [path, helper] : helpers_) stop(*helper);
}

std::size_t MountStatter::live_threads() {
  return g_live_threads.load();
}

void MountStatter::helper_main(std::shared_ptr<Slot> slot) {
  std::unique_lock<std::mutex> lock(slot->mutex);
  for (;;) {
    slot->wake.wait(lock, [&] { return slot->exit || slot->requested != slot->answered; });
    if (slot->requested == slot->answered) break;  // told to exit with nothing pending
    const uint64_t generation = slot->requested;
    lock.unlock();
    struct statvfs stats {};
    int error = 0;
    try {
      error = (*slot->fn)(slot->path, stats);
    } catch (...) {
      error = EIO;  // a throwing stat function is a failed stat, never a dead thread
    }
    lock.lock();
    slot->stats = stats;
    slot->error = error;
    slot->answered = generation;
    slot->done.notify_all();
    if (slot->exit) break;
  }
  lock.unlock();
  g_live_threads.fetch_sub(1);
}

MountStatter::Helper& MountStatter::helper_for(const std::string& path) {
  auto it = helpers_.find(path);
  if (it != helpers_.end()) return *it->second;
  auto helper = std::make_unique<Helper>();
  helper->slot = std::make_shared<Slot>();
  helper->slot->path = path;
  helper->slot->fn = fn_;
  g_live_threads.fetch_add(1);
  try {
    helper->thread = std::thread(&helper_main, helper->slot);
  } catch (...) {
    g_live_threads.fetch_sub(1);
    throw;
  }
  return *helpers_.emplace(path, std::move(helper)).first->second;
}

void MountStatter::stop(Helper& helper) {
  bool busy = false;
  {
    std::lock_guard<std::mutex> lock(helper.slot->mutex);
    helper.slot->exit = true;
    busy = helper.slot->requested != helper.slot->answered;
  }
  helper.slot->wake.notify_all();
  if (!helper.thread.joinable()) return;
  if (busy) {
    pin_library();
    helper.thread.detach();  // still inside statvfs: it exits by itself when the call returns
  } else {
    helper.thread.join();
  }
}

void MountStatter::stat_all(const std::vector<std::string>& paths,
                            std::chrono::milliseconds timeout, std::vector<StatOutcome>& out) {
  out.assign(paths.size(), StatOutcome{});
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  // Two mounts stacked on one directory share one call: a second request to a helper that is
  // already working would look like a stuck one.
  std::unordered_map<std::string, std::size_t> first_index;
  std::vector<std::size_t> same_as(paths.size());
  std::vector<uint64_t> awaited(paths.size(), 0);
  std::vector<Helper*> helper_of(paths.size(), nullptr);

  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto [it, fresh] = first_index.emplace(paths[i], i);
    same_as[i] = it->second;
    if (!fresh) continue;
    Helper& helper = helper_for(paths[i]);
    helper_of[i] = &helper;
    Slot& slot = *helper.slot;
    std::lock_guard<std::mutex> lock(slot.mutex);
    if (slot.requested != slot.answered) {
      out[i].state = StatOutcome::State::stuck;  // its last call has not returned: do not ask
      continue;
    }
    awaited[i] = ++slot.requested;
    slot.wake.notify_one();
  }

  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (helper_of[i] == nullptr) continue;
    Helper& helper = *helper_of[i];
    if (awaited[i] != 0) {
      Slot& slot = *helper.slot;
      std::unique_lock<std::mutex> lock(slot.mutex);
      const uint64_t want = awaited[i];
      if (slot.done.wait_until(lock, deadline, [&] { return slot.answered >= want; })) {
        out[i].state = slot.error == 0 ? StatOutcome::State::ok : StatOutcome::State::failed;
        out[i].stats = slot.stats;
        out[i].error = slot.error;
      } else {
        out[i].state = StatOutcome::State::stuck;
      }
    }
    if (out[i].state == StatOutcome::State::stuck) {
      out[i].became_stuck = !helper.reported_stuck;
      helper.reported_stuck = true;
    } else if (helper.reported_stuck) {
      out[i].recovered = true;
      helper.reported_stuck = false;
    }
  }

  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (same_as[i] == i) continue;
    out[i] = out[same_as[i]];
    out[i].became_stuck = false;
    out[i].recovered = false;
  }
}

void MountStatter::retire_except(const std::set<std::string>& keep) {
  for (auto it = helpers_.begin(); it != helpers_.end();) {
    if (keep.count(it->first) != 0) {
      ++it;
      continue;
    }
    stop(*it->second);
    it = helpers_.erase(it);
  }
}

}  // namespace vigil::collector_filesystem
