// Delivery from the outbox (see delivery.hpp).
#include "outbox/delivery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>

namespace vigil::outbox {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Delivery::Worker {
  std::string receiver;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool woken = false;
  bool stopping = false;
  std::atomic<bool> done{false};
};

Delivery::Delivery(Database& db) : db_(db) {}

Delivery::~Delivery() {
  stop(std::chrono::milliseconds(0));
}

void Delivery::set_receivers(std::map<std::string, ReceiverOptions> receivers) {
  receivers_ = std::move(receivers);
}

DeliveryRecord Delivery::attempt(const std::string& receiver, const ReceiverOptions& options,
                                 const OutboxRow& row, int64_t now_ms) {
  DeliveryRecord record;
  record.notification = row.notification;
  record.attempt = row.attempts + 1;
  std::string error;
  int64_t retry_after = 0;
  Outcome outcome = Outcome::retryable;
  try {
    outcome = options.deliver(row.notification, record.attempt, error, retry_after);
  } catch (const std::exception& e) {
    error = std::string("delivery threw: ") + e.what();
  }
  // A receiver that took long is judged at the time it returned.
  const int64_t done_ms = options.jitter ? std::max(now_ms, wall_ms()) : now_ms;
  record.at_ms = now_ms;
  record.outcome = outcome;

  DeliveryResult result;
  result.error = error;
  const int64_t age = done_ms - row.notification.created_ms;
  auto give_up = [&](const std::string& why) {
    if (!options.fallback.empty()) {
      alerts::Notification fb = row.notification;
      fb.receiver = options.fallback;
      fb.idempotency_key = row.notification.idempotency_key + "~" + options.fallback;
      fb.created_ms = done_ms;
      result.kind = DeliveryResult::fallen_back;
      result.fallback = fb;
      ++counters_.fallen_back;
      spdlog::warn("outbox: {} to receiver {} {}; handing it to fallback {}",
                   row.notification.idempotency_key, receiver, why, options.fallback);
    } else {
      result.kind = DeliveryResult::failed;
      ++counters_.failed;
      spdlog::error("outbox: {} to receiver {} {}; no fallback receiver, marked failed",
                    row.notification.idempotency_key, receiver, why);
    }
  };
  if (outcome == Outcome::ok) {
    result.kind = DeliveryResult::delivered;
    ++counters_.delivered;
    std::lock_guard lock(latency_mutex_);
    latencies_.push_back(done_ms - row.notification.created_ms);
    if (latencies_.size() > 256) latencies_.erase(latencies_.begin());
  } else if (outcome == Outcome::permanent) {
    give_up("failed permanently (" + error + ")");
  } else if (age >= options.max_age_ms) {
    give_up("still failing after " + std::to_string(age / 1000) + "s (" + error + ")");
  } else {
    double delay = static_cast<double>(options.backoff_min_ms) *
                   std::pow(options.backoff_factor, static_cast<double>(row.attempts));
    delay = std::min(delay, static_cast<double>(options.backoff_max_ms));
    if (options.jitter) {
      std::lock_guard lock(random_mutex_);
      delay *= std::uniform_real_distribution<double>(0.8, 1.2)(random_);
    }
    int64_t next = done_ms + static_cast<int64_t>(delay);
    if (retry_after > 0) next = std::max(next, done_ms + retry_after);
    // Never retry past the maximum age without a last try at it.
    next = std::min(next, row.notification.created_ms + options.max_age_ms);
    result.kind = DeliveryResult::retry;
    result.next_attempt_ms = std::max(next, done_ms + 1);
    ++counters_.retried;
    spdlog::warn("outbox: {} to receiver {} failed (attempt {}: {}); retrying in {} ms",
                 row.notification.idempotency_key, receiver, record.attempt, error,
                 result.next_attempt_ms - done_ms);
  }
  std::string db_error;
  if (!db_.record(row, result, done_ms, db_error))
    spdlog::error("outbox: cannot record the delivery of {}: {}", row.notification.idempotency_key,
                  db_error);
  return record;
}

std::vector<DeliveryRecord> Delivery::deliver_due(int64_t now_ms) {
  std::vector<DeliveryRecord> out;
  for (;;) {
    bool any = false;
    for (const auto& receiver : db_.receivers_with_pending()) {
      auto it = receivers_.find(receiver);
      for (const auto& row : db_.due(receiver, now_ms, 64)) {
        any = true;
        if (it == receivers_.end()) {
          DeliveryResult r;
          r.kind = DeliveryResult::failed;
          r.error = "receiver \"" + receiver + "\" is not configured";
          std::string error;
          db_.record(row, r, now_ms, error);
          ++counters_.failed;
          continue;
        }
        out.push_back(attempt(receiver, it->second, row, now_ms));
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

void Delivery::start() {
  // Rows for receivers that no longer exist can never leave: say so once, and fail them.
  for (const auto& receiver : db_.receivers_with_pending()) {
    if (receivers_.count(receiver)) continue;
    for (const auto& row : db_.due(receiver, INT64_MAX, 1'000'000)) {
      DeliveryResult r;
      r.kind = DeliveryResult::failed;
      r.error = "receiver \"" + receiver + "\" is not configured any more";
      std::string error;
      db_.record(row, r, wall_ms(), error);
      ++counters_.failed;
    }
    spdlog::error(
        "outbox: notifications queued for receiver {}, which is not configured any "
        "more, were marked failed",
        receiver);
  }
  for (const auto& [name, options] : receivers_) {
    auto worker = std::make_unique<Worker>();
    worker->receiver = name;
    Worker* w = worker.get();
    worker->thread = std::thread([this, w] { run(*w); });
    workers_.push_back(std::move(worker));
  }
}

void Delivery::run(Worker& w) {
  struct Done {
    Worker& w;
    ~Done() { w.done = true; }
  } done{w};
  const ReceiverOptions& options = receivers_.at(w.receiver);
  for (;;) {
    {
      std::unique_lock lock(w.mutex);
      if (w.stopping) return;
    }
    const int64_t now = wall_ms();
    auto rows = db_.due(w.receiver, now, 64);
    for (const auto& row : rows) {
      {
        std::lock_guard lock(w.mutex);
        if (w.stopping) return;
      }
      attempt(w.receiver, options, row, wall_ms());
    }
    if (!rows.empty()) continue;
    const int64_t next = db_.next_attempt_ms(w.receiver);
    std::unique_lock lock(w.mutex);
    if (w.stopping) return;
    if (w.woken) {
      w.woken = false;
      continue;
    }
    auto wait = next == INT64_MAX
                    ? std::chrono::milliseconds(60'000)
                    : std::chrono::milliseconds(std::max<int64_t>(1, next - wall_ms()));
    w.cv.wait_for(lock, wait, [&] { return w.woken || w.stopping; });
    w.woken = false;
  }
}

void Delivery::wake() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mutex);
      w->woken = true;
    }
    w->cv.notify_one();
  }
}

void Delivery::stop(std::chrono::milliseconds deadline) {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mutex);
      w->stopping = true;
    }
    w->cv.notify_one();
  }
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (auto& w : workers_) {
    // A receiver stuck in a call past the deadline is left behind; its row stays pending and
    // goes out after the next start.
    while (!w->done && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (w->done) {
      w->thread.join();
    } else {
      w->thread.detach();
      spdlog::warn(
          "outbox: receiver {} is still in a call at shutdown; its notification stays "
          "queued and goes out after the next start",
          w->receiver);
    }
  }
  // Detached workers still reference their Worker: keep them alive for the process lifetime.
  static std::vector<std::unique_ptr<Worker>> abandoned;
  for (auto& w : workers_)
    if (!w->done) abandoned.push_back(std::move(w));
  workers_.clear();
}

std::vector<int64_t> Delivery::recent_latencies() const {
  std::lock_guard lock(latency_mutex_);
  return latencies_;
}

}  // namespace vigil::outbox
