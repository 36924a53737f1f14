// Delivery from the outbox on real SQLite: retries back off, a success is never repeated, what
// cannot be delivered goes to the fallback or is failed and counted, a hanging receiver holds up
// nobody else and is abandoned after its timeout, and what a killed process left pending goes
// out after the next start.
#include "fixture.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <set>

using namespace vigil;
using namespace vigil::outbox::testing;
using outbox::Database;
using outbox::Delivery;
using outbox::Outcome;

TEST_CASE("a failing receiver is retried with backoff and a success is never repeated") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k1", "ops", 0)});
  std::vector<int> attempts;
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification&, int attempt, std::string& e, int64_t&) {
          attempts.push_back(attempt);
          if (attempt < 3) {
            e = "connection refused";
            return Outcome::retryable;
          }
          return Outcome::ok;
        })}});
  auto first = d.deliver_due(0);
  REQUIRE(first.size() == 1);
  CHECK(first[0].outcome == Outcome::retryable);
  CHECK(first[0].error == "connection refused");
  CHECK(d.next_due_ms() == 1000);  // backoff 1 s
  CHECK(d.deliver_due(999).empty());
  CHECK(d.deliver_due(1000).size() == 1);  // attempt 2 fails
  CHECK(d.next_due_ms() == 3000);          // then 2 s
  auto third = d.deliver_due(3000);
  REQUIRE(third.size() == 1);
  CHECK(third[0].outcome == Outcome::ok);
  CHECK(d.next_due_ms() == INT64_MAX);
  CHECK(d.deliver_due(100'000).empty());  // and never again
  CHECK(attempts == std::vector<int>{1, 2, 3});
  auto row = db->find("k1");
  CHECK(row->state == "delivered");
  CHECK(row->attempts == 3);
  CHECK(row->delivered_ms == 3000);
  CHECK(d.counters().delivered == 1);
  CHECK(d.counters().retried == 2);
  CHECK(d.counters().by_receiver.at("ops").delivered == 1);
  CHECK(d.counters().by_receiver.at("ops").latency_ms_sum == 3000);
}

TEST_CASE("a receiver gets one group's notifications in order, other groups are not held up") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto other = note("other-1", "ops", 0);
  other.group_key = "0:{alertname=\"Other\"}";
  queue(*db, {note("g-1", "ops", 0), note("g-2", "ops", 10), other});
  std::vector<std::string> calls;
  bool up = false;
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification& n, int, std::string& e, int64_t&) {
          calls.push_back(n.idempotency_key);
          if (!up && n.idempotency_key == "g-1") {
            e = "503";
            return Outcome::retryable;
          }
          return Outcome::ok;
        })}});
  d.deliver_due(100);
  // g-2 (the group's newer state) waits behind g-1's retry; the other group goes out.
  CHECK(calls == std::vector<std::string>{"g-1", "other-1"});
  CHECK(d.next_due_ms() == 1100);
  // A notification the group makes meanwhile waits behind the retry too.
  queue(*db, {note("g-3", "ops", 500)});
  CHECK(d.deliver_due(1000).empty());
  up = true;
  d.deliver_due(1100);
  CHECK(calls == std::vector<std::string>{"g-1", "other-1", "g-1", "g-2", "g-3"});
  CHECK(db->find("g-3")->state == "delivered");
}

TEST_CASE("backoff grows by the factor up to the maximum and honours Retry-After") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k1", "ops", 0), note("k2", "limited", 0)});
  Delivery d(*db);
  d.set_receivers({{"ops", receiver(always(Outcome::retryable, "503"))},
                   {"limited", receiver([](const alerts::Notification&, int, std::string& e,
                                           int64_t& retry_after) {
                      e = "429";
                      retry_after = 20'000;
                      return Outcome::retryable;
                    })}});
  std::vector<int64_t> ops_times, limited_times;
  for (int64_t t = 0; t <= 40'000; t = d.next_due_ms()) {
    for (const auto& r : d.deliver_due(t))
      (r.notification.receiver == "ops" ? ops_times : limited_times).push_back(r.at_ms);
  }
  CHECK(limited_times == std::vector<int64_t>{0, 20'000, 40'000});  // not after 1 s, 2 s ...
  // 1, 2, 4, 8 s and then capped at 8 s.
  CHECK(ops_times == std::vector<int64_t>{0, 1000, 3000, 7000, 15'000, 23'000, 31'000, 39'000});
}

