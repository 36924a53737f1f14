// Durable alert state and the notification outbox in one SQLite database (WAL).
//
// The alert engine's batches are written here in one transaction each, so a state change and
// the notifications it causes are saved together or not at all; the delivery worker then takes
// notifications from the outbox table and records each attempt. Rows of alerts, groups and
// silences are JSON documents keyed by their identity, so the engine can grow fields without a
// migration; only what is queried has columns. The schema version lives in `PRAGMA
// user_version` and older files are migrated forward in place, one transaction per step.
// This file must never lose a committed row: every write is inside a transaction, and a failed
// one rolls back whole. It never deletes a pending notification, however old.
#pragma once

#include "alerts/model.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace vigil::outbox {

// One notification in the outbox, with its delivery bookkeeping. Thread-safety: plain value.
struct OutboxRow {
  int64_t id = 0;
  alerts::Notification notification;
  std::string state;  // pending, delivered, failed, fallen_back
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  int64_t last_attempt_ms = 0;
  std::string last_error;
  int64_t delivered_ms = 0;
  // Receivers that already gave this notification up, in order (a fallback row carries its
  // predecessors), so a chain of fallbacks can never come back to one of them.
  std::vector<std::string> tried;
};

// What one delivery attempt decided for a row. Thread-safety: plain value.
struct DeliveryResult {
  enum Kind { delivered, retry, failed, fallen_back } kind = delivered;
  int64_t next_attempt_ms = 0;  // retry
  std::string error;
  std::optional<alerts::Notification> fallback;  // fallen_back: the row to add for it
};

// How hard a commit waits for the disk. normal: WAL + synchronous=NORMAL, a commit survives the
// process being killed at any instant (kill -9, a crash), only a power loss or kernel panic can
// lose the last few commits. full: each commit also waits for fsync of the WAL.
enum class Sync { normal, full };

struct OpenOptions {
  Sync sync = Sync::normal;
  int busy_timeout_ms = 5000;   // another connection (the sqlite3 shell) holding the write lock
  bool check_integrity = true;  // PRAGMA quick_check at open, so damage is found at start
};

// Thread-safety: every member takes the connection's mutex; safe from any thread.
class Database : public alerts::Journal {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens (creating when missing, migrating when older) `file`, or an in-memory database for
  // ":memory:". nullptr with `error` naming the file, what was found and what was expected
  // (unreadable, not a database, damaged, written by a newer vigil ...).
  static std::unique_ptr<Database> open(const std::string& file, std::string& error,
                                        OpenOptions options = {});
  ~Database() override;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool commit(const alerts::Batch& batch, std::string& error) override;
  bool load(alerts::Snapshot& out, std::string& error) override;
  std::vector<alerts::Transition> history(const std::string& fingerprint, size_t limit) override;

  // Outbox side.
  std::vector<OutboxRow> due(const std::string& receiver, int64_t now_ms, size_t limit);
  std::vector<std::string> receivers_with_pending();
  int64_t next_attempt_ms(const std::string& receiver);    // INT64_MAX when nothing is pending
  int64_t oldest_pending_ms(const std::string& receiver);  // created; INT64_MAX when none
  // Records one attempt. Only a row still pending is changed: an answer that comes after the
  // row was settled otherwise (a late answer to an abandoned call) changes nothing.
  bool record(const OutboxRow& row, const DeliveryResult& result, int64_t now_ms,
              std::string& error);
  size_t depth();                                         // pending rows
  std::map<std::string, size_t> depth_by_receiver();      // pending rows per receiver
  std::vector<OutboxRow> rows(const std::string& state);  // for tests and the API
  std::optional<OutboxRow> find(const std::string& idempotency_key);

  // History bounds: at most this many transitions per alert (enforced at every commit), none
  // older than max_age_ms (swept at most once a minute of the engine's clock).
  void set_history_limits(size_t per_alert, int64_t max_age_ms);
  // Settled outbox rows (delivered, failed, fallen_back) are kept this long for the API and so
  // a batch committed again cannot queue the same idempotency key twice; pending rows never go.
  void set_outbox_retention(int64_t ms);
  const std::string& file() const { return file_; }
  int schema_version();

  // Called on the committing thread right after a commit that queued notifications, outside the
  // connection's lock, so delivery starts without waiting for anyone to call wake(). It must be
  // quick and must not call back into this Database. Empty clears it; once cleared, it is never
  // called again (clearing waits for a call in progress).
  void set_commit_listener(std::function<void()> listener);

 private:
  Database() = default;
  bool exec(const char* sql, std::string& error);
  bool commit_locked(const alerts::Batch& batch, std::string& error);
  bool migrate(int from, std::string& error);
  // A cached prepared statement for `sql` (a string literal: cached by address), or nullptr.
  sqlite3_stmt* statement(const char* sql);
  bool prune();  // in the caller's transaction

  sqlite3* db_ = nullptr;
  std::string file_;
  std::mutex mutex_;
  std::mutex listener_mutex_;  // taken after mutex_ is released, never the other way round
  std::function<void()> listener_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
  size_t history_per_alert_ = 200;
  int64_t history_max_age_ms_ = 30LL * 86'400'000;
  int64_t outbox_retention_ms_ = 7LL * 86'400'000;
  // The engine's clock as seen in batches (wall time in the daemon, virtual in test-rules):
  // age limits are measured on it, never on this machine's clock.
  int64_t clock_ms_ = 0;
  int64_t pruned_at_ms_ = 0;
  bool pruned_ = false;
};

}  // namespace vigil::outbox
