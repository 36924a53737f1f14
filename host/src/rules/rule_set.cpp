// Loading rule files and evaluating rules (see rule_set.hpp): the declaration functions a file
// calls (rule, group, route, policy, notify, wait, inhibit, time_window), the query library
// rules read through (q.select, series:rate(...), q.health, q.absent ...) and the `vigil` helpers.
#include "rules/rule_set.hpp"

#include "alerts/engine.hpp"
#include "alerts/template.hpp"
#include "config/config.hpp"
#include "rules/sandbox.hpp"
#include "rules/window_functions.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace vigil::rules {

// A rule as the evaluator needs it: its spec plus its Lua parts.
struct CompiledRule {
  alerts::RuleSpec spec;
  std::shared_ptr<FileState> fs;
  int eval_ref = LUA_NOREF, when_ref = LUA_NOREF, recover_ref = LUA_NOREF, state_ref = LUA_NOREF;
  std::string expr;  // the fast path: a selector, thresholds applied in C++
  std::optional<alerts::Selector> selector;
  std::optional<double> above, below, recover_below, recover_above;
};

namespace {

constexpr int64_t kLookbackMs = 5 * 60'000;  // like Prometheus: a sample older than this is gone

// ---- small helpers -----------------------------------------------------------------------------

int line_of(lua_State* L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar)) return ar.currentline;
  return 0;
}

// The file of the caller when it is a module loaded by require, else "" (the rule file).
std::string source_of(lua_State* L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "S", &ar) && ar.source && ar.source[0] == '@' &&
      file_state(L).file != ar.source + 1)
    return ar.source + 1;
  return "";
}

// Declarations collected while a file runs, parsed after it finished.
struct Declared {
  struct Item {
    int ref;
    int line;
    std::string name;    // group/policy/time_window name
    std::string source;  // a required module's file, "" for the rule file itself
  };
  std::vector<Item> rules, routes, policies, inhibits, windows, groups;
};

// Null once the file has loaded: declarations belong to loading, not to an evaluation.
Declared* declared_or_null(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "vigil.declared");
  auto* d = static_cast<Declared*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return d;
}

Declared& declared(lua_State* L, const char* what) {
  Declared* d = declared_or_null(L);
  if (!d)
    throw LuaFailure{std::string(what) +
                     " declares while the rule file loads, not inside eval or a condition"};
  return *d;
}

int declare(lua_State* L, std::vector<Declared::Item> Declared::*list, const char* what) {
  Declared& d = declared(L, what);
  if (lua_type(L, 1) != LUA_TTABLE)
    throw LuaFailure{std::string(what) + ": found " + describe(L, 1) + ", expected " + what +
                     " { ... }"};
  lua_pushvalue(L, 1);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  (d.*list).push_back({ref, line_of(L), "", source_of(L)});
  return 0;
}

int decl_rule(lua_State* L) {
  return declare(L, &Declared::rules, "rule");
}
int decl_route(lua_State* L) {
  return declare(L, &Declared::routes, "route");
}
int decl_inhibit(lua_State* L) {
  return declare(L, &Declared::inhibits, "inhibit");
}

// policy "name" { ... }, group "name" { ... }, time_window "name" { ... }
int named_second(lua_State* L) {
  auto list = reinterpret_cast<std::vector<Declared::Item> Declared::*const*>(
      lua_touserdata(L, lua_upvalueindex(2)));
  Declared& d = declared(L, lua_tostring(L, lua_upvalueindex(4)));
  if (lua_type(L, 1) != LUA_TTABLE)
    throw LuaFailure{std::string(lua_tostring(L, lua_upvalueindex(4))) + " \"" +
                     lua_tostring(L, lua_upvalueindex(1)) + "\": found " + describe(L, 1) +
                     ", expected a table { ... }"};
  lua_pushvalue(L, 1);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  (d.**list).push_back({ref, static_cast<int>(lua_tointeger(L, lua_upvalueindex(3))),
                        lua_tostring(L, lua_upvalueindex(1)),
                        lua_tostring(L, lua_upvalueindex(5))});
  return 0;
}

template <std::vector<Declared::Item> Declared::*List, const char* What>
int named_first(lua_State* L) {
  static std::vector<Declared::Item> Declared::*const list = List;
  Declared& d = declared(L, What);
  if (lua_istable(L, 1)) {  // also accept policy { name = "x", ... }
    lua_pushliteral(L, "name");
    lua_rawget(L, 1);
    std::string name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    lua_pop(L, 1);
    if (name.empty())
      throw LuaFailure{std::string("expected a name: such as ") + What + " \"name\" { ... }"};
    lua_pushvalue(L, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    (d.*List).push_back({ref, line_of(L), name, source_of(L)});
    return 0;
  }
  const std::string name = arg_string(L, 1, What);
  if (name.empty()) throw LuaFailure{std::string(What) + ": expected a name, found \"\""};
  const std::string source = source_of(L);
  lua_pushlstring(L, name.data(), name.size());
  lua_pushlightuserdata(L, const_cast<void*>(static_cast<const void*>(&list)));
  lua_pushinteger(L, line_of(L));
  lua_pushstring(L, What);
  lua_pushlstring(L, source.data(), source.size());
  lua_pushcclosure(L, guarded<named_second>, 5);
  return 1;
}

constexpr char kPolicy[] = "policy", kGroup[] = "group", kTimeWindow[] = "time_window";

// notify{"slack", "pager", when = function(ctx) ... end} / notify "slack"
int decl_notify(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TTABLE)
    throw LuaFailure{"notify: found " + describe(L, 1) +
                     ", expected receivers such as notify { \"chat\", \"pager\" }"};
  lua_newtable(L);
  lua_pushstring(L, "notify");
  lua_setfield(L, -2, "kind");
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "receivers");
  } else {
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "receivers");
    lua_pushliteral(L, "when");
    lua_rawget(L, 1);
    lua_setfield(L, -2, "when");
  }
  lua_pushinteger(L, line_of(L));
  lua_setfield(L, -2, "line");
  return 1;
}

int decl_wait(lua_State* L) {
  lua_newtable(L);
  lua_pushstring(L, "wait");
  lua_setfield(L, -2, "kind");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "duration");
  return 1;
}

// Pushes the registry value `ref` (see FileState::Refs).
void push_ref(lua_State* L, int ref) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