TEST_CASE("jitter spreads retries around the backoff without going below 80 percent") {
  TempDir dir;
  auto db = open_db(dir.db());
  std::vector<alerts::Notification> many;
  for (int i = 0; i < 50; ++i) {
    many.push_back(note("k" + std::to_string(i), "ops", 0));
    many.back().group_key = "0:{i=\"" + std::to_string(i) + "\"}";  // 50 groups, all tried
  }
  queue(*db, many);
  auto options = receiver(always(Outcome::retryable, "down"));
  options.jitter = true;
  options.backoff_min_ms = 10'000;
  Delivery d(*db);
  d.set_receivers({{"ops", options}});
  d.deliver_due(0);
  std::set<int64_t> next;
  for (const auto& row : db->rows("pending")) {
    CHECK(row.next_attempt_ms >= 8000);
    CHECK(row.next_attempt_ms <= 12'000);
    next.insert(row.next_attempt_ms);
  }
  CHECK(next.size() > 10);  // not all at the same instant
}

TEST_CASE("a permanent failure goes to the fallback at once with a derived idempotency key") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("bad-request", "webhook", 0)});
  std::vector<alerts::Notification> backup_got;
  int webhook_calls = 0;
  Delivery d(*db);
  d.set_receivers(
      {{"webhook", receiver(
                       [&](const alerts::Notification&, int, std::string& e, int64_t&) {
                         ++webhook_calls;
                         e = "HTTP 400";
                         return Outcome::permanent;
                       },
                       "backup")},
       {"backup", receiver([&](const alerts::Notification& n, int, std::string&, int64_t&) {
          backup_got.push_back(n);
          return Outcome::ok;
        })}});
  auto records = d.deliver_due(0);
  REQUIRE(records.size() == 2);
  CHECK(records[0].notification.receiver == "webhook");
  CHECK(records[1].notification.receiver == "backup");
  REQUIRE(backup_got.size() == 1);
  CHECK(backup_got[0].idempotency_key == "bad-request~backup");
  CHECK(backup_got[0].escalation_step == 1);
  CHECK(backup_got[0].payload_json == R"({"status":"firing"})");
  CHECK(webhook_calls == 1);
  auto original = db->find("bad-request");
  CHECK(original->state == "fallen_back");
  CHECK(original->last_error.find("HTTP 400") != std::string::npos);
  CHECK(d.counters().fallen_back == 1);
  CHECK(d.counters().by_receiver.at("webhook").fallen_back == 1);
  CHECK(d.deliver_due(1'000'000).empty());
}

