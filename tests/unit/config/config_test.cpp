// Config validation: every error a user sees names the JSON path, what was found and what was
// expected, and one pass reports all of them.
#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using nlohmann::json;
using vigil::config::Error;
using vigil::config::Millis;
using vigil::config::OptionSpec;

namespace {

std::vector<std::string> messages(const std::vector<Error>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(vigil::config::describe(e, "vigil.json"));
  return out;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a complete valid config is accepted with its values") {
  auto doc = json::parse(R"({
    "plugin_dirs": ["plugins", "/opt/vigil/plugins"],
    "log": {"level": "debug", "format": "json"},
    "http": {"address": "0.0.0.0", "port": 9200},
    "scheduler": {"workers": 2, "interval": "15s", "timeout": "2s", "jitter": 0.2},
    "shutdown_timeout": "3s",
    "instances": [
      {"plugin": "collector_cpu", "name": "cpu", "interval": "1s", "labels": {"role": "db"}},
      {"plugin": "collector_cpu", "name": "cpu2", "options": {"proc_path": "/host/proc"}}
    ]})");
  auto result = vigil::config::parse(doc, "/etc/vigil/vigil.json");
  REQUIRE(result.errors.empty());
  const auto& cfg = result.config;
  REQUIRE(cfg.plugin_dirs.size() == 2);
  CHECK(cfg.plugin_dirs[0] == "/etc/vigil/plugins");
  CHECK(cfg.plugin_dirs[1] == "/opt/vigil/plugins");
  CHECK(cfg.log.level == spdlog::level::debug);
  CHECK(cfg.log.format == vigil::log::Format::json);
  CHECK(cfg.http.address == "0.0.0.0");
  CHECK(cfg.http.port == 9200);
  CHECK(cfg.scheduler.interval == Millis{15000});
  CHECK(cfg.shutdown_timeout == Millis{3000});
  REQUIRE(cfg.instances.size() == 2);
  CHECK(cfg.instances[0].interval == Millis{1000});
  CHECK(cfg.instances[0].labels ==
        std::vector<std::pair<std::string, std::string>>{{"role", "db"}});
  CHECK(cfg.instances[1].options["proc_path"] == "/host/proc");
}

TEST_CASE("every error is reported at once, each with its JSON path, found and expected") {
  auto doc = json::parse(R"({
    "http": {"port": 70000, "adress": "x"},
    "scheduler": {"interval": "soon"},
    "instances": [
      {"name": "a"},
      {"plugin": "collector_cpu", "labels": {"__bad": "x", "ok": 1}},
      {"plugin": "collector_cpu"}
    ]})");
  auto result = vigil::config::parse(doc, "vigil.json");
  auto lines = messages(result.errors);
  INFO(Catch::Detail::stringify(lines));
  CHECK(any_contains(
      lines, "vigil.json: http.port: found 70000 (a number), expected an integer from 0 to 65535"));
  CHECK(any_contains(lines, "http.adress: unknown key \"adress\", expected one of: address, port"));
  CHECK(any_contains(lines, "scheduler.interval: found \"soon\" (a string), expected a duration"));
  CHECK(any_contains(lines, "instances[0].plugin: missing"));
  CHECK(any_contains(lines, "instances[1].labels.__bad: invalid label name"));
  CHECK(any_contains(lines, "instances[1].labels.ok: found 1 (a number), expected a string"));
  CHECK(any_contains(lines,
                     "instances[2].name: found \"collector_cpu\", already used by instances[1]"));
  CHECK(result.errors.size() == 7);
}

TEST_CASE("JSON syntax errors name the line and column") {
  auto path = std::filesystem::temp_directory_path() / "vigil-config-syntax.json";
  {
    std::ofstream out(path);
    out << "{\n  \"http\": {\n    \"port\": 9180,,\n  }\n}\n";
  }
  auto result = vigil::config::load_file(path);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].path == "line 3, column 18");
  CHECK(result.errors[0].message.find("invalid JSON") == 0);
  std::filesystem::remove(path);

  auto missing = vigil::config::load_file("/nonexistent/vigil.json");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].message.find("cannot open the file") == 0);
}

TEST_CASE("durations accept units, combinations and plain seconds") {
  using vigil::config::parse_duration;
  CHECK(parse_duration(json("250ms")) == Millis{250});
  CHECK(parse_duration(json("10s")) == Millis{10000});
  CHECK(parse_duration(json("1.5m")) == Millis{90000});
  CHECK(parse_duration(json("1h30m")) == Millis{5400000});
  CHECK(parse_duration(json(2.5)) == Millis{2500});
  CHECK_FALSE(parse_duration(json("10 parsecs")));
  CHECK_FALSE(parse_duration(json("")));
  CHECK_FALSE(parse_duration(json(-1)));
  CHECK_FALSE(parse_duration(json(true)));
  CHECK(vigil::config::format_duration(Millis{300000}) == "5m");
  CHECK(vigil::config::format_duration(Millis{1500}) == "1500ms");
}

