// The SQLite journal on real files: what is committed comes back after a reopen, a batch is all
// or nothing, history is ordered and bounded, old files are migrated, and files vigil must not
// touch (newer, damaged, not a database) are refused with the file's name.
#include "fixture.hpp"

#include <cmath>
#include <fstream>

using namespace vigil;
using namespace vigil::outbox::testing;
using outbox::Database;

namespace {

alerts::Alert full_alert() {
  alerts::Alert a;
  a.fingerprint = "f1";
  a.rule = "DiskFull";
  a.labels = {{"alertname", "DiskFull"}, {"mountpoint", "/"}};
  a.annotations = {{"summary", "/ is 97% full"}};
  a.value = 0.97;
  a.state = alerts::State::firing;
  a.active_since_ms = 400;
  a.fired_at_ms = 1000;
  a.resolved_at_ms = 300;
  a.last_seen_ms = 1100;
  a.last_eval_ms = 1200;
  a.ack = alerts::Ack{"alice", "on it", 2000, 9000, true};
  a.silenced = true;
  a.inhibited = true;
  a.flapping = true;
  a.recent_changes_ms = {400, 1000};
  a.silenced_by = {"s1"};
  return a;
}

alerts::Group full_group() {
  alerts::Group g;
  g.key = "0:{alertname=\"DiskFull\"}";
  g.receiver = "ops";
  g.policy = "oncall";
  g.group_labels = {{"alertname", "DiskFull"}};
  g.fingerprints = {"f1", "f2"};
  g.first_at_ms = 1000;
  g.last_notified_ms = 1500;
  g.next_flush_ms = 301'500;
  g.last_notified_hash = "abc123";
  g.iteration = 1;
  g.step = 2;
  g.step_due_ms = 600'000;
  g.escalating = true;
  g.escalation_stopped = true;
  g.notified_receivers = {"ops", "pager"};
  g.sequence = 7;
  return g;
}

alerts::Transition transition(const std::string& fp, int64_t at, const std::string& to) {
  return {fp, at, "x", to, "detail " + to};
}

}  // namespace

