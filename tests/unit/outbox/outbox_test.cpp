// Durable alert state and delivery on real SQLite files: what is committed comes back after a
// reopen, a newer schema is refused by name, and delivery retries, falls back, gives up loudly
// and never sends twice to a receiver that accepted.
#include "outbox/database.hpp"
#include "outbox/delivery.hpp"

#include <sqlite3.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace vigil;
using outbox::Database;
using outbox::Delivery;
using outbox::Outcome;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("vigil-outbox-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string db() const { return (path / "vigil.db").string(); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

alerts::Notification note(const std::string& key, const std::string& receiver, int64_t at) {
  alerts::Notification n;
  n.idempotency_key = key;
  n.receiver = receiver;
  n.group_key = "0:{}";
  n.status = "firing";
  n.created_ms = at;
  n.payload_json = R"({"status":"firing"})";
  return n;
}

std::unique_ptr<Database> open_db(const std::string& file) {
  std::string error;
  auto db = Database::open(file, error);
  INFO(error);
  REQUIRE(db);
  return db;
}

outbox::ReceiverOptions receiver(outbox::DeliverFn fn, std::string fallback = "") {
  outbox::ReceiverOptions o;
  o.deliver = std::move(fn);
  o.fallback = std::move(fallback);
  o.jitter = false;
  o.backoff_min_ms = 1000;
  o.backoff_max_ms = 8000;
  o.max_age_ms = 60'000;
  return o;
}

}  // namespace

