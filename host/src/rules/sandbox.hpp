// One sandboxed Lua 5.4 state per rule file.
//
// The sandbox is built the way Lua's own API suggests: only the safe parts of the standard
// libraries are opened and the rest removed from the globals (io, debug, package, dofile,
// loadfile, collectgarbage, string.dump, most of os); load() accepts text chunks only; require
// looks for NAME.lua in the configured script directories and nowhere else; a custom allocator
// caps the state's memory; a count hook enforces an instruction budget per call. Nothing here may
// let a script reach the file system, the process, or another state.
#pragma once

#include "rules/data_source.hpp"

#include <lua.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vigil::rules {

struct Limits;

// Thread-safety: one thread at a time (the alerting thread).
struct FileState {
  std::string file;  // for messages
  lua_State* L = nullptr;
  size_t used_bytes = 0, limit_bytes = 0;
  uint64_t budget = 0, spent = 0;  // instructions for the current call
  std::vector<std::filesystem::path> script_dirs;
  // While evaluating: what the query library reads, and the time it reads at.
  DataSource* data = nullptr;
  int64_t now_ms = 0;
  int current_state_ref = LUA_NOREF;  // the running rule's state table
  // Per-evaluation-time cache of selections: selector text -> series.
  struct Cached {
    int64_t at_ms = -1;
    uint64_t generation = 0;
    std::vector<SeriesRef> series;
  };
  std::map<std::string, Cached> selections;

  FileState() = default;
  FileState(const FileState&) = delete;
  FileState& operator=(const FileState&) = delete;
  ~FileState();
};

// Creates the state with the sandboxed globals. False with `error` when Lua cannot start.
bool open_sandbox(FileState& fs, const Limits& limits, std::string& error);
// Calls the function on top of the stack (below it its `nargs` arguments) under the budget.
// On failure returns false and `error` holds the message Lua gave ("file:line: ...").
bool protected_call(FileState& fs, int nargs, int nresults, std::string& error);
// Runs a text chunk (a whole rule file) under the budget.
bool run_file(FileState& fs, const std::string& text, std::string& error);

// The state of `L`, as stored in its extra space.
FileState& file_state(lua_State* L);

// Lua raises errors with longjmp, which skips C++ destructors. Library functions that hold C++
// objects therefore throw LuaFailure instead, and are registered through guarded<>, which lets
// the exception unwind every C++ frame first and only then raises the Lua error (with the
// caller's "file:line:" in front, as luaL_error would).
struct LuaFailure {
  std::string message;
};
template <int (*Impl)(lua_State*)>
int guarded(lua_State* L) {
  // The message is copied to the Lua stack inside the handler; the raise happens after it.
  bool failed = false;
  try {
    return Impl(L);
  } catch (const LuaFailure& f) {
    luaL_where(L, 1);
    lua_pushlstring(L, f.message.data(), f.message.size());
    lua_concat(L, 2);
    failed = true;
  }
  return failed ? lua_error(L) : 0;
}

}  // namespace vigil::rules
