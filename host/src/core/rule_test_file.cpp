// Reading `vigil test-rules` files (see rule_test_file.hpp).
//
// The chunk runs in a state of its own with only string, table and math opened, an instruction
// cap and no way to reach files or the host: a test file is data that happens to be written in
// Lua. Its result is turned into JSON once, so every later check can name a path the user sees.
#include "core/rule_test_file.hpp"

#include "alerts/matcher.hpp"
#include "config/config.hpp"

#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace vigil::core {
namespace {

using nlohmann::json;

constexpr int kInstructionCap = 50'000'000;

void instruction_hook(lua_State* L, lua_Debug*) {
  luaL_error(L, "the test file ran for more than %d instructions, expected plain data",
             kInstructionCap);
}

// Lua value at `index` to JSON. Tables with keys 1..n become arrays, others objects with
// string keys; anything else (functions, userdata) is an error naming where it was.
bool to_json(lua_State* L, int index, const std::string& path, json& out, std::string& error,
             int depth = 0) {
  index = lua_absindex(L, index);
  if (depth > 64) {
    error = path + ": nested more than 64 levels, expected plain data";
    return false;
  }
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      out = nullptr;
      return true;
    case LUA_TBOOLEAN:
      out = static_cast<bool>(lua_toboolean(L, index));
      return true;
    case LUA_TNUMBER:
      if (lua_isinteger(L, index))
        out = static_cast<int64_t>(lua_tointeger(L, index));
      else
        out = lua_tonumber(L, index);
      return true;
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, index, &n);
      out = std::string(s, n);
      return true;
    }
    case LUA_TTABLE: {
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, index));
      size_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, index)) {
        ++count;
        lua_pop(L, 1);
      }
      if (count == 0) {
        out = json::array();  // {} reads as an empty list, which is what users mean by it
        return true;
      }
      if (static_cast<size_t>(n) == count) {
        out = json::array();
        for (lua_Integer i = 1; i <= n; ++i) {
          lua_rawgeti(L, index, i);
          json item;
          bool ok =
              to_json(L, -1, path + "[" + std::to_string(i - 1) + "]", item, error, depth + 1);
          lua_pop(L, 1);
          if (!ok) return false;
          out.push_back(std::move(item));
        }
        return true;
      }
      out = json::object();
      lua_pushnil(L);
      while (lua_next(L, index)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
          error = path +
                  ": found a table mixing list items and named keys, expected one or "
                  "the other";
          lua_pop(L, 2);
          return false;
        }
        std::string key = lua_tostring(L, -2);
        json item;
        bool ok = to_json(L, -1, path.empty() ? key : path + "." + key, item, error, depth + 1);
        lua_pop(L, 1);
        if (!ok) {
          lua_pop(L, 1);
          return false;
        }
        out[key] = std::move(item);
      }
      return true;
    }
    default:
      error = (path.empty() ? std::string("the returned value") : path) + ": found a " +
              luaL_typename(L, index) + ", expected plain data (text, numbers, booleans, tables)";
      return false;
  }
}

// Collects errors under paths, like the config checker, for one test file.
class Reader {
 public:
  Reader(std::string file, std::vector<std::string>& errors)
      : file_(std::move(file)), errors_(errors) {}
  bool ok() const { return failures_ == 0; }

  void fail(const std::string& path, const std::string& message) {
    ++failures_;
    errors_.push_back(file_ + ": " + (path.empty() ? "" : path + ": ") + message);
  }
  void expected(const std::string& path, const json& found, const std::string& what) {
    fail(path, "found " + config::describe_value(found) + ", expected " + what);
  }
  static std::string child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  void only_keys(const json& v, const std::string& path, std::initializer_list<const char*> keys) {
    for (const auto& [key, value] : v.items()) {
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; })) {
        std::string list;
        for (const char* k : keys) list += std::string(list.empty() ? "" : ", ") + k;
        fail(child(path, key), "unknown key \"" + key + "\", expected one of: " + list);
      }
    }
  }

  std::optional<std::string> string(const json& v, const std::string& path) {
    if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
    expected(path, v, "a non-empty string");
    return std::nullopt;
  }

  std::optional<int64_t> duration(const json& v, const std::string& path) {
    auto d = config::parse_duration(v);
    if (!d || d->count() < 0) {
      expected(path, v, "a duration such as \"90s\", \"5m\", \"1h30m\" or a number of seconds");
      return std::nullopt;
    }
    return d->count();
  }

  const json& list(const json& v, const std::string& key, const std::string& path) {
    static const json empty = json::array();
    if (!v.contains(key)) return empty;
    if (!v[key].is_array()) {
      expected(child(path, key), v[key], "a list");
      return empty;
    }
    return v[key];
  }

  std::map<std::string, std::string> string_map(const json& v, const std::string& path) {
    std::map<std::string, std::string> out;
    if (!v.is_object() && !(v.is_array() && v.empty())) {
      expected(path, v, "a table of names to text, such as { instance = \"db-1\" }");
      return out;
    }
    for (const auto& [key, value] : v.items()) {
      if (value.is_string())
        out[key] = value.get<std::string>();
      else if (value.is_number())
        out[key] = value.dump();
      else
        expected(child(path, key), value, "text");
    }
    return out;
  }

  std::vector<std::string> strings(const json& v, const std::string& path) {
    std::vector<std::string> out;
    if (!v.is_array()) {
      expected(path, v, "a list of text");
      return out;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto s = string(v[i], index(path, i))) out.push_back(*s);
    }
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string>& errors_;
  int failures_ = 0;
};

