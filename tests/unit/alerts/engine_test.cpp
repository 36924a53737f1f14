// The alert engine as a user meets it: pending and firing with `for`, hysteresis, keep_firing_for,
// routing with group wait, silences, inhibition, acknowledgement stopping escalation, escalation
// steps and their resumption after a restart, and templates. Time is passed in: no sleeping.
#include "alerts/template.hpp"
#include "engine_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace vigil::alerts;
using namespace vigil::alerts::testing;

TEST_CASE("an alert is pending for `for`, then fires, and resolves when it recovers") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("HighCpu", 60'000)}, 0);
  e.set_routing(simple_routing());
  e.apply(eval("HighCpu", 0, {inst(0.95, true, true)}), 0);
  CHECK(state_of(e) == State::pending);
  e.apply(eval("HighCpu", 30'000, {inst(0.96, true, true)}), 30'000);
  CHECK(state_of(e) == State::pending);
  e.apply(eval("HighCpu", 60'000, {inst(0.97, true, true)}), 60'000);
  CHECK(state_of(e) == State::firing);
  REQUIRE(j.sent.size() == 1);
  CHECK(j.sent[0].receiver == "ops");
  CHECK(j.sent[0].status == "firing");
  auto payload = nlohmann::json::parse(j.sent[0].payload_json);
  CHECK(payload["version"] == "4");
  CHECK(payload["alerts"][0]["labels"]["alertname"] == "HighCpu");
  CHECK(payload["alerts"][0]["labels"]["severity"] == "warning");
  CHECK(payload["groupLabels"]["alertname"] == "HighCpu");
  CHECK(payload["vigil"]["idempotency_key"] == j.sent[0].idempotency_key);
  e.apply(eval("HighCpu", 90'000, {}), 90'000);  // no data: recovered
  CHECK(j.sent.size() == 1);                     // the resolve waits for the group interval
  e.tick(120'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].status == "resolved");
  // The transitions are recorded with their times.
  auto fp = payload["alerts"][0]["fingerprint"].get<std::string>();
  auto h = e.history(fp, 10);
  REQUIRE(h.size() == 3);
  CHECK(h[0].to == "pending");
  CHECK(h[1].to == "firing");
  CHECK(h[1].at_ms == 60'000);
  CHECK(h[2].to == "resolved");
}

TEST_CASE("hysteresis: a firing alert stays until its recovery condition holds") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Disk")}, 0);
  auto step = [&](int64_t t, double v) {
    e.apply(eval("Disk", t, {inst(v, v > 0.9, !(v < 0.8))}), t);
  };
  step(0, 0.85);
  CHECK(state_of(e) == State::inactive);
  step(10'000, 0.92);
  CHECK(state_of(e) == State::firing);
  step(20'000, 0.85);  // below the entry threshold, above the exit one
  CHECK(state_of(e) == State::firing);
  step(30'000, 0.79);
  CHECK(state_of(e) == State::resolved);
}

TEST_CASE("keep_firing_for holds a firing alert through a short dip, and a tick resolves it") {
  MemoryJournal j;
  Engine e(j);
  auto r = rule("Flaky");
  r.keep_firing_for_ms = 60'000;
  e.set_rules({r}, 0);
  e.apply(eval("Flaky", 0, {inst(1, true, true)}), 0);
  e.apply(eval("Flaky", 30'000, {}), 30'000);
  CHECK(state_of(e) == State::firing);
  CHECK(e.next_deadline_ms() == 60'000);
  e.tick(60'000);
  CHECK(state_of(e) == State::resolved);
}

TEST_CASE("flapping alerts are flagged and not notified") {
  MemoryJournal j;
  Engine e(j);
  auto r = rule("Flap");
  r.flap = {4, 600'000};
  e.set_rules({r}, 0);
  e.set_routing(simple_routing());
  for (int i = 0; i < 6; ++i) {
    bool on = i % 2 == 0;
    e.apply(eval("Flap", i * 10'000, {inst(1, on, on)}), i * 10'000);
  }
  auto alerts = e.list_alerts({{State::firing, State::resolved, State::inactive}, {}});
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].flapping);
  const size_t sent = j.sent.size();
  e.apply(eval("Flap", 60'000, {inst(1, true, true)}), 60'000);
  CHECK(j.sent.size() == sent);  // flapping: no new notification
}

TEST_CASE("a silence keeps an alert from notifying, and end_on_resolve ends it with the alert") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("Down")}, 0);
  e.set_routing(simple_routing());
  Silence s;
  s.matchers = {m(R"(alertname="Down")")};
  s.ends_ms = 3'600'000;
  s.author = "alice";
  s.end_on_resolve = true;
  REQUIRE(e.create_silence(s, 0).empty());
  e.apply(eval("Down", 1000, {inst(1, true, true)}), 1000);
  CHECK(j.sent.empty());
  CHECK(e.list_alerts({})[0].silenced);
  e.apply(eval("Down", 2000, {}), 2000);
  CHECK(e.list_silences(false, 2000).empty());  // ended when the alert resolved
  CHECK(j.sent.empty());
}

TEST_CASE("inhibition: a firing source suppresses targets sharing the equal labels") {
  MemoryJournal j;
  Engine e(j);
  host_down_inhibits_warnings(e);
  e.apply(eval("HostDown", 0, {inst(1, true, true)}), 0);
  e.apply(
      eval("HighLatency", 0, {inst(1, true, true), inst(1, true, true, {{"instance", "db-2"}})}),
      0);
  auto latency = e.list_alerts({{}, {m(R"(alertname="HighLatency")")}});
  REQUIRE(latency.size() == 2);
  for (const auto& a : latency) CHECK(a.inhibited == (a.labels.at("instance") == "db-1"));
  // Only HostDown and the db-2 latency alert reached the receiver.
  size_t latency_notes = 0;
  for (const auto& n : j.sent)
    if (n.payload_json.find("HighLatency") != std::string::npos) {
      ++latency_notes;
      CHECK(n.payload_json.find("db-1") == std::string::npos);
    }
  CHECK(latency_notes == 1);
}

TEST_CASE("group wait, group interval and repeat interval pace notifications") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(simple_routing(30'000));
  e.apply(eval("A", 0, {inst(1, true, true)}), 0);
  CHECK(j.sent.empty());
  CHECK(e.next_deadline_ms() == 30'000);
  e.tick(30'000);
  REQUIRE(j.sent.size() == 1);
  e.apply(eval("A", 40'000, {inst(1, true, true), inst(1, true, true, {{"instance", "db-2"}})}),
          40'000);
  CHECK(j.sent.size() == 1);  // the new alert waits for the group interval
  e.tick(90'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(nlohmann::json::parse(j.sent[1].payload_json)["alerts"].size() == 2);
  e.tick(90'000 + 3'600'000);
  CHECK(j.sent.size() == 3);  // repeated after an hour unchanged
}

TEST_CASE(
    "escalation: steps with waits and a condition, stopped by an ack, restarted by its expiry") {
  MemoryJournal j;
  Engine e(j);
  auto r = rule("DbDown");
  r.severity = "critical";
  e.set_rules({r}, 0);
  Routing routing = simple_routing();
  routing.root.policy = "oncall";
  Policy p;
  p.name = "oncall";
  p.steps.push_back({{"slack"}, 600'000, {}, "notify slack"});
  p.steps.push_back({{"pager"},
                     1'800'000,
                     [](const StepContext& c) { return c.severity == "critical"; },
                     "page"});
  p.repeat = 2;
  routing.policies["oncall"] = p;
  e.set_routing(routing);
  e.apply(eval("DbDown", 0, {inst(1, true, true)}), 0);
  REQUIRE(j.sent.size() == 1);
  CHECK(j.sent[0].receiver == "slack");
  CHECK(j.sent[0].escalation_step == 0);
  CHECK(e.next_deadline_ms() == 600'000);
  e.tick(600'000);
  REQUIRE(j.sent.size() == 2);
  CHECK(j.sent[1].receiver == "pager");
  CHECK(j.sent[1].escalation_step == 1);

  // A restart in the middle resumes the chain where it was.
  Snapshot snapshot;
  std::string error;
  j.load(snapshot, error);
  MemoryJournal j2;
  j2.state = j.state;
  Engine restarted(j2);
  restarted.set_rules({r}, 600'000);
  restarted.set_routing(routing);
  restarted.restore(snapshot);
  CHECK(restarted.next_deadline_ms() == 2'400'000);

  // An ack stops it; when the ack expires, the chain starts again from the first step.
  auto fp = restarted.list_alerts({})[0].fingerprint;
  Ack ack;
  ack.author = "bob";
  ack.expires_ms = 3'000'000;
  REQUIRE(restarted.acknowledge(fp, false, ack, 700'000).empty());
  // Everyone told so far hears of the ack at once (an incident tool acknowledges its incident).
  REQUIRE(j2.sent.size() == 2);
  for (const auto& told : j2.sent) {
    CHECK(told.created_ms == 700'000);
    CHECK(told.status == "firing");
    CHECK(nlohmann::json::parse(told.payload_json)["vigil"]["acknowledged"]["author"] == "bob");
  }
  CHECK(j2.sent[0].receiver == "slack");
  CHECK(j2.sent[1].receiver == "pager");
  restarted.tick(2'400'000);
  CHECK(j2.sent.size() == 2);
  restarted.tick(3'000'000);
  REQUIRE(j2.sent.size() == 3);
  CHECK(j2.sent[2].receiver == "slack");
  CHECK(j2.sent[2].escalation_step == 0);
  CHECK(nlohmann::json::parse(j2.sent[2].payload_json)["vigil"]["acknowledged"].is_null());
  // Resolve tells everyone notified so far.
  restarted.apply(eval("DbDown", 3'100'000, {}), 3'100'000);
  REQUIRE(j2.sent.size() >= 2);
  CHECK(j2.sent.back().status == "resolved");
}

TEST_CASE("an unknown receiver or policy in the routing is reported") {
  Routing r;
  r.root.receiver = "ops";
  Route child;
  child.receiver = "pagr";
  child.policy = "nope";
  r.root.routes.push_back(child);
  auto errors = Engine::validate(r, {"ops", "pager"});
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("route.routes[0]: receiver \"pagr\" is not a notifier instance") == 0);
  CHECK(errors[1].find("policy \"nope\" is not declared") != std::string::npos);
}

TEST_CASE("a mute window in a time zone follows its daylight saving time") {
  LocalTime t;
  std::string error;
  // 2026-07-01 14:00 UTC is 10:00 in New York (EDT, UTC-4) on a Wednesday.
  REQUIRE(local_time(1782914400000, "America/New_York", t, error));
  CHECK(t.weekday == 3);
  CHECK(t.minute_of_day == 600);
  // 2026-01-07 15:00 UTC is 10:00 in New York (EST, UTC-5).
  REQUIRE(local_time(1767798000000, "America/New_York", t, error));
  CHECK(t.minute_of_day == 600);
  REQUIRE(local_time(1782914400000, "Europe/Berlin", t, error));
  CHECK(t.minute_of_day == 16 * 60);
  CHECK_FALSE(local_time(0, "Mars/Olympus", t, error));
  CHECK(error.find("unknown time zone \"Mars/Olympus\"") == 0);

  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  e.set_routing(windowed_routing({"night", {}, {{0, 8 * 60}}, "America/New_York"}));
  const int64_t five_am_ny = 1782896400000;  // 2026-07-01 09:00 UTC
  e.apply(eval("A", five_am_ny, {inst(1, true, true)}), five_am_ny);
  CHECK(j.sent.empty());
  e.tick(five_am_ny + 3 * 3'600'000 + 60'000);  // 08:01 local: the window is over
  CHECK(j.sent.size() == 1);
}

TEST_CASE("annotation templates render labels and formatted values, and bad ones are caught") {
  Alert a;
  a.rule = "DiskLow";
  a.value = 0.0734;
  a.labels = {{"mountpoint", "/var"}, {"alertname", "DiskLow"}};
  CHECK(render_template("{{labels.mountpoint}} has {{value | percent}} left", a, "") ==
        "/var has 7.3% left");
  CHECK(render_template("{{value | printf \"%.2f\"}} {{labels.team | default \"ops\"}}", a, "") ==
        "0.07 ops");
  a.value = 1610612736;
  CHECK(render_template("{{value | bytes}}", a, "") == "1.5 GiB");
  a.value = 3720;
  CHECK(render_template("{{value | duration}}", a, "") == "1h 2m");
  CHECK(check_template("{{value | percnt}}")
            .find("unknown function \"percnt\" (did you mean "
                  "\"percent\"?)") != std::string::npos);
  CHECK(check_template("{{labels.x") == "line 1, column 1: this {{ is never closed; expected }}");
  CHECK(check_template("{{value | printf \"%d %d\"}}").find("line 1, column") == 0);
}