TEST_CASE("past its maximum age a notification goes to the fallback") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("slow", "pager", 0)});
  std::vector<int64_t> backup_at;
  std::vector<int64_t> pager_at;
  Delivery d(*db);
  d.set_receivers({{"pager", receiver(
                                 [&](const alerts::Notification&, int, std::string& e, int64_t&) {
                                   e = "timeout";
                                   return Outcome::retryable;
                                 },
                                 "sms")},
                   {"sms", receiver([&](const alerts::Notification&, int, std::string&, int64_t&) {
                      return Outcome::ok;
                    })}});
  for (int64_t t = 0; t <= 70'000; t += 500)
    for (const auto& r : d.deliver_due(t))
      (r.notification.receiver == "sms" ? backup_at : pager_at).push_back(t);
  // The pager was tried until the maximum age (its last try exactly at 60 s), then the sms.
  REQUIRE_FALSE(pager_at.empty());
  CHECK(pager_at.back() == 60'000);
  CHECK(backup_at == std::vector<int64_t>{60'000});
  CHECK(db->find("slow")->state == "fallen_back");
  CHECK(db->find("slow~sms")->state == "delivered");
}

TEST_CASE("without a fallback a notification past its maximum age is failed and counted") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("slow", "pager", 0)});
  Delivery d(*db);
  d.set_receivers({{"pager", receiver(always(Outcome::retryable, "timeout"))}});
  for (int64_t t = 0; t <= 70'000; t += 500) d.deliver_due(t);
  auto failed = db->rows("failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].last_error.find("still failing after 60 s (timeout)") != std::string::npos);
  CHECK(d.counters().failed == 1);
  CHECK(d.counters().by_receiver.at("pager").failed == 1);
  CHECK(db->depth() == 0);
}

TEST_CASE("fallbacks that lead back to a receiver that gave up end in failed, not in a loop") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k", "a", 0)});
  std::map<std::string, int> calls;
  auto refuse = [&](const std::string& name) {
    return receiver(
        [&calls, name](const alerts::Notification&, int, std::string& e, int64_t&) {
          ++calls[name];
          e = "refused";
          return Outcome::permanent;
        },
        name == "a" ? "b" : "a");
  };
  Delivery d(*db);
  d.set_receivers({{"a", refuse("a")}, {"b", refuse("b")}});
  d.deliver_due(0);
  CHECK(calls["a"] == 1);
  CHECK(calls["b"] == 1);
  CHECK(db->find("k")->state == "fallen_back");
  auto last = db->find("k~b");
  REQUIRE(last);
  CHECK(last->state == "failed");
  CHECK(last->tried == std::vector<std::string>{"a"});
  CHECK(last->last_error.find("its fallback a already gave it up") != std::string::npos);
  CHECK(d.counters().failed == 1);
}

TEST_CASE("notifications for a receiver that is not configured are failed and counted") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k1", "removed", 0), note("k2", "ops", 0)});
  Delivery d(*db);
  d.set_receivers({{"ops", receiver(always(Outcome::ok))}});
  d.deliver_due(0);
  auto row = db->find("k1");
  CHECK(row->state == "failed");
  CHECK(row->last_error.find("receiver removed is not configured") != std::string::npos);
  CHECK(db->find("k2")->state == "delivered");
  CHECK(d.counters().failed == 1);
}

TEST_CASE("rows still pending when the process died are delivered after reopening") {
  TempDir dir;
  {
    auto db = open_db(dir.db());
    queue(*db, {note("k1", "ops", 0), note("k2", "ops", 0)});
    Delivery d(*db);
    int n = 0;
    d.set_receivers(
        {{"ops", receiver([&](const alerts::Notification&, int, std::string& e, int64_t&) {
            if (n++ == 0) return Outcome::ok;
            e = "down";
            return Outcome::retryable;
          })}});
    d.deliver_due(0);
  }
  auto db = open_db(dir.db());
  Delivery d(*db);
  std::vector<std::pair<std::string, int>> got;
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification& n, int attempt, std::string&, int64_t&) {
          got.emplace_back(n.idempotency_key, attempt);
          return Outcome::ok;
        })}});
  d.deliver_due(5000);
  // k1 was delivered before: not again; k2 carries on from its second attempt.
  CHECK(got == std::vector<std::pair<std::string, int>>{{"k2", 2}});
}

TEST_CASE("the threaded worker delivers at start what a previous process left pending") {
  TempDir dir;
  const int64_t now = wall_ms();
  {
    auto db = open_db(dir.db());
    queue(*db, {note("left-1", "ops", now), note("left-2", "ops", now)});
  }  // the process "dies" before delivering anything
  auto db = open_db(dir.db());
  auto got = std::make_shared<std::atomic<int>>(0);
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([got](const alerts::Notification&, int, std::string&, int64_t&) {
          ++*got;
          return Outcome::ok;
        })}});
  d.start();  // no wake(): start alone must find them
  CHECK(eventually([&] { return db->depth() == 0; }));
  CHECK(d.stop(std::chrono::seconds(5)));
  CHECK(*got == 2);
  CHECK(db->rows("delivered").size() == 2);
}