std::vector<ExpectedAlert> read_alerts(Reader& r, const json& v, const std::string& path) {
  std::vector<ExpectedAlert> out;
  if (!v.is_array()) {
    r.expected(path, v, "a list of alerts such as { { labels = { alertname = \"X\" } } }");
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    std::string ipath = Reader::index(path, i);
    const json& a = v[i];
    if (!a.is_object()) {
      r.expected(ipath, a, "a table with labels (and optionally annotations, flags)");
      continue;
    }
    r.only_keys(a, ipath, {"labels", "annotations", "flags"});
    ExpectedAlert e;
    e.path = ipath;
    if (!a.contains("labels") || !a["labels"].is_object()) {
      r.expected(Reader::child(ipath, "labels"), a.contains("labels") ? a["labels"] : json(),
                 "the alert's labels, at least { alertname = \"...\" }");
      continue;
    }
    e.labels = r.string_map(a["labels"], Reader::child(ipath, "labels"));
    if (a.contains("annotations"))
      e.annotations = r.string_map(a["annotations"], Reader::child(ipath, "annotations"));
    if (a.contains("flags")) {
      auto flags = r.strings(a["flags"], Reader::child(ipath, "flags"));
      for (const auto& f : flags) {
        if (f != "acknowledged" && f != "silenced" && f != "inhibited" && f != "flapping")
          r.fail(Reader::child(ipath, "flags"),
                 "found \"" + f + "\", expected acknowledged, silenced, inhibited or flapping");
      }
      std::sort(flags.begin(), flags.end());
      e.flags = flags;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void read_test(Reader& r, const json& t, const std::string& path, RuleTest& out) {
  out.path = path;
  if (!t.is_object()) return r.expected(path, t, "a table describing one test");
  r.only_keys(t, path,
              {"name", "interval", "duration", "series", "health", "alerts", "notifications",
               "actions", "failing_receivers"});
  out.name =
      t.contains("name") ? r.string(t["name"], Reader::child(path, "name")).value_or(path) : path;
  if (t.contains("interval")) {
    if (auto d = r.duration(t["interval"], Reader::child(path, "interval"))) {
      if (*d == 0)
        r.fail(Reader::child(path, "interval"), "found 0, expected a positive duration");
      else
        out.interval_ms = *d;
    }
  }
  if (t.contains("duration"))
    out.duration_ms = r.duration(t["duration"], Reader::child(path, "duration")).value_or(0);

  const json& series = r.list(t, "series", path);
  for (size_t i = 0; i < series.size(); ++i) {
    std::string ipath = Reader::index(Reader::child(path, "series"), i);
    const json& s = series[i];
    TestSeries ts;
    ts.path = ipath;
    json selector, values;
    if (s.is_array() && s.size() == 2) {
      selector = s[0];
      values = s[1];
    } else if (s.is_object()) {
      r.only_keys(s, ipath, {"series", "values"});
      selector = s.value("series", json());
      values = s.value("values", json());
    } else {
      r.expected(ipath, s,
                 "{ 'metric{label=\"v\"}', \"0+1x10\" } or { series = ..., values = ... }");
      continue;
    }
    auto text = r.string(selector, Reader::child(ipath, "series"));
    auto vals = values.is_string() ? std::optional(values.get<std::string>()) : std::nullopt;
    if (!vals) r.expected(Reader::child(ipath, "values"), values, "a series such as \"0+10x20\"");
    if (!text || !vals) continue;
    std::string error;
    auto parsed = alerts::parse_selector(*text, error);
    if (!parsed || parsed->name.empty()) {
      r.fail(
          Reader::child(ipath, "series"),
          parsed ? "`" + *text + "` names no metric, expected metric{label=\"value\",...}" : error);
      continue;
    }
    ts.selector = *text;
    ts.name = parsed->name;
    bool only_equal = true;
    for (const auto& m : parsed->matchers) {
      if (m.op() != alerts::MatchOp::equal) only_equal = false;
      ts.labels[m.name()] = m.value();
    }
    if (!only_equal) {
      r.fail(Reader::child(ipath, "series"),
             "`" + *text + "` uses a matcher other than =, expected the series' exact labels");
      continue;
    }
    auto steps = expand_series(*vals, error);
    if (!steps) {
      r.fail(Reader::child(ipath, "values"), error);
      continue;
    }
    ts.steps = std::move(*steps);
    out.series.push_back(std::move(ts));
  }

  const json& health = r.list(t, "health", path);
  for (size_t i = 0; i < health.size(); ++i) {
    std::string ipath = Reader::index(Reader::child(path, "health"), i);
    const json& h = health[i];
    if (!h.is_object()) {
      r.expected(ipath, h, "{ check = \"name\", values = \"ok ok criticalx3\" }");
      continue;
    }
    r.only_keys(h, ipath, {"check", "values"});
    TestHealth th;
    th.path = ipath;
    auto check = r.string(h.value("check", json()), Reader::child(ipath, "check"));
    const json values = h.value("values", json());
    if (!values.is_string()) {
      r.expected(Reader::child(ipath, "values"), values,
                 "health results such as \"ok criticalx3\"");
      continue;
    }
    std::string error;
    auto steps = expand_health(values.get<std::string>(), error);
    if (!steps) r.fail(Reader::child(ipath, "values"), error);
    if (!check || !steps) continue;
    th.check = *check;
    th.steps = std::move(*steps);
    out.health.push_back(std::move(th));
  }

  int64_t last_at = 0;
  const json& alerts = r.list(t, "alerts", path);
  for (size_t i = 0; i < alerts.size(); ++i) {
    std::string ipath = Reader::index(Reader::child(path, "alerts"), i);
    const json& a = alerts[i];
    if (!a.is_object() || !a.contains("at")) {
      r.expected(ipath, a, "{ at = \"10m\", firing = { ... } } (and optionally pending = { ... })");
      continue;
    }
    r.only_keys(a, ipath, {"at", "firing", "pending"});
    AlertCheck check;
    check.path = ipath;
    check.at_ms = r.duration(a["at"], Reader::child(ipath, "at")).value_or(0);
    if (a.contains("firing"))
      check.firing = read_alerts(r, a["firing"], Reader::child(ipath, "firing"));
    if (a.contains("pending"))
      check.pending = read_alerts(r, a["pending"], Reader::child(ipath, "pending"));
    last_at = std::max(last_at, check.at_ms);
    out.alerts.push_back(std::move(check));
  }

  if (t.contains("notifications")) {
    out.check_notifications = true;
    const json& list = r.list(t, "notifications", path);
    for (size_t i = 0; i < list.size(); ++i) {
      std::string ipath = Reader::index(Reader::child(path, "notifications"), i);
      const json& n = list[i];
      if (!n.is_object() || !n.contains("at") || !n.contains("receiver")) {
        r.expected(ipath, n, "{ at = \"10m\", receiver = \"ops\", status = \"firing\", step = 0 }");
        continue;
      }
      r.only_keys(n, ipath, {"at", "receiver", "status", "step", "alerts"});
      ExpectedNotification e;
      e.path = ipath;
      e.at_ms = r.duration(n["at"], Reader::child(ipath, "at")).value_or(0);
      e.receiver = r.string(n["receiver"], Reader::child(ipath, "receiver")).value_or("");
      if (n.contains("status")) {
        const json& st = n["status"];
        if (st == "firing" || st == "resolved")
          e.status = st.get<std::string>();
        else
          r.expected(Reader::child(ipath, "status"), st, "\"firing\" or \"resolved\"");
      }
      if (n.contains("step")) {
        if (n["step"].is_number_integer() && n["step"].get<int64_t>() >= 0)
          e.step = static_cast<int>(n["step"].get<int64_t>());
        else
          r.expected(Reader::child(ipath, "step"), n["step"], "an escalation step from 0");
      }
      if (n.contains("alerts")) {
        auto names = r.strings(n["alerts"], Reader::child(ipath, "alerts"));
        std::sort(names.begin(), names.end());
        e.alertnames = names;
      }
      last_at = std::max(last_at, e.at_ms);
      out.notifications.push_back(std::move(e));
    }
  }

  const json& actions = r.list(t, "actions", path);
  for (size_t i = 0; i < actions.size(); ++i) {
    std::string ipath = Reader::index(Reader::child(path, "actions"), i);
    const json& a = actions[i];
    int kinds =
        a.is_object()
            ? static_cast<int>(a.contains("ack") + a.contains("unack") + a.contains("silence"))
            : 0;
    if (!a.is_object() || !a.contains("at") || kinds != 1) {
      r.expected(ipath, a,
                 "{ at = \"12m\", ack = { alertname = \"X\" } } or unack = {...} or "
                 "silence = { 'alertname=\"X\"' } with duration");
      continue;
    }
    r.only_keys(
        a, ipath,
        {"at", "ack", "unack", "silence", "duration", "author", "comment", "sticky", "expires"});
    TestAction act;
    act.path = ipath;
    act.at_ms = r.duration(a["at"], Reader::child(ipath, "at")).value_or(0);
    if (a.contains("silence")) {
      act.kind = TestAction::silence;
      act.matchers = r.strings(a["silence"], Reader::child(ipath, "silence"));
      for (const auto& m : act.matchers) {
        std::string error;
        if (!alerts::parse_matcher(m, error)) r.fail(Reader::child(ipath, "silence"), error);
      }
      if (!a.contains("duration"))
        r.fail(Reader::child(ipath, "duration"), "missing, expected how long the silence lasts");
      else
        act.duration_ms = r.duration(a["duration"], Reader::child(ipath, "duration")).value_or(0);
    } else {
      act.kind = a.contains("ack") ? TestAction::ack : TestAction::unack;
      const char* key = a.contains("ack") ? "ack" : "unack";
      act.labels = r.string_map(a[key], Reader::child(ipath, key));
      if (a.contains("expires"))
        act.duration_ms = r.duration(a["expires"], Reader::child(ipath, "expires")).value_or(0);
      if (a.contains("sticky")) {
        if (a["sticky"].is_boolean())
          act.sticky = a["sticky"].get<bool>();
        else
          r.expected(Reader::child(ipath, "sticky"), a["sticky"], "true or false");
      }
    }
    if (a.contains("author"))
      act.author = r.string(a["author"], Reader::child(ipath, "author")).value_or("test");
    if (a.contains("comment") && a["comment"].is_string())
      act.comment = a["comment"].get<std::string>();
    out.actions.push_back(std::move(act));
  }
  if (t.contains("failing_receivers"))
    out.failing_receivers =
        r.strings(t["failing_receivers"], Reader::child(path, "failing_receivers"));
  if (out.duration_ms == 0) out.duration_ms = last_at + out.interval_ms;
}

}  // namespace

std::optional<RuleTestFile> read_rule_test_file(const std::filesystem::path& file,
                                                std::vector<std::string>& errors) {
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.push_back(name + ": cannot open the file, expected a readable test file");
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string chunk = text.str();

  std::unique_ptr<lua_State, decltype(&lua_close)> state(luaL_newstate(), &lua_close);
  lua_State* L = state.get();
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  for (const char* unsafe : {"dofile", "loadfile", "load", "require", "collectgarbage", "print"}) {
    lua_pushnil(L);
    lua_setglobal(L, unsafe);
  }
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  lua_settop(L, 0);
  lua_sethook(L, instruction_hook, LUA_MASKCOUNT, kInstructionCap);
  std::string chunk_name = "@" + name;
  if (luaL_loadbufferx(L, chunk.data(), chunk.size(), chunk_name.c_str(), "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    errors.push_back(std::string(lua_tostring(L, -1)));
    return std::nullopt;
  }
  json doc;
  std::string error;
  if (!to_json(L, -1, "", doc, error)) {
    errors.push_back(name + ": " + error);
    return std::nullopt;
  }
  Reader r(name, errors);
  if (!doc.is_object()) {
    r.expected("", doc, "the file to return a table such as { rule_files = {...}, tests = {...} }");
    return std::nullopt;
  }
  r.only_keys(doc, "", {"rule_files", "start", "tests"});
  RuleTestFile out;
  out.file = file;
  auto base = std::filesystem::absolute(file).parent_path();
  for (const auto& f : r.strings(doc.value("rule_files", json::array()), "rule_files")) {
    std::filesystem::path p(f);
    out.rule_files.push_back(p.is_absolute() ? p : (base / p).lexically_normal());
  }
  if (out.rule_files.empty() && r.ok())
    r.fail("rule_files", "missing or empty, expected the rule files under test");
  if (doc.contains("start")) {
    const json& s = doc["start"];
    auto ms = s.is_string() ? config::parse_rfc3339(s.get<std::string>()) : std::nullopt;
    if (ms)
      out.start_ms = *ms;
    else
      r.expected("start", s, "an RFC 3339 time such as \"2026-01-05T09:00:00Z\"");
  }
  const json& tests = r.list(doc, "tests", "");
  if (tests.empty()) r.fail("tests", "missing or empty, expected at least one test");
  for (size_t i = 0; i < tests.size(); ++i) {
    RuleTest test;
    read_test(r, tests[i], Reader::index("tests", i), test);
    out.tests.push_back(std::move(test));
  }
  if (!r.ok()) return std::nullopt;
  return out;
}

}  // namespace vigil::core
