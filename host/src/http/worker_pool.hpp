// The HTTP server's handler threads: a fixed pool that can be abandoned.
//
// asio::thread_pool cannot be stopped without joining every thread, and a plugin's handler may
// never return. This pool keeps its queue and bookkeeping in shared state that each thread owns a
// share of, so shutdown() can give up on a hung thread (detach it) and the thread, if it ever
// returns, still finds valid memory and exits. It must never block past shutdown()'s deadline.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace vigil::http {

// Thread-safety: post() from any thread; the constructor and shutdown() from one controlling
// thread.
class WorkerPool {
 public:
  using Job = std::function<void()>;

  explicit WorkerPool(unsigned threads);
  ~WorkerPool();  // shutdown(0) if not done yet
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues a job; false once shutdown() has begun (the job is then dropped, never run).
  bool post(Job job);

  // Drops queued jobs, lets running ones finish until `deadline`, then detaches the threads still
  // busy. Returns how many threads were abandoned.
  unsigned shutdown(std::chrono::milliseconds deadline);

 private:
  struct State;
  static void run_worker(std::shared_ptr<State> state, size_t index);

  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace vigil::http
