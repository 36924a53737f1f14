// The rule files' sandbox (see sandbox.hpp). Everything a script may reach is listed here, so a
// reviewer can check the sandbox in one place; nothing else may add globals to a state.
#include "rules/sandbox.hpp"

#include "alerts/template.hpp"
#include "rules/rule_set.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace vigil::rules {
namespace {

constexpr int kHookEvery = 1000;  // instructions between budget checks

// Lua's allocator: small blocks from the state's pool, others from malloc. Lua always passes the
// block's true size as osize when ptr is set, which is what tells the two kinds apart.
void* capped_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* fs = static_cast<FileState*>(ud);
  const size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    fs->used_bytes -= old;
    if (ptr && SmallBlocks::small(old))
      fs->blocks.give(ptr, old);
    else
      std::free(ptr);
    return nullptr;
  }
  if (fs->capped && nsize > old && fs->limit_bytes &&
      fs->used_bytes + (nsize - old) > fs->limit_bytes)
    return nullptr;  // Lua collects garbage, retries, then raises "not enough memory"
  void* p = nullptr;
  if (ptr && SmallBlocks::small(old)) {
    if (SmallBlocks::small(nsize) &&
        SmallBlocks::size_class(nsize) == SmallBlocks::size_class(old)) {
      p = ptr;  // still fits its block
    } else {
      p = SmallBlocks::small(nsize) ? fs->blocks.take(nsize) : std::malloc(nsize);
      if (p) {
        std::memcpy(p, ptr, std::min(old, nsize));
        fs->blocks.give(ptr, old);
      }
    }
  } else if (SmallBlocks::small(nsize)) {
    p = fs->blocks.take(nsize);
    if (p && ptr) {
      std::memcpy(p, ptr, std::min(old, nsize));
      std::free(ptr);
    }
  } else {
    p = std::realloc(ptr, nsize);
  }
  if (p) fs->used_bytes = fs->used_bytes - old + nsize;
  return p;
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Whether the evaluation used up its time. The limit is CPU time of this thread, so a busy
// machine that keeps the thread waiting never fails a rule; the steady clock (cheap) says when
// to look, the thread's CPU clock (a system call) is read only at the first hook and then when
// the steady deadline has passed, which then moves on by what is left. Both clocks start at the
// first hook: CPU time is counted from there, so no look before a limit's worth of steady time
// after it could find the limit spent, and an evaluation that never reaches a hook reads neither.
bool out_of_time(FileState& fs) {
  if (fs.time_limit_ms <= 0) return false;
  if (!fs.cpu_start_ns) {
    fs.cpu_start_ns = thread_cpu_ns();
    fs.deadline_ns = steady_ns() + fs.time_limit_ms * 1'000'000;
    return false;
  }
  const int64_t now = steady_ns();
  if (now <= fs.deadline_ns) return false;
  const int64_t left = fs.time_limit_ms * 1'000'000 - (thread_cpu_ns() - fs.cpu_start_ns);
  if (left <= 0) return true;
  fs.deadline_ns = now + left;
  return false;
}

void budget_hook(lua_State* L, lua_Debug*) {
  FileState& fs = file_state(L);
  // Only script code runs hooks, and script code runs capped; this closes the cap again should a
  // library function ever have unwound by longjmp past guarded<>'s restore.
  fs.capped = true;
  fs.spent += static_cast<uint64_t>(fs.hook_every);
  if (fs.hook_every != 1 && out_of_time(fs)) {
    fs.spent = fs.budget + 1;  // from here on as if the budget were spent
    fs.hook_every = 1;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    luaL_where(L, 0);
    lua_pushfstring(L, "time limit of %I ms exceeded (an endless loop, or costly library calls?)",
                    static_cast<lua_Integer>(fs.time_limit_ms));
    lua_concat(L, 2);
    lua_error(L);
  }
  if (fs.budget && fs.spent > fs.budget) {
    // From now on every instruction fails, so `while true do pcall(loop) end` cannot catch the
    // error and carry on: the next instruction after the pcall fails again, up to the host.
    if (fs.hook_every != 1) {
      fs.hook_every = 1;
      lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    }
    // Level 0 inside a hook is the running Lua function: its file and line lead the message.
    luaL_where(L, 0);
    lua_pushfstring(L, "instruction budget of %I exceeded (an endless loop?)",
                    static_cast<lua_Integer>(fs.budget));
    lua_concat(L, 2);
    lua_error(L);
  }
}