TEST_CASE("the threaded worker delivers what is committed after a wake") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto keys = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([keys, mutex](const alerts::Notification& n, int, std::string&, int64_t&) {
          std::lock_guard lock(*mutex);
          keys->push_back(n.idempotency_key);
          return Outcome::ok;
        })}});
  d.start();
  const int64_t now = wall_ms();
  for (int i = 0; i < 5; ++i) {
    queue(*db, {note("k" + std::to_string(i), "ops", now)});
    d.wake();
  }
  CHECK(eventually([&] { return db->rows("delivered").size() == 5; }));
  CHECK(d.stop(std::chrono::seconds(5)));
  std::lock_guard lock(*mutex);
  CHECK(*keys == std::vector<std::string>{"k0", "k1", "k2", "k3", "k4"});  // once each, in order
}

TEST_CASE("a commit alone starts delivery, without anyone calling wake") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto got = std::make_shared<std::atomic<int>>(0);
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([got](const alerts::Notification&, int, std::string&, int64_t&) {
          ++*got;
          return Outcome::ok;
        })}});
  d.start();
  // Let the idle worker settle into its long wait (nothing is pending: it would sleep a minute).
  REQUIRE(eventually([&] { return db->depth() == 0; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  queue(*db, {note("k1", "ops", wall_ms())});
  CHECK(eventually([&] { return *got == 1; }));
  CHECK(d.stop(std::chrono::seconds(5)));
}

namespace {

// A receiver that blocks until released; shared so a detached caller thread may outlive a test's
// locals safely.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> calls{0}, returned{0};
  std::vector<int> attempts;
  void release() {
    {
      std::lock_guard lock(mutex);
      open = true;
    }
    cv.notify_all();
  }
  static outbox::DeliverFn blocking_first(std::shared_ptr<Gate> gate) {
    return [gate](const alerts::Notification&, int attempt, std::string&, int64_t&) {
      std::unique_lock lock(gate->mutex);
      gate->attempts.push_back(attempt);
      ++gate->calls;
      if (gate->calls == 1) gate->cv.wait(lock, [&] { return gate->open; });
      ++gate->returned;
      return Outcome::ok;
    };
  }
};

}  // namespace

TEST_CASE("a hanging receiver does not hold up another") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto gate = std::make_shared<Gate>();
  auto fast_got = std::make_shared<std::atomic<int>>(0);
  Delivery d(*db);
  auto stuck = receiver(Gate::blocking_first(gate));
  stuck.timeout_ms = 0;  // waits for ever: only the lane separation keeps "fast" going
  d.set_receivers(
      {{"stuck", stuck},
       {"fast", receiver([fast_got](const alerts::Notification&, int, std::string&, int64_t&) {
          ++*fast_got;
          return Outcome::ok;
        })}});
  d.start();
  const int64_t now = wall_ms();
  std::vector<alerts::Notification> batch{note("s1", "stuck", now)};
  for (int i = 0; i < 20; ++i) batch.push_back(note("f" + std::to_string(i), "fast", now));
  queue(*db, batch);
  d.wake();
  CHECK(eventually([&] { return *fast_got == 20; }));
  // The lanes run apart: the stuck call may begin after the fast ones are all done.
  CHECK(eventually([&] { return gate->calls == 1; }));
  // The 20th call has returned; its row is settled just after, by the lane's worker.
  CHECK(eventually([&] { return db->depth() == 1; }));  // only the stuck one
  CHECK(db->find("s1")->state == "pending");
  gate->release();
  CHECK(eventually([&] { return db->depth() == 0; }));
  CHECK(d.stop(std::chrono::seconds(5)));
  CHECK(gate->calls == 1);  // its one (slow) success was recorded: never called again
}

TEST_CASE("a call past the receiver's timeout is abandoned, counted, and its late answer ignored") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto gate = std::make_shared<Gate>();
  auto options = receiver(Gate::blocking_first(gate));
  options.timeout_ms = 50;
  options.backoff_min_ms = 20;
  Delivery d(*db);
  d.set_receivers({{"slow", options}});
  d.start();
  queue(*db, {note("k1", "slow", wall_ms())});
  d.wake();
  REQUIRE(eventually([&] {
    auto row = db->find("k1");
    return row && row->attempts == 1;
  }));
  auto row = db->find("k1");
  CHECK(row->state == "pending");
  CHECK(row->last_error == "no answer within 50 ms; the call was abandoned");
  CHECK(d.counters().timed_out == 1);
  CHECK(d.counters().by_receiver.at("slow").timed_out == 1);
  CHECK(d.counters().retried == 1);
  // Still hung: the receiver gets no second call while the first one holds it.
  CHECK(gate->calls == 1);
  gate->release();  // the first call now answers "ok", too late to count
  REQUIRE(eventually([&] { return db->find("k1")->state == "delivered"; }));
  CHECK(d.stop(std::chrono::seconds(5)));
  CHECK(gate->attempts == std::vector<int>{1, 2});
  CHECK(db->find("k1")->attempts == 2);  // the retry's success, not the late one, was recorded
  CHECK(d.counters().delivered == 1);
}