// "30s", "1h30m" or a number of seconds, to ms; nullopt when neither. A text is parsed once per
// state and then found in the Lua table refs.durations (text -> ms, or false): rules ask for the
// same "5m" at every evaluation. Texts built from data stop being remembered after 1,024.
std::optional<int64_t> duration_at(lua_State* L, int index) {
  if (lua_type(L, index) == LUA_TNUMBER) {
    double s = lua_tonumber(L, index);
    if (s < 0 || !std::isfinite(s)) return std::nullopt;
    return static_cast<int64_t>(s * 1000);
  }
  if (lua_type(L, index) != LUA_TSTRING) return std::nullopt;
  FileState& fs = file_state(L);
  if (fs.refs.durations == LUA_NOREF) {
    auto d = config::parse_duration(nlohmann::json(lua_tostring(L, index)));
    return d ? std::optional<int64_t>(d->count()) : std::nullopt;
  }
  index = lua_absindex(L, index);
  push_ref(L, fs.refs.durations);
  lua_pushvalue(L, index);
  const int known = lua_rawget(L, -2);
  if (known != LUA_TNIL) {
    std::optional<int64_t> ms;
    if (known == LUA_TNUMBER) ms = lua_tointeger(L, -1);
    lua_pop(L, 2);
    return ms;
  }
  lua_pop(L, 1);
  auto d = config::parse_duration(nlohmann::json(lua_tostring(L, index)));
  if (fs.durations_known < 1024) {
    lua_pushvalue(L, index);
    if (d)
      lua_pushinteger(L, static_cast<lua_Integer>(d->count()));
    else
      lua_pushboolean(L, 0);
    lua_rawset(L, -3);
    ++fs.durations_known;
  }
  lua_pop(L, 1);
  return d ? std::optional<int64_t>(d->count()) : std::nullopt;
}

// ---- the query library ------------------------------------------------------------------------

const char* kSeriesMeta = "vigil.series";

// Fresh tables: raw sets are what lua_setfield does on them, without looking the key up first.
void push_labels(lua_State* L, const alerts::Labels& labels) {
  lua_createtable(L, 0, static_cast<int>(labels.size()));
  for (const auto& [k, v] : labels) {
    lua_pushlstring(L, k.data(), k.size());
    lua_pushlstring(L, v.data(), v.size());
    lua_rawset(L, -3);
  }
}

void push_series(lua_State* L, const FileState::Refs& refs, const SeriesRef& s) {
  lua_createtable(L, 0, 3);
  push_ref(L, refs.name);
  lua_pushlstring(L, s.name.data(), s.name.size());
  lua_rawset(L, -3);
  push_ref(L, refs.labels);
  push_labels(L, s.labels);
  lua_rawset(L, -3);
  push_ref(L, refs.id);
  lua_pushinteger(L, static_cast<lua_Integer>(s.id));
  lua_rawset(L, -3);
  push_ref(L, refs.series_meta);
  lua_setmetatable(L, -2);
}

// Selections are cached by selector text: rules of one file asking for the same series at one
// evaluation time share one select, and a selector is parsed once. Liveness changes with time,
// so a selection is reused only at the time it was made (and while the generation stays). The
// selector is argument `arg` (text, as arg_string takes it); it is found through the Lua table
// refs.selections by the string itself, and copied only the first time it is seen.
const std::vector<const SeriesRef*>& selection(lua_State* L, FileState& fs, int arg,
                                               const char* what) {
  const std::string_view text = arg_text(L, arg, what);
  FileState::Cached* found = nullptr;
  push_ref(L, fs.refs.selections);
  lua_pushvalue(L, arg);
  if (lua_rawget(L, -2) == LUA_TLIGHTUSERDATA)
    found = static_cast<FileState::Cached*>(lua_touserdata(L, -1));
  lua_pop(L, 1);  // the index stays on the stack while a new entry is made
  if (!found) {
    if (fs.selections.size() > 4096) {  // selectors built from data: forget the old ones
      std::erase_if(fs.selections, [&](const auto& e) {
        if (e.second.live_known && e.second.at_ms == fs.now_ms) return false;
        lua_pushlstring(L, e.first.data(), e.first.size());
        lua_pushnil(L);
        lua_rawset(L, -3);
        return true;
      });
    }
    found = &fs.selections[std::string(text)];
    lua_pushvalue(L, arg);
    lua_pushlightuserdata(L, found);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  auto& cached = *found;
  const uint64_t generation = fs.data->generation();
  if (cached.live_known && cached.at_ms == fs.now_ms && cached.generation == generation)
    return cached.live;
  if (!cached.selector) {
    std::string error;
    cached.selector = alerts::parse_selector(text, error);
    if (!cached.selector) throw LuaFailure{"select(\"" + std::string(text) + "\"): " + error};
  }
  if (!cached.series_known || cached.generation != generation) {
    cached.live_known = false;
    cached.live.clear();
    cached.series.clear();
    fs.data->select_registered(*cached.selector, cached.series);
    cached.generation = generation;
    cached.series_known = true;
  }
  cached.live.clear();
  for (const auto& s : cached.series)
    if (fs.data->live(s.id, fs.now_ms)) cached.live.push_back(&s);
  cached.at_ms = fs.now_ms;
  cached.live_known = true;
  return cached.live;
}

FileState& evaluating(lua_State* L) {
  FileState& fs = file_state(L);
  if (!fs.data)
    throw LuaFailure{
        "the query library works only inside a rule's eval (not while the file loads, nor in "
        "a policy step's condition)"};
  return fs;
}

int q_select(lua_State* L) {
  FileState& fs = evaluating(L);
  const auto& list = selection(L, fs, 1, "q.select: the selector");
  lua_createtable(L, static_cast<int>(list.size()), 0);
  int i = 0;
  for (const SeriesRef* s : list) {
    push_series(L, fs.refs, *s);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

uint64_t series_id(lua_State* L, const FileState& fs) {
  if (lua_type(L, 1) == LUA_TTABLE) {
    push_ref(L, fs.refs.id);
    lua_rawget(L, 1);
  } else {
    lua_pushnil(L);
  }
  if (!lua_isinteger(L, -1))
    throw LuaFailure{"expected a series from q.select, called with ':' (s:avg(\"5m\"))"};
  auto id = static_cast<uint64_t>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  return id;
}

// The samples of the series' window, in the state's scratch vector (valid until the next call).
const Samples& window_of(lua_State* L, int duration_index) {
  FileState& fs = evaluating(L);
  const uint64_t id = series_id(L, fs);
  auto d = duration_at(L, duration_index);
  if (!d || *d <= 0)
    throw LuaFailure{"expected a window such as \"5m\", found " + describe(L, duration_index)};
  fs.window.clear();
  fs.data->window(id, fs.now_ms - *d, fs.now_ms, fs.window);
  return fs.window;
}

int push_optional(lua_State* L, std::optional<double> v) {
  if (v)
    lua_pushnumber(L, *v);
  else
    lua_pushnil(L);
  return 1;
}

int s_last(lua_State* L) {
  FileState& fs = evaluating(L);
  store::Sample s;
  if (!fs.data->latest(series_id(L, fs), s) || fs.now_ms - s.t_ms > kLookbackMs ||
      s.t_ms > fs.now_ms)
    return push_optional(L, std::nullopt);
  return push_optional(L, s.v);
}
int s_age(lua_State* L) {
  FileState& fs = evaluating(L);
  store::Sample s;
  if (!fs.data->latest(series_id(L, fs), s)) return push_optional(L, std::nullopt);
  return push_optional(L, static_cast<double>(fs.now_ms - s.t_ms) / 1000.0);
}
int s_avg(lua_State* L) {
  return push_optional(L, window_avg(window_of(L, 2)));
}
int s_min(lua_State* L) {
  return push_optional(L, window_min(window_of(L, 2)));
}
int s_max(lua_State* L) {
  return push_optional(L, window_max(window_of(L, 2)));
}
int s_sum(lua_State* L) {
  return push_optional(L, window_sum(window_of(L, 2)));
}
int s_count(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(window_count(window_of(L, 2))));
  return 1;
}
int s_rate(lua_State* L) {
  return push_optional(L, window_rate(window_of(L, 2)));
}
int s_increase(lua_State* L) {
  return push_optional(L, window_increase(window_of(L, 2)));
}
int s_delta(lua_State* L) {
  return push_optional(L, window_delta(window_of(L, 2)));
}
int s_deriv(lua_State* L) {
  return push_optional(L, window_deriv(window_of(L, 2)));
}
int s_quantile(lua_State* L) {
  const double phi = arg_number(L, 2, "quantile: phi");
  return push_optional(L, window_quantile(window_of(L, 3), phi));
}
int s_predict_linear(lua_State* L) {
  const double seconds = arg_number(L, 3, "predict_linear: seconds ahead");
  const auto& samples = window_of(L, 2);
  return push_optional(L, window_predict_linear(samples, evaluating(L).now_ms, seconds));
}

const char* status_name(int s) {
  static const char* names[] = {"ok", "warning", "critical", "unknown"};
  return s >= 0 && s <= 3 ? names[s] : "unknown";
}

void push_health(lua_State* L, const HealthInfo& h) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, h.check.c_str());
  lua_setfield(L, -2, "check");
  lua_pushstring(L, status_name(h.status));
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, h.status);
  lua_setfield(L, -2, "code");
  lua_pushnumber(L, static_cast<double>(h.since_ms) / 1000.0);
  lua_setfield(L, -2, "since");
  lua_pushstring(L, h.message.c_str());
  lua_setfield(L, -2, "message");
}

