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

#include <string>
#include <utility>
#include <vector>

namespace vigil::testing {

inline const vigil_plugin_desc* load_plugin(const char* path) {
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  INFO("dlopen " << path << ": " << (lib ? "" : dlerror()));
  REQUIRE(lib != nullptr);
  auto entry = reinterpret_cast<vigil_plugin_entry_fn>(dlsym(lib, VIGIL_ENTRY_SYMBOL));
  REQUIRE(entry != nullptr);
  return entry();
}

// A plugin's options as (name, default) pairs in declaration order, "<none>" where an option has
// no default: what `vigil plugins` lists and the README's options table must match.
using OptionDefaults = std::vector<std::pair<std::string, std::string>>;
inline OptionDefaults option_defaults(const vigil_plugin_desc* desc) {
  OptionDefaults out;
  for (size_t i = 0; i < desc->option_count; ++i)
    out.emplace_back(desc->options[i].name,
                     desc->options[i].default_value ? desc->options[i].default_value : "<none>");
  return out;
}

#ifdef PLUGIN_PATH
// The plugin this test executable is about (its CMakeLists defines PLUGIN_PATH), loaded once.
inline const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = load_plugin(PLUGIN_PATH);
  return desc;
}
#endif

}  // namespace vigil::testing
