// The "alerting" and "api" sections and an instance's "delivery": accepted values land where the
// daemon reads them, and every mistake names its JSON path, what was found and what was expected.
#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using nlohmann::json;
using vigil::config::Millis;

namespace {

std::vector<std::string> errors_of(const json& doc) {
  std::vector<std::string> out;
  for (const auto& e : vigil::config::parse(doc, "/etc/vigil/vigil.json").errors)
    out.push_back(vigil::config::describe(e, "vigil.json"));
  return out;
}

bool has(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("alerting, api and delivery settings are read with paths resolved to the config file") {
  auto doc = json::parse(R"({
    "alerting": {
      "rules": ["rules", "/opt/rules/extra.lua"], "script_dirs": ["lib"], "data_dir": "state",
      "evaluation_interval": "15s", "instruction_budget": 5000, "memory_limit_bytes": 2097152,
      "window_retention": "30m", "window_max_samples": 100, "window_all_series": true,
      "external_url": "http://vigil.example:9180",
      "silences": [{"matchers": ["alertname=\"DiskFull\"", "instance=~\"db-.*\""],
                    "starts": "2026-11-23T09:00:00Z", "duration": "2h", "author": "alice",
                    "comment": "disk swap", "end_on_resolve": true}]
    },
    "api": {"open_reads": false, "tokens": [{"name": "ops", "role": "operate",
                                             "token": "0123456789abcdef0123"}]},
    "instances": [
      {"plugin": "notifier_log", "name": "primary",
       "delivery": {"fallback": "backup", "max_age": "10m", "backoff_min": "500ms",
                    "backoff_max": "1m", "backoff_factor": 3}},
      {"plugin": "notifier_log", "name": "backup"}
    ]})");
  auto result = vigil::config::parse(doc, "/etc/vigil/vigil.json");
  REQUIRE(result.errors.empty());
  const auto& a = result.config.alerting;
  CHECK(a.enabled);
  CHECK(a.rules == std::vector<std::filesystem::path>{"/etc/vigil/rules", "/opt/rules/extra.lua"});
  CHECK(a.script_dirs == std::vector<std::filesystem::path>{"/etc/vigil/lib"});
  CHECK(a.data_dir == "/etc/vigil/state");
  CHECK(a.evaluation_interval == Millis{15000});
  CHECK(a.instruction_budget == 5000);
  CHECK(a.memory_limit_bytes == 2097152);
  CHECK(a.window_retention == Millis{1800000});
  CHECK(a.window_max_samples == 100);
  CHECK(a.window_all_series);
  CHECK(a.external_url == "http://vigil.example:9180");
  REQUIRE(a.silences.size() == 1);
  CHECK(a.silences[0].matchers.size() == 2);
  CHECK(a.silences[0].starts_ms == 1795424400000);
  CHECK(a.silences[0].duration == Millis{7200000});
  CHECK(a.silences[0].author == "alice");
  CHECK(a.silences[0].end_on_resolve);
  const auto& api = result.config.api;
  CHECK_FALSE(api.open_reads);
  REQUIRE(api.tokens.size() == 1);
  CHECK(api.tokens[0].role == "operate");
  const auto& d = result.config.instances[0].delivery;
  CHECK(d.fallback == std::optional<std::string>("backup"));
  CHECK(d.max_age == Millis{600000});
  CHECK(d.backoff_min == Millis{500});
  CHECK(d.backoff_factor == 3);
}

TEST_CASE("without an alerting section, alerting stays off") {
  auto result = vigil::config::parse(json::parse(R"({"instances": []})"), "/etc/vigil/vigil.json");
  REQUIRE(result.errors.empty());
  CHECK_FALSE(result.config.alerting.enabled);
}

TEST_CASE("alerting mistakes are each reported with their JSON path") {
  auto errors = errors_of(json::parse(R"({
    "alerting": {"rules": "rules", "evaluation_interval": "soon", "bogus": 1,
                 "silences": [{"matchers": ["severity>\"x\""], "duration": "1h"},
                              {"matchers": ["a=\"b\""]},
                              {"matchers": ["a=~\"(\""], "ends": "tomorrow", "duration": "1h"}]},
    "api": {"tokens": [{"name": "x", "role": "root", "token": "short"}]},
    "instances": [{"plugin": "notifier_log", "delivery": {"fallback": "nobody", "max_age": 0.5}}]
  })"));
  CHECK(has(errors, "alerting.rules: found \"rules\" (a string), expected an array of paths"));
  CHECK(has(errors, "alerting.evaluation_interval: found \"soon\""));
  CHECK(has(errors, "alerting.bogus: unknown key"));
  CHECK(has(errors,
            "alerting.silences[0].matchers[0]: at 9 of `severity>\"x\"`: found '>', "
            "expected one of = != =~ !~"));
  CHECK(has(errors, "alerting.silences[1]: found neither \"ends\" nor \"duration\""));
  CHECK(has(errors, "alerting.silences[2].matchers[0]: label a: `(` is not a valid regular"));
  CHECK(has(errors,
            "alerting.silences[2].ends: found \"tomorrow\" (a string), expected an RFC 3339"));
  CHECK(has(errors, "api.tokens[0].role: found \"root\" (a string), expected one of"));
  CHECK(has(errors, "api.tokens[0].token: found a token of 5 characters, expected at least 16"));
  CHECK(has(errors,
            "instances[0].delivery.fallback: found \"nobody\", expected the name of a "
            "notifier instance"));
  CHECK(has(errors,
            "instances[0].delivery.max_age: found 0.5 (a number), expected a duration of at "
            "least 1s"));
}

TEST_CASE("an API token can come from a file, and an unreadable one names the file") {
  auto dir = std::filesystem::temp_directory_path() / "vigil-config-token-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "abcdefghijklmnopqrstuvwxyz\n";
  auto doc = json::parse(R"({"api": {"tokens": [
    {"name": "a", "role": "admin", "token_file": "token"},
    {"name": "b", "role": "read", "token_file": "missing"}]}})");
  auto result = vigil::config::parse(doc, dir / "vigil.json");
  REQUIRE(result.config.api.tokens.size() == 2);
  CHECK(result.config.api.tokens[0].token == "abcdefghijklmnopqrstuvwxyz");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].path == "api.tokens[1].token_file");
  CHECK(result.errors[0].message.find((dir / "missing").string()) != std::string::npos);
  std::filesystem::remove_all(dir);
}
