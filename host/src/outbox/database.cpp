// SQLite storage for alert state and the outbox (see database.hpp).
//
// Durability: WAL with synchronous=NORMAL. A committed transaction survives the process being
// killed at any point (kill -9 included: the WAL is in the kernel's page cache the moment the
// commit returns); only a power loss or kernel crash can lose the last transactions, which is
// the trade SQLite documents for WAL+NORMAL and what keeps a commit well under a millisecond.
#include "outbox/database.hpp"

#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>

namespace vigil::outbox {
namespace {

using nlohmann::json;
constexpr int kSchemaVersion = 1;

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int i) {
    auto* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t integer(int i) { return sqlite3_column_int64(stmt_, i); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

json matchers_json(const std::vector<alerts::Matcher>& matchers) {
  json out = json::array();
  for (const auto& m : matchers) out.push_back(m.to_string());
  return out;
}

std::vector<alerts::Matcher> matchers_from(const json& j) {
  std::vector<alerts::Matcher> out;
  for (const auto& m : j) {
    std::string error;
    if (auto parsed = alerts::parse_matcher(m.get<std::string>(), error)) out.push_back(*parsed);
  }
  return out;
}

json alert_json(const alerts::Alert& a) {
  json j = {{"fingerprint", a.fingerprint},
            {"rule", a.rule},
            {"labels", a.labels},
            {"annotations", a.annotations},
            {"value", a.value},
            {"state", alerts::to_string(a.state)},
            {"active_since", a.active_since_ms},
            {"fired_at", a.fired_at_ms},
            {"resolved_at", a.resolved_at_ms},
            {"last_seen", a.last_seen_ms},
            {"last_eval", a.last_eval_ms},
            {"silenced", a.silenced},
            {"inhibited", a.inhibited},
            {"flapping", a.flapping},
            {"recent_changes", a.recent_changes_ms},
            {"silenced_by", a.silenced_by}};
  if (std::isfinite(a.value) == false) j["value"] = nullptr;
  if (a.ack)
    j["ack"] = {{"author", a.ack->author},
                {"comment", a.ack->comment},
                {"at", a.ack->at_ms},
                {"expires", a.ack->expires_ms},
                {"sticky", a.ack->sticky}};
  return j;
}

alerts::State state_from(const std::string& s) {
  if (s == "pending") return alerts::State::pending;
  if (s == "firing") return alerts::State::firing;
  if (s == "resolved") return alerts::State::resolved;
  return alerts::State::inactive;
}

alerts::Alert alert_from(const json& j) {
  alerts::Alert a;
  a.fingerprint = j.value("fingerprint", "");
  a.rule = j.value("rule", "");
  a.labels = j.value("labels", alerts::Labels{});
  a.annotations = j.value("annotations", alerts::Annotations{});
  a.value = j["value"].is_number() ? j["value"].get<double>() : NAN;
  a.state = state_from(j.value("state", ""));
  a.active_since_ms = j.value("active_since", int64_t{0});
  a.fired_at_ms = j.value("fired_at", int64_t{0});
  a.resolved_at_ms = j.value("resolved_at", int64_t{0});
  a.last_seen_ms = j.value("last_seen", int64_t{0});
  a.last_eval_ms = j.value("last_eval", int64_t{0});
  a.silenced = j.value("silenced", false);
  a.inhibited = j.value("inhibited", false);
  a.flapping = j.value("flapping", false);
  a.recent_changes_ms = j.value("recent_changes", std::vector<int64_t>{});
  a.silenced_by = j.value("silenced_by", std::vector<std::string>{});
  if (j.contains("ack") && j["ack"].is_object()) {
    const json& k = j["ack"];
    a.ack = alerts::Ack{k.value("author", ""), k.value("comment", ""), k.value("at", int64_t{0}),
                        k.value("expires", int64_t{0}), k.value("sticky", false)};
  }
  return a;
}

json group_json(const alerts::Group& g) {
  return {{"key", g.key},
          {"receiver", g.receiver},
          {"policy", g.policy},
          {"group_labels", g.group_labels},
          {"fingerprints", g.fingerprints},
          {"first_at", g.first_at_ms},
          {"last_notified", g.last_notified_ms},
          {"next_flush", g.next_flush_ms},
          {"last_notified_hash", g.last_notified_hash},
          {"iteration", g.iteration},
          {"step", g.step},
          {"step_due", g.step_due_ms},
          {"escalating", g.escalating},
          {"escalation_stopped", g.escalation_stopped},
          {"notified_receivers", g.notified_receivers},
          {"sequence", g.sequence}};
}

alerts::Group group_from(const json& j) {
  alerts::Group g;
  g.key = j.value("key", "");
  g.receiver = j.value("receiver", "");
  g.policy = j.value("policy", "");
  g.group_labels = j.value("group_labels", alerts::Labels{});
  g.fingerprints = j.value("fingerprints", std::vector<std::string>{});
  g.first_at_ms = j.value("first_at", int64_t{0});
  g.last_notified_ms = j.value("last_notified", int64_t{0});
  g.next_flush_ms = j.value("next_flush", int64_t{0});
  g.last_notified_hash = j.value("last_notified_hash", "");
  g.iteration = j.value("iteration", 0);
  g.step = j.value("step", 0);
  g.step_due_ms = j.value("step_due", int64_t{0});
  g.escalating = j.value("escalating", false);
  g.escalation_stopped = j.value("escalation_stopped", false);
  g.notified_receivers = j.value("notified_receivers", std::vector<std::string>{});
  g.sequence = j.value("sequence", int64_t{0});
  return g;
}

json silence_json(const alerts::Silence& s) {
  return {{"id", s.id},
          {"matchers", matchers_json(s.matchers)},
          {"starts", s.starts_ms},
          {"ends", s.ends_ms},
          {"author", s.author},
          {"comment", s.comment},
          {"end_on_resolve", s.end_on_resolve},
          {"created", s.created_ms}};
}

alerts::Silence silence_from(const json& j) {
  alerts::Silence s;
  s.id = j.value("id", "");
  s.matchers = matchers_from(j.value("matchers", json::array()));
  s.starts_ms = j.value("starts", int64_t{0});
  s.ends_ms = j.value("ends", int64_t{0});
  s.author = j.value("author", "");
  s.comment = j.value("comment", "");
  s.end_on_resolve = j.value("end_on_resolve", false);
  s.created_ms = j.value("created", int64_t{0});
  return s;
}

}  // namespace

std::unique_ptr<Database> Database::open(const std::string& file, std::string& error) {
  std::unique_ptr<Database> db(new Database());
  db->file_ = file;
  if (file != ":memory:") {
    std::error_code ec;
    auto dir = std::filesystem::path(file).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec) {
      error = file + ": cannot create its directory " + dir.string() + " (" + ec.message() +
              "); expected a writable data_dir";
      return nullptr;
    }
  }
  if (sqlite3_open_v2(file.c_str(), &db->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    error = file + ": cannot open (" + (db->db_ ? sqlite3_errmsg(db->db_) : "out of memory") +
            "); expected a writable SQLite database";
    return nullptr;
  }
  sqlite3_busy_timeout(db->db_, 5000);
  std::string why;
  int version = -1;
  {
    Statement v(db->db_, "PRAGMA user_version");
    if (v.ok() && v.step() == SQLITE_ROW) version = static_cast<int>(v.integer(0));
  }
  if (version < 0) {
    error = file + ": not a database Vigil can read (" + sqlite3_errmsg(db->db_) +
            "); expected vigil's SQLite state file, or move it away to start afresh";
    return nullptr;
  }
  if (version > kSchemaVersion) {
    error = file + ": written by a newer vigil (schema " + std::to_string(version) +
            ", this one knows up to " + std::to_string(kSchemaVersion) +
            "); expected the vigil version that wrote it, or a fresh data_dir";
    return nullptr;
  }
  if (!db->exec("PRAGMA journal_mode=WAL", why) || !db->exec("PRAGMA synchronous=NORMAL", why) ||
      !db->exec("PRAGMA foreign_keys=OFF", why)) {
    error = file + ": " + why;
    return nullptr;
  }
  if (version == 0) {
    const char* schema = R"(
      BEGIN;
      CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE transitions (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL,
                                at INTEGER NOT NULL, from_state TEXT, to_state TEXT, detail TEXT);
      CREATE INDEX transitions_by_alert ON transitions (fingerprint, id);
      CREATE TABLE silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE groups (key TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE outbox (id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
                           receiver TEXT NOT NULL, group_key TEXT, status TEXT,
                           escalation_step INTEGER, created INTEGER NOT NULL, payload TEXT,
                           state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER DEFAULT 0,
                           next_attempt INTEGER NOT NULL, last_error TEXT,
                           delivered INTEGER DEFAULT 0);
      CREATE INDEX outbox_due ON outbox (state, receiver, next_attempt);
      PRAGMA user_version = 1;
      COMMIT;)";
    if (!db->exec(schema, why)) {
      error = file + ": cannot create the schema (" + why + ")";
      return nullptr;
    }
  }
  return db;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

bool Database::exec(const char* sql, std::string& error) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    error = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return false;
  }
  return true;
}

void Database::set_history_limits(size_t per_alert, int64_t max_age_ms) {
  std::lock_guard lock(mutex_);
  history_per_alert_ = per_alert;
  history_max_age_ms_ = max_age_ms;
}

bool Database::commit(const alerts::Batch& batch, std::string& error) {
  std::lock_guard lock(mutex_);
  if (!exec("BEGIN IMMEDIATE", error)) return false;
  auto fail = [&](const std::string& what) {
    error = file_ + ": " + what + ": " + sqlite3_errmsg(db_);
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  };
  {
    for (const auto& a : batch.alerts) {
      Statement s(db_, "INSERT OR REPLACE INTO alerts (fingerprint, body) VALUES (?, ?)");
      if (s.bind(1, a.fingerprint).bind(2, alert_json(a).dump()).step() != SQLITE_DONE)
        return fail("saving alert " + a.fingerprint);
    }
    for (const auto& fp : batch.deleted_alerts) {
      Statement s(db_, "DELETE FROM alerts WHERE fingerprint = ?");
      if (s.bind(1, fp).step() != SQLITE_DONE) return fail("deleting alert " + fp);
    }
    for (const auto& t : batch.transitions) {
      Statement s(db_,
                  "INSERT INTO transitions (fingerprint, at, from_state, to_state, detail) "
                  "VALUES (?, ?, ?, ?, ?)");
      if (s.bind(1, t.fingerprint)
              .bind(2, t.at_ms)
              .bind(3, t.from)
              .bind(4, t.to)
              .bind(5, t.detail)
              .step() != SQLITE_DONE)
        return fail("saving the history of " + t.fingerprint);
    }
    for (const auto& g : batch.groups) {
      Statement s(db_, "INSERT OR REPLACE INTO groups (key, body) VALUES (?, ?)");
      if (s.bind(1, g.key).bind(2, group_json(g).dump()).step() != SQLITE_DONE)
        return fail("saving group " + g.key);
    }
    for (const auto& key : batch.deleted_groups) {
      Statement s(db_, "DELETE FROM groups WHERE key = ?");
      if (s.bind(1, key).step() != SQLITE_DONE) return fail("deleting group " + key);
    }
    for (const auto& silence : batch.silences) {
      Statement s(db_, "INSERT OR REPLACE INTO silences (id, body) VALUES (?, ?)");
      if (s.bind(1, silence.id).bind(2, silence_json(silence).dump()).step() != SQLITE_DONE)
        return fail("saving silence " + silence.id);
    }
    for (const auto& n : batch.notifications) {
      // OR IGNORE: a batch retried after a failed commit must not queue a notification twice.
      Statement s(
          db_,
          "INSERT OR IGNORE INTO outbox (idempotency_key, receiver, group_key, status, "
          "escalation_step, created, payload, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      if (s.bind(1, n.idempotency_key)
              .bind(2, n.receiver)
              .bind(3, n.group_key)
              .bind(4, n.status)
              .bind(5, int64_t{n.escalation_step})
              .bind(6, n.created_ms)
              .bind(7, n.payload_json)
              .bind(8, n.created_ms)
              .step() != SQLITE_DONE)
        return fail("queueing notification " + n.idempotency_key);
    }
  }
  // Keep history bounded now and then rather than on every commit.
  if (++commits_ % 256 == 0 && !batch.transitions.empty()) {
    Statement s(db_,
                "DELETE FROM transitions WHERE at < ? OR id IN (SELECT id FROM (SELECT id, "
                "ROW_NUMBER() OVER (PARTITION BY fingerprint ORDER BY id DESC) AS n FROM "
                "transitions) WHERE n > ?)");
    s.bind(1, batch.transitions.back().at_ms - history_max_age_ms_)
        .bind(2, static_cast<int64_t>(history_per_alert_));
    if (s.step() != SQLITE_DONE) return fail("pruning history");
  }
  if (!exec("COMMIT", error)) return fail("committing");
  return true;
}

bool Database::load(alerts::Snapshot& out, std::string& error) {
  std::lock_guard lock(mutex_);
  try {
    Statement a(db_, "SELECT body FROM alerts");
    while (a.step() == SQLITE_ROW) out.alerts.push_back(alert_from(json::parse(a.text(0))));
    Statement g(db_, "SELECT body FROM groups");
    while (g.step() == SQLITE_ROW) out.groups.push_back(group_from(json::parse(g.text(0))));
    Statement s(db_, "SELECT body FROM silences");
    while (s.step() == SQLITE_ROW) out.silences.push_back(silence_from(json::parse(s.text(0))));
  } catch (const std::exception& e) {
    error =
        file_ + ": a saved row is not readable (" + e.what() + "); expected rows written by vigil";
    return false;
  }
  return true;
}

std::vector<alerts::Transition> Database::history(const std::string& fingerprint, size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<alerts::Transition> out;
  Statement s(db_,
              "SELECT at, from_state, to_state, detail FROM (SELECT * FROM transitions WHERE "
              "fingerprint = ? ORDER BY id DESC LIMIT ?) ORDER BY id");
  s.bind(1, fingerprint).bind(2, static_cast<int64_t>(limit));
  while (s.step() == SQLITE_ROW)
    out.push_back({fingerprint, s.integer(0), s.text(1), s.text(2), s.text(3)});
  return out;
}

namespace {
OutboxRow row_from(Statement& s) {
  OutboxRow r;
  r.id = s.integer(0);
  r.notification.idempotency_key = s.text(1);
  r.notification.receiver = s.text(2);
  r.notification.group_key = s.text(3);
  r.notification.status = s.text(4);
  r.notification.escalation_step = static_cast<int>(s.integer(5));
  r.notification.created_ms = s.integer(6);
  r.notification.payload_json = s.text(7);
  r.state = s.text(8);
  r.attempts = static_cast<int>(s.integer(9));
  r.next_attempt_ms = s.integer(10);
  r.last_error = s.text(11);
  r.delivered_ms = s.integer(12);
  return r;
}
constexpr const char* kRowColumns =
    "id, idempotency_key, receiver, group_key, status, escalation_step, created, payload, state, "
    "attempts, next_attempt, last_error, delivered";
}  // namespace

std::vector<OutboxRow> Database::due(const std::string& receiver, int64_t now_ms, size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<OutboxRow> out;
  Statement s(db_, (std::string("SELECT ") + kRowColumns +
                    " FROM outbox WHERE state = 'pending' AND receiver = ? AND next_attempt <= ? "
                    "ORDER BY next_attempt, id LIMIT ?")
                       .c_str());
  s.bind(1, receiver).bind(2, now_ms).bind(3, static_cast<int64_t>(limit));
  while (s.step() == SQLITE_ROW) out.push_back(row_from(s));
  return out;
}

std::vector<std::string> Database::receivers_with_pending() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  Statement s(db_, "SELECT DISTINCT receiver FROM outbox WHERE state = 'pending'");
  while (s.step() == SQLITE_ROW) out.push_back(s.text(0));
  return out;
}

