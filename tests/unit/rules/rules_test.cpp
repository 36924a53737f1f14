// Rule files as users write them: declarations become rules and routing, evaluations read the
// store through the query library, and every mistake names file, line and rule. The sandbox's
// tests are in sandbox_test.cpp, the window functions' in window_functions_test.cpp.
#include "rules_fixture.hpp"

using namespace vigil;
using namespace vigil::rules::testing;
using rules::RuleSet;

TEST_CASE("an expr rule with hysteresis yields instances with enter and stay") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "DiskFull", expr = 'disk_used_ratio{mount!="/boot"}', above = 0.9,
           recover_below = 0.8, ["for"] = "5m", severity = "warning",
           annotations = { summary = "{{labels.mount}} at {{value | percent}}" } }
  )");
  auto set = must_load(file);
  REQUIRE(set->specs().size() == 1);
  CHECK(set->specs()[0].for_ms == 300'000);
  CHECK(set->specs()[0].severity == "warning");
  Source src;
  auto root = src.series("disk_used_ratio", {{"mount", "/"}});
  auto var = src.series("disk_used_ratio", {{"mount", "/var"}});
  auto boot = src.series("disk_used_ratio", {{"mount", "/boot"}});
  src.store.write(root, 0.95, 1000);
  src.store.write(var, 0.85, 1000);
  src.store.write(boot, 0.99, 1000);
  auto e = set->evaluate(0, 2000, src.source);
  REQUIRE(e.ok);
  REQUIRE(e.instances.size() == 2);  // /boot excluded; /var is between the thresholds
  for (const auto& i : e.instances) {
    if (i.labels.at("mount") == "/") CHECK((i.enter && i.stay));
    if (i.labels.at("mount") == "/var") CHECK((!i.enter && i.stay));
  }
}

TEST_CASE("eval functions read windows, health and absence, and keep per-key state") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "Busy", eval = function(q, state)
      local out = {}
      for _, s in ipairs(q.select('requests_total')) do
        local ks = q.key_state(s.labels)
        ks.streak = (ks.streak or 0) + 1
        out[#out + 1] = { labels = { path = s.labels.path, streak = ks.streak },
                          value = s:rate("1m") }
      end
      local db = q.health("db")
      if db and db.status == "critical" then out[#out + 1] = { labels = { check = "db" }, value = db.code } end
      if q.absent('heartbeat', "2m") then out[#out + 1] = { labels = { dead = "heartbeat" }, value = 1 } end
      return out
    end, when = function(v) return v > 5 end }
  )");
  auto set = must_load(file);
  Source src;
  auto c = src.series("requests_total", {{"path", "/api"}}, VIGIL_METRIC_COUNTER);
  for (int t = 0; t <= 60; t += 10) src.store.write(c, t * 10.0, 1'000'000 + t * 1000);  // 10/s
  src.health.push_back({"db", 2, 0, "connection refused"});
  auto e = set->evaluate(0, 1'060'000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  REQUIRE(e.instances.size() == 3);
  CHECK(e.instances[0].value == Approx(10));
  CHECK(e.instances[0].enter);
  CHECK(e.instances[0].labels.at("streak") == "1");
  CHECK(e.instances[1].labels.at("check") == "db");
  CHECK(e.instances[2].labels.at("dead") == "heartbeat");
  auto again = set->evaluate(0, 1'060'000, src.source);
  CHECK(again.instances[0].labels.at("streak") == "2");
}

TEST_CASE("routes, policies, inhibition and time windows are declared in Lua") {
  Dir dir;
  auto file = dir.write("routing.lua", R"(
    time_window "office" { weekdays = { "mon-fri" }, times = { "09:00-17:00" }, time_zone = "Europe/Berlin" }
    policy "oncall" {
      steps = { notify { "slack" }, wait "10m",
                notify { "pager", when = function(ctx) return ctx.severity == "critical" end } },
      ["repeat"] = 2, on_resolve = { "slack" },
    }
    route { receiver = "ops", group_by = { "alertname" }, group_wait = "30s",
            routes = { { matchers = { 'severity="critical"' }, policy = "oncall" },
                       { matchers = { 'team="web"' }, receiver = "web", active_windows = { "office" } } } }
    inhibit { source = { 'severity="critical"' }, target = { 'severity="warning"' }, equal = { "instance" } }
    rule { name = "X", expr = "up", below = 1 }
  )");
  auto set = must_load(file);
  const auto& r = set->routing();
  CHECK(r.root.receiver == "ops");
  CHECK(r.root.group_wait_ms == 30'000);
  REQUIRE(r.root.routes.size() == 2);
  CHECK(r.root.routes[0].policy == "oncall");
  const auto& p = r.policies.at("oncall");
  REQUIRE(p.steps.size() == 2);
  CHECK(p.steps[0].wait_ms == 600'000);
  CHECK(p.repeat == 2);
  alerts::StepContext ctx;
  ctx.severity = "warning";
  CHECK_FALSE(p.steps[1].condition(ctx));
  ctx.severity = "critical";
  CHECK(p.steps[1].condition(ctx));
  CHECK(r.inhibit.size() == 1);
  CHECK(r.windows.at("office").weekdays == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(r.windows.at("office").minutes[0] == std::pair<int, int>{540, 1020});
}

TEST_CASE("every mistake in a rule file is reported with file, line and rule") {
  Dir dir;
  auto file = dir.write("bad.lua",
                        "rule { name = \"A\", expr = \"up\", above = 1, \"for\" }\n"
                        "rule { name = \"B\", expr = \"up{\", interval = \"soon\" }\n"
                        "rule { name = \"A\", eval = function() end, bogus = 1,\n"
                        "       annotations = { s = \"{{value | nope}}\" } }\n");
  std::vector<std::string> errors;
  CHECK_FALSE(load(file, errors));
  const std::string f = file.string();
  CHECK(has(errors, f + ":2: rule B: interval: found \"soon\" (a string), expected a duration"));
  CHECK(has(errors, f + ":2: rule B: expr: at"));
  CHECK(has(errors, f + ":3: rule A: unknown field \"bogus\""));
  CHECK(has(errors, f + ":3: rule A: annotations.s: line 1, column 11: unknown function \"nope\""));
  CHECK(has(errors, f + ":3: rule A: the name is already used by the rule at " + f + ":1"));
  errors.clear();
  auto syntax = dir.write("syntax.lua", "rule { name = \n");
  CHECK_FALSE(load(syntax, errors));
  CHECK(has(errors, syntax.string() + ":2:"));
}

TEST_CASE("a script error fails that rule's evaluation with file, line and rule") {
  Dir dir;
  auto file = dir.write("t.lua",
                        "rule { name = \"Oops\", eval = function(q)\n"
                        "  local x = nil\n"
                        "  return x.field\n"
                        "end }\n"
                        "rule { name = \"Fine\", eval = function(q) return {} end }\n");
  auto set = must_load(file);
  Source src;
  auto bad = set->evaluate(0, 1000, src.source);
  CHECK_FALSE(bad.ok);
  CHECK(bad.error.find(file.string() + ":1: rule Oops: " + file.string() +
                       ":3: attempt to index") == 0);
  CHECK(set->evaluate(1, 1000, src.source).ok);
}
