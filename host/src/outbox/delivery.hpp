// The delivery worker: takes notifications from the outbox and hands them to receivers (notifier
// plugin instances), with per-receiver exponential backoff and jitter, a maximum age after which
// a notification goes to the receiver's fallback (or is marked failed and counted), and every
// attempt recorded, so a notification a receiver accepted is never sent to it again.
//
// Each receiver has its own thread, so one slow or hanging receiver never delays another. The
// same logic runs synchronously on a virtual clock for `vigil test-rules` (deliver_due).
// This file must never drop a notification silently: every row ends delivered, failed (counted
// and logged) or handed to a fallback.
#pragma once

#include "outbox/database.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vigil::outbox {

enum class Outcome { ok, retryable, permanent };

// Calls the receiver. `retry_after_ms` may be set by the receiver (Retry-After) for a retryable
// outcome. Called on the receiver's own thread; may block up to its timeout.
using DeliverFn = std::function<Outcome(const alerts::Notification&, int attempt,
                                        std::string& error, int64_t& retry_after_ms)>;

struct ReceiverOptions {
  DeliverFn deliver;
  std::string fallback;  // "" = none
  int64_t max_age_ms = 3'600'000;
  int64_t backoff_min_ms = 1000;
  int64_t backoff_max_ms = 300'000;
  double backoff_factor = 2.0;
  bool jitter = true;  // off for deterministic test-rules runs
};

struct DeliveryCounters {
  std::atomic<uint64_t> delivered{0}, retried{0}, failed{0}, fallen_back{0};
};

// What deliver_due() did, for test-rules to compare with expectations.
struct DeliveryRecord {
  int64_t at_ms = 0;
  alerts::Notification notification;
  Outcome outcome = Outcome::ok;
  int attempt = 1;
};

// Thread-safety: set_receivers() before start(); wake() from any thread; stop() once.
class Delivery {
 public:
  explicit Delivery(Database& db);
  ~Delivery();

  void set_receivers(std::map<std::string, ReceiverOptions> receivers);
  // Threaded mode: one thread per receiver, on the wall clock.
  void start();
  void wake();  // new rows were committed
  void stop(std::chrono::milliseconds deadline);

  // Synchronous mode: delivers every row due at `now_ms` on this thread and returns what it did.
  std::vector<DeliveryRecord> deliver_due(int64_t now_ms);
  int64_t next_due_ms();

  const DeliveryCounters& counters() const { return counters_; }
  // Milliseconds from a notification's creation to its successful delivery, the last 256.
  std::vector<int64_t> recent_latencies() const;

 private:
  struct Worker;
  // One attempt on one row; returns what happened.
  DeliveryRecord attempt(const std::string& receiver, const ReceiverOptions& options,
                         const OutboxRow& row, int64_t now_ms);
  void run(Worker& worker);

  Database& db_;
  std::map<std::string, ReceiverOptions> receivers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  DeliveryCounters counters_;
  std::mt19937_64 random_{std::random_device{}()};
  std::mutex random_mutex_;
  mutable std::mutex latency_mutex_;
  std::vector<int64_t> latencies_;
};

}  // namespace vigil::outbox