int64_t Database::next_attempt_ms(const std::string& receiver) {
  std::lock_guard lock(mutex_);
  Statement t(db_,
              "SELECT next_attempt FROM outbox WHERE state = 'pending' AND receiver = ? "
              "ORDER BY next_attempt LIMIT 1");
  t.bind(1, receiver);
  return t.step() == SQLITE_ROW ? t.integer(0) : INT64_MAX;
}

bool Database::record(const OutboxRow& row, const DeliveryResult& result, int64_t now_ms,
                      std::string& error) {
  std::lock_guard lock(mutex_);
  if (!exec("BEGIN IMMEDIATE", error)) return false;
  auto fail = [&](const std::string& what) {
    error = file_ + ": " + what + ": " + sqlite3_errmsg(db_);
    std::string ignored;
    exec("ROLLBACK", ignored);
    return false;
  };
  const char* state = "pending";
  switch (result.kind) {
    case DeliveryResult::delivered:
      state = "delivered";
      break;
    case DeliveryResult::retry:
      state = "pending";
      break;
    case DeliveryResult::failed:
      state = "failed";
      break;
    case DeliveryResult::fallen_back:
      state = "fallen_back";
      break;
  }
  Statement s(db_,
              "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt = ?, "
              "last_error = ?, delivered = ? WHERE id = ? AND state = 'pending'");
  s.bind(1, std::string(state))
      .bind(2, result.kind == DeliveryResult::retry ? result.next_attempt_ms : row.next_attempt_ms)
      .bind(3, result.error)
      .bind(4, result.kind == DeliveryResult::delivered ? now_ms : int64_t{0})
      .bind(5, row.id);
  if (s.step() != SQLITE_DONE) return fail("recording a delivery");
  if (result.fallback) {
    const auto& n = *result.fallback;
    Statement f(db_,
                "INSERT OR IGNORE INTO outbox (idempotency_key, receiver, group_key, status, "
                "escalation_step, created, payload, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (f.bind(1, n.idempotency_key)
            .bind(2, n.receiver)
            .bind(3, n.group_key)
            .bind(4, n.status)
            .bind(5, int64_t{n.escalation_step})
            .bind(6, n.created_ms)
            .bind(7, n.payload_json)
            .bind(8, now_ms)
            .step() != SQLITE_DONE)
      return fail("queueing the fallback");
  }
  if (!exec("COMMIT", error)) return fail("committing a delivery");
  return true;
}

size_t Database::depth() {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'");
  return s.step() == SQLITE_ROW ? static_cast<size_t>(s.integer(0)) : 0;
}

std::vector<OutboxRow> Database::rows(const std::string& state) {
  std::lock_guard lock(mutex_);
  std::vector<OutboxRow> out;
  Statement s(
      db_,
      (std::string("SELECT ") + kRowColumns + " FROM outbox WHERE state = ? ORDER BY id").c_str());
  s.bind(1, state);
  while (s.step() == SQLITE_ROW) out.push_back(row_from(s));
  return out;
}

}  // namespace vigil::outbox
