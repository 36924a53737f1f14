// Rule files as users write them: declarations become rules and routing, evaluations read the
// store through the query library, every mistake names file, line and rule, and the sandbox
// holds against each way out of it.
#include "rules/rule_set.hpp"
#include "rules/window_functions.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace vigil;
using rules::RuleSet;

namespace {

struct Dir {
  std::filesystem::path path;
  Dir() {
    path = std::filesystem::temp_directory_path() /
           ("vigil-rules-" + std::to_string(::getpid()) + "-" + std::to_string(n()++));
    std::filesystem::create_directories(path);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  static int& n() {
    static int i = 0;
    return i;
  }
};

// A real store with every series windowed, plus fixed health results.
struct Source {
  store::Store store;
  std::vector<rules::HealthInfo> health;
  rules::StoreSource source{store, [this] { return health; }};
  Source() { store.set_window_options({3'600'000, 720, true}); }
  vigil_series_id series(const char* name, store::Labels labels,
                         vigil_metric_type type = VIGIL_METRIC_GAUGE) {
    vigil_family_desc d{};
    d.size = sizeof d;
    d.name = name;
    d.help = "h";
    d.type = type;
    std::string error;
    auto f = store.register_family(d, error);
    return store.register_series(f, std::move(labels), 0, 0, error);
  }
};

std::unique_ptr<RuleSet> load(const std::filesystem::path& file, std::vector<std::string>& errors,
                              rules::Limits limits = {}) {
  return RuleSet::load({file}, limits, errors);
}

std::unique_ptr<RuleSet> must_load(const std::filesystem::path& file, rules::Limits limits = {}) {
  std::vector<std::string> errors;
  auto set = load(file, errors, limits);
  INFO((errors.empty() ? "" : errors[0]));
  REQUIRE(set);
  return set;
}

bool has(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

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

TEST_CASE("the sandbox: each way out is closed") {
  Dir dir;
  dir.write("lib/helper.lua", "return { answer = 42 }");
  dir.write("evil.so", "not really a library");
  rules::Limits limits;
  limits.script_dirs = {dir.path / "lib"};
  limits.instruction_budget = 1'000'000;
  limits.memory_limit_bytes = 8u << 20;
  auto attempt = [&](const std::string& body) {
    auto file =
        dir.write("escape.lua", "rule { name = \"E\", eval = function(q)\n" + body +
                                    "\nend }\n"
                                    "rule { name = \"Ok\", eval = function(q) return {} end }\n");
    auto set = must_load(file, limits);
    Source src;
    auto e = set->evaluate(0, 1000, src.source);
    // The other rule and the state keep working afterwards.
    CHECK(set->evaluate(1, 1000, src.source).ok);
    CHECK(set->evaluate(0, 1000, src.source).ok == e.ok);
    return e;
  };
  SECTION("io is absent") {
    CHECK(attempt("return io.open('/etc/passwd')").error.find("global 'io'") != std::string::npos);
  }
  SECTION("os.execute and os.exit are absent") {
    CHECK(attempt("os.execute('touch /tmp/x')").error.find("field 'execute'") != std::string::npos);
    CHECK(attempt("os.exit(1)").error.find("field 'exit'") != std::string::npos);
    CHECK(attempt("return os.getenv('HOME')").error.find("field 'getenv'") != std::string::npos);
  }
  SECTION("debug is absent") {
    CHECK(attempt("debug.sethook()").error.find("global 'debug'") != std::string::npos);
  }
  SECTION("package and loadlib are absent") {
    CHECK(attempt("package.loadlib('x.so', 'f')").error.find("global 'package'") !=
          std::string::npos);
  }
  SECTION("dofile and loadfile are absent") {
    CHECK(attempt("dofile('/etc/passwd')").error.find("global 'dofile'") != std::string::npos);
    CHECK(attempt("loadfile('/etc/passwd')").error.find("global 'loadfile'") != std::string::npos);
  }
  SECTION("string.dump is gone, also through the string metatable") {
    CHECK(attempt("return string.dump(print)").error.find("field 'dump'") != std::string::npos);
    CHECK(attempt("return ('x'):dump()").error.find("method 'dump'") != std::string::npos);
  }
  SECTION("load refuses bytecode") {
    CHECK(attempt("return load('\\27Lua', 'x', 'b')").error.find("only text chunks") !=
          std::string::npos);
    auto e = attempt("local f, err = load('\\27LuaT\\0', 'x') if not f then error(err) end");
    CHECK(e.error.find("attempt to load a binary chunk") != std::string::npos);
  }
  SECTION("require finds only Lua text in the script directories") {
    auto ok =
        attempt("local h = require('helper') if h.answer ~= 42 then error('bad') end return {}");
    CHECK(ok.ok);
    CHECK(attempt("require('evil')").error.find("not found in the script directories") !=
          std::string::npos);
    CHECK(attempt("require('/etc/passwd')").error.find("expected a module name") !=
          std::string::npos);
    CHECK(attempt("require('..evil')").error.find("expected a module name") != std::string::npos);
  }
  SECTION("an endless loop hits the instruction budget") {
    CHECK(attempt("while true do end").error.find("instruction budget of 1000000 exceeded") !=
          std::string::npos);
  }
  SECTION("a memory bomb hits the memory cap") {
    CHECK(attempt("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end")
              .error.find("not enough memory") != std::string::npos);
  }
  SECTION("collectgarbage is absent") {
    CHECK(attempt("collectgarbage('stop')").error.find("global 'collectgarbage'") !=
          std::string::npos);
  }
}

TEST_CASE("window functions follow Prometheus on counters and quantiles") {
  rules::Samples s = {{0, 10}, {10'000, 20}, {20'000, 5}, {30'000, 15}};  // a reset at 20 s
  CHECK(*rules::window_increase(s) == Approx(10 + 5 + 10));
  CHECK(*rules::window_rate(s) == Approx(25.0 / 30));
  CHECK(*rules::window_delta(s) == Approx(5));
  CHECK(*rules::window_avg(s) == Approx(12.5));
  CHECK(*rules::window_min(s) == 5);
  CHECK(*rules::window_max(s) == 20);
  CHECK(*rules::window_quantile(s, 0.5) == Approx(12.5));
  CHECK(*rules::window_quantile(s, 1) == 20);
  rules::Samples line = {{0, 100}, {60'000, 90}, {120'000, 80}};  // -1/6 per second
  CHECK(*rules::window_deriv(line) == Approx(-1.0 / 6));
  CHECK(*rules::window_predict_linear(line, 120'000, 480) == Approx(0));
  CHECK_FALSE(rules::window_rate({{0, 1}}));
  CHECK_FALSE(rules::window_avg({}));
}