TEST_CASE("a committed batch is all there after reopening the file") {
  TempDir dir;
  std::string error;
  alerts::Silence s;
  s.id = "s1";
  s.matchers.push_back(*alerts::parse_matcher(R"(mountpoint=~"/var.*")", error));
  s.matchers.push_back(*alerts::parse_matcher(R"(severity!="info")", error));
  s.starts_ms = 1;
  s.ends_ms = 99;
  s.author = "bob";
  s.comment = "maintenance";
  s.end_on_resolve = true;
  s.created_ms = 1;
  {
    auto db = open_db(dir.db());
    alerts::Batch b;
    b.alerts.push_back(full_alert());
    alerts::Alert inf = full_alert();
    inf.fingerprint = "f2";
    inf.value = -INFINITY;
    inf.ack.reset();
    b.alerts.push_back(inf);
    b.groups.push_back(full_group());
    b.silences.push_back(s);
    b.transitions.push_back({"f1", 500, "inactive", "pending", "value 0.97"});
    b.transitions.push_back({"f1", 1000, "pending", "firing", ""});
    b.notifications.push_back(note("k1", "ops", 1000));
    commit(*db, b);
  }
  auto db = open_db(dir.db());
  alerts::Snapshot snap;
  REQUIRE(db->load(snap, error));
  REQUIRE(snap.alerts.size() == 2);
  const auto& a = snap.alerts[0].fingerprint == "f1" ? snap.alerts[0] : snap.alerts[1];
  const auto& b = snap.alerts[0].fingerprint == "f1" ? snap.alerts[1] : snap.alerts[0];
  const auto want = full_alert();
  CHECK(a.rule == want.rule);
  CHECK(a.labels == want.labels);
  CHECK(a.annotations == want.annotations);
  CHECK(a.value == want.value);
  CHECK(a.state == alerts::State::firing);
  CHECK(a.active_since_ms == 400);
  CHECK(a.fired_at_ms == 1000);
  CHECK(a.resolved_at_ms == 300);
  CHECK(a.last_seen_ms == 1100);
  CHECK(a.last_eval_ms == 1200);
  REQUIRE(a.ack);
  CHECK(a.ack->author == "alice");
  CHECK(a.ack->comment == "on it");
  CHECK(a.ack->at_ms == 2000);
  CHECK(a.ack->expires_ms == 9000);
  CHECK(a.ack->sticky);
  CHECK(a.silenced);
  CHECK(a.inhibited);
  CHECK(a.flapping);
  CHECK(a.recent_changes_ms == want.recent_changes_ms);
  CHECK(a.silenced_by == want.silenced_by);
  CHECK(std::isinf(b.value));
  CHECK(b.value < 0);
  CHECK_FALSE(b.ack);

  REQUIRE(snap.groups.size() == 1);
  const auto& g = snap.groups[0];
  const auto wg = full_group();
  CHECK(g.key == wg.key);
  CHECK(g.receiver == "ops");
  CHECK(g.policy == "oncall");
  CHECK(g.group_labels == wg.group_labels);
  CHECK(g.fingerprints == wg.fingerprints);
  CHECK(g.first_at_ms == 1000);
  CHECK(g.last_notified_ms == 1500);
  CHECK(g.next_flush_ms == 301'500);
  CHECK(g.last_notified_hash == "abc123");
  CHECK(g.iteration == 1);
  CHECK(g.step == 2);
  CHECK(g.step_due_ms == 600'000);
  CHECK(g.escalating);
  CHECK(g.escalation_stopped);
  CHECK(g.notified_receivers == wg.notified_receivers);
  CHECK(g.sequence == 7);

  REQUIRE(snap.silences.size() == 1);
  const auto& ls = snap.silences[0];
  CHECK(ls.id == "s1");
  REQUIRE(ls.matchers.size() == 2);
  CHECK(ls.matchers[0].to_string() == R"(mountpoint=~"/var.*")");
  CHECK(ls.matchers[1].to_string() == R"(severity!="info")");
  CHECK(ls.starts_ms == 1);
  CHECK(ls.ends_ms == 99);
  CHECK(ls.author == "bob");
  CHECK(ls.comment == "maintenance");
  CHECK(ls.end_on_resolve);
  CHECK(ls.created_ms == 1);

  auto h = db->history("f1", 10);
  REQUIRE(h.size() == 2);
  CHECK(h[0].to == "pending");
  CHECK(h[0].detail == "value 0.97");
  CHECK(h[1].to == "firing");
  REQUIRE(db->depth() == 1);
  auto row = db->find("k1");
  REQUIRE(row);
  CHECK(row->state == "pending");
  CHECK(row->notification.receiver == "ops");
  CHECK(row->notification.escalation_step == 1);
  CHECK(row->notification.payload_json == R"({"status":"firing"})");
  // The file really is in write-ahead-log mode, at the current schema.
  RawDb raw(dir.db());
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  CHECK(raw.text("PRAGMA user_version") == std::to_string(Database::kSchemaVersion));
}

TEST_CASE("deleted alerts and groups stay deleted after reopening") {
  TempDir dir;
  {
    auto db = open_db(dir.db());
    alerts::Batch b;
    b.alerts.push_back(full_alert());
    b.groups.push_back(full_group());
    commit(*db, b);
    alerts::Batch d;
    d.deleted_alerts.push_back("f1");
    d.deleted_groups.push_back(full_group().key);
    commit(*db, d);
  }
  auto db = open_db(dir.db());
  alerts::Snapshot snap;
  std::string error;
  REQUIRE(db->load(snap, error));
  CHECK(snap.alerts.empty());
  CHECK(snap.groups.empty());
}

TEST_CASE("a batch whose last statement fails leaves nothing of itself behind") {
  TempDir dir;
  auto db = open_db(dir.db());
  {
    // A real failure inside SQLite, on the last table the commit writes before notifications.
    RawDb raw(dir.db());
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.idempotency_key = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }
  alerts::Batch b;
  b.alerts.push_back(full_alert());
  b.groups.push_back(full_group());
  b.transitions.push_back(transition("f1", 1000, "firing"));
  b.notifications.push_back(note("k1", "ops", 1000));
  b.notifications.push_back(note("boom", "ops", 1000));
  std::string error;
  CHECK_FALSE(db->commit(b, error));
  CHECK(error.find(dir.db()) == 0);
  CHECK(error.find("queueing notification boom") != std::string::npos);
  CHECK(error.find("injected failure") != std::string::npos);

  alerts::Snapshot snap;
  REQUIRE(db->load(snap, error));
  CHECK(snap.alerts.empty());
  CHECK(snap.groups.empty());
  CHECK(db->history("f1", 10).empty());
  CHECK(db->depth() == 0);

  // The engine commits the batch again with the next one: now it goes through whole.
  b.notifications.pop_back();
  commit(*db, b);
  snap = {};
  REQUIRE(db->load(snap, error));
  CHECK(snap.alerts.size() == 1);
  CHECK(db->history("f1", 10).size() == 1);
  CHECK(db->depth() == 1);
}

TEST_CASE("a notification committed twice is queued once") {
  TempDir dir;
  auto db = open_db(dir.db());
  queue(*db, {note("k1", "ops", 0)});
  queue(*db, {note("k1", "ops", 0), note("k2", "ops", 0)});
  CHECK(db->depth() == 2);
}

TEST_CASE("history comes back oldest first and stays bounded per alert and by age") {
  TempDir dir;
  auto db = open_db(dir.db());
  db->set_history_limits(5, 3'600'000);
  const int64_t t0 = 10'000'000;
  for (int i = 0; i < 12; ++i) {
    alerts::Batch b;
    b.transitions.push_back(transition("busy", t0 + i, "s" + std::to_string(i)));
    if (i < 3) b.transitions.push_back(transition("quiet", t0 + i, "q" + std::to_string(i)));
    commit(*db, b);
  }
  auto busy = db->history("busy", 100);
  REQUIRE(busy.size() == 5);  // the 7 oldest were trimmed
  CHECK(busy.front().to == "s7");
  CHECK(busy.back().to == "s11");
  for (size_t i = 1; i < busy.size(); ++i) CHECK(busy[i - 1].at_ms < busy[i].at_ms);
  auto last_two = db->history("busy", 2);
  REQUIRE(last_two.size() == 2);
  CHECK(last_two[0].to == "s10");  // the newest two, still oldest first
  CHECK(last_two[1].to == "s11");
  CHECK(db->history("quiet", 100).size() == 3);  // another alert's bound is its own
  CHECK(db->history("never-seen", 100).empty());

  // Two hours later on the engine's clock, history older than an hour is gone.
  alerts::Batch later;
  later.transitions.push_back(transition("fresh", t0 + 7'200'000, "firing"));
  commit(*db, later);
  CHECK(db->history("busy", 100).empty());
  CHECK(db->history("quiet", 100).empty());
  CHECK(db->history("fresh", 100).size() == 1);
}

TEST_CASE("settled notifications are swept after the retention, pending ones never") {
  TempDir dir;
  auto db = open_db(dir.db());
  db->set_outbox_retention(86'400'000);
  const int64_t t0 = 1'000'000'000;
  queue(*db, {note("done", "ops", t0), note("waiting", "down", t0)});
  outbox::Delivery d(*db);
  d.set_receivers({{"ops", receiver(always(outbox::Outcome::ok))},
                   {"down", receiver(always(outbox::Outcome::retryable, "refused"))}});
  d.deliver_due(t0);
  REQUIRE(db->find("done")->state == "delivered");
  // Two days later (the engine's clock moves with its batches).
  alerts::Batch later;
  later.transitions.push_back(transition("f", t0 + 2 * 86'400'000LL, "firing"));
  commit(*db, later);
  CHECK_FALSE(db->find("done"));
  REQUIRE(db->find("waiting"));
  CHECK(db->find("waiting")->state == "pending");
}

TEST_CASE("a database from a newer vigil is refused by name") {
  TempDir dir;
  RawDb(dir.db()).exec("PRAGMA user_version = 99");
  std::string error;
  CHECK_FALSE(Database::open(dir.db(), error));
  CHECK(error.find(dir.db() + ": written by a newer vigil (schema 99, this one knows up to " +
                   std::to_string(Database::kSchemaVersion)) == 0);
  CHECK(RawDb(dir.db()).text("PRAGMA user_version") == "99");  // and left as it was
}

TEST_CASE("a file that is not a database is refused by name") {
  TempDir dir;
  const auto junk = (dir.path / "junk.db").string();
  std::ofstream(junk) << "this is not sqlite at all, just text that is long enough to look odd";
  std::string error;
  CHECK_FALSE(Database::open(junk, error));
  CHECK(error.find(junk + ": not a database vigil can read") == 0);
}

TEST_CASE("a damaged database is refused at open, naming the file") {
  TempDir dir;
  {
    auto db = open_db(dir.db());
    alerts::Batch b;
    for (int i = 0; i < 400; ++i) {
      auto a = full_alert();
      a.fingerprint = "f" + std::to_string(i);
      a.annotations["filler"] = std::string(200, 'x');
      b.alerts.push_back(a);
    }
    commit(*db, b);
  }  // closing the last connection checkpoints the WAL into the file
  REQUIRE(std::filesystem::file_size(dir.db()) > 8 * 4096);
  {
    // Overwrite every page after the header page with garbage, as a failing disk might.
    std::fstream f(dir.db(), std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(dir.db());
    f.seekp(4096);
    for (auto i = std::uintmax_t{4096}; i < size; ++i) f.put(static_cast<char>(0xA5));
  }
  std::string error;
  CHECK_FALSE(Database::open(dir.db(), error));
  INFO(error);
  CHECK(error.find(dir.db() + ": ") == 0);
  CHECK((error.find("damaged") != std::string::npos ||
         error.find("not a database") != std::string::npos));
}

TEST_CASE("a data directory that cannot be created is refused by name") {
  TempDir dir;
  std::ofstream(dir.path / "file") << "x";
  const auto file = (dir.path / "file" / "sub" / "vigil.db").string();
  std::string error;
  CHECK_FALSE(Database::open(file, error));
  CHECK(error.find(file + ": cannot create its directory") == 0);
}

TEST_CASE("a schema 1 file from an older vigil is migrated in place and keeps its rows") {
  TempDir dir;
  {
    // Exactly what the first release created, with a notification still pending in it.
    RawDb raw(dir.db());
    raw.exec("PRAGMA journal_mode=WAL");
    raw.exec(R"(
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
      INSERT INTO alerts VALUES ('f1', '{"fingerprint":"f1","rule":"Old","state":"firing"}');
      INSERT INTO transitions (fingerprint, at, from_state, to_state, detail)
        VALUES ('f1', 5, 'pending', 'firing', '');
      INSERT INTO outbox (idempotency_key, receiver, created, payload, next_attempt, attempts)
        VALUES ('old-key', 'ops', 5, '{}', 5, 2);
      PRAGMA user_version = 1;)");
  }
  auto db = open_db(dir.db());
  CHECK(db->schema_version() == Database::kSchemaVersion);
  alerts::Snapshot snap;
  std::string error;
  REQUIRE(db->load(snap, error));
  REQUIRE(snap.alerts.size() == 1);
  CHECK(snap.alerts[0].rule == "Old");
  CHECK(snap.alerts[0].state == alerts::State::firing);
  CHECK(db->history("f1", 10).size() == 1);
  auto due = db->due("ops", 10, 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].notification.idempotency_key == "old-key");
  CHECK(due[0].attempts == 2);
  CHECK(due[0].tried.empty());
  // And it is delivered like any other.
  std::vector<int> attempts;
  outbox::Delivery d(*db);
  d.set_receivers(
      {{"ops", receiver([&](const alerts::Notification&, int attempt, std::string&, int64_t&) {
          attempts.push_back(attempt);
          return outbox::Outcome::ok;
        })}});
  d.deliver_due(10);
  CHECK(attempts == std::vector<int>{3});
  CHECK(db->find("old-key")->state == "delivered");
}

TEST_CASE("an in-memory database works for test-rules runs") {
  auto db = open_db(":memory:");
  queue(*db, {note("k1", "ops", 0)});
  CHECK(db->depth() == 1);
  CHECK(db->schema_version() == Database::kSchemaVersion);
}
