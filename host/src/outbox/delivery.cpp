// Delivery from the outbox (see delivery.hpp).
//
// A lane's two threads share one mutex: the worker hands a call over through the in-flight slot
// (job, issued) and waits for its answer (answered) at most the receiver's timeout; the caller
// thread runs the call outside the lock. An abandoned generation's answer is dropped, so the
// row, already recorded as retryable, is never settled twice. Lock order is lane, then the
// database, never the other way round.
#include "outbox/delivery.hpp"

#include "log/logging.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <set>
#include <thread>

namespace vigil::outbox {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string seconds_text(int64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

// Thread-safety: `receiver` and `options` are fixed before the threads start; everything else
// is guarded by `mutex`.
struct Delivery::Lane {
  std::string receiver;
  ReceiverOptions options;  // a copy: a detached caller thread must never read the Delivery
  std::mutex mutex;
  std::condition_variable worker_cv, caller_cv;
  // Worker side.
  bool woken = false, stopping = false, abandon = false, worker_done = false;
  // The in-flight slot.
  bool job = false;   // a call waits for the caller thread
  bool busy = false;  // the caller thread is inside deliver()
  bool quit = false;
  uint64_t issued = 0, answered = 0, abandoned_upto = 0;
  alerts::Notification notification;
  int attempt = 0;
  Answer answer;
  std::thread worker, caller;
};

Delivery::Delivery(Database& db) : db_(db) {}

Delivery::~Delivery() {
  stop(std::chrono::milliseconds(0));
}

void Delivery::set_receivers(std::map<std::string, ReceiverOptions> receivers) {
  receivers_ = std::move(receivers);
  counters_.by_receiver.clear();
  for (const auto& [name, options] : receivers_) counters_.by_receiver.try_emplace(name);
}

ReceiverCounters* Delivery::counters_for(const std::string& receiver) {
  auto it = counters_.by_receiver.find(receiver);
  return it == counters_.by_receiver.end() ? nullptr : &it->second;
}

DeliveryResult Delivery::give_up(const std::string& receiver, const ReceiverOptions* options,
                                 const OutboxRow& row, const std::string& why, int64_t now_ms) {
  DeliveryResult result;
  result.kind = DeliveryResult::failed;
  result.error = why;
  ReceiverCounters* rc = counters_for(receiver);
  const std::string& key = row.notification.idempotency_key;
  const std::string fallback = options ? options->fallback : "";
  std::string refused;
  if (!fallback.empty()) {
    if (fallback == receiver ||
        std::find(row.tried.begin(), row.tried.end(), fallback) != row.tried.end())
      refused = "its fallback " + fallback + " already gave it up";
    else if (!receivers_.count(fallback))
      refused = "its fallback " + fallback + " is not a configured receiver";
  }
  if (!fallback.empty() && refused.empty()) {
    alerts::Notification fb = row.notification;
    fb.receiver = fallback;
    fb.idempotency_key = key + "~" + fallback;
    fb.created_ms = now_ms;  // the fallback gets its own full max_age
    result.kind = DeliveryResult::fallen_back;
    result.fallback = std::move(fb);
    ++counters_.fallen_back;
    if (rc) ++rc->fallen_back;
    spdlog::warn("outbox: notification {} to receiver {}: {}; handing it to fallback {}", key,
                 receiver, why, fallback);
  } else {
    ++counters_.failed;
    if (rc) ++rc->failed;
    if (!refused.empty()) result.error += "; " + refused;
    spdlog::error("outbox: notification {} to receiver {}: {}; {}, marked failed", key, receiver,
                  why, refused.empty() ? "no fallback receiver" : refused);
  }
  return result;
}

DeliveryRecord Delivery::settle(const std::string& receiver, const ReceiverOptions& options,
                                const OutboxRow& row, const Answer& answer, int64_t done_ms) {
  DeliveryRecord record;
  record.at_ms = done_ms;
  record.notification = row.notification;
  record.attempt = row.attempts + 1;
  record.outcome = answer.outcome;
  record.error = answer.error;
  ReceiverCounters* rc = counters_for(receiver);

  DeliveryResult result;
  result.error = answer.error;
  const int64_t age = done_ms - row.notification.created_ms;
  if (answer.outcome == Outcome::ok) {
    result.kind = DeliveryResult::delivered;
    const int64_t latency = std::max<int64_t>(0, age);
    ++counters_.delivered;
    counters_.latency_ms_sum += static_cast<uint64_t>(latency);
    if (rc) {
      ++rc->delivered;
      rc->latency_ms_sum += static_cast<uint64_t>(latency);
    }
    std::lock_guard lock(latency_mutex_);
    if (latencies_.size() < 256) {
      latencies_.push_back(latency);
    } else {
      latencies_[latency_next_] = latency;
      latency_next_ = (latency_next_ + 1) % latencies_.size();
    }
  } else if (answer.outcome == Outcome::permanent) {
    result = give_up(receiver, &options, row, "failed permanently (" + answer.error + ")", done_ms);
  } else if (age >= options.max_age_ms) {
    result =
        give_up(receiver, &options, row,
                "still failing after " + seconds_text(age) + " (" + answer.error + ")", done_ms);
  } else {
    double delay = static_cast<double>(options.backoff_min_ms) *
                   std::pow(std::max(1.0, options.backoff_factor), row.attempts);
    delay = std::min(delay,
                     static_cast<double>(std::max(options.backoff_max_ms, options.backoff_min_ms)));
    if (options.jitter) {
      // Spread retries of many rows (and many hosts) that failed together.
      std::lock_guard lock(random_mutex_);
      delay *= std::uniform_real_distribution<double>(0.8, 1.2)(random_);
    }
    int64_t next = done_ms + static_cast<int64_t>(delay);
    if (answer.retry_after_ms > 0) next = std::max(next, done_ms + answer.retry_after_ms);
    // The last try lands on the maximum age, so it is never given up before being tried then.
    next = std::min(next, row.notification.created_ms + options.max_age_ms);
    result.kind = DeliveryResult::retry;
    result.next_attempt_ms = std::max(next, done_ms + 1);
    ++counters_.retried;
    if (rc) ++rc->retried;
    spdlog::warn(
        "outbox: notification {} to receiver {} failed (attempt {}: {}); retrying in {} ms",
        row.notification.idempotency_key, receiver, record.attempt, answer.error,
        result.next_attempt_ms - done_ms);
  }
  std::string db_error;
  if (!db_.record(row, result, done_ms, db_error))
    spdlog::error("outbox: {}; the notification stays queued and is tried again", db_error);
  else if (result.fallback)
    wake(result.fallback->receiver);
  return record;
}

void Delivery::fail_unconfigured(int64_t now_ms, bool log) {
  for (const auto& receiver : db_.receivers_with_pending()) {
    if (receivers_.count(receiver)) continue;
    size_t n = 0;
    for (const auto& row : db_.due(receiver, INT64_MAX, SIZE_MAX >> 1)) {
      auto result =
          give_up(receiver, nullptr, row, "receiver " + receiver + " is not configured", now_ms);
      std::string error;
      if (!db_.record(row, result, now_ms, error)) spdlog::error("outbox: {}", error);
      ++n;
    }
    if (log && n)
      spdlog::error(
          "outbox: {} notifications queued for receiver {}, which is not configured any "
          "more, were marked failed",
          n, receiver);
  }
}

// ---------------------------------------------------------------------------------------------
// Synchronous mode.

std::vector<DeliveryRecord> Delivery::deliver_due(int64_t now_ms) {
  std::vector<DeliveryRecord> out;
  for (;;) {
    fail_unconfigured(now_ms, false);
    bool any = false;
    for (const auto& receiver : db_.receivers_with_pending()) {
      auto it = receivers_.find(receiver);
      if (it == receivers_.end()) continue;
      std::set<std::string> held;  // groups with a row that failed in this batch
      for (const auto& row : db_.due(receiver, now_ms, 64)) {
        any = true;
        if (held.count(row.notification.group_key)) continue;  // now behind that row's retry
        Answer answer;
        try {
          answer.outcome = it->second.deliver(row.notification, row.attempts + 1, answer.error,
                                              answer.retry_after_ms);
        } catch (const std::exception& e) {
          answer.outcome = Outcome::retryable;
          answer.error = std::string("the receiver threw: ") + e.what();
        }
        out.push_back(settle(receiver, it->second, row, answer, now_ms));
        if (answer.outcome != Outcome::ok) held.insert(row.notification.group_key);
      }
    }
    if (!any) break;  // fallbacks queued above are due now too: go round until quiet
  }
  return out;
}

int64_t Delivery::next_due_ms() {
  int64_t next = INT64_MAX;
  for (const auto& receiver : db_.receivers_with_pending())
    next = std::min(next, db_.next_attempt_ms(receiver));
  return next;
}

// ---------------------------------------------------------------------------------------------
// Threaded mode.

namespace {

// The caller thread of a lane: runs one call at a time, outside the lane's lock.
template <typename Lane, typename Answer>
void caller_loop(const std::shared_ptr<Lane>& lane) {
  Lane& l = *lane;
  std::unique_lock lock(l.mutex);
  for (;;) {
    l.caller_cv.wait(lock, [&] { return l.job || l.quit; });
    if (!l.job) return;
    l.job = false;
    l.busy = true;
    const uint64_t generation = l.issued;
    const alerts::Notification notification = std::move(l.notification);
    const int attempt = l.attempt;
    lock.unlock();
    Answer answer;
    try {
      answer.outcome =
          l.options.deliver(notification, attempt, answer.error, answer.retry_after_ms);
    } catch (const std::exception& e) {
      answer.outcome = Outcome::retryable;
      answer.error = std::string("the receiver threw: ") + e.what();
    } catch (...) {
      answer.outcome = Outcome::retryable;
      answer.error = "the receiver threw something that is not a std::exception";
    }
    lock.lock();
    l.busy = false;
    if (generation > l.abandoned_upto) {
      l.answer = std::move(answer);
      l.answered = generation;
    } else {
      spdlog::warn(
          "outbox: receiver {} answered for notification {} after its call was abandoned; the "
          "late answer is ignored (the outbox already decided without it, and a retry carries "
          "the same idempotency key)",
          l.receiver, notification.idempotency_key);
    }
    l.worker_cv.notify_all();
  }
}

}  // namespace

void Delivery::start() {
  fail_unconfigured(wall_ms(), true);
  // Every lane exists before any worker runs: a worker wakes other lanes through lanes_.
  for (const auto& [name, options] : receivers_) {
    auto lane = std::make_shared<Lane>();
    lane->receiver = name;
    lane->options = options;
    lanes_.push_back(std::move(lane));
  }
  for (auto& lane : lanes_) {
    lane->caller = std::thread([lane] {
      vigil::log::name_this_thread("vigil-notify");
      caller_loop<Lane, Answer>(lane);
    });
    lane->worker = std::thread([this, l = lane.get()] {
      vigil::log::name_this_thread("vigil-outbox");
      run(*l);
    });
  }
  // The engine's commit wakes the lanes itself: fire-to-delivery does not wait for its caller.
  db_.set_commit_listener([this] { wake(); });
}

Delivery::Answer Delivery::call(Lane& l, const OutboxRow& row) {
  std::unique_lock lock(l.mutex);
  l.notification = row.notification;
  l.attempt = row.attempts + 1;
  l.job = true;
  const uint64_t generation = ++l.issued;
  l.caller_cv.notify_one();
  auto settled = [&] { return l.answered == generation || l.abandon; };
  if (l.options.timeout_ms > 0)
    l.worker_cv.wait_for(lock, std::chrono::milliseconds(l.options.timeout_ms), settled);
  else
    l.worker_cv.wait(lock, settled);
  if (l.answered == generation) return std::move(l.answer);
  // No answer: abandon this generation. A call not picked up yet never starts.
  l.abandoned_upto = generation;
  l.job = false;
  Answer answer;
  if (l.abandon) {
    answer.abandoned = true;
    return answer;
  }
  answer.outcome = Outcome::retryable;
  answer.error =
      "no answer within " + seconds_text(l.options.timeout_ms) + "; the call was abandoned";
  ++counters_.timed_out;
  if (auto* rc = counters_for(l.receiver)) ++rc->timed_out;
  return answer;
}

void Delivery::run(Lane& l) {
  const ReceiverOptions& options = l.options;
  auto stopping = [&] {
    std::lock_guard lock(l.mutex);
    return l.stopping;
  };
  while (!stopping()) {
    const int64_t now = wall_ms();
    const auto rows = db_.due(l.receiver, now, 64);
    bool stopped = false;
    std::set<std::string> held;  // groups with a row that failed in this batch
    for (const auto& row : rows) {
      if (held.count(row.notification.group_key)) continue;  // now behind that row's retry
      bool hung = false;
      {
        std::lock_guard lock(l.mutex);
        stopped = l.stopping;
        hung = l.busy || l.job;
      }
      if (stopped) break;
      if (hung) {
        // An abandoned call still holds the receiver: nothing more goes to it, but what grows too
        // old meanwhile still reaches the fallback.
        const int64_t t = wall_ms();
        if (t - row.notification.created_ms >= options.max_age_ms) {
          auto result = give_up(l.receiver, &options, row,
                                "not tried: the receiver has not answered an earlier call for "
                                "longer than its timeout",
                                t);
          std::string error;
          if (!db_.record(row, result, t, error))
            spdlog::error("outbox: {}", error);
          else if (result.fallback)
            wake(result.fallback->receiver);
        }
        continue;
      }
      Answer answer = call(l, row);
      if (answer.abandoned) {
        stopped = true;
        break;
      }
      settle(l.receiver, options, row, answer, wall_ms());
      if (answer.outcome != Outcome::ok) held.insert(row.notification.group_key);
    }
    if (stopped) break;
    bool busy = false;
    {
      std::lock_guard lock(l.mutex);
      busy = l.busy || l.job;
    }
    if (busy) {
      // Wait for the hung call to end, or for the oldest row to reach its maximum age.
      const int64_t oldest = db_.oldest_pending_ms(l.receiver);
      const int64_t until = oldest == INT64_MAX ? wall_ms() + 60'000 : oldest + options.max_age_ms;
      std::unique_lock lock(l.mutex);
      l.worker_cv.wait_for(
          lock, std::chrono::milliseconds(std::clamp<int64_t>(until - wall_ms(), 1, 60'000)),
          [&] { return !(l.busy || l.job) || l.stopping; });
      continue;
    }
    if (!rows.empty()) continue;  // there may be more due
    const int64_t next = db_.next_attempt_ms(l.receiver);
    std::unique_lock lock(l.mutex);
    if (l.woken) {
      l.woken = false;
      continue;
    }
    const int64_t wait =
        next == INT64_MAX ? 60'000 : std::clamp<int64_t>(next - wall_ms(), 1, 60'000);
    l.worker_cv.wait_for(lock, std::chrono::milliseconds(wait),
                         [&] { return l.woken || l.stopping; });
    l.woken = false;
  }
  std::lock_guard lock(l.mutex);
  l.worker_done = true;
  l.worker_cv.notify_all();
}

void Delivery::wake() {
  for (auto& lane : lanes_) {
    {
      std::lock_guard lock(lane->mutex);
      lane->woken = true;
    }
    lane->worker_cv.notify_all();
  }
}

void Delivery::wake(const std::string& receiver) {
  for (auto& lane : lanes_) {
    if (lane->receiver != receiver) continue;
    {
      std::lock_guard lock(lane->mutex);
      lane->woken = true;
    }
    lane->worker_cv.notify_all();
  }
}

bool Delivery::stop(std::chrono::milliseconds deadline) {
  if (lanes_.empty()) return true;
  db_.set_commit_listener({});  // after this no commit touches lanes_
  for (auto& lane : lanes_) {
    std::lock_guard lock(lane->mutex);
    lane->stopping = true;
    lane->worker_cv.notify_all();
  }
  // Calls in flight may finish (and be recorded) until the deadline.
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (auto& lane : lanes_) {
    std::unique_lock lock(lane->mutex);
    lane->worker_cv.wait_until(lock, until, [&] { return lane->worker_done; });
  }
  for (auto& lane : lanes_) {
    std::lock_guard lock(lane->mutex);
    lane->abandon = true;
    lane->worker_cv.notify_all();
  }
  bool clean = true;
  for (auto& lane : lanes_) {
    lane->worker.join();  // never inside a receiver call: returns at once now
    bool in_call = false;
    {
      std::lock_guard lock(lane->mutex);
      lane->quit = true;
      in_call = lane->busy;
      lane->caller_cv.notify_all();
    }
    if (in_call) {
      // The thread keeps the lane alive through its shared_ptr and exits when the call returns.
      lane->caller.detach();
      clean = false;
      spdlog::warn(
          "outbox: receiver {} is still in a call at shutdown; its notification stays queued "
          "and goes out after the next start",
          lane->receiver);
    } else {
      lane->caller.join();
    }
  }
  lanes_.clear();
  return clean;
}

std::vector<int64_t> Delivery::recent_latencies() const {
  std::lock_guard lock(latency_mutex_);
  return latencies_;
}

}  // namespace vigil::outbox
