// The delivery worker: takes notifications from the outbox and hands them to receivers (notifier
// plugin instances), with per-receiver exponential backoff and jitter, a maximum age after which
// a notification goes to the receiver's fallback (or is marked failed and counted), and every
// attempt recorded, so a notification a receiver accepted is never sent to it again.
//
// Each receiver has its own lane: a worker thread that reads the outbox and records results, and
// a caller thread that runs the receiver's deliver function, one call at a time. A call with no
// answer within the receiver's timeout is abandoned (counted, retried later, its late answer
// ignored), so one slow or hanging receiver never delays another, and while it hangs its
// notifications still reach the fallback when they grow too old. The same decisions run
// synchronously on a virtual clock for `vigil test-rules` (deliver_due).
// This file must never drop a notification silently: every row ends delivered, failed (counted
// and logged) or handed to a fallback; and it never calls a receiver for a row it accepted.
#pragma once

#include "outbox/database.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace vigil::outbox {

enum class Outcome { ok, retryable, permanent };

// Calls the receiver for one notification; `attempt` counts from 1. For a retryable outcome the
// receiver may set `retry_after_ms` (an HTTP Retry-After), which the next attempt honours.
// Threaded mode calls it on the receiver's own caller thread, never two at once for one receiver;
// it may block, but past ReceiverOptions::timeout_ms its answer no longer counts.
using DeliverFn = std::function<Outcome(const alerts::Notification&, int attempt,
                                        std::string& error, int64_t& retry_after_ms)>;

// How one receiver is delivered to. Thread-safety: plain value, copied into its lane at start.
struct ReceiverOptions {
  DeliverFn deliver;
  std::string fallback;            // receiver that gets what this one cannot deliver; "" = none
  int64_t max_age_ms = 3'600'000;  // from a notification's creation: then fallback or failed
  int64_t backoff_min_ms = 1000;   // first retry after this long ...
  int64_t backoff_max_ms = 300'000;
  double backoff_factor = 2.0;  // ... each next one this many times later, up to the max
  bool jitter = true;           // +-20 % on each delay; off for deterministic test-rules runs
  // Threaded mode: a call without an answer this long is abandoned and counted as retryable.
  // <= 0 waits for ever (a hung receiver then only loses its notifications to max_age).
  int64_t timeout_ms = 30'000;
};

// Thread-safety: atomics, read from any thread while the workers count.
struct ReceiverCounters {
  std::atomic<uint64_t> delivered{0};       // accepted by the receiver
  std::atomic<uint64_t> retried{0};         // attempts that failed and will be retried
  std::atomic<uint64_t> failed{0};          // given up without a fallback
  std::atomic<uint64_t> fallen_back{0};     // given up and handed to the fallback receiver
  std::atomic<uint64_t> timed_out{0};       // calls abandoned after timeout_ms (also in retried)
  std::atomic<uint64_t> latency_ms_sum{0};  // creation to delivered, summed over `delivered`
};

// Totals, and the same per configured receiver (the map is fixed by set_receivers()).
struct DeliveryCounters : ReceiverCounters {
  std::map<std::string, ReceiverCounters> by_receiver;
};

// What deliver_due() did, for test-rules to compare with expectations.
struct DeliveryRecord {
  int64_t at_ms = 0;
  alerts::Notification notification;
  Outcome outcome = Outcome::ok;
  int attempt = 1;
  std::string error;
};

// Thread-safety: set_receivers() before start() or deliver_due(), never after; wake() and the
// readers from any thread; start() and stop() from one owner thread.
class Delivery {
 public:
  explicit Delivery(Database& db);
  ~Delivery();  // stop() with no grace
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  void set_receivers(std::map<std::string, ReceiverOptions> receivers);

  // Threaded mode on the wall clock: one lane per receiver. Whatever the database holds pending
  // (a previous process killed mid-way) goes out at once; rows for receivers no longer
  // configured are marked failed, logged and counted.
  void start();
  void wake();  // new rows were committed: look now rather than at the next due time
  // Lets calls in flight finish until `deadline`, then abandons them; their rows stay pending and
  // go out after the next start. False when a call had to be abandoned (its receiver must not be
  // torn down under it).
  bool stop(std::chrono::milliseconds deadline);

  // Synchronous mode: runs every attempt due at `now_ms` on this thread (fallbacks they cause
  // included) and returns them in order. No timeout applies.
  std::vector<DeliveryRecord> deliver_due(int64_t now_ms);
  int64_t next_due_ms();  // INT64_MAX when nothing is pending

  const DeliveryCounters& counters() const { return counters_; }
  // Milliseconds from a notification's creation to its successful delivery, the last 256.
  std::vector<int64_t> recent_latencies() const;

 private:
  struct Lane;
  struct Answer {
    Outcome outcome = Outcome::retryable;
    std::string error;
    int64_t retry_after_ms = 0;
    bool abandoned = false;  // stop() gave up waiting: record nothing
  };

  // Decides and records what an answer means for `row`, answered at `done_ms`.
  DeliveryRecord settle(const std::string& receiver, const ReceiverOptions& options,
                        const OutboxRow& row, const Answer& answer, int64_t done_ms);
  // The fallback row when the receiver has a usable fallback, else failed; counts and logs.
  // `options` is null for a receiver that is not configured.
  DeliveryResult give_up(const std::string& receiver, const ReceiverOptions* options,
                         const OutboxRow& row, const std::string& why, int64_t now_ms);
  void fail_unconfigured(int64_t now_ms, bool log);
  Answer call(Lane& lane, const OutboxRow& row);
  void wake(const std::string& receiver);  // the lane of one receiver (a fallback just queued)
  void run(Lane& lane);
  ReceiverCounters* counters_for(const std::string& receiver);

  Database& db_;
  std::map<std::string, ReceiverOptions> receivers_;
  std::vector<std::shared_ptr<Lane>> lanes_;
  DeliveryCounters counters_;
  std::mt19937_64 random_{std::random_device{}()};
  std::mutex random_mutex_;
  mutable std::mutex latency_mutex_;
  std::vector<int64_t> latencies_;
  size_t latency_next_ = 0;
};

}  // namespace vigil::outbox
