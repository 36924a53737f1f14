// The rule files' sandbox (see sandbox.hpp).
#include "rules/sandbox.hpp"

#include "rules/rule_set.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vigil::rules {
namespace {

constexpr int kHookEvery = 1000;  // instructions between budget checks

void* capped_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* fs = static_cast<FileState*>(ud);
  const size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    fs->used_bytes -= old;
    std::free(ptr);
    return nullptr;
  }
  if (nsize > old && fs->limit_bytes && fs->used_bytes + (nsize - old) > fs->limit_bytes)
    return nullptr;  // Lua raises "not enough memory"; the state stays usable
  void* p = std::realloc(ptr, nsize);
  if (p) fs->used_bytes = fs->used_bytes - old + nsize;
  return p;
}

void budget_hook(lua_State* L, lua_Debug*) {
  FileState& fs = file_state(L);
  fs.spent += kHookEvery;
  if (fs.budget && fs.spent > fs.budget)
    luaL_error(L, "instruction budget of %I exceeded (an endless loop?)",
               static_cast<lua_Integer>(fs.budget));
}

// load(chunk [, chunkname [, mode [, env]]]) restricted to text chunks.
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

// require(name): NAME.lua (dots are folders) from the script directories, text only, cached.
int require_impl(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING) throw LuaFailure{"require: expected a module name"};
  const std::string name = lua_tostring(L, 1);
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      throw LuaFailure{
          "require \"" + name +
          "\": expected a module name of letters, digits, '_', '-' and '.' (no paths)"};
  }
  if (name.empty() || name.find("..") != std::string::npos || name.front() == '.')
    throw LuaFailure{"require \"" + name + "\": expected a module name such as \"lib.thresholds\""};
  lua_getfield(L, LUA_REGISTRYINDEX, "vigil.loaded");
  lua_getfield(L, -1, name.c_str());
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  FileState& fs = file_state(L);
  std::string relative = name;
  std::replace(relative.begin(), relative.end(), '.', '/');
  relative += ".lua";
  std::string tried;
  for (const auto& dir : fs.script_dirs) {
    const auto path = dir / relative;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      tried += "\n\t" + path.string();
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    const std::string chunk = text.str();
    const std::string chunk_name = "@" + path.string();
    if (luaL_loadbufferx(L, chunk.data(), chunk.size(), chunk_name.c_str(), "t") != LUA_OK ||
        (lua_pushstring(L, name.c_str()), lua_pcall(L, 1, 1, 0)) != LUA_OK) {
      std::string message = lua_isstring(L, -1) ? lua_tostring(L, -1) : "an error";
      lua_pop(L, 1);
      throw LuaFailure{std::move(message)};
    }
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name.c_str());
    return 1;
  }
  throw LuaFailure{"require \"" + name +
                   "\": not found in the script directories (alerting.script_dirs):" +
                   (tried.empty() ? std::string(" none configured") : tried)};
}

int safe_print(lua_State* L) {
  FileState& fs = file_state(L);
  std::string line;
  const int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) line += '\t';
    line += luaL_tolstring(L, i, nullptr);
    lua_pop(L, 1);
  }
  spdlog::info("rules: {}: {}", fs.file, line);
  return 0;
}

}  // namespace

FileState& file_state(lua_State* L) {
  return **static_cast<FileState**>(lua_getextraspace(L));
}

FileState::~FileState() {
  if (L) lua_close(L);
}

bool open_sandbox(FileState& fs, const Limits& limits, std::string& error) {
  fs.limit_bytes = limits.memory_limit_bytes;
  fs.budget = limits.instruction_budget;
  fs.script_dirs = limits.script_dirs;
  fs.L = lua_newstate(capped_alloc, &fs);
  if (!fs.L) {
    error = fs.file + ": cannot create a Lua state (out of memory)";
    return false;
  }
  lua_State* L = fs.L;
  *static_cast<FileState**>(lua_getextraspace(L)) = &fs;
  luaL_checkversion(L);
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_settop(L, 0);
  for (const char* name :
       {"dofile", "loadfile", "collectgarbage", "require", "io", "debug", "package"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  // os: time, date, clock, difftime only.
  luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
  lua_newtable(L);
  for (const char* keep : {"time", "date", "clock", "difftime"}) {
    lua_getfield(L, -2, keep);
    lua_setfield(L, -2, keep);
  }
  lua_setglobal(L, "os");
  lua_pop(L, 1);
  // string.dump would hand out bytecode; strings share the string table as their metatable.
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_register(L, "load", safe_load);
  lua_register(L, "require", guarded<require_impl>);
  lua_register(L, "print", safe_print);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "vigil.loaded");
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, kHookEvery);
  return true;
}

bool protected_call(FileState& fs, int nargs, int nresults, std::string& error) {
  fs.spent = 0;
  if (lua_pcall(fs.L, nargs, nresults, 0) != LUA_OK) {
    error = lua_isstring(fs.L, -1) ? lua_tostring(fs.L, -1) : "an error that is not a string";
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
  return protected_call(fs, 0, 0, error);
}

}  // namespace vigil::rules