int panic(lua_State* L) {
  // Unreachable by design (see sandbox.hpp); if it happens anyway, say where before Lua aborts.
  const char* message = lua_tostring(L, -1);
  spdlog::critical("rules: {}: Lua error outside a protected call, the host stops: {}",
                   file_state(L).file, message ? message : "(no message)");
  return 0;
}

// load(chunk [, chunkname [, mode [, env]]]) restricted to text chunks given as strings.
int safe_load(lua_State* L) {
  size_t n = 0;
  const char* chunk = luaL_checklstring(L, 1, &n);
  const char* name = luaL_optstring(L, 2, "=(load)");
  const char* mode = luaL_optstring(L, 3, "t");
  if (std::strcmp(mode, "t") != 0)
    return luaL_error(L, "load: mode \"%s\" refused, only text chunks (\"t\") may be loaded", mode);
  const bool has_env = !lua_isnone(L, 4);
  if (luaL_loadbufferx(L, chunk, n, name, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (has_env) {
    lua_pushvalue(L, 4);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return 1;
}

// xpcall(f, handler, ...) whose handler runs after the error unwound, not inside Lua's error
// machinery: an error raised by the budget hook would otherwise run the handler while hooks are
// off, and `xpcall(spin, function() while true do end end)` would never stop. The handler still
// gets the error object and its result is returned after false, as with Lua's xpcall.
int safe_xpcall(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  for (int i = 3; i <= n; ++i) lua_pushvalue(L, i);
  if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_insert(L, n + 1);
    return lua_gettop(L) - n;
  }
  lua_pushvalue(L, 2);
  lua_insert(L, -2);
  lua_pcall(L, 1, 1, 0);  // a failing handler gives its own error, like LUA_ERRERR would
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

// Lua's pattern matcher backtracks: each repetition (*, +, -, %b) may retry at every position
// after it, so a pattern with k of them over n bytes can take about n^k steps, times n more when
// it is not anchored. No hook runs inside it, so string.rep("a", 600):find(".-.-.-b") would hold
// the evaluation thread for minutes. The pattern functions therefore charge that worst case to
// the instruction budget before they run, and refuse what the budget cannot cover. Typical uses
// (label values, a few hundred bytes, one or two repetitions) cost next to nothing.
constexpr double kMatchStepsPerInstruction = 8;  // a matcher step is far cheaper than a VM op

double pattern_worst_case(const char* p, size_t plen, size_t n, bool plain) {
  const double len = static_cast<double>(std::max<size_t>(n, 1));
  if (plain) return len * static_cast<double>(std::max<size_t>(plen, 1));
  size_t i = 0;
  const bool anchored = plen > 0 && p[0] == '^';
  if (anchored) i = 1;
  int repetitions = 0;
  while (i < plen) {
    // One single-character class: %x, [set], %b xy (a repetition of its own), %f[set], or a char.
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'b') {
      ++repetitions;
      i += 4;
      continue;
    }
    if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'f') i += 2;  // a frontier: its set follows
    if (i < plen && p[i] == '[') {
      ++i;
      if (i < plen && p[i] == '^') ++i;
      if (i < plen && p[i] == ']') ++i;  // a leading ] is a member
      while (i < plen && p[i] != ']') i += (p[i] == '%' && i + 1 < plen) ? 2 : 1;
      ++i;
    } else if (i < plen) {
      i += (p[i] == '%' && i + 1 < plen) ? 2 : 1;
    }
    if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
      ++repetitions;
      ++i;
    } else if (i < plen && p[i] == '?') {
      ++i;
    }
  }
  return std::pow(len, repetitions + (anchored ? 0 : 1));
}

