// Routing and flags as an on-call person meets them: active windows and weekdays read in the
// window's own time zone, escalation steps whose condition looks at the time of the step,
// `group_by = {"..."}`, and the flag changes (+silenced, +inhibited, +flapping, and -flapping
// after a stable window) written to the alert's history. Time is passed in.
#include "engine_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace vigil::alerts;
using namespace vigil::alerts::testing;

namespace {

// 2026-01-05 is a Monday.
constexpr int64_t kSat1000Berlin = 1768035600000;   // 2026-01-10 09:00Z
constexpr int64_t kMon0900Berlin = 1768204800000;   // 2026-01-12 08:00Z
constexpr int64_t kWed1200Berlin = 1767783600000;   // 2026-01-07 11:00Z
constexpr int64_t kWed1800Berlin = 1767805200000;   // 2026-01-07 17:00Z
constexpr int64_t kThu0900Berlin = 1767859200000;   // 2026-01-08 08:00Z
constexpr int64_t kSun2330NewYork = 1768192200000;  // 2026-01-12 04:30Z: Monday in UTC
constexpr int64_t kMon0000NewYork = 1768194000000;  // 2026-01-12 05:00Z
constexpr int64_t kFri2330NewYork = 1768019400000;  // 2026-01-10 04:30Z: Saturday in UTC
constexpr int64_t kMinute = 60'000;

// Office hours in Berlin, Monday to Friday 09:00-17:30, as the only time the route notifies.
Routing office_routing() {
  return windowed_routing({"office", {1, 2, 3, 4, 5}, {{9 * 60, 17 * 60 + 30}}, "Europe/Berlin"},
                          true);
}

std::vector<std::string> history_to(Engine& e, const std::string& fp) {
  std::vector<std::string> out;
  for (const auto& t : e.history(fp, 100)) out.push_back(t.to);
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

TEST_CASE("an active window notifies inside office hours at once and holds the rest") {
  struct Case {
    const char* when;
    int64_t fired_at, told_at;
  };
  const Case cases[] = {
      {"Wednesday 12:00 in Berlin: inside", kWed1200Berlin, kWed1200Berlin},
      {"Wednesday 18:00: after hours, told Thursday 09:00", kWed1800Berlin, kThu0900Berlin},
      {"Saturday 10:00: inside the hours but not the weekdays, told Monday 09:00", kSat1000Berlin,
       kMon0900Berlin},
  };
  for (const auto& c : cases) {
    SECTION(c.when) {
      MemoryJournal j;
      Engine e(j);
      e.set_rules({rule("A")}, 0);
      e.set_routing(office_routing());
      e.apply(eval("A", c.fired_at, {inst(1, true, true)}), c.fired_at);
      if (c.told_at == c.fired_at) {
        REQUIRE(j.sent.size() == 1);
        continue;
      }
      CHECK(j.sent.empty());
      CHECK(e.next_deadline_ms() == c.told_at);
      e.tick(c.told_at - kMinute);
      CHECK(j.sent.empty());
      e.tick(c.told_at);
      REQUIRE(j.sent.size() == 1);
      CHECK(j.sent[0].created_ms == c.told_at);
    }
  }
}

TEST_CASE("a weekend mute window counts weekdays in its own time zone and not in UTC") {
  struct Case {
    const char* when;
    int64_t fired_at;
    bool muted;
  };
  const Case cases[] = {
      {"Sunday 23:30 in New York (Monday in UTC) is muted", kSun2330NewYork, true},
      {"Friday 23:30 in New York (Saturday in UTC) is not", kFri2330NewYork, false},
  };
  for (const auto& c : cases) {
    SECTION(c.when) {
      MemoryJournal j;
      Engine e(j);
      e.set_rules({rule("A")}, 0);
      e.set_routing(windowed_routing({"weekend", {0, 6}, {}, "America/New_York"}));
      e.apply(eval("A", c.fired_at, {inst(1, true, true)}), c.fired_at);
      CHECK(j.sent.empty() == c.muted);
      if (!c.muted) continue;
      CHECK(e.next_deadline_ms() == kMon0000NewYork);
      e.tick(kMon0000NewYork);
      REQUIRE(j.sent.size() == 1);
      CHECK(j.sent[0].created_ms == kMon0000NewYork);
    }
  }
}

TEST_CASE("an escalation step condition sees the time the step runs and not when it fired") {
  MemoryJournal j;
  Engine e(j);
  e.set_rules({rule("A")}, 0);
  Policy p;
  p.name = "nights";
  p.steps.push_back({{"chat"}, 30 * kMinute, {}, "chat"});
  // The pager only at night (from 22:00 UTC).
  std::vector<int64_t> asked;
  p.steps.push_back({{"pager"},
                     30 * kMinute,
                     [&asked](const StepContext& c) {
                       asked.push_back(c.now_ms);
                       return (c.now_ms / 3'600'000) % 24 >= 22;
                     },
                     "page at night"});
  p.repeat = 2;
  Routing routing = simple_routing();
  routing.root.policy = p.name;
  routing.policies[p.name] = p;
  e.set_routing(routing);
  const int64_t t0 = 1767643200000 + 60 * kMinute;  // 2026-01-05 21:00Z
  e.apply(eval("A", t0, {inst(1, true, true)}), t0);
  REQUIRE(j.sent.size() == 1);
  e.tick(t0 + 30 * kMinute);  // 21:30: the pager step is skipped
  CHECK(j.sent.size() == 1);
  e.tick(t0 + 60 * kMinute);  // 22:00: second pass, chat again
  e.tick(t0 + 90 * kMinute);  // 22:30: night, the pager
  REQUIRE(j.sent.size() == 3);
  CHECK(j.sent[1].receiver == "chat");
  CHECK(j.sent[2].receiver == "pager");
  CHECK(j.sent[2].escalation_step == 1);
  CHECK(j.sent[2].created_ms == t0 + 90 * kMinute);
  CHECK(asked == std::vector<int64_t>{t0 + 30 * kMinute, t0 + 90 * kMinute});
}

TEST_CASE("group_by ... makes one group per label set grouped by every label") {
  for (const bool every_label : {true, false}) {
    SECTION(every_label ? "group_by ..." : "group_by alertname") {
      MemoryJournal j;
      Engine e(j);
      e.set_rules({rule("A")}, 0);
      Routing routing = simple_routing();
      if (every_label) routing.root.group_by = {"..."};
      e.set_routing(routing);
      e.apply(eval("A", 0,
                   {inst(1, true, true, {{"instance", "db-1"}, {"team", "web"}}),
                    inst(1, true, true, {{"instance", "db-2"}, {"team", "web"}})}),
              0);
      const auto groups = e.list_groups();
      if (!every_label) {
        REQUIRE(groups.size() == 1);
        CHECK(groups[0].group_labels == Labels{{"alertname", "A"}});
        CHECK(j.sent.size() == 1);
        continue;
      }
      REQUIRE(groups.size() == 2);
      for (const auto& g : groups) {
        REQUIRE(g.fingerprints.size() == 1);
        // Every label of the alert, the engine's own (alertname, severity) included.
        CHECK(g.group_labels == e.find_alert(g.fingerprints[0])->labels);
        CHECK(g.group_labels.at("team") == "web");
      }
      CHECK(groups[0].group_labels.at("instance") != groups[1].group_labels.at("instance"));
      CHECK(j.sent.size() == 2);  // one notification per group
    }
  }
}

TEST_CASE("silenced and inhibited are recorded in the history on and off") {
  MemoryJournal j;
  Engine e(j);
  host_down_inhibits_warnings(e);
  e.apply(eval("HighLatency", 0, {inst(1, true, true)}), 0);
  const std::string fp = e.list_alerts({})[0].fingerprint;

  Silence s;
  s.matchers = {m(R"(alertname="HighLatency")")};
  s.ends_ms = 10 * kMinute;
  s.author = "alice";
  REQUIRE(e.create_silence(s, kMinute).empty());
  CHECK(e.find_alert(fp)->silenced);
  e.tick(10 * kMinute);  // the silence ends
  CHECK_FALSE(e.find_alert(fp)->silenced);

  e.apply(eval("HostDown", 11 * kMinute, {inst(1, true, true)}), 11 * kMinute);
  CHECK(e.find_alert(fp)->inhibited);
  e.apply(eval("HostDown", 12 * kMinute, {}), 12 * kMinute);  // the source resolves
  CHECK_FALSE(e.find_alert(fp)->inhibited);

  const auto history = e.history(fp, 100);
  std::vector<std::string> flags;
  for (const auto& t : history)
    if (t.from.empty()) flags.push_back(t.to + " @" + std::to_string(t.at_ms / kMinute) + "m");
  CHECK(flags == std::vector<std::string>{"+silenced @1m", "-silenced @10m", "+inhibited @11m",
                                          "-inhibited @12m"});
  for (const auto& t : history)
    if (t.to == "+silenced") CHECK(t.detail == "silence " + s.id);
}

TEST_CASE("a flapping alert is recorded as such and loses the flag after a stable window") {
  MemoryJournal j;
  Engine e(j);
  auto r = rule("Flap");
  r.flap = {4, 10 * kMinute};
  e.set_rules({r}, 0);
  e.set_routing(simple_routing());
  // Firing, resolved, firing, resolved: the fourth change within 10 minutes flags it.
  for (int i = 0; i < 4; ++i) {
    const bool on = i % 2 == 0;
    e.apply(eval("Flap", i * kMinute, {inst(1, on, on)}), i * kMinute);
  }
  const std::string fp =
      e.list_alerts({{State::firing, State::resolved, State::inactive}, {}})[0].fingerprint;
  CHECK(e.find_alert(fp)->flapping);
  for (const auto& t : e.history(fp, 100))
    if (t.to == "+flapping") CHECK(t.at_ms == 3 * kMinute);
  CHECK(has(history_to(e, fp), "+flapping"));
  const size_t told = j.sent.size();
  REQUIRE(told >= 1);
  CHECK(j.sent.back().status == "firing");  // its resolve waits while it flaps

  // Stable (resolved) from 3m: the flag stays until a whole window has passed since the last
  // change, then goes, and the resolve is told.
  e.apply(eval("Flap", 10 * kMinute, {}), 10 * kMinute);
  CHECK(e.find_alert(fp)->flapping);
  CHECK(j.sent.size() == told);
  CHECK(e.next_deadline_ms() <= 13 * kMinute);
  e.tick(13 * kMinute);
  CHECK_FALSE(e.find_alert(fp)->flapping);
  REQUIRE(has(history_to(e, fp), "-flapping"));
  for (const auto& t : e.history(fp, 100))
    if (t.to == "-flapping") {
      CHECK(t.at_ms == 13 * kMinute);
      CHECK(t.detail == "stable");
    }
  for (int64_t t = 13 * kMinute; t <= 15 * kMinute && j.sent.size() == told; t += 30'000) e.tick(t);
  REQUIRE(j.sent.size() == told + 1);
  CHECK(j.sent.back().status == "resolved");
}
