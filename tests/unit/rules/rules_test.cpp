// Rule files as users write them: declarations become rules and routing, evaluations read the
// store through the query library, and every mistake names file, line and rule. The sandbox's
// tests are in sandbox_test.cpp, the window functions' in window_functions_test.cpp.
#include "rules_fixture.hpp"

#include "alerts/engine.hpp"
#include "alerts/template.hpp"

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

TEST_CASE("a route to a receiver the config lacks is named by the file and line of its route") {
  Dir dir;
  auto file =
      dir.write("routing.lua",
                "-- routing\n"
                "route { receiver = 'ops',\n"
                "        routes = { { matchers = { 'team=\"web\"' }, receiver = 'web' } } }\n");
  auto set = must_load(file);
  const auto errors = alerts::Engine::validate(set->routing(), {"ops"});
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == file.string() +
                         ":2: route.routes[0]: receiver \"web\" is not a notifier instance in the "
                         "config, expected one of: ops");
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

TEST_CASE("rules run on their own, their group's or the default interval") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    group "fast" { interval = "10s" }
    rule { name = "Fast", group = "fast", expr = "up", below = 1 }
    rule { name = "Default", expr = "up", below = 1 }
    rule { name = "Own", group = "fast", interval = 90, expr = "up", below = 1 }
  )");
  auto set = must_load(file);
  REQUIRE(set->find("Own"));
  CHECK_FALSE(set->find("Nope"));
  const auto& specs = set->specs();
  CHECK(specs[*set->find("Fast")].interval_ms == 10'000);
  CHECK(specs[*set->find("Default")].interval_ms == 30'000);
  CHECK(specs[*set->find("Own")].interval_ms == 90'000);
  Source src;
  CHECK(set->due(0).size() == 3);  // every rule runs at once the first time
  CHECK(set->evaluate_due(0, src.source).size() == 3);
  CHECK(set->next_due_ms() == 10'000);
  CHECK(set->due(9'999).empty());
  CHECK(set->due(10'000) == std::vector<size_t>{*set->find("Fast")});
  auto at30 = set->evaluate_due(30'000, src.source);  // a late run stays on the grid
  REQUIRE(at30.size() == 2);
  CHECK(at30[0].rule == "Fast");
  CHECK(at30[1].rule == "Default");
  CHECK(set->next_due_ms() == 40'000);
  CHECK(set->due(90'000).size() == 3);
}

TEST_CASE("durations are text such as 1h30m or numbers of seconds, for_ is for") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "A", expr = "up", below = 1, for_ = "1h30m", keep_firing_for = 90,
           flap = { changes = 4, window = "15m" } }
    rule { name = "B", expr = "up", below = 1, ["for"] = 0.5 }
  )");
  auto set = must_load(file);
  CHECK(set->specs()[0].for_ms == 5'400'000);
  CHECK(set->specs()[0].keep_firing_for_ms == 90'000);
  CHECK(set->specs()[0].flap.changes == 4);
  CHECK(set->specs()[0].flap.window_ms == 900'000);
  CHECK(set->specs()[1].for_ms == 500);
}

TEST_CASE("every bad value is reported with file, line, rule, what was found and expected") {
  Dir dir;
  auto file = dir.write("bad.lua",
                        "rule { name = 'A', expr = 'up', severity = 5 }\n"
                        "rule { name = 'B', expr = 'up', above = 'high' }\n"
                        "rule { name = 'C', expr = 'up', above = 1, flap = { changes = 'many' } }\n"
                        "rule { name = 'D', expr = 'up', labels = { ['bad-name'] = 'x' } }\n"
                        "rule { name = 'E', expr = 'up', recover_below = 1 }\n"
                        "rule { name = 'F', expr = 'up', eval = function() end }\n"
                        "rule { name = 'G', expr = 'up', above = 0.8, recover_below = 0.9 }\n"
                        "rule { name = 'H', ['for'] = -5, expr = 'up' }\n"
                        "policy 'p' { steps = { wait '5m', notify {} } }\n"
                        "route { receiver = 'x', colour = 'blue' }\n"
                        "time_window 'w' { times = { '17:00-09:00' }, time_zone = 'Mars/Base' }\n"
                        "inhibit { source = { 'a=\"b\"' } }\n"
                        "group 'g' { interval = 'often' }\n");
  std::vector<std::string> errors;
  CHECK_FALSE(load(file, errors));
  const std::string f = file.string();
  CHECK(has(errors, f + ":1: rule A: severity: found 5 (a number), expected text"));
  CHECK(has(errors, f + ":2: rule B: above: found \"high\" (a string), expected a number"));
  CHECK(has(errors, f + ":3: rule C flap: changes: found \"many\" (a string), expected a number"));
  CHECK(has(errors, f + ":4: rule D: labels: "));
  CHECK(has(errors, f + ":5: rule E: recover_below goes with above"));
  CHECK(has(errors, f + ":6: rule F: expected either eval or expr, found both"));
  CHECK(has(errors, f + ":7: rule G: recover_below (0.9) is above the entry threshold (0.8)"));
  CHECK(has(errors, f + ":8: rule H: for: found -5 (a number), expected a duration"));
  CHECK(has(errors, f + ":9: policy p step 1: a wait before any notify"));
  CHECK(has(errors, f + ":9: policy p step 2: notify: expected at least one receiver"));
  CHECK(has(errors, f + ":10: route: unknown field \"colour\""));
  CHECK(has(errors, f + ":11: time_window w: times: found \"17:00-09:00\""));
  CHECK(has(errors, f + ":11: time_window w: time_zone: "));
  CHECK(has(errors, f + ":12: inhibit: expected source and target matchers"));
  CHECK(has(errors, f + ":13: group g: interval: found \"often\" (a string), expected a duration"));
  CHECK(errors.size() >= 15);
}

TEST_CASE("a rule name used in two files is refused naming both places") {
  Dir dir;
  auto a = dir.write("a.lua", "\nrule { name = 'Same', expr = 'up', below = 1 }\n");
  auto b = dir.write("b.lua", "rule { name = 'Same', expr = 'up', below = 1 }\n");
  std::vector<std::string> errors;
  CHECK_FALSE(RuleSet::load({dir.path}, {}, errors));  // a directory: its .lua files, sorted
  CHECK(has(errors, b.string() + ":1: rule Same: the name is already used by the rule at " +
                        a.string() + ":2"));
}

TEST_CASE("a missing rule file is named with what was expected") {
  Dir dir;
  std::vector<std::string> errors;
  CHECK_FALSE(RuleSet::load({dir.path / "nope.lua"}, {}, errors));
  CHECK(has(errors, "nope.lua: not found, expected a .lua rule file or a directory of them"));
}

TEST_CASE("declarations from a required module name the module's file") {
  Dir dir;
  dir.write("lib/common.lua",
            "local M = {}\n"
            "function M.threshold(name, metric)\n"
            "  rule { name = name, expr = metric, above = 'x' }\n"
            "end\n"
            "return M\n");
  auto file = dir.write("t.lua", "require('common').threshold('Hot', 'temp')\n");
  rules::Limits limits;
  limits.script_dirs = {dir.path / "lib"};
  std::vector<std::string> errors;
  CHECK_FALSE(load(file, errors, limits));
  CHECK(has(errors, (dir.path / "lib" / "common.lua").string() +
                        ":3: rule Hot: above: found \"x\" (a string), expected a number"));
}

TEST_CASE("eval results with unusable labels fail the rule saying what was found") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "T", eval = function() return { { labels = { host = {} }, value = 1 } } end }
    rule { name = "N", eval = function() return { { labels = { ["my-host"] = "a" } } } end }
    rule { name = "V", eval = function() return { { value = "high" } } end }
    rule { name = "R", eval = function() return 42 end }
    rule { name = "Num", eval = function() return { { labels = { code = 500, empty = "" } } } end }
  )");
  auto set = must_load(file);
  Source src;
  auto t = set->evaluate(0, 1000, src.source);
  CHECK(contains(t.error, ":2: rule T: eval's result[1].labels.host is a table, expected text"));
  auto n = set->evaluate(1, 1000, src.source);
  CHECK(contains(n.error, ":3: rule N: eval's result[1].labels: "));
  CHECK(contains(n.error, "my-host"));
  auto v = set->evaluate(2, 1000, src.source);
  CHECK(contains(v.error,
                 "rule V: eval's result[1].value is \"high\" (a string), expected a number"));
  auto r = set->evaluate(3, 1000, src.source);
  CHECK(contains(r.error, "rule R: eval returned 42 (a number), expected a list"));
  auto num = set->evaluate(4, 1000, src.source);
  REQUIRE(num.ok);
  REQUIRE(num.instances.size() == 1);
  CHECK(num.instances[0].labels == alerts::Labels{{"code", "500"}});  // empty values dropped
}

TEST_CASE("series methods compute windows from the store at the evaluation's time") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "W", eval = function(q)
      local s = q.select('disk_free_bytes{mount="/"}')[1]
      return { { labels = {
        avg = s:avg("5m"), min = s:min("5m"), max = s:max(300), sum = s:sum("5m"),
        count = s:count("2m"), last = s:last(), age = s:age(), delta = s:delta("5m"),
        p50 = s:quantile(0.5, "5m"), deriv = s:deriv("5m"),
        full_in_s = s:predict_linear("5m", 60), name = s.name, mount = s.labels.mount,
        none = s:rate("1ms") or "nil" } } }
    end }
  )");
  auto set = must_load(file);
  Source src;
  auto id = src.series("disk_free_bytes", {{"mount", "/"}});
  // 600, 500, ..., 100 at one-minute steps up to t = 10 min: falling 100 per minute.
  for (int i = 0; i < 6; ++i) src.store.write(id, 600.0 - 100 * i, 300'000 + i * 60'000);
  auto e = set->evaluate(0, 600'000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  REQUIRE(e.instances.size() == 1);
  const auto& l = e.instances[0].labels;
  // The 5m window is (300 s, 600 s]: 500 .. 100.
  CHECK(l.at("avg") == "300.0");
  CHECK(l.at("min") == "100.0");
  CHECK(l.at("max") == "500.0");
  CHECK(l.at("sum") == "1500.0");
  CHECK(l.at("count") == "2");
  CHECK(l.at("last") == "100.0");
  CHECK(l.at("age") == "0.0");
  CHECK(l.at("delta") == "-400.0");
  CHECK(l.at("p50") == "300.0");
  CHECK(std::stod(l.at("deriv")) == Approx(-100.0 / 60));
  CHECK(std::stod(l.at("full_in_s")) == Approx(0));
  CHECK(l.at("name") == "disk_free_bytes");
  CHECK(l.at("mount") == "/");
  CHECK(l.at("none") == "nil");
}

TEST_CASE("q.absent is a dead-man: no series, or none written within the window") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "Dead", eval = function(q)
      local out = {}
      for _, sel in ipairs({ 'heartbeat{job="a"}', 'heartbeat{job="b"}', 'never_there' }) do
        if q.absent(sel, "2m") then out[#out + 1] = { labels = { sel = sel } } end
      end
      return out
    end }
  )");
  auto set = must_load(file);
  Source src;
  src.store.write(src.series("heartbeat", {{"job", "a"}}), 1, 590'000);
  src.store.write(src.series("heartbeat", {{"job", "b"}}), 1, 400'000);  // 200 s ago
  auto e = set->evaluate(0, 600'000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  REQUIRE(e.instances.size() == 2);
  CHECK(e.instances[0].labels.at("sel") == "heartbeat{job=\"b\"}");
  CHECK(e.instances[1].labels.at("sel") == "never_there");
}

TEST_CASE("q.health and q.health_all report check results") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "Down", eval = function(q)
      local out = {}
      for _, h in ipairs(q.health_all()) do
        if h.status ~= "ok" then
          out[#out + 1] = { labels = { check = h.check, status = h.status, why = h.message },
                            value = h.code }
        end
      end
      if q.health("nope") ~= nil then error("an unknown check should be nil") end
      return out
    end, above = 1 }
  )");
  auto set = must_load(file);
  Source src;
  src.health = {{"db", 2, 0, "refused"}, {"web", 0, 0, ""}, {"dns", 1, 0, "slow"}};
  auto e = set->evaluate(0, 1000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  REQUIRE(e.instances.size() == 2);
  CHECK(e.instances[0].labels.at("check") == "db");
  CHECK(e.instances[0].labels.at("status") == "critical");
  CHECK(e.instances[0].labels.at("why") == "refused");
  CHECK(e.instances[0].enter);
  CHECK_FALSE(e.instances[1].enter);  // warning: code 1 is not above 1
}

TEST_CASE("vigil helpers: durations, time of day and weekdays in a time zone, formatting") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "H", eval = function(q)
      return { { labels = {
        d = vigil.duration("1h30m"), tod = vigil.time_of_day("Europe/Berlin"),
        tod_utc = vigil.time_of_day("UTC"), wd = vigil.weekday("Europe/Berlin"),
        office = tostring(vigil.between("09:00", "17:00", "Europe/Berlin")),
        office_utc = tostring(vigil.between("09:00", "17:00", "UTC")),
        night = tostring(vigil.between("22:00", "09:00", "UTC")),
        pct = vigil.fmt.percent(0.934), bytes = vigil.fmt.bytes(1536), dur = vigil.fmt.duration(90),
      } } }
    end }
  )");
  auto set = must_load(file);
  Source src;
  // Monday 2026-01-05 08:30 UTC, 09:30 in Berlin (UTC+1 in winter).
  auto e = set->evaluate(0, 1'767'601'800'000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  const auto& l = e.instances.at(0).labels;
  CHECK(l.at("d") == "5400.0");
  CHECK(l.at("tod") == "9.5");
  CHECK(l.at("tod_utc") == "8.5");
  CHECK(l.at("wd") == "mon");
  CHECK(l.at("office") == "true");
  CHECK(l.at("office_utc") == "false");
  CHECK(l.at("night") == "true");
  CHECK(l.at("pct") == alerts::format_percent(0.934));
  CHECK(l.at("bytes") == alerts::format_bytes(1536));
  CHECK(l.at("dur") == alerts::format_duration(90));
}

TEST_CASE("helpers refuse bad arguments with what was found") {
  Dir dir;
  auto file =
      dir.write("t.lua",
                "rule { name = 'A', eval = function(q) return vigil.duration('soon') end }\n"
                "rule { name = 'B', eval = function(q) return vigil.weekday('Mars/Base') end }\n"
                "rule { name = 'C', eval = function(q) return q.select('up{') end }\n"
                "rule { name = 'D', eval = function(q) return q.select({}) end }\n"
                "rule { name = 'E', eval = function(q) return q.key_state('x') end }\n");
  auto set = must_load(file);
  Source src;
  CHECK(contains(set->evaluate(0, 1000, src.source).error,
                 ":1: vigil.duration: found \"soon\" (a string), expected a duration"));
  CHECK(contains(set->evaluate(1, 1000, src.source).error, "Mars/Base"));
  CHECK(contains(set->evaluate(2, 1000, src.source).error, ":3: select(\"up{\"): "));
  CHECK(contains(set->evaluate(3, 1000, src.source).error,
                 ":4: q.select: the selector: found a table, expected text"));
  CHECK(contains(set->evaluate(4, 1000, src.source).error,
                 ":5: q.key_state: found \"x\" (a string), expected a label set"));
}

TEST_CASE("a duration text reads the same every time, bad or good, among thousands") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "D", eval = function(q)
      local s = q.select('up')[1]
      local out = {}
      for round = 1, 2 do
        local ok, err = pcall(s.avg, s, "5x")
        out[#out + 1] = { labels = { what = "bad" .. round, err = err }, value = ok and 1 or 0 }
      end
      local sum = 0
      for i = 1, 1500 do sum = sum + vigil.duration(i .. "s") end  -- more than are remembered
      out[#out + 1] = { labels = { what = "sum" }, value = sum }
      out[#out + 1] = { labels = { what = "again" }, value = vigil.duration("1500s") + s:count("90m") }
      return out
    end }
  )");
  auto set = must_load(file);
  Source src;
  src.store.write(src.series("up", {{"job", "a"}}), 1, 500);
  for (int round = 0; round < 2; ++round) {
    auto e = set->evaluate(0, 1000, src.source);
    INFO(e.error);
    REQUIRE(e.ok);
    REQUIRE(e.instances.size() == 4);
    for (int i = 0; i < 2; ++i) {
      CHECK(e.instances[i].value == 0);
      CHECK(contains(e.instances[i].labels.at("err"),
                     "expected a window such as \"5m\", found \"5x\" (a string)"));
    }
    CHECK(e.instances[2].value == 1500.0 * 1501 / 2);
    CHECK(e.instances[3].value == 1501);
  }
}

TEST_CASE("key_state keeps one table per label set, state one per rule") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "S", eval = function(q, state)
      state.runs = (state.runs or 0) + 1
      local a, b = q.key_state({ host = "a" }), q.key_state({ host = "b", x = 1 })
      a.n = (a.n or 0) + 1
      b.n = (b.n or 0) + 10
      if q.key_state({ host = "a" }) ~= a then error("not the same table") end
      return { { labels = { runs = state.runs, a = a.n, b = b.n } } }
    end }
  )");
  auto set = must_load(file);
  Source src;
  set->evaluate(0, 1000, src.source);
  auto e = set->evaluate(0, 2000, src.source);
  INFO(e.error);
  REQUIRE(e.ok);
  const auto& l = e.instances.at(0).labels;
  CHECK(l.at("runs") == "2");
  CHECK(l.at("a") == "2");
  CHECK(l.at("b") == "20");
}

