// Loads a built plugin .so for a test, the way the host would (dlopen + the entry point), so
// plugin tests run the real library through the SDK's fake host. The library stays loaded for
// the whole test run: no instance can outlive its code.
//
// plugin() is the descriptor of the plugin under test, for test executables built with
// PLUGIN_PATH defined.
#pragma once

#include <vigil/plugin.h>

#include <dlfcn.h>

#include <catch2/catch.hpp>

namespace vigil::testing {

inline const vigil_plugin_desc* load_plugin(const char* path) {
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  INFO("dlopen " << path << ": " << (lib ? "" : dlerror()));
  REQUIRE(lib != nullptr);
  auto entry = reinterpret_cast<vigil_plugin_entry_fn>(dlsym(lib, VIGIL_ENTRY_SYMBOL));
  REQUIRE(entry != nullptr);
  return entry();
}

#ifdef PLUGIN_PATH
// The plugin this test executable is about (its CMakeLists defines PLUGIN_PATH), loaded once.
inline const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = load_plugin(PLUGIN_PATH);
  return desc;
}
#endif

}  // namespace vigil::testing
