// SQLite storage for alert state and the outbox (see database.hpp).
//
// Durability: WAL with synchronous=NORMAL by default. A committed transaction survives the
// process being killed at any point (kill -9 included: the WAL frames are in the kernel's page
// cache the moment COMMIT returns); only a power loss or kernel crash can lose the last
// transactions, never corrupt the file. FULL adds an fsync per commit: bench_outbox measured a
// firing alert's commit at 65 us median with NORMAL against 4.0 ms with FULL (ext4 on the shared
// 2-core VM), which would eat most of the 5 ms fire-to-outbox budget on its own. Sync::full is
// there for hosts whose notifications must survive a power cut too.
// Statements are prepared once per connection and reused: a commit is a handful of
// sqlite3_step calls, not a parse per row.
#include "outbox/database.hpp"

#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <set>

namespace vigil::outbox {
namespace {

using nlohmann::json;

// Schema steps: migrations[i] takes a file from user_version i to i + 1. Only ever append.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the first schema.
    R"(CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, body TEXT NOT NULL);
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
       CREATE INDEX outbox_due ON outbox (state, receiver, next_attempt);)",
    // 1 -> 2: fallback chains remember who gave up, attempts their time; history is swept by
    // age through an index instead of a scan.
    R"(ALTER TABLE outbox ADD COLUMN tried TEXT NOT NULL DEFAULT '[]';
       ALTER TABLE outbox ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;
       CREATE INDEX transitions_by_time ON transitions (at);)",
    // 2 -> 3: a receiver gets a group's notifications in order; a group's pending rows for a
    // receiver are found through this index.
    R"(CREATE INDEX outbox_group_order ON outbox (state, receiver, group_key, id);)",
};
static_assert(std::size(kMigrations) == Database::kSchemaVersion);