TEST_CASE("q.select sees a series registered since its last call at the same time") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "Count", eval = function(q) return { { value = #q.select('up') } } end }
  )");
  auto set = must_load(file);
  Source src;
  src.store.write(src.series("up", {{"job", "a"}}), 1, 500);
  CHECK(set->evaluate(0, 1000, src.source).instances.at(0).value == 1);
  src.store.write(src.series("up", {{"job", "b"}}), 1, 500);
  CHECK(set->evaluate(0, 1000, src.source).instances.at(0).value == 2);
}

TEST_CASE("q.select sees a series written or gone stale since its last call, none registered") {
  Dir dir;
  auto file = dir.write("t.lua", R"(
    rule { name = "Up", eval = function(q)
      local out = {}
      for _, s in ipairs(q.select('up')) do out[#out + 1] = { labels = s.labels, value = s:last() } end
      return out
    end }
  )");
  auto set = must_load(file);
  Source src;
  vigil_family_desc d{};
  d.size = sizeof d;
  d.name = "up";
  d.help = "h";
  d.type = VIGIL_METRIC_GAUGE;
  std::string error;
  const auto family = src.store.register_family(d, error);
  const auto a = src.store.register_series(family, {{"job", "a"}}, 0, 0, error);  // never stale
  const auto b = src.store.register_series(family, {{"job", "b"}}, 60'000, 0, error);
  src.store.write(b, 2, 500);
  auto jobs = [&](int64_t now_ms) {
    auto e = set->evaluate(0, now_ms, src.source);
    INFO(e.error);
    REQUIRE(e.ok);
    std::string out;
    for (const auto& i : e.instances)
      out += i.labels.at("job") + "=" + alerts::format_value(i.value) + " ";
    return out;
  };
  CHECK(jobs(1'000) == "b=2 ");  // a was never written
  const auto generation = src.store.generation();
  src.store.write(a, 1, 1'500);
  CHECK(jobs(2'000) == "a=1 b=2 ");
  CHECK(jobs(100'000) == "a=1 ");  // b stale
  src.store.write(b, 3, 100'000);
  CHECK(jobs(100'500) == "a=1 b=3 ");
  CHECK(src.store.generation() == generation);  // writes alone: the same registered series
}

TEST_CASE("selectors built from data: thousands a round, the old ones forgotten, answers right") {
  Dir dir;
  // Each evaluation asks 3,000 selectors it never asked before (more than the 4,096 kept, over
  // two rounds), then the first round's again.
  auto file = dir.write("t.lua", R"(
    rule { name = "Many", eval = function(q, state)
      local from = state.from or 0
      state.from = (from + 3000) % 9000
      local hits = 0
      for i = from + 1, from + 3000 do hits = hits + #q.select('up{job="j' .. i .. '"}') end
      return { { value = hits, labels = { absent = tostring(q.absent('up{job="j100"}')) } } }
    end }
  )");
  auto set = must_load(file);
  Source src;
  for (int i = 100; i <= 9000; i += 100)
    src.store.write(src.series("up", {{"job", "j" + std::to_string(i)}}), 1, 500);
  for (int round = 0; round < 5; ++round) {
    auto e = set->evaluate(0, 1'000 + round * 1'000, src.source);
    INFO(e.error);
    REQUIRE(e.ok);
    CHECK(e.instances.at(0).value == 30);
    CHECK(e.instances.at(0).labels.at("absent") == "false");
  }
}

TEST_CASE("a policy condition that fails or loops notifies anyway, and has its own budget") {
  Dir dir;
  rules::Limits limits;
  limits.instruction_budget = 100'000;
  auto file = dir.write("t.lua", R"(
    policy "p" { steps = {
      notify { "a", when = function(ctx) while true do end end },
      notify { "b", when = function(ctx) return ctx.labels.team == "db" and ctx.firing > 1 end },
      notify { "c", when = function(ctx) return vigil.q.select('up') end },
    } }
    route { receiver = "a" }
  )");
  auto set = must_load(file, limits);
  const auto& p = set->routing().policies.at("p");
  alerts::StepContext ctx;
  ctx.firing = 2;
  ctx.group_labels = {{"team", "db"}};
  CHECK(p.steps[0].condition(ctx));  // a broken condition must not swallow a page
  CHECK(p.steps[1].condition(ctx));  // and the next one has a budget of its own
  ctx.firing = 1;
  CHECK_FALSE(p.steps[1].condition(ctx));
  CHECK(p.steps[2].condition(ctx));  // no query library in conditions: an error, so notify
}
