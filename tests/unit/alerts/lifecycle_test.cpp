// The alert engine over time, as an on-call person would notice it: timers that fire on their
// own and survive a restart, reloads that keep state, acknowledgements (plain, sticky, by group),
// escalation passes and conditions, resolve notifications, mute windows across a DST change,
// silences that start later, and a journal that refuses a commit. Time is passed in.
#include "engine_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace vigil::alerts;
using namespace vigil::alerts::testing;
using nlohmann::json;

namespace {

const Alert& only_alert(const Engine& e, const std::string& instance) {
  for (const auto& a : e.list_alerts({{State::pending, State::firing, State::resolved}, {}}))
    if (a.labels.at("instance") == instance) return *e.find_alert(a.fingerprint);
  FAIL("no alert for instance " << instance);
  throw;
}

std::vector<std::string> instances_in(const Notification& n) {
  std::vector<std::string> out;
  const json payload = json::parse(n.payload_json);
  for (const auto& a : payload["alerts"])
    out.push_back(a["labels"]["instance"].get<std::string>() + ":" +
                  a["status"].get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

Routing policy_routing(Policy p) {
  Routing routing = simple_routing();
  routing.root.policy = p.name;
  routing.policies[p.name] = std::move(p);
  return routing;
}

}  // namespace

TEST_CASE("a pending alert fires from a tick when `for` runs out, also after a restart") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("HighCpu", 60'000)}, 0);
  e.set_routing(simple_routing());
  e.apply(eval("HighCpu", 0, {inst(0.95, true, true)}), 0);
  CHECK(state_of(e) == State::pending);
  CHECK(e.next_deadline_ms() == 60'000);

  // The host restarts at 30 s: the timer is still due at 60 s, not 30 s later.
  Snapshot snapshot;
  std::string error;
  REQUIRE(j.load(snapshot, error));
  MemoryJournal j2;
  Engine restarted(j2);
  restarted.restore(snapshot);
  restarted.set_routing(simple_routing());
  restarted.set_rules({rule("HighCpu", 60'000)}, 30'000);
  CHECK(state_of(restarted) == State::pending);
  CHECK(restarted.next_deadline_ms() == 60'000);
  restarted.tick(59'999);
  CHECK(state_of(restarted) == State::pending);
  restarted.tick(60'000);
  CHECK(state_of(restarted) == State::firing);
  REQUIRE(j2.sent.size() == 1);
  CHECK(j2.sent[0].created_ms == 60'000);
  const auto fp = restarted.list_alerts({})[0].fingerprint;
  CHECK(j2.history(fp, 10).back().to == "firing");
}

TEST_CASE("a failed evaluation changes nothing, and a pending alert it interrupts still waits") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Disk")}, 0);
  e.apply(eval("Disk", 0, {inst(0.95, true, true)}), 0);
  REQUIRE(state_of(e) == State::firing);
  RuleEvaluation broken = eval("Disk", 10'000, {});
  broken.ok = false;
  broken.error = "rules/disk.lua:3: rule Disk: attempt to index a nil value";
  e.apply(broken, 10'000);
  CHECK(state_of(e) == State::firing);  // no data from a broken script is not a recovery
  CHECK(e.counters().failed_evaluations == 1);
  e.apply(eval("Disk", 20'000, {}), 20'000);  // a working script that yields nothing: recovered
  CHECK(state_of(e) == State::resolved);
}

TEST_CASE("reloading rules keeps the state of rules that remain and resolves the others") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A"), rule("B")}, 0);
  e.set_routing(simple_routing());
  e.apply(eval("A", 0, {inst(1, true, true)}), 0);
  e.apply(eval("B", 0, {inst(1, true, true)}), 0);
  REQUIRE(e.count(State::firing) == 2);
  const size_t sent = j.sent.size();
  const auto a_fp = e.list_alerts({{}, {m(R"(alertname="A")")}})[0].fingerprint;

  e.set_rules({rule("A")}, 10'000);
  const Alert* a = e.find_alert(a_fp);
  REQUIRE(a);
  CHECK(a->state == State::firing);
  CHECK(a->fired_at_ms == 0);
  auto b = e.list_alerts({{State::resolved}, {m(R"(alertname="B")")}});
  REQUIRE(b.size() == 1);
  CHECK(j.history(b[0].fingerprint, 10).back().detail == "rule removed");
  // Neither a second "firing" for A nor anything before the group interval.
  CHECK(j.sent.size() == sent);
  e.tick(60'000);
  REQUIRE(j.sent.size() == sent + 1);
  CHECK(j.sent.back().status == "resolved");
  CHECK(j.sent.back().payload_json.find("\"alertname\":\"B\"") != std::string::npos);

  // A reload of the routing moves the firing alert to its new route's receiver.
  Routing routing = simple_routing();
  Route pager;
  pager.matchers = {m(R"(alertname="A")")};
  pager.receiver = "pager";
  routing.root.routes.push_back(pager);
  e.set_routing(routing);
  e.tick(70'000);
  REQUIRE(j.sent.size() == sent + 2);
  CHECK(j.sent.back().receiver == "pager");
}

TEST_CASE("a plain ack ends at the next state change, a sticky one survives a quick re-fire") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Db")}, 0);
  Routing routing = simple_routing();
  routing.root.group_by = {"instance"};
  e.set_routing(routing);
  auto both = [](double v) {
    return std::vector<Instance>{inst(v, true, true), inst(v, true, true, {{"instance", "db-2"}})};
  };
  e.apply(eval("Db", 0, both(1)), 0);
  REQUIRE(j.sent.size() == 2);
  Ack plain{"alice", "looking", 0, 0, false};
  Ack sticky{"bob", "known issue", 0, 0, true};
  REQUIRE(e.acknowledge(only_alert(e, "db-1").fingerprint, false, plain, 10'000) == "");
  REQUIRE(e.acknowledge(only_alert(e, "db-2").fingerprint, false, sticky, 10'000) == "");
  REQUIRE(j.sent.size() == 4);  // each group's receiver hears of its ack at once

  // Both recover and come back before their groups told anyone about the recovery.
  e.apply(eval("Db", 20'000, {}), 20'000);
  e.apply(eval("Db", 30'000, both(1)), 30'000);
  CHECK(only_alert(e, "db-1").state == State::firing);
  CHECK_FALSE(only_alert(e, "db-1").ack);
  REQUIRE(only_alert(e, "db-2").ack);
  CHECK(only_alert(e, "db-2").ack->author == "bob");

  // A resolve that is reported ends even the sticky ack (the groups last spoke at 10 s).
  e.apply(eval("Db", 40'000, {}), 40'000);
  e.tick(70'000);
  CHECK(j.sent.back().status == "resolved");
  const auto gone = e.list_alerts({{State::resolved}, {m(R"(instance="db-2")")}});
  REQUIRE(gone.size() == 1);
  CHECK_FALSE(gone[0].ack);
  CHECK(j.history(gone[0].fingerprint, 20).back().to == "-acknowledged");
}

TEST_CASE("acknowledging a group stops its repeats, and un-acknowledging resumes them") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(simple_routing());
  e.apply(eval("A", 0, {inst(1, true, true), inst(1, true, true, {{"instance", "db-2"}})}), 0);
  REQUIRE(j.sent.size() == 1);
  const auto groups = e.list_groups();
  REQUIRE(groups.size() == 1);
  CHECK(e.acknowledge("no-such-group", true, Ack{"carol", "", 0, 0, false}, 5'000)
            .find("no notification group \"no-such-group\"") == 0);
  REQUIRE(e.acknowledge(groups[0].key, true, Ack{"carol", "on it", 0, 0, false}, 10'000) == "");
  for (const auto& a : e.list_alerts({})) CHECK(a.ack);
  REQUIRE(j.sent.size() == 2);  // the receiver hears of the ack at once
  CHECK(j.sent[1].created_ms == 10'000);
  CHECK(json::parse(j.sent[1].payload_json)["vigil"]["acknowledged"]["comment"] == "on it");
  e.tick(3'600'000);
  e.tick(7'200'000);
  CHECK(j.sent.size() == 2);  // acknowledged: no repeats
  REQUIRE(e.unacknowledge(groups[0].key, true, "carol", 7'300'000) == "");
  REQUIRE(j.sent.size() == 3);
  CHECK(j.sent[2].created_ms == 7'300'000);
  CHECK(json::parse(j.sent[2].payload_json)["vigil"]["acknowledged"].is_null());
  CHECK(e.unacknowledge(groups[0].key, true, "carol", 7'400'000) ==
        "group \"" + groups[0].key + "\" has no acknowledged alert");
}

TEST_CASE("an escalation runs its passes, skips a step whose condition fails, tells on resolve") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Api")}, 0);
  Policy p;
  p.name = "oncall";
  p.steps.push_back({{"slack"}, 600'000, {}, "chat"});
  p.steps.push_back(
      {{"pager"}, 600'000, [](const StepContext& c) { return c.firing >= 2; }, "page"});
  p.repeat = 2;
  p.resolve_receivers = std::vector<std::string>{"log"};
  e.set_routing(policy_routing(p));
  e.apply(eval("Api", 0, {inst(1, true, true)}), 0);
  REQUIRE(j.sent.size() == 1);
  CHECK(j.sent[0].receiver == "slack");
  e.tick(600'000);  // step 1: one alert firing, the condition fails
  CHECK(j.sent.size() == 1);
  CHECK(e.next_deadline_ms() == 1'200'000);
  e.tick(1'200'000);  // second pass
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].receiver == "slack");
  CHECK(j.sent[1].escalation_step == 0);
  CHECK(json::parse(j.sent[1].payload_json)["vigil"]["iteration"] == 1);
  e.tick(1'800'000);
  e.tick(2'400'000);  // both passes done: the chain is over
  CHECK(j.sent.size() == 2);
  CHECK(e.next_deadline_ms() == INT64_MAX);
  e.apply(eval("Api", 2'500'000, {}), 2'500'000);
  REQUIRE(j.sent.size() == 3);
  CHECK(j.sent[2].receiver == "log");
  CHECK(j.sent[2].status == "resolved");
  CHECK(e.list_groups().empty());
}

TEST_CASE(
    "between escalation steps, changes go to who was told, and an un-ack restarts at step 0") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Api")}, 0);
  Policy p;
  p.name = "oncall";
  p.steps.push_back({{"slack"}, 600'000, {}, "chat"});
  p.steps.push_back(
      {{"pager"}, 600'000, [](const StepContext& c) { return c.firing >= 2; }, "page"});
  e.set_routing(policy_routing(p));
  e.apply(eval("Api", 0, {inst(1, true, true)}), 0);
  REQUIRE(j.sent.size() == 1);
  // A second alert joins: slack hears about it after the group interval, the pager not yet.
  const auto two =
      std::vector<Instance>{inst(1, true, true), inst(1, true, true, {{"instance", "db-2"}})};
  e.apply(eval("Api", 30'000, two), 30'000);
  CHECK(j.sent.size() == 1);
  CHECK(e.next_deadline_ms() == 60'000);
  e.tick(60'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].receiver == "slack");
  CHECK(instances_in(j.sent[1]) == std::vector<std::string>{"db-1:firing", "db-2:firing"});
  e.tick(600'000);  // two firing now: the page goes out
  REQUIRE(j.sent.size() == 3);
  CHECK(j.sent[2].receiver == "pager");
  CHECK(j.sent[2].escalation_step == 1);

  const auto key = e.list_groups()[0].key;
  REQUIRE(e.acknowledge(key, true, Ack{"dave", "mitigating", 0, 0, false}, 700'000) == "");
  CHECK(e.list_groups()[0].escalation_stopped);
  REQUIRE(j.sent.size() == 5);  // slack and the pager hear of the ack at once
  CHECK(j.sent[3].receiver == "slack");
  CHECK(j.sent[4].receiver == "pager");
  CHECK(json::parse(j.sent[4].payload_json)["vigil"]["acknowledged"]["author"] == "dave");
  REQUIRE(e.unacknowledge(key, true, "dave", 800'000) == "");
  REQUIRE(j.sent.size() == 6);
  CHECK(j.sent[5].receiver == "slack");
  CHECK(j.sent[5].escalation_step == 0);
  CHECK(j.sent[5].created_ms == 800'000);
  CHECK(e.next_deadline_ms() == 1'400'000);
}

TEST_CASE("a sticky ack of a pending alert holds when it fires, and no escalation starts") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Api", 60'000)}, 0);
  Policy p;
  p.name = "oncall";
  p.steps.push_back({{"pager"}, 600'000, {}, "page"});
  e.set_routing(policy_routing(p));
  e.apply(eval("Api", 0, {inst(1, true, true)}), 0);
  const auto fp = e.list_alerts({})[0].fingerprint;
  REQUIRE(e.acknowledge(fp, false, Ack{"erin", "maintenance", 0, 0, true}, 1'000) == "");
  e.tick(60'000);
  CHECK(e.find_alert(fp)->state == State::firing);
  CHECK(e.find_alert(fp)->ack);
  CHECK(j.sent.empty());
}

TEST_CASE("a mute window in New York holds a notification until 08:00 local, DST day included") {
  struct Case {
    const char* day;
    int64_t alert_at, opens_at;  // 05:00 or 01:00 local, and 08:00 local, in UTC ms
  };
  const Case cases[] = {
      {"winter (EST)", 1767780000000, 1767790800000},         // 2026-01-07 10:00Z, 13:00Z
      {"summer (EDT)", 1782896400000, 1782907200000},         // 2026-07-01 09:00Z, 12:00Z
      {"the night DST starts", 1772949600000, 1772971200000}  // 2026-03-08 06:00Z, 12:00Z
  };
  for (const auto& c : cases) {
    SECTION(c.day) {
      MemoryJournal j;
      Engine e(j);
      e.set_rules({rule("A")}, 0);
      e.set_routing(windowed_routing({"night", {}, {{0, 8 * 60}}, "America/New_York"}));
      e.apply(eval("A", c.alert_at, {inst(1, true, true)}), c.alert_at);
      CHECK(j.sent.empty());
      CHECK(e.next_deadline_ms() == c.opens_at);
      e.tick(c.opens_at - 60'000);
      CHECK(j.sent.empty());
      e.tick(c.opens_at);
      REQUIRE(j.sent.size() == 1);
      CHECK(j.sent[0].created_ms == c.opens_at);
    }
  }
}

TEST_CASE("an escalation step due in a mute window runs when the window closes") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  Policy p;
  p.name = "oncall";
  p.steps.push_back({{"slack"}, 3'600'000, {}, "chat"});
  p.steps.push_back({{"pager"}, 0, {}, "page"});
  Routing routing = policy_routing(p);
  // Every day from 06:00 to 07:00 UTC: muted.
  routing.windows["maintenance"] = TimeWindow{"maintenance", {}, {{6 * 60, 7 * 60}}, "UTC"};
  routing.root.mute_windows = {"maintenance"};
  e.set_routing(routing);
  const int64_t five_thirty = 1782883800000;  // 2026-07-01 05:30Z
  e.apply(eval("A", five_thirty, {inst(1, true, true)}), five_thirty);
  REQUIRE(j.sent.size() == 1);
  CHECK(e.next_deadline_ms() == five_thirty + 3'600'000);  // 06:30, inside the window
  e.tick(five_thirty + 3'600'000);
  CHECK(j.sent.size() == 1);
  CHECK(e.next_deadline_ms() == five_thirty + 5'400'000);  // 07:00
  e.tick(five_thirty + 5'400'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].receiver == "pager");
}

TEST_CASE("a silence may start later, hides the group meanwhile, and its end lets it notify") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(simple_routing(30'000));
  Silence s;
  s.matchers = {m(R"(alertname="A")")};
  s.starts_ms = 10'000;
  s.ends_ms = 3'600'000;
  s.author = "frank";
  REQUIRE(e.create_silence(s, 0) == "");
  CHECK_FALSE(s.id.empty());
  e.apply(eval("A", 0, {inst(1, true, true)}), 0);
  CHECK(e.next_deadline_ms() == 10'000);
  e.tick(10'000);
  CHECK(e.list_alerts({})[0].silenced);
  e.tick(30'000);
  CHECK(j.sent.empty());
  REQUIRE(e.expire_silence(s.id, "frank", 100'000) == "");
  REQUIRE(j.sent.size() == 1);
  CHECK(j.sent[0].created_ms == 100'000);
  CHECK(e.next_deadline_ms() > 100'000);  // the ended silence leaves no deadline behind
  CHECK(e.expire_silence(s.id, "frank", 110'000) == "silence \"" + s.id + "\" has already ended");
  CHECK(e.expire_silence("nope", "frank", 110'000) == "no silence with id \"nope\"");
  CHECK(e.list_silences(false, 110'000).empty());
  CHECK(e.list_silences(true, 110'000).size() == 1);
}

TEST_CASE("a silence that already ended or would silence everything is refused") {
  MemoryJournal j;
  Engine e(j);
  Silence all;
  all.matchers = {m(R"(alertname=~".*")")};
  all.ends_ms = 3'600'000;
  CHECK(e.create_silence(all, 0).find("would silence every alert") != std::string::npos);
  Silence past;
  past.matchers = {m(R"(alertname="A")")};
  past.starts_ms = 1'000;
  past.ends_ms = 2'000;
  CHECK(e.create_silence(past, 5'000) ==
        "the silence ends (1970-01-01T00:00:02.000Z) before now (1970-01-01T00:00:05.000Z)");
  CHECK(e.list_silences(true, 5'000).empty());
}

TEST_CASE("a resolved alert is reported once, then leaves its group's notifications") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(simple_routing());
  e.apply(eval("A", 0, {inst(1, true, true), inst(1, true, true, {{"instance", "db-2"}})}), 0);
  REQUIRE(j.sent.size() == 1);
  e.apply(eval("A", 10'000, {inst(1, true, true)}), 10'000);
  e.tick(60'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].status == "firing");
  CHECK(instances_in(j.sent[1]) == std::vector<std::string>{"db-1:firing", "db-2:resolved"});
  e.tick(60'000 + 3'600'000);
  REQUIRE(j.sent.size() == 3);
  CHECK(instances_in(j.sent[2]) == std::vector<std::string>{"db-1:firing"});
  // Each notification has its own stable idempotency key.
  CHECK(j.sent[1].idempotency_key != j.sent[2].idempotency_key);
  CHECK(j.sent[2].idempotency_key.size() > j.sent[2].receiver.size());
}

TEST_CASE("a commit the journal refuses is carried by the next one, notification included") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(simple_routing());
  j.fail_commits = 1;
  e.apply(eval("A", 0, {inst(1, true, true)}), 0);
  CHECK(j.sent.empty());
  CHECK(j.state.alerts.empty());
  CHECK(e.counters().commit_failures == 1);
  e.tick(1'000);  // nothing new happens, but the unsaved step is written now
  REQUIRE(j.sent.size() == 1);
  REQUIRE(j.state.alerts.size() == 1);
  CHECK(j.state.alerts.begin()->second.state == State::firing);
  CHECK(j.state.groups.size() == 1);
}

TEST_CASE("a policy without steps and a window with impossible times are reported by name") {
  Routing r = simple_routing();
  Policy empty;
  empty.name = "ghost";
  empty.file = "rules/policies.lua";
  empty.line = 7;
  r.policies["ghost"] = empty;
  r.windows["bad"] = TimeWindow{"bad", {7}, {{1200, 600}}, "UTC"};
  const auto errors = Engine::validate(r, {"ops"});
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] ==
        "rules/policies.lua:7: policy ghost: has no steps, expected at least one "
        "step with receivers");
  CHECK(errors[1] == "time window bad: weekday 7, expected 0 (Sunday) to 6 (Saturday)");
  CHECK(errors[2].find("time window bad: minutes 1200-600, expected") == 0);
}
