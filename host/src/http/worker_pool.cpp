// WorkerPool: see worker_pool.hpp. The only rule that matters here is that a worker thread touches
// nothing but its share of State, so abandoning it is safe.
#include "http/worker_pool.hpp"

#include "log/logging.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>

namespace vigil::http {

// Thread-safety: every field is guarded by mutex.
struct WorkerPool::State {
  std::mutex mutex;
  std::condition_variable finished;  // shutdown(): a worker exited
  std::deque<Job> queue;
  bool stopping = false;
  std::vector<bool> exited;
  // One wake-up per worker, and the idle ones in the order they went idle: post() wakes the one
  // that went idle last, so a lightly used pool keeps using the same thread, whose stack, cache
  // and malloc arena are warm, and the others stay asleep.
  std::vector<std::unique_ptr<std::condition_variable>> wake;
  std::vector<bool> notified;
  std::vector<size_t> idle;  // a stack
};

void WorkerPool::run_worker(std::shared_ptr<State> state, size_t index) {
  vigil::log::name_this_thread("vigil-http");
  std::unique_lock lock(state->mutex);
  for (;;) {
    if (state->stopping) break;
    if (state->queue.empty()) {
      state->idle.push_back(index);
      state->notified[index] = false;
      state->wake[index]->wait(lock, [&] { return state->stopping || state->notified[index]; });
      continue;  // post() took it off the idle stack
    }
    Job job = std::move(state->queue.front());
    state->queue.pop_front();
    lock.unlock();
    // Jobs catch their own exceptions (the server turns them into 500s); this is the last guard
    // so one escaping never terminates the host.
    try {
      job();
    } catch (...) {
    }
    job = nullptr;  // release what the job captured before waiting again
    lock.lock();
  }
  state->exited[index] = true;
  state->finished.notify_all();
}

WorkerPool::WorkerPool(unsigned threads) : state_(std::make_shared<State>()) {
  if (threads == 0) threads = 1;
  state_->exited.assign(threads, false);
  state_->notified.assign(threads, false);
  for (unsigned i = 0; i < threads; ++i)
    state_->wake.push_back(std::make_unique<std::condition_variable>());
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back(run_worker, state_, i);
}

WorkerPool::~WorkerPool() {
  shutdown(std::chrono::milliseconds(0));
}

bool WorkerPool::post(Job job) {
  std::condition_variable* to_wake = nullptr;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return false;
    state_->queue.push_back(std::move(job));
    if (!state_->idle.empty()) {
      const size_t index = state_->idle.back();
      state_->idle.pop_back();
      state_->notified[index] = true;
      to_wake = state_->wake[index].get();
    }
  }
  // Outside the lock, so the woken thread does not block on it at once. The condition variable
  // lives as long as the State, which the woken thread shares.
  if (to_wake) to_wake->notify_one();
  return true;
}

unsigned WorkerPool::shutdown(std::chrono::milliseconds deadline) {
  if (threads_.empty()) return 0;
  std::deque<Job> dropped;
  std::unique_lock lock(state_->mutex);
  state_->stopping = true;
  dropped.swap(state_->queue);
  for (const auto& wake : state_->wake) wake->notify_all();
  state_->finished.wait_for(lock, deadline, [&] {
    for (bool done : state_->exited) {
      if (!done) return false;
    }
    return true;
  });
  std::vector<bool> exited = state_->exited;
  lock.unlock();
  // Destroyed outside the lock: a dropped job's captures may take locks of their own.
  dropped.clear();

  unsigned abandoned = 0;
  for (size_t i = 0; i < threads_.size(); ++i) {
    if (exited[i]) {
      threads_[i].join();
    } else {
      threads_[i].detach();
      ++abandoned;
    }
  }
  threads_.clear();
  return abandoned;
}

}  // namespace vigil::http