// string.find/match/gmatch/gsub(s, pattern, ...): the original (upvalue 1) after the charge.
int charged_pattern(lua_State* L) {
  size_t n = 0, plen = 0;
  luaL_checklstring(L, 1, &n);
  const char* p = luaL_checklstring(L, 2, &plen);
  const bool plain = lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4);  // find only
  const double steps = pattern_worst_case(p, plen, n, plain);
  FileState& fs = file_state(L);
  const double charge = steps / kMatchStepsPerInstruction;
  if (fs.budget && (charge > static_cast<double>(fs.budget) ||
                    fs.spent + static_cast<uint64_t>(charge) > fs.budget)) {
    fs.spent = fs.budget + 1;  // spent: the script's next instruction fails too
    return luaL_error(L,
                      "string pattern \"%s\" over %I bytes may take up to %f matching steps, more "
                      "than the instruction budget left (keep patterns over long strings simple)",
                      p, static_cast<lua_Integer>(n), steps);
  }
  fs.spent += static_cast<uint64_t>(charge);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// table.move(a1, f, e, t [, a2]) loops e - f + 1 times in C whatever the tables hold, so
// table.move({}, 1, 1e12, 1) would run for hours on one instruction: the count is charged to the
// budget like a pattern's worst case, one instruction per element.
int charged_move(lua_State* L) {
  const lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  FileState& fs = file_state(L);
  if (e >= f) {
    const double count = static_cast<double>(e) - static_cast<double>(f) + 1;
    if (fs.budget && (count > static_cast<double>(fs.budget) ||
                      fs.spent + static_cast<uint64_t>(count) > fs.budget)) {
      fs.spent = fs.budget + 1;
      return luaL_error(L, "table.move of %f elements is more than the instruction budget left",
                        count);
    }
    fs.spent += static_cast<uint64_t>(count);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// setmetatable without __gc: a finalizer would run whenever the collector runs, also while the
// host works on the state outside any protected call, where an error would abort the host.
int safe_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc finalizers are not available to rules");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// os.time() and os.date(format) without a time read the evaluation's time, never the wall clock:
// `vigil test-rules` runs rules on a virtual clock. With a time or a table they are Lua's own.
int64_t now_seconds(lua_State* L) {
  const int64_t ms = file_state(L).now_ms;
  return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int os_time(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, static_cast<lua_Integer>(now_seconds(L)));
    return 1;
  }
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

int os_date(lua_State* L) {
  lua_settop(L, 2);
  if (lua_isnil(L, 1)) lua_pushliteral(L, "%c"), lua_replace(L, 1);
  if (lua_isnil(L, 2))
    lua_pushinteger(L, static_cast<lua_Integer>(now_seconds(L))), lua_replace(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1);
  return 1;
}

// require(name): NAME.lua (dots are folders) from the script directories, text only, cached.
int require_impl(lua_State* L) {
  const std::string name = arg_string(L, 1, "require: the module name");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw LuaFailure{
          "require \"" + name +
          "\": expected a module name of letters, digits, '_', '-' and '.' (no paths)"};
  }
  if (name.empty() || name.find("..") != std::string::npos || name.front() == '.' ||
      name.back() == '.')
    throw LuaFailure{"require \"" + name + "\": expected a module name such as \"lib.thresholds\""};
  lua_getfield(L, LUA_REGISTRYINDEX, "vigil.loaded");
  lua_pushlstring(L, name.data(), name.size());
  if (lua_rawget(L, -2) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  FileState& fs = file_state(L);
  std::string relative = name;
  std::replace(relative.begin(), relative.end(), '.', '/');
  relative += ".lua";
  std::string tried;
  for (const auto& dir : fs.script_dirs) {
    const auto path = dir / relative;
    std::error_code ec;
    std::ifstream in;
    if (std::filesystem::is_regular_file(path, ec)) in.open(path, std::ios::binary);
    if (!in.is_open() || !in) {
      tried += "\n\t" + path.string();
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string chunk = text.str();
    const std::string chunk_name = "@" + path.string();
    in.close();
    // The module's code is script code: capped, on the caller's budget. Only protected calls
    // run while capped (its argument is pushed before), so no longjmp crosses this frame.
    lua_pushlstring(L, name.data(), name.size());
    fs.capped = true;
    bool ok = luaL_loadbufferx(L, chunk.data(), chunk.size(), chunk_name.c_str(), "t") == LUA_OK;
    if (ok) {
      lua_insert(L, -2);  // the chunk below its argument
      ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
    } else {
      lua_remove(L, -2);  // the argument; the message stays
    }
    fs.capped = false;
    if (!ok) {
      std::string message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an error";
      lua_pop(L, 1);
      throw LuaFailure{"require \"" + name + "\": " + message};
    }
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
    }
    lua_pushlstring(L, name.data(), name.size());
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    return 1;
  }
  throw LuaFailure{"require \"" + name +
                   "\": not found in the script directories (alerting.script_dirs):" +
                   (tried.empty() ? std::string(" none configured") : tried)};
}

// print(...) to the host's log. Plain C style on purpose: luaL_tolstring may run a __tostring
// metamethod (script code that may fail), so no C++ object lives while it does.
int safe_print(lua_State* L) {
  const int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    luaL_tolstring(L, i, nullptr);
    if (i < n) lua_pushliteral(L, "\t");
  }
  lua_concat(L, n > 0 ? 2 * n - 1 : 0);
  spdlog::info("rules: {}: {}", file_state(L).file, lua_tostring(L, -1));
  return 0;
}

// Keeps only `keep` from the table at the top of the stack (a library just opened).
void keep_only(lua_State* L, std::initializer_list<const char*> keep) {
  lua_newtable(L);
  for (const char* name : keep) {
    lua_getfield(L, -2, name);
    lua_setfield(L, -2, name);
  }
  lua_remove(L, -2);
}

}  // namespace

