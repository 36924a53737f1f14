// Durable alert state and the notification outbox in one SQLite database (WAL).
//
// The alert engine's batches are written here in one transaction each, so a state change and
// the notifications it causes are saved together or not at all; the delivery worker then takes
// notifications from the outbox table and records each attempt. Rows of alerts, groups and
// silences are JSON documents keyed by their identity, so the engine can grow fields without a
// migration; only what is queried has columns.
// This file must never lose a committed row: every write is inside a transaction, and a failed
// one rolls back whole.
#pragma once

#include "alerts/model.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace vigil::outbox {

// One notification in the outbox, with its delivery bookkeeping.
struct OutboxRow {
  int64_t id = 0;
  alerts::Notification notification;
  std::string state;  // pending, delivered, failed, fallen_back
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  std::string last_error;
  int64_t delivered_ms = 0;
};

struct DeliveryResult {
  enum Kind { delivered, retry, failed, fallen_back } kind = delivered;
  int64_t next_attempt_ms = 0;  // retry
  std::string error;
  std::optional<alerts::Notification> fallback;  // fallen_back: the row to add for it
};

// Thread-safety: every member takes the connection's mutex; safe from any thread.
class Database : public alerts::Journal {
 public:
  // Opens (creating when missing) `file`, or an in-memory database for ":memory:". False with
  // `error` naming the file and the reason (unreadable, not a database, newer schema ...).
  static std::unique_ptr<Database> open(const std::string& file, std::string& error);
  ~Database() override;

  bool commit(const alerts::Batch& batch, std::string& error) override;
  bool load(alerts::Snapshot& out, std::string& error) override;
  std::vector<alerts::Transition> history(const std::string& fingerprint, size_t limit) override;

  // Outbox side.
  std::vector<OutboxRow> due(const std::string& receiver, int64_t now_ms, size_t limit);
  std::vector<std::string> receivers_with_pending();
  int64_t next_attempt_ms(const std::string& receiver);  // INT64_MAX when nothing is pending
  bool record(const OutboxRow& row, const DeliveryResult& result, int64_t now_ms,
              std::string& error);
  size_t depth();                                         // pending rows
  std::vector<OutboxRow> rows(const std::string& state);  // for tests and the API

  // History bounds: at most this many transitions per alert, none older than max_age_ms.
  void set_history_limits(size_t per_alert, int64_t max_age_ms);
  const std::string& file() const { return file_; }

 private:
  Database() = default;
  bool exec(const char* sql, std::string& error);

  sqlite3* db_ = nullptr;
  std::string file_;
  std::mutex mutex_;
  size_t history_per_alert_ = 200;
  int64_t history_max_age_ms_ = 30LL * 86'400'000;
  uint64_t commits_ = 0;
};

}  // namespace vigil::outbox
