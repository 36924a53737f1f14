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

// Where a state's small blocks come from (tables, short strings, closures: what an evaluation
// makes by the thousand and the collector frees in bursts that glibc's per-thread caches do not
// hold). One free list per 16-byte size class, refilled from 64 KiB slabs; a freed block goes back
// to its list, and the slabs are returned when the state closes (so a state keeps its peak of
// small blocks until a reload replaces it). Larger blocks go to malloc. The memory cap counts the
// sizes Lua asks for, exactly as without the pool.
// Thread-safety: that of its FileState.
class SmallBlocks {
 public:
  static constexpr size_t kGranule = 16, kLargest = 256;
  SmallBlocks() = default;
  SmallBlocks(const SmallBlocks&) = delete;
  SmallBlocks& operator=(const SmallBlocks&) = delete;
  ~SmallBlocks();
  static bool small(size_t n) { return n <= kLargest; }
  static size_t size_class(size_t n) { return (n + kGranule - 1) / kGranule; }  // 1 .. 16
  void* take(size_t n) noexcept {
    const size_t c = size_class(n);
    if (Free* f = free_[c]) {
      free_[c] = f->next;
      return f;
    }
    return carve(c * kGranule);
  }
  void give(void* p, size_t n) noexcept {
    const size_t c = size_class(n);
    auto* f = static_cast<Free*>(p);
    f->next = free_[c];
    free_[c] = f;
  }

 private:
  struct Free {
    Free* next;
  };
  void* carve(size_t bytes) noexcept;
  Free* free_[kLargest / kGranule + 1] = {};
  std::vector<void*> slabs_;
  char* next_ = nullptr;
  size_t left_ = 0;
};

// Thread-safety: one thread at a time (the alerting thread).
struct FileState {
  SmallBlocks blocks;  // where L's small blocks live; freed after ~FileState closed L
  std::string file;    // for messages
  lua_State* L = nullptr;
  size_t used_bytes = 0, limit_bytes = 0;
  bool capped = false;             // the memory cap binds: script code is running
  uint64_t budget = 0, spent = 0;  // instructions for the current evaluation
  int hook_every = 0;              // instructions between budget checks (1 once exceeded)
  int64_t time_limit_ms = 0;       // per evaluation, on the steady clock (0 = none)
  int64_t deadline_ns = 0;         // steady clock: when to look at the CPU time next
  int64_t cpu_start_ns = 0;        // this thread's CPU clock at the evaluation's first hook
  std::vector<std::filesystem::path> script_dirs;
  // While evaluating: what the query library reads, and the time it reads at (os.time,
  // os.date and vigil.now too). While the file loads, now_ms is the host's clock.
  DataSource* data = nullptr;
  int64_t now_ms = 0;
  int current_state_ref = LUA_NOREF;  // the running rule's state table
  // Selections by selector text. Every series a selector matches, live or not, is kept while
  // the data source's generation stays; at each new time only their liveness is asked again.
  // The Lua table `refs.selections` maps the selector string to its entry here (a light
  // userdata), so a call finds it by the string Lua already interned, without copying it.
  struct Cached {
    std::optional<alerts::Selector> selector;  // parsed once
    bool series_known = false;                 // `series` is the answer at `generation`
    uint64_t generation = 0;
    std::vector<SeriesRef> series;
    bool live_known = false;  // `live` is the answer at `at_ms` (and `generation`)
    int64_t at_ms = 0;
    std::vector<const SeriesRef*> live;  // into `series`
  };
  std::map<std::string, Cached, std::less<>> selections;
  // Registry references for what the query library pushes on every call (the series metatable,
  // the q table, the selection and duration indexes, the field names it reads and writes): an
  // index into the registry's array instead of a string looked up each time. Set by
  // rule_set.cpp.
  struct Refs {
    int series_meta = LUA_NOREF, q = LUA_NOREF, selections = LUA_NOREF, durations = LUA_NOREF;
    int name = LUA_NOREF, labels = LUA_NOREF, id = LUA_NOREF;
    int value = LUA_NOREF, enter = LUA_NOREF, stay = LUA_NOREF;
  } refs;
  int durations_known = 0;            // entries in refs.durations (rule_set.cpp's duration_at)
  std::vector<store::Sample> window;  // scratch for window functions, reused by every call

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
// The same check without a copy: the text stays valid while the value stays on the stack (a
// number is converted to a string in place, as lua_tolstring does).
std::string_view arg_text(lua_State* L, int index, const char* what);
double arg_number(lua_State* L, int index, const char* what);
std::optional<std::string> opt_string(lua_State* L, int index, const char* what);
// How a value reads in a message: "\"5x\" (a string)", "nothing", "a table".
std::string describe(lua_State* L, int index);

}  // namespace vigil::rules