TEST_CASE(
    "while a receiver hangs its notifications still reach the fallback at their maximum age") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto gate = std::make_shared<Gate>();
  auto got = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  auto stuck = receiver(Gate::blocking_first(gate), "backup");
  stuck.timeout_ms = 20;
  stuck.backoff_min_ms = 10;
  stuck.max_age_ms = 300;
  Delivery d(*db);
  d.set_receivers({{"stuck", stuck},
                   {"backup", receiver([got, mutex](const alerts::Notification& n, int,
                                                    std::string&, int64_t&) {
                      std::lock_guard lock(*mutex);
                      got->push_back(n.idempotency_key);
                      return Outcome::ok;
                    })}});
  d.start();
  queue(*db, {note("k1", "stuck", wall_ms()), note("k2", "stuck", wall_ms())});
  d.wake();
  REQUIRE(eventually([&] {
    std::lock_guard lock(*mutex);
    return got->size() == 2;
  }));
  CHECK(gate->calls == 1);  // the hung receiver was called once, never again
  CHECK(db->find("k1")->state == "fallen_back");
  CHECK(db->find("k2")->state == "fallen_back");
  CHECK(db->find("k2")->last_error.find("not tried") != std::string::npos);
  std::lock_guard lock(*mutex);
  CHECK(std::set<std::string>(got->begin(), got->end()) ==
        std::set<std::string>{"k1~backup", "k2~backup"});
  gate->release();
  CHECK(d.stop(std::chrono::seconds(5)));
}

TEST_CASE("stop abandons a call still running at its deadline and the row goes out next start") {
  TempDir dir;
  auto db = open_db(dir.db());
  auto gate = std::make_shared<Gate>();
  {
    Delivery d(*db);
    auto options = receiver(Gate::blocking_first(gate));
    options.timeout_ms = 0;
    d.set_receivers({{"ops", options}});
    d.start();
    queue(*db, {note("k1", "ops", wall_ms())});
    d.wake();
    REQUIRE(eventually([&] { return gate->calls == 1; }));
    CHECK_FALSE(d.stop(std::chrono::milliseconds(20)));
  }
  auto row = db->find("k1");
  CHECK(row->state == "pending");
  CHECK(row->attempts == 0);  // nothing was recorded for the abandoned call
  gate->release();
  REQUIRE(eventually([&] { return gate->returned == 1; }));  // the late answer changes nothing
  CHECK(db->find("k1")->state == "pending");

  Delivery next(*db);
  auto got = std::make_shared<std::atomic<int>>(0);
  next.set_receivers(
      {{"ops", receiver([got](const alerts::Notification&, int, std::string&, int64_t&) {
          ++*got;
          return Outcome::ok;
        })}});
  next.start();
  CHECK(eventually([&] { return db->find("k1")->state == "delivered"; }));
  CHECK(next.stop(std::chrono::seconds(5)));
  CHECK(*got == 1);
}

TEST_CASE("a receiver that throws is retried, not fatal") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k1", "ops", 0)});
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([](const alerts::Notification&, int attempt, std::string&, int64_t&) {
          if (attempt == 1) throw std::runtime_error("plugin bug");
          return Outcome::ok;
        })}});
  auto first = d.deliver_due(0);
  REQUIRE(first.size() == 1);
  CHECK(first[0].outcome == Outcome::retryable);
  CHECK(first[0].error == "the receiver threw: plugin bug");
  d.deliver_due(1000);
  CHECK(db->find("k1")->state == "delivered");
}
