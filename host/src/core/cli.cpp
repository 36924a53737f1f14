// `vigil <command> [options]`. Every usage error says what was wrong and how to get help; the
// help text is written for someone running vigil for the first time.
#include "core/cli.hpp"

#include "core/daemon.hpp"
#include "loader/library.hpp"

#include <boost/program_options.hpp>

#include <iostream>

namespace vigil::core {
namespace {

namespace po = boost::program_options;

constexpr const char* kUsage =
    R"(vigil — a monitoring agent with plugins, Prometheus metrics and Lua alerting

Usage: vigil <command> [options]

Commands:
  run            Run the agent in the foreground on a config file. Stops cleanly on
                 Ctrl-C or SIGTERM; SIGHUP re-reads the config (a bad one is reported
                 and the running one stays).
  check-config   Check a config file and every instance's options against its plugin.
                 Prints every error with its JSON path; exit status 0 when valid, 1 if not.
  plugins        List the plugins found: name, version, kinds, options with defaults.
  version        Print vigil's version and the plugin ABI version it speaks.

Examples:
  vigil run -c examples/vigil.json
  vigil check-config -c /etc/vigil/vigil.json
  vigil plugins --plugin-dir build/default/plugins
  curl http://127.0.0.1:9180/metrics

)";

po::options_description option_table() {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help")(
      "config,c", po::value<std::string>()->value_name("FILE"),
      "config file (JSON); required by run and check-config")(
      "plugin-dir", po::value<std::vector<std::string>>()->value_name("DIR")->composing(),
      "directory with plugin .so files, searched before the config's plugin_dirs "
      "(repeatable)")("log-level", po::value<std::string>()->value_name("LEVEL"),
                      "trace, debug, info, warn, error or off (overrides the config)")(
      "log-format", po::value<std::string>()->value_name("FORMAT"),
      "text or json (overrides the config)");
  return options;
}

void print_help(const po::options_description& options) {
  std::cout << kUsage << options << "\n";
}

int usage_error(const std::string& message) {
  std::cerr << "vigil: " << message << "\nRun `vigil --help` for the commands and options.\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = option_table();
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help") || !vm.count("command")) {
    print_help(options);
    return vm.count("help") ? 0 : 2;
  }
  const std::string command = vm["command"].as<std::string>();

  Overrides overrides;
  if (vm.count("log-level")) {
    overrides.log_level = log::parse_level(vm["log-level"].as<std::string>());
    if (!overrides.log_level)
      return usage_error("--log-level: found \"" + vm["log-level"].as<std::string>() +
                         "\", expected trace, debug, info, warn, error or off");
  }
  if (vm.count("log-format")) {
    overrides.log_format = log::parse_format(vm["log-format"].as<std::string>());
    if (!overrides.log_format)
      return usage_error("--log-format: found \"" + vm["log-format"].as<std::string>() +
                         "\", expected text or json");
  }
  if (vm.count("plugin-dir")) {
    for (const auto& dir : vm["plugin-dir"].as<std::vector<std::string>>())
      overrides.plugin_dirs.push_back(std::filesystem::absolute(dir));
  }
  std::optional<std::filesystem::path> config;
  if (vm.count("config")) config = vm["config"].as<std::string>();

  if (command == "version") {
    std::cout << "vigil " << VIGIL_VERSION << " (plugin ABI "
              << loader::format_abi_version(VIGIL_ABI_VERSION) << ")\n";
    return 0;
  }
  if (command == "plugins") return list_plugins(config ? &*config : nullptr, overrides);
  if (command == "check-config" || command == "run") {
    if (!config) return usage_error(command + " needs a config file: -c FILE");
    if (command == "check-config") return check_config(*config, overrides);
    Daemon daemon(*config, overrides);
    return daemon.run();
  }
  return usage_error("unknown command \"" + command +
                     "\", expected run, check-config, plugins or version");
}

}  // namespace vigil::core
