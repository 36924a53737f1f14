// What the rules tests share: a scratch directory for rule files, a real store with every series
// windowed plus fixed health results, and loading helpers. Never a stand-in for the store or Lua.
#pragma once

#include "rules/rule_set.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vigil::rules::testing {

struct Dir {
  std::filesystem::path path;
  Dir() {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           ("vigil-rules-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    std::filesystem::create_directories(path);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
};

struct Source {
  store::Store store;
  std::vector<HealthInfo> health;
  StoreSource source{store, [this] { return health; }};
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

inline std::unique_ptr<RuleSet> load(const std::filesystem::path& file,
                                     std::vector<std::string>& errors, Limits limits = {}) {
  return RuleSet::load({file}, limits, errors);
}

inline std::unique_ptr<RuleSet> must_load(const std::filesystem::path& file, Limits limits = {}) {
  std::vector<std::string> errors;
  auto set = load(file, errors, limits);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  INFO(all);
  REQUIRE(set);
  return set;
}

inline bool has(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

inline bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace vigil::rules::testing
