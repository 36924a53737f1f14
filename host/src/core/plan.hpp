// Turning a config file into a plan: which plugin library serves each instance, with which
// validated options, interval and timeout.
//
// `vigil check-config`, `vigil run` and a SIGHUP reload all go through make_plan(), so they
// accept and refuse exactly the same files. A plan never creates an instance: that is the
// daemon's job, once the plan has no errors.
#pragma once

#include "config/config.hpp"
#include "loader/library.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

namespace vigil::core {

// Settings given on the command line; they win over the config file.
struct Overrides {
  std::optional<spdlog::level::level_enum> log_level;
  std::optional<log::Format> log_format;
  std::vector<std::filesystem::path> plugin_dirs;  // searched before the config's own
};

struct PlannedInstance {
  config::InstanceConfig config;
  std::shared_ptr<loader::PluginLibrary> library;
  config::ResolvedOptions options;
  std::chrono::milliseconds interval{0};  // 0: not scheduled (pull exporters, notifiers)
  std::chrono::milliseconds timeout{0};
  // The kinds this instance runs: the plugin's, narrowed by the instance's "kinds".
  bool collects = false, checks = false, exports = false, notifies = false;
};

struct Plan {
  config::HostConfig config;
  std::vector<std::filesystem::path> plugin_dirs;  // overrides first, then the config's
  // The libraries loaded: those the config's instances use (all of them without an examine
  // helper, as in unit tests), and `loaded`.
  std::vector<std::shared_ptr<loader::PluginLibrary>> libraries;
  std::vector<std::string> available;   // every plugin found, loaded or not, sorted by name
  std::vector<loader::ScanNote> notes;  // skipped and refused files
  std::vector<PlannedInstance> instances;
  std::vector<config::Error> errors;
};

// Plugin directories used when neither the config nor the command line names one: the
// `plugins` folder beside the binary's folder (a build tree), then the installed location.
std::vector<std::filesystem::path> default_plugin_dirs();

// Reads the file, applies overrides, scans plugin directories (reusing `loaded` libraries, so a
// reload never loads a file twice) and validates every instance against its plugin.
Plan make_plan(const std::filesystem::path& file, const Overrides& overrides,
               const std::vector<std::shared_ptr<loader::PluginLibrary>>& loaded = {});

// Scans directories only, for `vigil plugins`.
loader::ScanResult scan_plugins(const std::vector<std::filesystem::path>& dirs);

}  // namespace vigil::core