TEST_CASE("plugin options are validated against the plugin's option table") {
  std::vector<OptionSpec> specs = {
      {"path", VIGIL_OPT_STRING, std::string("/proc"), "procfs root", false},
      {"count", VIGIL_OPT_INT, std::string("3"), "how many", false},
      {"ratio", VIGIL_OPT_DOUBLE, std::nullopt, "a ratio", false},
      {"enabled", VIGIL_OPT_BOOL, std::string("true"), "switch", false},
      {"every", VIGIL_OPT_DURATION, std::string("5s"), "period", false},
      {"names", VIGIL_OPT_STRING_LIST, std::string("[\"a\",\"b\"]"), "names", false},
      {"extra", VIGIL_OPT_JSON, std::nullopt, "anything", false},
      {"url", VIGIL_OPT_STRING, std::nullopt, "where to go", true},
  };
  std::vector<Error> errors;

  SECTION("defaults apply and given values win") {
    auto given = json::parse(R"({"url": "http://x", "count": 7, "extra": {"k": [1]}})");
    auto opts = vigil::config::resolve_options(specs, given, "instances[0].options", "p", errors);
    REQUIRE(errors.empty());
    CHECK(std::string(opts.find("path")->string_value) == "/proc");
    CHECK(opts.find("count")->int_value == 7);
    CHECK(opts.find("enabled")->int_value == 1);
    CHECK(opts.find("every")->int_value == 5000);
    REQUIRE(opts.find("names")->list_count == 2);
    CHECK(std::string(opts.find("names")->list_items[1]) == "b");
    CHECK(std::string(opts.find("extra")->string_value) == R"({"k":[1]})");
    CHECK(opts.find("ratio")->is_set == 0);
    CHECK(opts.size() == specs.size());
  }

  SECTION("wrong types, unknown names and missing required options are all reported") {
    auto given =
        json::parse(R"({"count": "many", "names": ["a", 2], "colour": "red", "every": "x"})");
    vigil::config::resolve_options(specs, given, "instances[4].options", "collector_demo", errors);
    auto lines = messages(errors);
    INFO(Catch::Detail::stringify(lines));
    CHECK(any_contains(lines,
                       "instances[4].options.count: found \"many\" (a string), expected an integer "
                       "(option \"count\" of plugin \"collector_demo\" is int)"));
    CHECK(any_contains(lines,
                       "instances[4].options.names[1]: found 2 (a number), expected a string"));
    CHECK(any_contains(lines,
                       "instances[4].options.colour: unknown option \"colour\" for plugin "
                       "\"collector_demo\", expected one of: path, count"));
    CHECK(any_contains(lines,
                       "instances[4].options.every: found \"x\" (a string), expected a duration"));
    CHECK(any_contains(lines,
                       "instances[4].options.url: missing required option of plugin "
                       "\"collector_demo\", expected string: where to go"));
    CHECK(errors.size() == 5);
  }
}

TEST_CASE("a plugin's own option table is checked for broken defaults and duplicates") {
  std::vector<OptionSpec> specs = {
      {"every", VIGIL_OPT_DURATION, std::string("often"), "", false},
      {"n", VIGIL_OPT_INT, std::string("1.5"), "", false},
      {"n", VIGIL_OPT_INT, std::nullopt, "", false},
  };
  auto problems = vigil::config::check_option_specs(specs);
  INFO(Catch::Detail::stringify(problems));
  CHECK(any_contains(problems, "default \"often\" of option \"every\" is not a valid duration"));
  CHECK(any_contains(problems, "default \"1.5\" of option \"n\" is not a valid int"));
  CHECK(any_contains(problems, "option \"n\" is declared twice"));
}

TEST_CASE("an instance may run only some of its plugin's kinds") {
  auto doc = json::parse(R"({"instances": [
      {"plugin": "collector_memory", "name": "a", "kinds": ["collector"]},
      {"plugin": "collector_memory", "name": "b", "kinds": ["collector", "checker"]},
      {"plugin": "collector_memory", "name": "c", "kinds": []}]})");
  auto result = vigil::config::parse(doc, "vigil.json");
  auto lines = messages(result.errors);
  INFO(Catch::Detail::stringify(lines));
  REQUIRE(result.config.instances.size() == 3);
  CHECK(result.config.instances[0].kinds == std::vector<std::string>{"collector"});
  CHECK(
      any_contains(lines, "instances[1].kinds[1]: found \"checker\" (a string), expected one of"));
  CHECK(any_contains(lines, "instances[2].kinds: found an array, expected a non-empty array"));
  CHECK(result.errors.size() == 2);
}
