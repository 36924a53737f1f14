// Shared helpers of the outbox tests: a temporary data directory removed afterwards, real SQLite
// files opened through outbox::Database, notifications and receivers in one line each.
// Nothing here stands in for SQLite or the delivery worker: the tests run the real ones.
#pragma once

#include "outbox/database.hpp"
#include "outbox/delivery.hpp"

#include <sqlite3.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

namespace vigil::outbox::testing {

// Thread-safety: one test's own.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("vigil-outbox-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string db() const { return (path / "vigil.db").string(); }
};

inline alerts::Notification note(const std::string& key, const std::string& receiver, int64_t at) {
  alerts::Notification n;
  n.idempotency_key = key;
  n.receiver = receiver;
  n.group_key = "0:{}";
  n.status = "firing";
  n.escalation_step = 1;
  n.created_ms = at;
  n.payload_json = R"({"status":"firing"})";
  return n;
}

inline std::unique_ptr<Database> open_db(const std::string& file) {
  std::string error;
  auto db = Database::open(file, error);
  INFO(error);
  REQUIRE(db);
  return db;
}

inline void commit(Database& db, const alerts::Batch& batch) {
  std::string error;
  const bool ok = db.commit(batch, error);
  INFO(error);
  REQUIRE(ok);
}

inline void queue(Database& db, std::vector<alerts::Notification> notifications) {
  alerts::Batch b;
  b.notifications = std::move(notifications);
  commit(db, b);
}

// Deterministic options: no jitter, 1 s first retry doubling to 8 s, 60 s maximum age.
inline ReceiverOptions receiver(DeliverFn fn, std::string fallback = "") {
  ReceiverOptions o;
  o.deliver = std::move(fn);
  o.fallback = std::move(fallback);
  o.jitter = false;
  o.backoff_min_ms = 1000;
  o.backoff_max_ms = 8000;
  o.max_age_ms = 60'000;
  return o;
}

inline DeliverFn always(Outcome outcome, std::string error = "") {
  return [outcome, error](const alerts::Notification&, int, std::string& e, int64_t&) {
    e = error;
    return outcome;
  };
}

inline int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Waits for a condition the worker threads bring about. The bound is only there so a broken
// build fails instead of hanging; nothing is asserted about how long it took.
inline bool eventually(const std::function<bool()>& condition) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A raw connection for what the tests inject or inspect behind Database's back.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& file) { sqlite3_open(file.c_str(), &db); }
  ~RawDb() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    INFO(sql << ": " << (message ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
};

}  // namespace vigil::outbox::testing
