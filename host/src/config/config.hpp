// The host's configuration: one JSON file, parsed and validated in full.
//
// Every problem becomes a config::Error naming the JSON path, what was found and what was
// expected; parsing never stops at the first one, so `vigil check-config` can print them all.
// Plugin options are validated against each plugin's option table (OptionSpec) before the plugin
// ever sees them. Nothing here loads a plugin or touches the network.
#pragma once

#include "log/logging.hpp"
#include "vigil/plugin.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vigil::config {

using Millis = std::chrono::milliseconds;

struct Error {
  std::string path;     // JSON path such as "instances[2].options.interval", or "" for the file
  std::string message;  // "found ..., expected ..."
};

// "FILE: PATH: MESSAGE" — the one way errors are shown to a user.
std::string describe(const Error& error, const std::string& file);

// "250ms", "10s", "1.5m", "2h", "1h30m" or a JSON number of seconds.
std::optional<Millis> parse_duration(const nlohmann::json& value);
std::string format_duration(Millis value);
// RFC 3339 ("2026-11-23T09:00:00Z", "2026-11-23T10:00:00.5+01:00") to Unix milliseconds.
std::optional<int64_t> parse_rfc3339(const std::string& text);
// What a JSON value is, for messages: `"abc" (a string)`, `12 (a number)`, `an object`.
std::string describe_value(const nlohmann::json& value);

struct HttpConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 9180;
  unsigned max_concurrent_requests = 2;  // bound on concurrent expensive requests (/metrics)
  size_t max_body_bytes = 1 << 20;
  unsigned threads = 2;
};

struct SchedulerConfig {
  unsigned workers = 4;
  Millis interval{10000};
  Millis timeout{5000};
  double jitter = 0.1;  // each run starts up to this fraction of the interval late
};

// How the outbox delivers to one notifier instance (a receiver); see DESIGN.md "Delivery that
// loses nothing". Only meaningful on instances that run the notifier kind.
struct DeliveryConfig {
  std::optional<std::string> fallback;  // receiver that gets what this one cannot deliver
  Millis max_age{3'600'000};            // give up (fallback or failed) after this long
  Millis backoff_min{1000};
  Millis backoff_max{300'000};
  double backoff_factor = 2.0;
};

struct InstanceConfig {
  std::string json_path;  // "instances[3]"
  std::string plugin;
  std::string name;
  std::optional<Millis> interval;
  std::optional<Millis> timeout;
  std::vector<std::pair<std::string, std::string>> labels;  // extra labels on every series
  nlohmann::json options = nlohmann::json::object();
  std::optional<spdlog::level::level_enum> log_level;
  // Unset: collectors and exporters gate readiness (started and ran once), health checks do
  // not; true on a health check also requires its last status to be ok or warning.
  std::optional<bool> gates_readiness;
  // Which of the plugin's kinds this instance runs ("collector", "health_check", "exporter",
  // "notifier"); unset runs every kind the plugin provides.
  std::optional<std::vector<std::string>> kinds;
  DeliveryConfig delivery;
  bool has_delivery = false;  // "delivery" was given (only notifiers may have it)
};

// A silence declared in the config file: created at start (and reload) unless one with the same
// matchers, author and comment already exists.
struct SilenceConfig {
  std::string json_path;              // "alerting.silences[0]"
  std::vector<std::string> matchers;  // checked with alerts::parse_matcher
  std::optional<int64_t> starts_ms;   // unset: now
  std::optional<int64_t> ends_ms;     // set, or starts + duration
  std::optional<Millis> duration;
  std::string author = "config";
  std::string comment;
  bool end_on_resolve = false;
};

// Lua alert rules, the alert engine and its durable state.
struct AlertingConfig {
  bool enabled = false;                               // the "alerting" section is present
  std::vector<std::filesystem::path> rules;           // .lua files or directories of them
  std::vector<std::filesystem::path> script_dirs;     // where require() looks
  std::filesystem::path data_dir = "/var/lib/vigil";  // holds vigil.db (SQLite, WAL)
  Millis evaluation_interval{30'000};                 // a rule's default interval
  uint64_t instruction_budget = 10'000'000;           // Lua instructions per evaluation
  size_t memory_limit_bytes = 64u << 20;              // per Lua state
  Millis window_retention{3'600'000};                 // raw samples kept for window functions
  size_t window_max_samples = 720;
  bool window_all_series = false;  // rings for every series, not on demand
  std::string external_url;        // in notifications ("externalURL")
  std::vector<SilenceConfig> silences;
};

// Who may call the alerting API. Roles: read < operate (ack, silence) < admin (reload).
struct ApiToken {
  std::string json_path;
  std::string name;
  std::string token;  // the secret, from "token" or the first line of "token_file"
  std::string role;
};

struct ApiConfig {
  std::vector<ApiToken> tokens;
  bool open_reads = true;  // GET endpoints without a token
};

struct HostConfig {
  std::filesystem::path file;
  std::vector<std::filesystem::path> plugin_dirs;  // absolute (relative ones resolved to the file)
  log::Options log;
  HttpConfig http;
  SchedulerConfig scheduler;
  Millis shutdown_timeout{5000};
  std::vector<InstanceConfig> instances;
  AlertingConfig alerting;
  ApiConfig api;
};

struct LoadResult {
  HostConfig config;
  std::vector<Error> errors;  // empty when the file is valid (as far as the host can tell alone)
};

// Reads and validates a config file. JSON syntax errors name the line and column.
LoadResult load_file(const std::filesystem::path& file);
// Validates an already parsed document; `file` is used to resolve relative paths.
LoadResult parse(const nlohmann::json& document, const std::filesystem::path& file);

// One row of a plugin's option table, copied out of the plugin into host memory.
struct OptionSpec {
  std::string name;
  vigil_option_type type = VIGIL_OPT_STRING;
  std::optional<std::string> default_text;
  std::string description;
  bool required = false;
};

const char* option_type_name(vigil_option_type type);

// The validated option values of one instance, in the form create() receives them. Owns every
// string the C views point to. Immutable after construction; safe to read from any thread.
class ResolvedOptions {
 public:
  const vigil_option_value* data() const { return values_.data(); }
  size_t size() const { return values_.size(); }
  const vigil_option_value* find(std::string_view name) const;

 private:
  friend ResolvedOptions resolve_options(const std::vector<OptionSpec>&, const nlohmann::json&,
                                         const std::string&, const std::string&,
                                         std::vector<Error>&);
  std::vector<vigil_option_value> values_;
  std::vector<std::unique_ptr<std::string>> strings_;
  std::vector<std::unique_ptr<std::vector<const char*>>> lists_;
};

// Checks `given` (the instance's "options" object) against `specs`: unknown names, wrong types,
// missing required options. Applies defaults. Errors are appended under `path` (e.g.
// "instances[0].options"); `plugin` names the plugin in messages.
ResolvedOptions resolve_options(const std::vector<OptionSpec>& specs, const nlohmann::json& given,
                                const std::string& path, const std::string& plugin,
                                std::vector<Error>& errors);

// Checks that a plugin's own defaults are valid for their declared types; for the loader.
std::vector<std::string> check_option_specs(const std::vector<OptionSpec>& specs);

}  // namespace vigil::config