TEST_CASE("a committed batch is all there after reopening the file") {
  TempDir dir;
  {
    auto db = open_db(dir.db());
    alerts::Batch b;
    alerts::Alert a;
    a.fingerprint = "f1";
    a.rule = "DiskFull";
    a.labels = {{"alertname", "DiskFull"}, {"mountpoint", "/"}};
    a.state = alerts::State::firing;
    a.fired_at_ms = 1000;
    a.ack = alerts::Ack{"alice", "on it", 2000, 0, true};
    b.alerts.push_back(a);
    alerts::Group g;
    g.key = "0:{alertname=\"DiskFull\",}";
    g.policy = "oncall";
    g.step = 1;
    g.iteration = 0;
    g.step_due_ms = 600'000;
    g.escalating = true;
    b.groups.push_back(g);
    alerts::Silence s;
    s.id = "s1";
    std::string error;
    s.matchers.push_back(*alerts::parse_matcher(R"(mountpoint=~"/var.*")", error));
    s.starts_ms = 1;
    s.ends_ms = 99;
    b.silences.push_back(s);
    b.transitions.push_back({"f1", 500, "inactive", "pending", "value 0.97"});
    b.transitions.push_back({"f1", 1000, "pending", "firing", ""});
    b.notifications.push_back(note("k1", "ops", 1000));
    REQUIRE(db->commit(b, error));
  }
  auto db = open_db(dir.db());
  alerts::Snapshot snap;
  std::string error;
  REQUIRE(db->load(snap, error));
  REQUIRE(snap.alerts.size() == 1);
  CHECK(snap.alerts[0].state == alerts::State::firing);
  CHECK(snap.alerts[0].labels.at("mountpoint") == "/");
  REQUIRE(snap.alerts[0].ack);
  CHECK(snap.alerts[0].ack->sticky);
  REQUIRE(snap.groups.size() == 1);
  CHECK(snap.groups[0].step == 1);
  CHECK(snap.groups[0].step_due_ms == 600'000);
  CHECK(snap.groups[0].escalating);
  REQUIRE(snap.silences.size() == 1);
  CHECK(snap.silences[0].matchers[0].to_string() == R"(mountpoint=~"/var.*")");
  auto h = db->history("f1", 10);
  REQUIRE(h.size() == 2);
  CHECK(h[0].to == "pending");
  CHECK(h[1].to == "firing");
  CHECK(db->depth() == 1);
  // The file really is in WAL mode.
  sqlite3* raw = nullptr;
  sqlite3_open(dir.db().c_str(), &raw);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, nullptr);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST_CASE("a database from a newer vigil, or not a database, is refused by name") {
  TempDir dir;
  {
    sqlite3* raw = nullptr;
    sqlite3_open(dir.db().c_str(), &raw);
    sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
  }
  std::string error;
  CHECK_FALSE(Database::open(dir.db(), error));
  CHECK(error.find(dir.db() + ": written by a newer vigil (schema 99") == 0);
  const auto junk = (dir.path / "junk.db").string();
  std::ofstream(junk) << "this is not sqlite at all, just text that is long enough to look odd";
  CHECK_FALSE(Database::open(junk, error));
  CHECK(error.find(junk + ": not a database Vigil can read") == 0);
}

TEST_CASE("a failing receiver is retried with backoff and a success is never repeated") {
  TempDir dir;
  auto db = open_db(dir.db());
  std::string error;
  alerts::Batch b;
  b.notifications.push_back(note("k1", "ops", 0));
  REQUIRE(db->commit(b, error));
  int calls = 0;
  Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification&, int attempt, std::string& e, int64_t&) {
          ++calls;
          if (attempt < 3) {
            e = "connection refused";
            return Outcome::retryable;
          }
          return Outcome::ok;
        })}});
  CHECK(d.deliver_due(0).size() == 1);  // attempt 1 fails
  CHECK(d.next_due_ms() == 1000);       // backoff 1 s
  CHECK(d.deliver_due(999).empty());
  CHECK(d.deliver_due(1000).size() == 1);  // attempt 2 fails
  CHECK(d.next_due_ms() == 3000);          // then 2 s
  CHECK(d.deliver_due(3000).size() == 1);  // attempt 3 succeeds
  CHECK(d.deliver_due(100'000).empty());   // and never again
  CHECK(calls == 3);
  CHECK(db->rows("delivered").size() == 1);
  CHECK(d.counters().delivered == 1);
  CHECK(d.counters().retried == 2);
}

TEST_CASE("permanent failures and too-old notifications go to the fallback, or fail loudly") {
  TempDir dir;
  auto db = open_db(dir.db());
  std::string error;
  alerts::Batch b;
  b.notifications.push_back(note("bad-request", "webhook", 0));
  b.notifications.push_back(note("slow", "pager", 0));
  REQUIRE(db->commit(b, error));
  std::vector<std::string> backup_got;
  Delivery d(*db);
  d.set_receivers(
      {{"webhook", receiver(
                       [](const alerts::Notification&, int, std::string& e, int64_t&) {
                         e = "HTTP 400";
                         return Outcome::permanent;
                       },
                       "backup")},
       {"pager", receiver([](const alerts::Notification&, int, std::string& e, int64_t&) {
          e = "timeout";
          return Outcome::retryable;
        })},
       {"backup", receiver([&](const alerts::Notification& n, int, std::string&, int64_t&) {
          backup_got.push_back(n.idempotency_key);
          return Outcome::ok;
        })}});
  d.deliver_due(0);
  REQUIRE(backup_got.size() == 1);
  CHECK(backup_got[0] == "bad-request~backup");
  CHECK(db->rows("fallen_back").size() == 1);
  // The pager keeps failing until the maximum age (60 s): then it is marked failed.
  for (int64_t t = 0; t <= 70'000; t += 500) d.deliver_due(t);
  CHECK(db->rows("failed").size() == 1);
  CHECK(d.counters().failed == 1);
  CHECK(db->depth() == 0);
}

TEST_CASE("rows still pending when the process died are delivered after reopening") {
  TempDir dir;
  std::string error;
  {
    auto db = open_db(dir.db());
    alerts::Batch b;
    b.notifications.push_back(note("k1", "ops", 0));
    b.notifications.push_back(note("k2", "ops", 0));
    REQUIRE(db->commit(b, error));
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
  std::vector<std::string> got;
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification& n, int, std::string&, int64_t&) {
          got.push_back(n.idempotency_key);
          return Outcome::ok;
        })}});
  d.deliver_due(5000);
  CHECK(got == std::vector<std::string>{"k2"});  // k1 was delivered before: not again
}

TEST_CASE("a hanging receiver does not hold up another") {
  TempDir dir;
  auto db = open_db(dir.db());
  std::atomic<bool> release{false};
  std::atomic<int> fast_got{0};
  Delivery d(*db);
  d.set_receivers(
      {{"stuck", receiver([&](const alerts::Notification&, int, std::string&, int64_t&) {
          while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
          return Outcome::ok;
        })},
       {"fast", receiver([&](const alerts::Notification&, int, std::string&, int64_t&) {
          ++fast_got;
          return Outcome::ok;
        })}});
  d.start();
  std::string error;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  alerts::Batch b;
  b.notifications.push_back(note("s1", "stuck", now));
  for (int i = 0; i < 20; ++i)
    b.notifications.push_back(note("f" + std::to_string(i), "fast", now));
  REQUIRE(db->commit(b, error));
  d.wake();
  for (int i = 0; i < 1000 && fast_got < 20; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(fast_got == 20);
  CHECK(db->rows("pending").size() == 1);  // only the stuck one
  release = true;
  d.stop(std::chrono::milliseconds(2000));
}