FileState& file_state(lua_State* L) {
  return **static_cast<FileState**>(lua_getextraspace(L));
}

void* SmallBlocks::carve(size_t bytes) noexcept {
  constexpr size_t kSlab = 64 << 10;
  if (left_ < bytes) {
    void* slab = std::malloc(kSlab);
    if (!slab) return nullptr;
    try {  // Lua called us: nothing may throw through it
      slabs_.push_back(slab);
    } catch (...) {
      std::free(slab);
      return nullptr;
    }
    next_ = static_cast<char*>(slab);
    left_ = kSlab;
  }
  void* p = next_;
  next_ += bytes;
  left_ -= bytes;
  return p;
}

SmallBlocks::~SmallBlocks() {
  for (void* slab : slabs_) std::free(slab);
}

FileState::~FileState() {
  if (L) lua_close(L);
}

std::string describe(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TNIL:
    case LUA_TNONE:
      return "nothing";
    case LUA_TSTRING:
      return std::string("\"") + lua_tostring(L, index) + "\" (a string)";
    case LUA_TNUMBER:
      return alerts::format_value(lua_tonumber(L, index)) + " (a number)";
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) ? "true" : "false";
    default:
      return std::string("a ") + luaL_typename(L, index);
  }
}

std::string_view arg_text(lua_State* L, int index, const char* what) {
  const int t = lua_type(L, index);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    throw LuaFailure{std::string(what) + ": found " + describe(L, index) + ", expected text"};
  size_t n = 0;
  const char* s = lua_tolstring(L, index, &n);
  return {s, n};
}

std::string arg_string(lua_State* L, int index, const char* what) {
  return std::string(arg_text(L, index, what));
}

double arg_number(lua_State* L, int index, const char* what) {
  if (lua_type(L, index) != LUA_TNUMBER)
    throw LuaFailure{std::string(what) + ": found " + describe(L, index) + ", expected a number"};
  return lua_tonumber(L, index);
}

std::optional<std::string> opt_string(lua_State* L, int index, const char* what) {
  if (lua_isnoneornil(L, index)) return std::nullopt;
  return arg_string(L, index, what);
}

