// See plan.hpp. Errors name the JSON path of the instance at fault.
#include "core/plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <set>

namespace vigil::core {

std::vector<std::filesystem::path> default_plugin_dirs() {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto prefix = exe.parent_path().parent_path();
    dirs.push_back(prefix / "plugins");
    dirs.push_back(prefix / "lib" / "vigil" / "plugins");
  }
  dirs.emplace_back("/usr/lib/vigil/plugins");
  return dirs;
}

loader::ScanResult scan_plugins(const std::vector<std::filesystem::path>& dirs) {
  return loader::scan(dirs);
}

Plan make_plan(const std::filesystem::path& file, const Overrides& overrides,
               const std::vector<std::shared_ptr<loader::PluginLibrary>>& loaded) {
  Plan plan;
  auto loaded_config = config::load_file(file);
  plan.config = std::move(loaded_config.config);
  plan.errors = std::move(loaded_config.errors);
  auto& cfg = plan.config;
  if (overrides.log_level) cfg.log.level = *overrides.log_level;
  if (overrides.log_format) cfg.log.format = *overrides.log_format;

  plan.plugin_dirs = overrides.plugin_dirs;
  plan.plugin_dirs.insert(plan.plugin_dirs.end(), cfg.plugin_dirs.begin(), cfg.plugin_dirs.end());
  if (plan.plugin_dirs.empty()) plan.plugin_dirs = default_plugin_dirs();

  // Only the plugins the config names are loaded; the others are checked and known by name.
  std::set<std::string> wanted;
  for (const auto& instance : cfg.instances) wanted.insert(instance.plugin);
  auto scanned = loader::scan(plan.plugin_dirs, loaded, &wanted);
  plan.libraries = loaded;
  plan.libraries.insert(plan.libraries.end(), scanned.libraries.begin(), scanned.libraries.end());
  plan.notes = std::move(scanned.notes);

  for (const auto& lib : loaded) plan.available.push_back(lib->name());
  plan.available.insert(plan.available.end(), scanned.names.begin(), scanned.names.end());
  std::sort(plan.available.begin(), plan.available.end());
  const std::vector<std::string>& available = plan.available;

  for (const auto& instance : cfg.instances) {
    auto it = std::find_if(plan.libraries.begin(), plan.libraries.end(),
                           [&](const auto& lib) { return lib->name() == instance.plugin; });
    if (it == plan.libraries.end()) {
      std::string list;
      for (const auto& name : available) list += (list.empty() ? "" : ", ") + name;
      std::string dirs;
      for (const auto& dir : plan.plugin_dirs) dirs += (dirs.empty() ? "" : ", ") + dir.string();
      plan.errors.push_back({instance.json_path + ".plugin",
                             "found \"" + instance.plugin +
                                 "\", expected one of the plugins found in " + dirs +
                                 (list.empty() ? std::string(" (none were found)") : ": " + list)});
      continue;
    }
    const auto& library = *it;
    PlannedInstance planned;
    planned.config = instance;
    planned.library = library;
    planned.options =
        config::resolve_options(library->options(), instance.options,
                                instance.json_path + ".options", library->name(), plan.errors);
    auto wanted = [&](const char* kind, bool provided) {
      if (!instance.kinds) return provided;
      bool asked =
          std::find(instance.kinds->begin(), instance.kinds->end(), kind) != instance.kinds->end();
      if (asked && !provided)
        plan.errors.push_back({instance.json_path + ".kinds",
                               std::string("found \"") + kind + "\", but plugin \"" +
                                   library->name() + "\" provides only: " + library->kinds()});
      return asked && provided;
    };
    planned.collects = wanted("collector", library->has_collector());
    planned.checks = wanted("health_check", library->has_health_check());
    planned.exports = wanted("exporter", library->has_exporter());
    planned.notifies = wanted("notifier", library->has_notifier());
    const bool scheduled = planned.collects || planned.checks ||
                           (planned.exports && library->exporter().push != nullptr);
    planned.timeout = instance.timeout.value_or(cfg.scheduler.timeout);
    if (scheduled) {
      planned.interval = instance.interval.value_or(cfg.scheduler.interval);
      if (!instance.timeout) planned.timeout = std::min(planned.timeout, planned.interval);
    } else if (instance.interval) {
      plan.errors.push_back({instance.json_path + ".interval",
                             "found an interval, but plugin \"" + library->name() + "\" (" +
                                 library->kinds() +
                                 ") has nothing to run on a schedule; expected no interval"});
    }
    plan.instances.push_back(std::move(planned));
  }
  return plan;
}

}  // namespace vigil::core
