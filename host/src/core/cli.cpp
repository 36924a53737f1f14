// `vigil <command> [options]`. Every usage error says what was wrong and how to get help; the
// help text is written for someone running vigil for the first time.
#include "core/cli.hpp"

#include "config/config.hpp"
#include "core/daemon.hpp"
#include "core/operator_cli.hpp"
#include "core/rule_tests.hpp"
#include "loader/library.hpp"

#include <boost/program_options.hpp>

#include <cctype>
#include <cstdlib>
#include <fstream>
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
  test-rules     Run rule unit tests (FILE... are test files; see scripts/rules/README.md):
                 synthetic series on a virtual clock, expected alerts and notifications.

Commands for a running host (its alerting API; --url, or the address in -c FILE):
  alerts         List pending and firing alerts (--state, --match '{severity="critical"}',
                 --all for inactive and resolved ones too).
  history FP     Every state change of one alert.
  groups         List notification groups: the KEY to ack with --group, receiver or
                 policy, alerts, escalation step.
  ack FP         Acknowledge an alert (or a group with --group KEY): stops its escalation.
                 --comment, --expires 2h, --sticky (until it resolves).
  unack FP       Take an acknowledgement back; escalation restarts.
  silence add MATCHER... --duration 2h --comment "..."   (--starts TIME, --end-on-resolve)
  silence list   (--all to include expired)      silence expire ID
  reload-rules   Load the rule files again (kept only if they all load cleanly).

Examples:
  vigil run -c examples/vigil.json
  vigil check-config -c /etc/vigil/vigil.json
  vigil plugins --plugin-dir build/default/plugins
  curl http://127.0.0.1:9180/metrics
  vigil test-rules scripts/rules/tests/*.lua
  vigil ack 3f2a9c0d11e4b5a6 --comment "disk swap in progress" --expires 4h
  vigil silence add 'instance="db-1:9100"' --duration 2h --comment maintenance
  vigil silence add 'alertname="DiskSpaceLow"' --starts 2026-01-10T22:00:00Z --duration 4h

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
      "text or json (overrides the config)")(
      "url", po::value<std::string>()->value_name("URL"),
      "a running host's API, http://HOST:PORT (default: from -c FILE, else "
      "http://127.0.0.1:9180)")("token-file", po::value<std::string>()->value_name("FILE"),
                                "file whose first line is an API token (or set VIGIL_TOKEN)")(
      "state", po::value<std::string>()->value_name("STATE"),
      "alerts: pending, firing, resolved or inactive (comma-separated)")(
      "match", po::value<std::string>()->value_name("SELECTOR"),
      "alerts: label matchers such as '{severity=\"critical\"}'")(
      "comment", po::value<std::string>()->value_name("TEXT"), "ack, silence add: why")(
      "author", po::value<std::string>()->value_name("NAME"), "ack, silence add (default: $USER)")(
      "expires", po::value<std::string>()->value_name("DURATION"),
      "ack: the acknowledgement lapses after this long and escalation restarts")(
      "sticky", "ack: keep the acknowledgement until the alert resolves")(
      "duration", po::value<std::string>()->value_name("DURATION"),
      "silence add: how long (from --starts)")(
      "starts", po::value<std::string>()->value_name("TIME"),
      "silence add: when it starts, RFC 3339 such as 2026-01-10T22:00:00Z (default: now)")(
      "end-on-resolve", "silence add: end the silence when its alerts resolve")(
      "group", "ack, unack: the argument is a group key, not a fingerprint")(
      "all", "alerts: include inactive and resolved; silence list: include expired")(
      "json", "print the API's JSON instead of a table");
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
  hidden.add_options()("command", po::value<std::string>())("args",
                                                            po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);

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

  std::vector<std::string> args;
  if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();

  if (is_operator_command(command)) {
    OperatorOptions o;
    o.args = args;
    if (vm.count("url")) {
      std::string error;
      auto target = parse_api_url(vm["url"].as<std::string>(), error);
      if (!target) return usage_error(error);
      o.target = *target;
    } else if (config) {
      auto loaded = config::load_file(*config);
      if (!loaded.errors.empty())
        return usage_error(config::describe(loaded.errors[0], config->string()));
      o.target.host =
          loaded.config.http.address == "0.0.0.0" ? "127.0.0.1" : loaded.config.http.address;
      o.target.port = loaded.config.http.port;
    }
    if (vm.count("token-file")) {
      std::ifstream in(vm["token-file"].as<std::string>());
      if (!in || !std::getline(in, o.target.token))
        return usage_error("--token-file: cannot read " + vm["token-file"].as<std::string>());
      while (!o.target.token.empty() &&
             std::isspace(static_cast<unsigned char>(o.target.token.back())))
        o.target.token.pop_back();
    } else if (const char* token = std::getenv("VIGIL_TOKEN")) {
      o.target.token = token;
    }
    auto text = [&](const char* name) -> std::optional<std::string> {
      if (!vm.count(name)) return std::nullopt;
      return vm[name].as<std::string>();
    };
    o.state = text("state");
    o.match = text("match");
    o.comment = text("comment");
    o.expires = text("expires");
    o.duration = text("duration");
    o.starts = text("starts");
    const char* user = std::getenv("USER");
    o.author = text("author").value_or(user ? user : "cli");
    o.sticky = vm.count("sticky") > 0;
    o.end_on_resolve = vm.count("end-on-resolve") > 0;
    o.all = vm.count("all") > 0;
    o.json = vm.count("json") > 0;
    o.group = vm.count("group") > 0;
    return run_operator_command(command, o);
  }
  if (command == "test-rules") {
    if (args.empty()) return usage_error("test-rules needs at least one test file");
    return run_rule_tests(args, overrides);
  }
  if (!args.empty()) return usage_error(command + " takes no arguments, found \"" + args[0] + "\"");

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
  return usage_error(
      "unknown command \"" + command +
      "\", expected run, check-config, plugins, version, test-rules, alerts, groups, history, "
      "ack, unack, silence or reload-rules");
}

}  // namespace vigil::core
