// One sandboxed Lua 5.4 state per rule file.
//
// The sandbox is built the way Lua's own API suggests: the globals are an allow-list of the safe
// base functions plus string (without dump), table, math, utf8 and four os functions; load()
// accepts text chunks only; require looks for NAME.lua in the configured script directories and
// nowhere else; a custom allocator caps the state's memory; a count hook enforces an instruction
// budget per evaluation that a pcall in the script cannot swallow. Nothing here may let a script
// reach the file system, the process, the wall clock during an evaluation, or another state; and
// no Lua error may ever be raised outside a protected call (Lua would abort the host).
//
// The memory cap binds while script code runs (inside protected_call). The host's own work on
// the state — pushing query results, reading what eval returned — runs uncapped, so it never
// fails halfway; a library call may therefore overshoot the cap by its own result, and the
// script's next allocation fails instead.
#pragma once

#include "rules/data_source.hpp"

#include <lua.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::rules {

struct Limits;

// Thread-safety: one thread at a time (the alerting thread).
struct FileState {
  std::string file;  // for messages
  lua_State* L = nullptr;
  size_t used_bytes = 0, limit_bytes = 0;
  bool capped = false;             // the memory cap binds: script code is running
  uint64_t budget = 0, spent = 0;  // instructions for the current evaluation
  int hook_every = 0;              // instructions between budget checks (1 once exceeded)
  int64_t time_limit_ms = 0;       // per evaluation, on the steady clock (0 = none)
  int64_t deadline_ns = 0;         // steady clock: when to look at the CPU time (0 = no limit)
  int64_t cpu_start_ns = 0;        // this thread's CPU clock at the evaluation's first hook
  std::vector<std::filesystem::path> script_dirs;
  // While evaluating: what the query library reads, and the time it reads at (os.time,
  // os.date and vigil.now too). While the file loads, now_ms is the host's clock.
  DataSource* data = nullptr;
  int64_t now_ms = 0;
  int current_state_ref = LUA_NOREF;  // the running rule's state table
  // Selections by selector text, reused while the time and the data source's generation stay.
  struct Cached {
    int64_t at_ms = -1;
    uint64_t generation = 0;
    std::optional<alerts::Selector> selector;  // parsed once
    std::vector<SeriesRef> series;
  };
  std::map<std::string, Cached, std::less<>> selections;

  FileState() = default;
  FileState(const FileState&) = delete;
  FileState& operator=(const FileState&) = delete;
  ~FileState();
};

// Creates the state with the sandboxed globals. False with `error` when Lua cannot start.
bool open_sandbox(FileState& fs, const Limits& limits, std::string& error);
// Starts a fresh instruction budget: one per evaluation, file load or policy condition.
void new_budget(FileState& fs);
// Calls the function on top of the stack (below it its `nargs` arguments) within the current
// budget and under the memory cap. On failure returns false and `error` holds the message Lua
// gave ("file:line: ...").
bool protected_call(FileState& fs, int nargs, int nresults, std::string& error);
// Runs a text chunk (a whole rule file) under a budget of its own.
bool run_file(FileState& fs, const std::string& text, std::string& error);

// The state of `L`, as stored in its extra space.
FileState& file_state(lua_State* L);

// Lua raises errors with longjmp, which skips C++ destructors. Library functions that hold C++
// objects therefore throw LuaFailure instead, and are registered through guarded<>, which lets
// the exception unwind every C++ frame first and only then raises the Lua error (with the
// caller's "file:line:" in front, as luaL_error would). Such functions must not raise Lua errors
// themselves: no luaL_check* (use the arg_* helpers below), no metamethods (raw access only).
// They run uncapped, so their own pushes cannot fail on the cap either.
struct LuaFailure {
  std::string message;
};
template <int (*Impl)(lua_State*)>
int guarded(lua_State* L) {
  FileState& fs = file_state(L);
  const bool capped = fs.capped;
  fs.capped = false;
  bool failed = false;
  try {
    const int n = Impl(L);
    fs.capped = capped;
    return n;
  } catch (const LuaFailure& f) {
    // The message is copied to the Lua stack inside the handler (uncapped, so it cannot fail);
    // the raise happens after it.
    luaL_where(L, 1);
    lua_pushlstring(L, f.message.data(), f.message.size());
    lua_concat(L, 2);
    failed = true;
  }
  fs.capped = capped;
  return failed ? lua_error(L) : 0;
}

// Arguments for guarded functions: throw LuaFailure naming the argument instead of raising.
std::string arg_string(lua_State* L, int index, const char* what);
double arg_number(lua_State* L, int index, const char* what);
std::optional<std::string> opt_string(lua_State* L, int index, const char* what);
// How a value reads in a message: "\"5x\" (a string)", "nothing", "a table".
std::string describe(lua_State* L, int index);

}  // namespace vigil::rules