bool open_sandbox(FileState& fs, const Limits& limits, std::string& error) {
  fs.limit_bytes = limits.memory_limit_bytes;
  fs.budget = limits.instruction_budget;
  fs.time_limit_ms = limits.time_limit_ms;
  fs.script_dirs = limits.script_dirs;
  fs.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  fs.L = lua_newstate(capped_alloc, &fs);
  if (!fs.L) {
    error = fs.file + ": cannot create a Lua state (out of memory)";
    return false;
  }
  lua_State* L = fs.L;
  *static_cast<FileState**>(lua_getextraspace(L)) = &fs;
  lua_atpanic(L, panic);
  luaL_checkversion(L);

  // The globals: an allow-list. The base library is opened into a scratch table and only the
  // listed functions are copied; load, require, print and setmetatable are our own.
  lua_pushglobaltable(L);
  const int G = lua_gettop(L);
  luaopen_base(L);  // fills the global table; we empty it again below
  lua_newtable(L);
  const int base = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, G)) {  // move everything from _G to the scratch table
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, base);
  }
  while (true) {  // and clear _G (keys cannot be removed while lua_next walks them)
    lua_pushnil(L);
    if (!lua_next(L, G)) break;
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawset(L, G);
  }
  for (const char* name :
       {"assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber", "tostring",
        "type", "rawequal", "rawget", "rawset", "rawlen", "getmetatable", "_VERSION"}) {
    lua_getfield(L, base, name);
    lua_setfield(L, G, name);
  }
  lua_pushcfunction(L, safe_xpcall);
  lua_setfield(L, G, "xpcall");
  lua_getfield(L, base, "setmetatable");
  lua_pushcclosure(L, safe_setmetatable, 1);
  lua_setfield(L, G, "setmetatable");
  lua_pushvalue(L, G);
  lua_setfield(L, G, "_G");
  lua_settop(L, G - 1);

  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");  // bytecode out, the counterpart of load's binary chunks
  for (const char* name : {"find", "match", "gmatch", "gsub"}) {
    lua_getfield(L, -1, name);
    lua_pushboolean(L, std::strcmp(name, "find") == 0);  // only find has a `plain` argument
    lua_pushcclosure(L, charged_pattern, 2);
    lua_setfield(L, -2, name);
  }
  lua_pop(L, 1);
  // Strings share one metatable per state; hide it so no rule can change string methods for
  // the other rules of its file (getmetatable("") gives false).
  lua_pushliteral(L, "");
  if (lua_getmetatable(L, -1)) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  lua_getfield(L, -1, "move");
  lua_pushcclosure(L, charged_move, 1);
  lua_setfield(L, -2, "move");
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_settop(L, 0);
  luaopen_os(L);
  keep_only(L, {"clock", "difftime"});
  luaopen_os(L);
  lua_getfield(L, -1, "time");
  lua_pushcclosure(L, os_time, 1);
  lua_setfield(L, -3, "time");
  lua_getfield(L, -1, "date");
  lua_pushcclosure(L, os_date, 1);
  lua_setfield(L, -3, "date");
  lua_pop(L, 1);
  lua_setglobal(L, "os");

  lua_register(L, "load", safe_load);
  lua_register(L, "require", guarded<require_impl>);
  lua_register(L, "print", safe_print);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "vigil.loaded");
  new_budget(fs);
  return true;
}

void new_budget(FileState& fs) {
  fs.spent = 0;
  fs.cpu_start_ns = 0;  // both clocks are read at the first hook: most evaluations reach none
  if (fs.hook_every != kHookEvery) {
    fs.hook_every = kHookEvery;
    lua_sethook(fs.L, budget_hook, LUA_MASKCOUNT, kHookEvery);
  }
}

bool protected_call(FileState& fs, int nargs, int nresults, std::string& error) {
  const bool capped = fs.capped;
  fs.capped = true;
  const int status = lua_pcall(fs.L, nargs, nresults, 0);
  fs.capped = capped;
  if (status != LUA_OK) {
    error = lua_type(fs.L, -1) == LUA_TSTRING
                ? lua_tostring(fs.L, -1)
                : "an error that is not a string (" + describe(fs.L, -1) + ")";
    lua_pop(fs.L, 1);
    return false;
  }
  return true;
}

bool run_file(FileState& fs, const std::string& text, std::string& error) {
  const std::string chunk_name = "@" + fs.file;
  if (luaL_loadbufferx(fs.L, text.data(), text.size(), chunk_name.c_str(), "t") != LUA_OK) {
    error = lua_tostring(fs.L, -1);
    lua_pop(fs.L, 1);
    return false;
  }
  new_budget(fs);
  return protected_call(fs, 0, 0, error);
}

}  // namespace vigil::rules