int q_health(lua_State* L) {
  FileState& fs = evaluating(L);
  const std::string check = arg_string(L, 1, "q.health: the check's name");
  for (const auto& h : fs.data->health()) {
    if (h.check == check) {
      push_health(L, h);
      return 1;
    }
  }
  lua_pushnil(L);
  return 1;
}

int q_health_all(lua_State* L) {
  FileState& fs = evaluating(L);
  auto all = fs.data->health();
  lua_createtable(L, static_cast<int>(all.size()), 0);
  for (size_t i = 0; i < all.size(); ++i) {
    push_health(L, all[i]);
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

// q.absent(selector [, window]): true when no series matches, or none was written within it.
int q_absent(lua_State* L) {
  FileState& fs = evaluating(L);
  arg_text(L, 1, "q.absent: the selector");  // checked before the window, as it comes first
  int64_t within = kLookbackMs;
  if (!lua_isnoneornil(L, 2)) {
    auto d = duration_at(L, 2);
    if (!d) throw LuaFailure{"absent: expected a window such as \"5m\", found " + describe(L, 2)};
    within = *d;
  }
  for (const SeriesRef* s : selection(L, fs, 1, "q.absent: the selector")) {
    store::Sample last;
    if (fs.data->latest(s->id, last) && fs.now_ms - last.t_ms < within) {
      lua_pushboolean(L, 0);
      return 1;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

// q.key_state(labels): a table kept between evaluations for one label set of the running rule,
// found under state.__keys by the labels' sorted "name=value" text.
int q_key_state(lua_State* L) {
  FileState& fs = evaluating(L);
  if (lua_type(L, 1) != LUA_TTABLE)
    throw LuaFailure{"q.key_state: found " + describe(L, 1) +
                     ", expected a label set such as s.labels"};
  std::vector<std::pair<std::string, std::string>> pairs;
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const int kt = lua_type(L, -2), vt = lua_type(L, -1);
    if (kt != LUA_TSTRING || (vt != LUA_TSTRING && vt != LUA_TNUMBER)) {
      const std::string found = describe(L, -2) + " = " + describe(L, -1);
      lua_pop(L, 2);
      throw LuaFailure{"q.key_state: found " + found + ", expected label names mapped to text"};
    }
    lua_pushvalue(L, -1);  // tostring on a copy: lua_next needs the key untouched
    pairs.emplace_back(lua_tostring(L, -3), lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  std::sort(pairs.begin(), pairs.end());
  std::string key;
  for (const auto& [k, v] : pairs) key += k + "=" + v + "\x1f";
  lua_rawgeti(L, LUA_REGISTRYINDEX, fs.current_state_ref);
  lua_pushliteral(L, "__keys");
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushliteral(L, "__keys");
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushlstring(L, key.data(), key.size());
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushlstring(L, key.data(), key.size());
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  return 1;
}

// ---- vigil.* helpers ---------------------------------------------------------------------------

int v_duration(lua_State* L) {
  auto d = duration_at(L, 1);
  if (!d)
    throw LuaFailure{"vigil.duration: found " + describe(L, 1) +
                     ", expected a duration such as \"5m\""};
  lua_pushnumber(L, static_cast<double>(*d) / 1000.0);
  return 1;
}

int v_now(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(file_state(L).now_ms) / 1000.0);
  return 1;
}

bool local_now(lua_State* L, int tz_index, alerts::LocalTime& t) {
  std::string zone = opt_string(L, tz_index, "the time zone").value_or("");
  std::string error;
  if (!alerts::local_time(file_state(L).now_ms, zone, t, error)) throw LuaFailure{error};
  return true;
}

int v_time_of_day(lua_State* L) {
  alerts::LocalTime t;
  local_now(L, 1, t);
  lua_pushnumber(L, t.minute_of_day / 60.0);  // hours, 9.5 = 09:30
  return 1;
}

int v_weekday(lua_State* L) {
  alerts::LocalTime t;
  local_now(L, 1, t);
  static const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  lua_pushstring(L, names[t.weekday]);
  return 1;
}

std::optional<int> parse_hhmm(const std::string& s) {
  int h = 0, m = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%d:%d%c", &h, &m, &extra) != 2 || h < 0 || h > 24 || m < 0 || m > 59)
    return std::nullopt;
  return h * 60 + m;
}

int v_between(lua_State* L) {
  auto from = parse_hhmm(arg_string(L, 1, "vigil.between: the start"));
  auto to = parse_hhmm(arg_string(L, 2, "vigil.between: the end"));
  if (!from || !to) throw LuaFailure{"vigil.between: expected times such as \"09:00\", \"17:30\""};
  alerts::LocalTime t;
  local_now(L, 3, t);
  const bool inside = *from <= *to ? (t.minute_of_day >= *from && t.minute_of_day < *to)
                                   : (t.minute_of_day >= *from || t.minute_of_day < *to);
  lua_pushboolean(L, inside);
  return 1;
}

int f_percent(lua_State* L) {
  lua_pushstring(L, alerts::format_percent(arg_number(L, 1, "vigil.fmt.percent")).c_str());
  return 1;
}
int f_bytes(lua_State* L) {
  lua_pushstring(L, alerts::format_bytes(arg_number(L, 1, "vigil.fmt.bytes")).c_str());
  return 1;
}
int f_duration(lua_State* L) {
  lua_pushstring(L, alerts::format_duration(arg_number(L, 1, "vigil.fmt.duration")).c_str());
  return 1;
}

void install_library(lua_State* L) {
  static const luaL_Reg series_methods[] = {{"last", guarded<s_last>},
                                            {"age", guarded<s_age>},
                                            {"avg", guarded<s_avg>},
                                            {"min", guarded<s_min>},
                                            {"max", guarded<s_max>},
                                            {"sum", guarded<s_sum>},
                                            {"count", guarded<s_count>},
                                            {"rate", guarded<s_rate>},
                                            {"increase", guarded<s_increase>},
                                            {"delta", guarded<s_delta>},
                                            {"deriv", guarded<s_deriv>},
                                            {"quantile", guarded<s_quantile>},
                                            {"predict_linear", guarded<s_predict_linear>},
                                            {nullptr, nullptr}};
  FileState::Refs& refs = file_state(L).refs;
  luaL_newmetatable(L, kSeriesMeta);
  luaL_newlib(L, series_methods);
  lua_setfield(L, -2, "__index");
  // Series methods are shared by the file's rules: getmetatable(s) gives this text, not the
  // table, so no rule can replace s:rate for the others.
  lua_pushstring(L, kSeriesMeta);
  lua_setfield(L, -2, "__metatable");
  refs.series_meta = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  refs.selections = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  refs.durations = luaL_ref(L, LUA_REGISTRYINDEX);
  for (auto [ref, name] : {std::pair{&refs.name, "name"},
                           {&refs.labels, "labels"},
                           {&refs.id, "id"},
                           {&refs.value, "value"},
                           {&refs.enter, "enter"},
                           {&refs.stay, "stay"}}) {
    lua_pushstring(L, name);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }

  static const luaL_Reg q[] = {{"select", guarded<q_select>},
                               {"health", guarded<q_health>},
                               {"health_all", guarded<q_health_all>},
                               {"absent", guarded<q_absent>},
                               {"key_state", guarded<q_key_state>},
                               {"now", guarded<v_now>},
                               {nullptr, nullptr}};
  luaL_newlib(L, q);
  refs.q = luaL_ref(L, LUA_REGISTRYINDEX);

  static const luaL_Reg v[] = {
      {"duration", guarded<v_duration>},       {"now", guarded<v_now>},
      {"time_of_day", guarded<v_time_of_day>}, {"weekday", guarded<v_weekday>},
      {"between", guarded<v_between>},         {nullptr, nullptr}};
  luaL_newlib(L, v);
  static const luaL_Reg fmt[] = {{"percent", guarded<f_percent>},
                                 {"bytes", guarded<f_bytes>},
                                 {"duration", guarded<f_duration>},
                                 {nullptr, nullptr}};
  luaL_newlib(L, fmt);
  lua_setfield(L, -2, "fmt");
  push_ref(L, refs.q);
  lua_setfield(L, -2, "q");
  lua_setglobal(L, "vigil");

  lua_register(L, "rule", guarded<decl_rule>);
  lua_register(L, "route", guarded<decl_route>);
  lua_register(L, "inhibit", guarded<decl_inhibit>);
  lua_register(L, "notify", guarded<decl_notify>);
  lua_register(L, "wait", guarded<decl_wait>);
  lua_pushcfunction(L, (guarded<named_first<&Declared::policies, kPolicy>>));
  lua_setglobal(L, "policy");
  lua_pushcfunction(L, (guarded<named_first<&Declared::groups, kGroup>>));
  lua_setglobal(L, "group");
  lua_pushcfunction(L, (guarded<named_first<&Declared::windows, kTimeWindow>>));
  lua_setglobal(L, "time_window");
}

// ---- reading declarations -----------------------------------------------------------------------

// Reads the fields of the table at the top of the stack, reporting problems under `context`.
class TableReader {
 public:
  TableReader(lua_State* L, std::string context, std::vector<std::string>& errors)
      : L_(L), context_(std::move(context)), errors_(errors) {}

  void fail(const std::string& message) {
    errors_.push_back(context_ + ": " + message);
    ++failures_;
  }
  int failures() const { return failures_; }

  // Pushes the field; the caller pops. Raw: no metamethod may run outside a protected call.
  int field(const char* name) {
    lua_pushstring(L_, name);
    return lua_rawget(L_, -2);
  }

  std::optional<std::string> string(const char* name, bool required = false) {
    int t = field(name);
    std::optional<std::string> out;
    if (t == LUA_TSTRING)
      out = lua_tostring(L_, -1);
    else if (t != LUA_TNIL || required)
      fail(std::string(name) + ": found " + describe(L_, -1) + ", expected text");
    lua_pop(L_, 1);
    return out;
  }
  std::optional<int64_t> duration(const char* name) {
    int t = field(name);
    std::optional<int64_t> out;
    if (t != LUA_TNIL) {
      out = duration_at(L_, -1);
      if (!out)
        fail(std::string(name) + ": found " + describe(L_, -1) +
             ", expected a duration such as \"5m\" or seconds");
    }
    lua_pop(L_, 1);
    return out;
  }
  std::optional<double> number(const char* name) {
    int t = field(name);
    std::optional<double> out;
    if (t == LUA_TNUMBER)
      out = lua_tonumber(L_, -1);
    else if (t != LUA_TNIL)
      fail(std::string(name) + ": found " + describe(L_, -1) + ", expected a number");
    lua_pop(L_, 1);
    return out;
  }
  int function_ref(const char* name) {
    int t = field(name);
    if (t == LUA_TFUNCTION) return luaL_ref(L_, LUA_REGISTRYINDEX);
    if (t != LUA_TNIL)
      fail(std::string(name) + ": found " + describe(L_, -1) + ", expected a function");
    lua_pop(L_, 1);
    return LUA_NOREF;
  }
  std::map<std::string, std::string> string_map(const char* name) {
    std::map<std::string, std::string> out;
    int t = field(name);
    if (t == LUA_TTABLE) {
      lua_pushnil(L_);
      while (lua_next(L_, -2)) {
        if (lua_type(L_, -2) == LUA_TSTRING &&
            (lua_type(L_, -1) == LUA_TSTRING || lua_type(L_, -1) == LUA_TNUMBER)) {
          lua_pushvalue(L_, -1);
          out[lua_tostring(L_, -3)] = lua_tostring(L_, -1);
          lua_pop(L_, 1);
        } else {
          fail(std::string(name) + ": expected names mapped to text, such as { team = \"db\" }");
        }
        lua_pop(L_, 1);
      }
    } else if (t != LUA_TNIL) {
      fail(std::string(name) + ": found " + describe(L_, -1) + ", expected a table");
    }
    lua_pop(L_, 1);
    return out;
  }
  std::vector<std::string> strings(const char* name) {
    std::vector<std::string> out;
    int t = field(name);
    if (t == LUA_TSTRING) {
      out.emplace_back(lua_tostring(L_, -1));
    } else if (t == LUA_TTABLE) {
      const auto n = lua_rawlen(L_, -1);
      for (lua_Integer i = 1; i <= static_cast<lua_Integer>(n); ++i) {
        if (lua_rawgeti(L_, -1, i) == LUA_TSTRING)
          out.emplace_back(lua_tostring(L_, -1));
        else
          fail(std::string(name) + "[" + std::to_string(i) + "]: found " + describe(L_, -1) +
               ", expected text");
        lua_pop(L_, 1);
      }
    } else if (t != LUA_TNIL) {
      fail(std::string(name) + ": found " + describe(L_, -1) + ", expected a list of text");
    }
    lua_pop(L_, 1);
    return out;
  }
  std::vector<alerts::Matcher> matchers(const char* name) {
    std::vector<alerts::Matcher> out;
    for (const auto& text : strings(name)) {
      std::string error;
      if (auto m = alerts::parse_matcher(text, error))
        out.push_back(*m);
      else
        fail(std::string(name) + ": " + error);
    }
    return out;
  }
  void only(std::initializer_list<const char*> keys) {
    lua_pushnil(L_);
    while (lua_next(L_, -2)) {
      lua_pop(L_, 1);
      if (lua_type(L_, -1) != LUA_TSTRING) continue;
      std::string key = lua_tostring(L_, -1);
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; })) {
        std::string list;
        for (const char* k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
        fail("unknown field \"" + key + "\", expected one of: " + list);
      }
    }
  }

 private:
  lua_State* L_;
  std::string context_;
  std::vector<std::string>& errors_;
  int failures_ = 0;
};

void read_route(lua_State* L, const std::string& context, alerts::Route& out,
                std::vector<std::string>& errors, int depth = 0) {
  TableReader r(L, context, errors);
  r.only({"matchers", "receiver", "policy", "group_by", "group_wait", "group_interval",
          "repeat_interval", "active_windows", "mute_windows", "continue", "routes"});
  out.matchers = r.matchers("matchers");
  out.receiver = r.string("receiver").value_or("");
  out.policy = r.string("policy").value_or("");
  out.group_by = r.strings("group_by");
  out.group_wait_ms = r.duration("group_wait");
  out.group_interval_ms = r.duration("group_interval");
  out.repeat_interval_ms = r.duration("repeat_interval");
  out.active_windows = r.strings("active_windows");
  out.mute_windows = r.strings("mute_windows");
  r.field("continue");
  out.continue_matching = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (r.field("routes") == LUA_TTABLE && depth < 16) {
    const auto n = lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= static_cast<lua_Integer>(n); ++i) {
      if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
        alerts::Route child;
        read_route(L, context + " routes[" + std::to_string(i) + "]", child, errors, depth + 1);
        out.routes.push_back(std::move(child));
      } else {
        errors.push_back(context + " routes[" + std::to_string(i) + "]: expected a table");
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

std::vector<int> parse_weekdays(const std::vector<std::string>& items, TableReader& r) {
  static const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  auto index = [&](std::string s) -> int {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s = s.substr(0, 3);
    for (int i = 0; i < 7; ++i)
      if (s == names[i]) return i;
    return -1;
  };
  std::vector<int> out;
  for (const auto& item : items) {
    auto dash = item.find('-');
    int a = index(item.substr(0, dash));
    int b = dash == std::string::npos ? a : index(item.substr(dash + 1));
    if (a < 0 || b < 0) {
      r.fail("weekdays: found \"" + item + "\", expected days such as \"mon-fri\" or \"sat\"");
      continue;
    }
    for (int d = a;; d = (d + 1) % 7) {
      out.push_back(d);
      if (d == b) break;
    }
  }
  return out;
}

}  // namespace

// ---- RuleSet
// ---------------------------------------------------------------------------------------

RuleSet::~RuleSet() = default;

std::unique_ptr<RuleSet> RuleSet::load(const std::vector<std::filesystem::path>& paths,
                                       const Limits& limits, std::vector<std::string>& errors) {
  const size_t errors_before = errors.size();
  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::filesystem::path> found;
      for (const auto& entry : std::filesystem::directory_iterator(p, ec))
        if (entry.path().extension() == ".lua" && entry.is_regular_file())
          found.push_back(entry.path());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::exists(p, ec)) {
      files.push_back(p);
    } else {
      errors.push_back(p.string() +
                       ": not found, expected a .lua rule file or a directory of them");
    }
  }
  std::unique_ptr<RuleSet> set(new RuleSet());
  std::map<std::string, std::string> rule_places;  // name -> file:line, for duplicates
  bool have_root = false;
  for (const auto& path : files) {
    auto fs = std::make_shared<FileState>();
    fs->file = path.string();
    std::string error;
    if (!open_sandbox(*fs, limits, error)) {
      errors.push_back(error);
      continue;
    }
    lua_State* L = fs->L;
    Declared decl;
    lua_pushlightuserdata(L, &decl);
    lua_setfield(L, LUA_REGISTRYINDEX, "vigil.declared");
    install_library(L);
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || !run_file(*fs, text.str(), error)) {
      errors.push_back(in ? error : path.string() + ": cannot read the file");
      continue;
    }
    const std::string file = path.string();
    // "file:line" of a declaration (in a module it came from, when require'd).
    auto place = [&](const Declared::Item& item) {
      return (item.source.empty() ? file : item.source) + ":" + std::to_string(item.line);
    };
    std::map<std::string, int64_t> group_intervals;
    for (const auto& g : decl.groups) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, g.ref);
      TableReader r(L, place(g) + ": group " + g.name, errors);
      r.only({"name", "interval"});
      if (auto d = r.duration("interval")) group_intervals[g.name] = *d;
      lua_pop(L, 1);
    }
    for (const auto& item : decl.rules) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, item.ref);
      auto rule = std::make_unique<CompiledRule>();
      rule->fs = fs;
      auto& spec = rule->spec;
      spec.file = item.source.empty() ? file : item.source;
      spec.line = item.line;
      lua_pushliteral(L, "name");
      spec.name = lua_rawget(L, -2) == LUA_TSTRING ? lua_tostring(L, -1) : "";
      lua_pop(L, 1);
      const std::string context =
          place(item) + ": rule " + (spec.name.empty() ? "(unnamed)" : spec.name);
      TableReader r(L, context, errors);
      r.only({"name", "group", "interval", "for", "for_", "keep_firing_for", "severity", "labels",
              "annotations", "flap", "eval", "expr", "when", "recover_when", "above", "below",
              "recover_below", "recover_above"});
      if (spec.name.empty())
        r.fail("name: missing, expected the alert's name such as \"HostHighCpu\"");
      std::string why;
      if (!spec.name.empty() && !store::valid_label_name(spec.name, &why))
        r.fail("name: \"" + spec.name + "\" is not usable as an alertname (" + why + ")");
      spec.group = r.string("group").value_or("");
      spec.interval_ms =
          r.duration("interval")
              .value_or(group_intervals.count(spec.group) ? group_intervals[spec.group]
                                                          : limits.default_interval_ms);
      if (spec.interval_ms <= 0) r.fail("interval: expected a positive duration");
      auto for_ms = r.duration("for");
      if (!for_ms) for_ms = r.duration("for_");
      spec.for_ms = for_ms.value_or(0);
      spec.keep_firing_for_ms = r.duration("keep_firing_for").value_or(0);
      spec.severity = r.string("severity").value_or("");
      for (auto& [k, v] : r.string_map("labels")) {
        if (!store::valid_label_name(k, &why)) r.fail("labels: " + why);
        spec.labels[k] = v;
      }
      spec.annotations = r.string_map("annotations");
      for (const auto& [k, v] : spec.annotations) {
        std::string problem = alerts::check_template(v);
        if (!problem.empty()) r.fail("annotations." + k + ": " + problem);
      }
      if (r.field("flap") == LUA_TTABLE) {
        TableReader f(L, context + " flap", errors);
        f.only({"changes", "window"});
        spec.flap.changes = static_cast<int>(f.number("changes").value_or(0));
        spec.flap.window_ms = f.duration("window").value_or(3'600'000);
      }
      lua_pop(L, 1);
      rule->eval_ref = r.function_ref("eval");
      rule->when_ref = r.function_ref("when");
      rule->recover_ref = r.function_ref("recover_when");
      rule->expr = r.string("expr").value_or("");
      rule->above = r.number("above");
      rule->below = r.number("below");
      rule->recover_below = r.number("recover_below");
      rule->recover_above = r.number("recover_above");
      if (rule->eval_ref == LUA_NOREF && rule->expr.empty())
        r.fail("expected eval = function(q, state) ... end or expr = 'metric{label=\"value\"}'");
      if (rule->eval_ref != LUA_NOREF && !rule->expr.empty())
        r.fail("expected either eval or expr, found both");
      if (!rule->expr.empty()) {
        std::string perr;
        rule->selector = alerts::parse_selector(rule->expr, perr);
        if (!rule->selector) r.fail("expr: " + perr);
      }
      if (rule->above && rule->below) r.fail("expected either above or below, found both");
      if (rule->recover_below && !rule->above) r.fail("recover_below goes with above");
      if (rule->recover_above && !rule->below) r.fail("recover_above goes with below");
      if (rule->recover_below && rule->above && *rule->recover_below > *rule->above)
        r.fail("recover_below (" + alerts::format_value(*rule->recover_below) +
               ") is above the entry threshold (" + alerts::format_value(*rule->above) +
               "), expected it lower");
      if (rule->recover_ref != LUA_NOREF && rule->when_ref == LUA_NOREF)
        r.fail("recover_when goes with when");
      lua_newtable(L);
      rule->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_pop(L, 1);
      if (!spec.name.empty()) {
        auto [it, fresh] = rule_places.emplace(spec.name, place(item));
        if (!fresh)
          r.fail("the name is already used by the rule at " + it->second +
                 ", expected names unique across rule files");
      }
      if (r.failures() == 0) {
        set->specs_.push_back(spec);
        set->rules_.push_back(std::move(rule));
      }
    }
    for (const auto& item : decl.routes) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, item.ref);
      const std::string context = place(item) + ": route";
      if (have_root) {
        errors.push_back(
            context +
            ": a top route was already declared, expected one (nest others in routes = {...})");
      } else {
        read_route(L, context, set->routing_.root, errors);
        set->routing_.root_place = place(item);
        have_root = true;
      }
      lua_pop(L, 1);
    }
    for (const auto& item : decl.policies) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, item.ref);
      const std::string context = place(item) + ": policy " + item.name;
      TableReader r(L, context, errors);
      r.only({"name", "steps", "repeat", "on_resolve"});
      alerts::Policy policy;
      policy.name = item.name;
      policy.file = item.source.empty() ? file : item.source;
      policy.line = item.line;
      policy.repeat = static_cast<int>(r.number("repeat").value_or(1));
      if (policy.repeat < 1) r.fail("repeat: expected 1 or more passes");
      int t = r.field("on_resolve");
      if (t == LUA_TBOOLEAN) {
        policy.notify_on_resolve = lua_toboolean(L, -1);
      } else if (t == LUA_TTABLE || t == LUA_TSTRING) {
        lua_pop(L, 1);
        policy.resolve_receivers = r.strings("on_resolve");
        lua_pushnil(L);
      } else if (t != LUA_TNIL) {
        r.fail("on_resolve: expected true, false or a list of receivers");
      }
      lua_pop(L, 1);
      if (r.field("steps") == LUA_TTABLE) {
        const auto n = lua_rawlen(L, -1);
        alerts::PolicyStep* last_notify = nullptr;
        for (lua_Integer i = 1; i <= static_cast<lua_Integer>(n); ++i) {
          lua_rawgeti(L, -1, i);
          std::string kind;
          if (lua_istable(L, -1)) {
            lua_pushliteral(L, "kind");
            lua_rawget(L, -2);
            kind = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
            lua_pop(L, 1);
          }
          if (kind == "notify") {
            alerts::PolicyStep step;
            TableReader s(L, context + " step " + std::to_string(i), errors);
            step.receivers = s.strings("receivers");
            if (s.field("when") == LUA_TFUNCTION) {
              int ref = luaL_ref(L, LUA_REGISTRYINDEX);
              std::weak_ptr<FileState> weak = fs;
              step.condition = [weak, ref](const alerts::StepContext& ctx) {
                auto state = weak.lock();
                if (!state) return true;
                lua_State* S = state->L;
                lua_rawgeti(S, LUA_REGISTRYINDEX, ref);
                lua_createtable(S, 0, 5);
                lua_pushstring(S, ctx.severity.c_str());
                lua_setfield(S, -2, "severity");
                lua_pushinteger(S, ctx.firing);
                lua_setfield(S, -2, "firing");
                lua_pushinteger(S, ctx.iteration);
                lua_setfield(S, -2, "iteration");
                lua_pushnumber(S, static_cast<double>(ctx.now_ms) / 1000.0);
                lua_setfield(S, -2, "now");
                push_labels(S, ctx.group_labels);
                lua_setfield(S, -2, "labels");
                state->now_ms = ctx.now_ms;
                new_budget(*state);
                std::string err;
                if (!protected_call(*state, 1, 1, err)) {
                  spdlog::error("rules: policy step condition failed: {}", err);
                  return true;  // a broken condition must not swallow a page
                }
                bool yes = lua_toboolean(S, -1);
                lua_pop(S, 1);
                return yes;
              };
            } else {
              lua_pop(L, 1);
            }
            step.description = "notify";
            for (const auto& rcv : step.receivers) step.description += " " + rcv;
            if (step.receivers.empty()) s.fail("notify: expected at least one receiver");
            policy.steps.push_back(std::move(step));
            last_notify = &policy.steps.back();
          } else if (kind == "wait") {
            lua_pushliteral(L, "duration");
            lua_rawget(L, -2);
            auto d = duration_at(L, -1);
            lua_pop(L, 1);
            if (!d) {
              errors.push_back(context + " step " + std::to_string(i) +
                               ": wait expects a duration such as \"10m\"");
            } else if (!last_notify) {
              errors.push_back(context + " step " + std::to_string(i) +
                               ": a wait before any notify, expected notify{...} first");
            } else {
              last_notify->wait_ms += *d;
            }
          } else {
            errors.push_back(context + " step " + std::to_string(i) + ": found " + describe(L, -1) +
                             ", expected notify{...} or wait \"10m\"");
          }
          lua_pop(L, 1);
        }
      } else {
        r.fail(
            "steps: expected a list such as { notify{\"slack\"}, wait \"10m\", notify{\"pager\"} "
            "}");
      }
      lua_pop(L, 1);
      if (policy.steps.empty()) r.fail("steps: expected at least one notify step");
      if (set->routing_.policies.count(policy.name))
        r.fail("a policy with this name was already declared");
      else
        set->routing_.policies[policy.name] = std::move(policy);
      lua_pop(L, 1);
    }
    for (const auto& item : decl.inhibits) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, item.ref);
      TableReader r(L, place(item) + ": inhibit", errors);
      r.only({"source", "target", "equal"});
      alerts::InhibitRule rule;
      rule.source = r.matchers("source");
      rule.target = r.matchers("target");
      rule.equal = r.strings("equal");
      if (rule.source.empty() || rule.target.empty())
        r.fail("expected source and target matchers, such as source = {'severity=\"critical\"'}");
      set->routing_.inhibit.push_back(std::move(rule));
      lua_pop(L, 1);
    }
    for (const auto& item : decl.windows) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, item.ref);
      TableReader r(L, place(item) + ": time_window " + item.name, errors);
      r.only({"name", "weekdays", "times", "time_zone"});
      alerts::TimeWindow w;
      w.name = item.name;
      w.weekdays = parse_weekdays(r.strings("weekdays"), r);
      for (const auto& range : r.strings("times")) {
        auto dash = range.find('-');
        auto a = dash == std::string::npos ? std::nullopt : parse_hhmm(range.substr(0, dash));
        auto b = dash == std::string::npos ? std::nullopt : parse_hhmm(range.substr(dash + 1));
        if (!a || !b || *b <= *a)
          r.fail("times: found \"" + range + "\", expected a range such as \"09:00-17:30\"");
        else
          w.minutes.emplace_back(*a, *b);
      }
      w.time_zone = r.string("time_zone").value_or("");
      alerts::LocalTime t;
      std::string tz_error;
      if (!alerts::local_time(0, w.time_zone, t, tz_error)) r.fail("time_zone: " + tz_error);
      set->routing_.windows[w.name] = std::move(w);
      lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "vigil.declared");  // `decl` dies with this loop
    set->files_.push_back(fs);
  }
  if (errors.size() > errors_before) return nullptr;
  set->next_due_.assign(set->rules_.size(), INT64_MIN);
  return set;
}