// Binds and steps a cached statement; resets it when done so the next use starts clean.
class Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Query() {
    if (stmt_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  Query& bind(int i, const std::string& v) {
    if (stmt_) sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& bind(int i, int64_t v) {
    if (stmt_) sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_MISUSE; }
  bool done() { return step() == SQLITE_DONE; }
  std::string text(int i) {
    auto* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t integer(int i) { return sqlite3_column_int64(stmt_, i); }
  bool is_null(int i) { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_;
};

// Rolls back an open transaction unless it was committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (!committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void committed() { committed_ = true; }

 private:
  sqlite3* db_;
  bool committed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Rows as JSON. Readers take every field with a default, so a row written before a field existed
// loads with the field's default, and a row written by a build with more fields loads too.

json number_json(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return v;
}

double number_from(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "+Inf") return INFINITY;
    if (s == "-Inf") return -INFINITY;
  }
  return NAN;
}

json matchers_json(const std::vector<alerts::Matcher>& matchers) {
  json out = json::array();
  for (const auto& m : matchers) out.push_back(m.to_string());
  return out;
}

std::vector<alerts::Matcher> matchers_from(const json& j, const std::string& where) {
  std::vector<alerts::Matcher> out;
  for (const auto& m : j) {
    std::string error;
    auto parsed = alerts::parse_matcher(m.get<std::string>(), error);
    // A silence that silently lost a matcher would silence more than was asked: refuse it.
    if (!parsed) throw std::runtime_error(where + ": matcher " + m.dump() + ": " + error);
    out.push_back(*parsed);
  }
  return out;
}

json alert_json(const alerts::Alert& a) {
  json j = {{"fingerprint", a.fingerprint},
            {"rule", a.rule},
            {"labels", a.labels},
            {"annotations", a.annotations},
            {"value", number_json(a.value)},
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
  a.value = j.contains("value") ? number_from(j["value"]) : 0.0;
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
  s.matchers = matchers_from(j.value("matchers", json::array()), "silence " + s.id);
  s.starts_ms = j.value("starts", int64_t{0});
  s.ends_ms = j.value("ends", int64_t{0});
  s.author = j.value("author", "");
  s.comment = j.value("comment", "");
  s.end_on_resolve = j.value("end_on_resolve", false);
  s.created_ms = j.value("created", int64_t{0});
  return s;
}

// A receiver hears a group's notifications in the order they were made: rows are taken by
// (next_attempt, id), a new row is never due before the pending rows of its group, and a retry
// pushes the later rows of its group behind it (record()); the lanes skip the rest of a group
// in a batch once one of its rows is retried. So an old "firing" never lands after a newer
// "acknowledged" or "resolved", and other groups go on.
constexpr const char* kInsertNotification =
    "INSERT OR IGNORE INTO outbox (idempotency_key, receiver, group_key, status, escalation_step, "
    "created, payload, next_attempt, tried) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, MAX(?8, "
    "COALESCE((SELECT MAX(next_attempt) FROM outbox WHERE state = 'pending' AND receiver = ?2 AND "
    "group_key IS ?3), 0)), ?9)";

bool insert_notification(Query&& q, const alerts::Notification& n, int64_t next_attempt_ms,
                         const std::string& tried_json) {
  return q.bind(1, n.idempotency_key)
      .bind(2, n.receiver)
      .bind(3, n.group_key)
      .bind(4, n.status)
      .bind(5, int64_t{n.escalation_step})
      .bind(6, n.created_ms)
      .bind(7, n.payload_json)
      .bind(8, next_attempt_ms)
      .bind(9, tried_json)
      .done();
}

constexpr const char* kRowColumns =
    "id, idempotency_key, receiver, group_key, status, escalation_step, created, payload, state, "
    "attempts, next_attempt, last_error, delivered, last_attempt, tried";

OutboxRow row_from(Query& q) {
  OutboxRow r;
  r.id = q.integer(0);
  r.notification.idempotency_key = q.text(1);
  r.notification.receiver = q.text(2);
  r.notification.group_key = q.text(3);
  r.notification.status = q.text(4);
  r.notification.escalation_step = q.is_null(5) ? -1 : static_cast<int>(q.integer(5));
  r.notification.created_ms = q.integer(6);
  r.notification.payload_json = q.text(7);
  r.state = q.text(8);
  r.attempts = static_cast<int>(q.integer(9));
  r.next_attempt_ms = q.integer(10);
  r.last_error = q.text(11);
  r.delivered_ms = q.integer(12);
  r.last_attempt_ms = q.integer(13);
  // Written only by record() below; an unreadable list reads as empty rather than failing a row
  // that can still be delivered.
  const json tried = json::parse(q.text(14), nullptr, false);
  if (tried.is_array())
    for (const auto& t : tried)
      if (t.is_string()) r.tried.push_back(t.get<std::string>());
  return r;
}

int64_t batch_clock(const alerts::Batch& batch) {
  int64_t t = INT64_MIN;
  for (const auto& a : batch.alerts) t = std::max(t, a.last_eval_ms);
  for (const auto& tr : batch.transitions) t = std::max(t, tr.at_ms);
  for (const auto& n : batch.notifications) t = std::max(t, n.created_ms);
  return t;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::unique_ptr<Database> Database::open(const std::string& file, std::string& error,
                                         OpenOptions options) {
  std::unique_ptr<Database> db(new Database());
  db->file_ = file;
  const bool memory = file == ":memory:";
  if (!memory) {
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
            "); expected a readable and writable SQLite file";
    return nullptr;
  }
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, options.busy_timeout_ms);
  int version = -1;
  {
    Query v(db->statement("PRAGMA user_version"));
    if (v.step() == SQLITE_ROW) version = static_cast<int>(v.integer(0));
  }
  if (version < 0) {
    const int code = sqlite3_errcode(db->db_) & 0xff;
    if (code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_READONLY ||
        code == SQLITE_IOERR || code == SQLITE_AUTH)
      error = file + ": cannot read it (" + sqlite3_errmsg(db->db_) +
              "); expected a file the user running vigil may read and write";
    else
      error = file + ": not a database vigil can read (" + sqlite3_errmsg(db->db_) +
              "); expected vigil's SQLite state file; move it away to start afresh";
    return nullptr;
  }
  if (version > kSchemaVersion) {
    error = file + ": written by a newer vigil (schema " + std::to_string(version) +
            ", this one knows up to " + std::to_string(kSchemaVersion) +
            "); expected the vigil version that wrote it, or a fresh data_dir";
    return nullptr;
  }
  if (options.check_integrity && version > 0) {
    Query check(db->statement("PRAGMA quick_check(1)"));
    const int rc = check.step();
    const std::string verdict =
        rc == SQLITE_ROW ? check.text(0) : std::string(sqlite3_errmsg(db->db_));
    if (verdict != "ok") {
      error = file + ": the database is damaged (" + verdict +
              "); expected an intact file: restore a backup, or move it away to start afresh "
              "(alert state and queued notifications in it are then lost)";
      return nullptr;
    }
  }
  std::string why;
  if (!memory) {
    Query wal(db->statement("PRAGMA journal_mode=WAL"));
    const int rc = wal.step();
    const std::string mode = rc == SQLITE_ROW ? wal.text(0) : sqlite3_errmsg(db->db_);
    if (mode != "wal") {
      error = file + ": cannot switch to write-ahead logging (" + mode +
              "); expected a writable file on a local file system";
      return nullptr;
    }
  }
  if (!db->exec(
          options.sync == Sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
          why)) {
    error = file + ": " + why;
    return nullptr;
  }
  if (version < kSchemaVersion && !db->migrate(version, why)) {
    error = file + ": cannot bring the schema from version " + std::to_string(version) + " to " +
            std::to_string(kSchemaVersion) + " (" + why + ")";
    return nullptr;
  }
  return db;
}

Database::~Database() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  if (db_) sqlite3_close_v2(db_);
}

sqlite3_stmt* Database::statement(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK)
    return nullptr;
  statements_.emplace(sql, stmt);
  return stmt;
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

bool Database::migrate(int from, std::string& error) {
  for (int v = from; v < kSchemaVersion; ++v) {
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    Transaction tx(db_);
    // Another process may have migrated the file while we waited for the lock.
    int now = -1;
    {
      Query q(statement("PRAGMA user_version"));
      if (q.step() == SQLITE_ROW) now = static_cast<int>(q.integer(0));
    }
    if (now != v) {
      if (now > v) {
        exec("COMMIT", error);
        tx.committed();
        v = now - 1;
        continue;
      }
      error = "schema version changed under us to " + std::to_string(now);
      return false;
    }
    const std::string bump = "PRAGMA user_version = " + std::to_string(v + 1);
    if (!exec(kMigrations[v], error) || !exec(bump.c_str(), error) || !exec("COMMIT", error))
      return false;
    tx.committed();
  }
  return true;
}

int Database::schema_version() {
  std::lock_guard lock(mutex_);
  Query q(statement("PRAGMA user_version"));
  return q.step() == SQLITE_ROW ? static_cast<int>(q.integer(0)) : -1;
}

void Database::set_history_limits(size_t per_alert, int64_t max_age_ms) {
  std::lock_guard lock(mutex_);
  history_per_alert_ = per_alert;
  history_max_age_ms_ = max_age_ms;
}

void Database::set_outbox_retention(int64_t ms) {
  std::lock_guard lock(mutex_);
  outbox_retention_ms_ = ms;
}

void Database::set_commit_listener(std::function<void()> listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

bool Database::commit(const alerts::Batch& batch, std::string& error) {
  if (batch.empty()) return true;
  if (!commit_locked(batch, error)) return false;
  if (!batch.notifications.empty()) {
    std::lock_guard lock(listener_mutex_);
    if (listener_) listener_();
  }
  return true;
}

bool Database::commit_locked(const alerts::Batch& batch, std::string& error) {
  std::lock_guard lock(mutex_);
  if (!exec("BEGIN IMMEDIATE", error)) {
    error = file_ + ": cannot start a transaction: " + error;
    return false;
  }
  Transaction tx(db_);
  auto fail = [&](const std::string& what) {
    error = file_ + ": " + what + ": " + sqlite3_errmsg(db_) + "; nothing of this batch was saved";
    return false;
  };
  for (const auto& a : batch.alerts) {
    Query q(statement("INSERT OR REPLACE INTO alerts (fingerprint, body) VALUES (?, ?)"));
    if (!q.bind(1, a.fingerprint).bind(2, alert_json(a).dump()).done())
      return fail("saving alert " + a.fingerprint);
  }
  for (const auto& fp : batch.deleted_alerts) {
    Query q(statement("DELETE FROM alerts WHERE fingerprint = ?"));
    if (!q.bind(1, fp).done()) return fail("deleting alert " + fp);
  }
  std::set<std::string> touched;
  for (const auto& t : batch.transitions) {
    Query q(
        statement("INSERT INTO transitions (fingerprint, at, from_state, to_state, detail) "
                  "VALUES (?, ?, ?, ?, ?)"));
    if (!q.bind(1, t.fingerprint)
             .bind(2, t.at_ms)
             .bind(3, t.from)
             .bind(4, t.to)
             .bind(5, t.detail)
             .done())
      return fail("saving the history of alert " + t.fingerprint);
    touched.insert(t.fingerprint);
  }
  for (const auto& g : batch.groups) {
    Query q(statement("INSERT OR REPLACE INTO groups (key, body) VALUES (?, ?)"));
    if (!q.bind(1, g.key).bind(2, group_json(g).dump()).done())
      return fail("saving group " + g.key);
  }
  for (const auto& key : batch.deleted_groups) {
    Query q(statement("DELETE FROM groups WHERE key = ?"));
    if (!q.bind(1, key).done()) return fail("deleting group " + key);
  }
  for (const auto& silence : batch.silences) {
    Query q(statement("INSERT OR REPLACE INTO silences (id, body) VALUES (?, ?)"));
    if (!q.bind(1, silence.id).bind(2, silence_json(silence).dump()).done())
      return fail("saving silence " + silence.id);
  }
  for (const auto& n : batch.notifications) {
    // OR IGNORE: a batch committed again after a failed commit must not queue a key twice.
    if (!insert_notification(Query(statement(kInsertNotification)), n, n.created_ms, "[]"))
      return fail("queueing notification " + n.idempotency_key);
  }
  // The per-alert bound holds after every commit: only the alerts this batch touched can have
  // grown past it, and the index on (fingerprint, id) makes each trim a short range delete.
  for (const auto& fp : touched) {
    Query q(statement(
        "DELETE FROM transitions WHERE fingerprint = ?1 AND id <= (SELECT id FROM transitions "
        "WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"));
    if (!q.bind(1, fp).bind(2, static_cast<int64_t>(history_per_alert_)).done())
      return fail("trimming the history of alert " + fp);
  }
  clock_ms_ = std::max(clock_ms_, batch_clock(batch));
  if ((!pruned_ || clock_ms_ - pruned_at_ms_ >= 60'000) && !prune())
    return fail("sweeping old rows");
  if (!exec("COMMIT", error)) return fail("committing");
  tx.committed();
  return true;
}

bool Database::prune() {
  // Saturating: a limit of "forever" (INT64_MAX) must not wrap round into the future.
  auto cutoff = [&](int64_t age) {
    if (age <= 0) return clock_ms_;
    return clock_ms_ < INT64_MIN + age ? INT64_MIN : clock_ms_ - age;
  };
  Query h(statement("DELETE FROM transitions WHERE at < ?"));
  if (!h.bind(1, cutoff(history_max_age_ms_)).done()) return false;
  Query o(statement("DELETE FROM outbox WHERE state != 'pending' AND created < ?"));
  if (!o.bind(1, cutoff(outbox_retention_ms_)).done()) return false;
  pruned_at_ms_ = clock_ms_;
  pruned_ = true;
  return true;
}

bool Database::load(alerts::Snapshot& out, std::string& error) {
  std::lock_guard lock(mutex_);
  std::string where;
  try {
    Query a(statement("SELECT fingerprint, body FROM alerts"));
    while (a.step() == SQLITE_ROW) {
      where = "alert " + a.text(0);
      out.alerts.push_back(alert_from(json::parse(a.text(1))));
    }
    Query g(statement("SELECT key, body FROM groups"));
    while (g.step() == SQLITE_ROW) {
      where = "group " + g.text(0);
      out.groups.push_back(group_from(json::parse(g.text(1))));
    }
    Query s(statement("SELECT id, body FROM silences"));
    while (s.step() == SQLITE_ROW) {
      where = "silence " + s.text(0);
      out.silences.push_back(silence_from(json::parse(s.text(1))));
    }
  } catch (const std::exception& e) {
    error = file_ + ": " + where + " is not readable (" + e.what() +
            "); expected a JSON row as vigil writes it";
    return false;
  }
  return true;
}

std::vector<alerts::Transition> Database::history(const std::string& fingerprint, size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<alerts::Transition> out;
  Query q(statement(
      "SELECT at, from_state, to_state, detail FROM (SELECT id, at, from_state, to_state, detail "
      "FROM transitions WHERE fingerprint = ? ORDER BY id DESC LIMIT ?) ORDER BY id"));
  q.bind(1, fingerprint).bind(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  while (q.step() == SQLITE_ROW)
    out.push_back({fingerprint, q.integer(0), q.text(1), q.text(2), q.text(3)});
  return out;
}

// ---------------------------------------------------------------------------------------------
// The outbox.

std::vector<OutboxRow> Database::due(const std::string& receiver, int64_t now_ms, size_t limit) {
  static const std::string sql = std::string("SELECT ") + kRowColumns +
                                 " FROM outbox WHERE state = 'pending' AND receiver = ? AND "
                                 "next_attempt <= ? ORDER BY next_attempt, id LIMIT ?";
  std::lock_guard lock(mutex_);
  std::vector<OutboxRow> out;
  Query q(statement(sql.c_str()));
  q.bind(1, receiver).bind(2, now_ms).bind(3, static_cast<int64_t>(limit));
  while (q.step() == SQLITE_ROW) out.push_back(row_from(q));
  return out;
}

std::vector<std::string> Database::receivers_with_pending() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  Query q(statement("SELECT DISTINCT receiver FROM outbox WHERE state = 'pending'"));
  while (q.step() == SQLITE_ROW) out.push_back(q.text(0));
  return out;
}

int64_t Database::next_attempt_ms(const std::string& receiver) {
  std::lock_guard lock(mutex_);
  Query q(
      statement("SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending' AND receiver = ?"));
  q.bind(1, receiver);
  return q.step() == SQLITE_ROW && !q.is_null(0) ? q.integer(0) : INT64_MAX;
}

int64_t Database::oldest_pending_ms(const std::string& receiver) {
  std::lock_guard lock(mutex_);
  Query q(statement("SELECT MIN(created) FROM outbox WHERE state = 'pending' AND receiver = ?"));
  q.bind(1, receiver);
  return q.step() == SQLITE_ROW && !q.is_null(0) ? q.integer(0) : INT64_MAX;
}

bool Database::record(const OutboxRow& row, const DeliveryResult& result, int64_t now_ms,
                      std::string& error) {
  std::lock_guard lock(mutex_);
  if (!exec("BEGIN IMMEDIATE", error)) {
    error = file_ + ": cannot start a transaction: " + error;
    return false;
  }
  Transaction tx(db_);
  auto fail = [&](const std::string& what) {
    error = file_ + ": " + what + " of " + row.notification.idempotency_key + ": " +
            sqlite3_errmsg(db_);
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
  Query q(statement(
      "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt = ?, last_error = ?, "
      "delivered = ?, last_attempt = ? WHERE id = ? AND state = 'pending'"));
  q.bind(1, std::string(state))
      .bind(2, result.kind == DeliveryResult::retry ? result.next_attempt_ms : row.next_attempt_ms)
      .bind(3, result.error)
      .bind(4, result.kind == DeliveryResult::delivered ? now_ms : int64_t{0})
      .bind(5, now_ms)
      .bind(6, row.id);
  if (!q.done()) return fail("recording the delivery");
  const bool changed = sqlite3_changes(db_) > 0;
  if (changed && result.kind == DeliveryResult::retry) {
    Query later(statement(
        "UPDATE outbox SET next_attempt = MAX(next_attempt, ?1) WHERE state = 'pending' AND "
        "receiver = ?2 AND group_key IS ?3 AND id > ?4"));
    if (!later.bind(1, result.next_attempt_ms)
             .bind(2, row.notification.receiver)
             .bind(3, row.notification.group_key)
             .bind(4, row.id)
             .done())
      return fail("keeping the group's later notifications behind");
  }
  if (changed && result.fallback) {
    std::vector<std::string> tried = row.tried;
    tried.push_back(row.notification.receiver);
    if (!insert_notification(Query(statement(kInsertNotification)), *result.fallback, now_ms,
                             json(tried).dump()))
      return fail("queueing the fallback");
  }
  if (!exec("COMMIT", error)) return fail("committing the delivery");
  tx.committed();
  return true;
}

size_t Database::depth() {
  std::lock_guard lock(mutex_);
  Query q(statement("SELECT COUNT(*) FROM outbox WHERE state = 'pending'"));
  return q.step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

std::map<std::string, size_t> Database::depth_by_receiver() {
  std::lock_guard lock(mutex_);
  std::map<std::string, size_t> out;
  Query q(
      statement("SELECT receiver, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY receiver"));
  while (q.step() == SQLITE_ROW) out[q.text(0)] = static_cast<size_t>(q.integer(1));
  return out;
}

std::vector<OutboxRow> Database::rows(const std::string& state) {
  static const std::string sql =
      std::string("SELECT ") + kRowColumns + " FROM outbox WHERE state = ? ORDER BY id";
  std::lock_guard lock(mutex_);
  std::vector<OutboxRow> out;
  Query q(statement(sql.c_str()));
  q.bind(1, state);
  while (q.step() == SQLITE_ROW) out.push_back(row_from(q));
  return out;
}

std::optional<OutboxRow> Database::find(const std::string& idempotency_key) {
  static const std::string sql =
      std::string("SELECT ") + kRowColumns + " FROM outbox WHERE idempotency_key = ?";
  std::lock_guard lock(mutex_);
  Query q(statement(sql.c_str()));
  q.bind(1, idempotency_key);
  if (q.step() != SQLITE_ROW) return std::nullopt;
  return row_from(q);
}

}  // namespace vigil::outbox