int64_t RuleSet::next_due_ms() const {
  int64_t next = INT64_MAX;
  for (auto t : next_due_) next = std::min(next, t);
  return next;
}

std::optional<size_t> RuleSet::find(std::string_view name) const {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].name == name) return i;
  return std::nullopt;
}

std::vector<size_t> RuleSet::due(int64_t now_ms) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < next_due_.size(); ++i)
    if (next_due_[i] <= now_ms) out.push_back(i);
  return out;
}

std::vector<alerts::RuleEvaluation> RuleSet::evaluate_due(int64_t now_ms, DataSource& data) {
  std::vector<alerts::RuleEvaluation> out;
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (next_due_[i] > now_ms) continue;
    out.push_back(evaluate(i, now_ms, data));
    const int64_t interval = rules_[i]->spec.interval_ms;
    // Keep the rule on its grid even when a run was late.
    next_due_[i] = next_due_[i] == INT64_MIN ? now_ms + interval : next_due_[i] + interval;
    if (next_due_[i] <= now_ms) next_due_[i] = now_ms + interval;
  }
  return out;
}

alerts::RuleEvaluation RuleSet::evaluate(size_t index, int64_t now_ms, DataSource& data) {
  CompiledRule& rule = *rules_[index];
  FileState& fs = *rule.fs;
  lua_State* L = fs.L;
  alerts::RuleEvaluation result;
  result.rule = rule.spec.name;
  result.at_ms = now_ms;
  fs.data = &data;
  fs.now_ms = now_ms;
  fs.current_state_ref = rule.state_ref;
  new_budget(fs);  // one budget for eval and every when/recover_when call it leads to
  auto fail = [&](const std::string& message) {
    result.ok = false;
    // Built only here: the message context costs allocations every evaluation would pay.
    result.error = rule.spec.file + ":" + std::to_string(rule.spec.line) + ": rule " +
                   rule.spec.name + ": " + message;
    result.instances.clear();
    lua_settop(L, 0);
    fs.data = nullptr;
    return result;
  };

  // Decides enter/stay for one value with the rule's thresholds or functions.
  auto judge = [&](alerts::Instance& inst, int labels_index) -> bool {
    if (rule.when_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, rule.when_ref);
      lua_pushnumber(L, inst.value);
      if (labels_index)
        lua_pushvalue(L, labels_index);
      else
        push_labels(L, inst.labels);
      std::string err;
      if (!protected_call(fs, 2, 1, err)) {
        fail("when: " + err);
        return false;
      }
      inst.enter = lua_toboolean(L, -1);
      lua_pop(L, 1);
      inst.stay = inst.enter;
      if (rule.recover_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, rule.recover_ref);
        lua_pushnumber(L, inst.value);
        if (labels_index)
          lua_pushvalue(L, labels_index);
        else
          push_labels(L, inst.labels);
        if (!protected_call(fs, 2, 1, err)) {
          fail("recover_when: " + err);
          return false;
        }
        inst.stay = !lua_toboolean(L, -1);
        lua_pop(L, 1);
      }
    } else if (rule.above) {
      inst.enter = inst.value > *rule.above;
      inst.stay = rule.recover_below ? !(inst.value < *rule.recover_below) : inst.enter;
    } else if (rule.below) {
      inst.enter = inst.value < *rule.below;
      inst.stay = rule.recover_above ? !(inst.value > *rule.recover_above) : inst.enter;
    }
    return true;
  };

  if (!rule.expr.empty()) {
    // The fast path: the latest value of each selected series against the thresholds.
    std::vector<SeriesRef> series;
    data.select(*rule.selector, now_ms, series);
    for (const auto& s : series) {
      store::Sample last;
      if (!data.latest(s.id, last) || now_ms - last.t_ms > kLookbackMs || last.t_ms > now_ms)
        continue;
      alerts::Instance inst;
      inst.labels = s.labels;
      inst.value = last.v;
      if (!judge(inst, 0)) return result;
      if (inst.enter || inst.stay) result.instances.push_back(std::move(inst));
    }
    fs.data = nullptr;
    return result;
  }

  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rule.eval_ref);
  push_ref(L, fs.refs.q);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rule.state_ref);
  std::string err;
  if (!protected_call(fs, 2, 1, err)) return fail(err);
  if (lua_isnil(L, -1)) {
    lua_settop(L, 0);
    fs.data = nullptr;
    return result;  // nothing to report
  }
  if (!lua_istable(L, -1))
    return fail("eval returned " + describe(L, -1) +
                ", expected a list of { labels = {...}, value = n }");
  const int list = lua_gettop(L);
  const auto n = lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= static_cast<lua_Integer>(n); ++i) {
    lua_rawgeti(L, list, i);
    const int item = lua_gettop(L);
    if (!lua_istable(L, item))
      return fail("eval's result[" + std::to_string(i) + "] is " + describe(L, item) +
                  ", expected { labels = {...}, value = n }");
    alerts::Instance inst;
    // Raw reads: the result is script data, and no metamethod may run outside a protected call.
    auto field = [&](int name_ref) {
      push_ref(L, name_ref);
      return lua_rawget(L, item);
    };
    field(fs.refs.value);
    if (lua_type(L, -1) == LUA_TNUMBER)
      inst.value = lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1))
      return fail("eval's result[" + std::to_string(i) + "].value is " + describe(L, -1) +
                  ", expected a number");
    lua_pop(L, 1);
    int labels_index = 0;
    if (field(fs.refs.labels) == LUA_TTABLE) {
      labels_index = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, labels_index)) {
        auto at = [&] { return "eval's result[" + std::to_string(i) + "].labels"; };
        if (lua_type(L, -2) != LUA_TSTRING)
          return fail(at() + ": found the key " + describe(L, -2) + ", expected label names");
        // Up to a NUL, as C strings; copied only into the instance.
        const std::string_view name = lua_tostring(L, -2);
        std::string why;
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
          return fail(at() + "." + std::string(name) + " is " + describe(L, -1) +
                      ", expected text or a number");
        if (!store::valid_label_name(name, &why)) return fail(at() + ": " + why);
        lua_pushvalue(L, -1);  // tostring on a copy: lua_next needs the key untouched
        const std::string_view v = lua_tostring(L, -1);
        if (!v.empty()) inst.labels.insert_or_assign(std::string(name), std::string(v));
        lua_pop(L, 2);
      }
    } else if (!lua_isnil(L, -1)) {
      return fail("eval's result[" + std::to_string(i) + "].labels is " + describe(L, -1) +
                  ", expected a table");
    }
    int enter_type = field(fs.refs.enter);
    int stay_type = field(fs.refs.stay);
    if (enter_type != LUA_TNIL || stay_type != LUA_TNIL) {
      inst.enter = enter_type == LUA_TNIL ? true : lua_toboolean(L, -2);
      inst.stay = stay_type == LUA_TNIL ? inst.enter : lua_toboolean(L, -1);
    } else if (!judge(inst, labels_index)) {
      return result;
    }
    lua_settop(L, list);
    result.instances.push_back(std::move(inst));
  }
  lua_settop(L, 0);
  fs.data = nullptr;
  return result;
}

}  // namespace vigil::rules
