// Parsing and validation of the host's JSON configuration and of plugin instance options.
//
// The rule here: keep going after an error. Every field is checked independently and each
// problem becomes one Error with its JSON path, so a user fixes a file in one round. Nothing in
// this file may throw past its public functions.
#include "config/config.hpp"

#include "alerts/matcher.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace vigil::config {
namespace {

using nlohmann::json;

std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out.push_back('"');
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out.append(separator);
    out.append(item);
  }
  return out;
}

// Collects errors under a base path so helpers can say "found X, expected Y" in one line.
class Checker {
 public:
  explicit Checker(std::vector<Error>& errors) : errors_(errors) {}

  void fail(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }
  void expected(const std::string& path, const json& found, std::string_view what) {
    fail(path, "found " + describe_value(found) + ", expected " + std::string(what));
  }

  // Rejects keys the schema does not know, listing the ones it does.
  void only_keys(const json& object, const std::string& path,
                 std::initializer_list<std::string_view> known) {
    for (const auto& [key, value] : object.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::vector<std::string> names;
        for (auto k : known) names.emplace_back(k);
        fail(child(path, key), "unknown key " + quote(key) + ", expected one of: " + join(names));
      }
    }
  }

  static std::string child(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  std::optional<std::string> string(const json& v, const std::string& path, bool non_empty) {
    if (!v.is_string()) {
      expected(path, v, non_empty ? "a non-empty string" : "a string");
      return std::nullopt;
    }
    auto s = v.get<std::string>();
    if (non_empty && s.empty()) {
      expected(path, v, "a non-empty string");
      return std::nullopt;
    }
    return s;
  }

  std::optional<int64_t> integer(const json& v, const std::string& path, int64_t min, int64_t max) {
    std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!v.is_number_integer() &&
        !(v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>())) {
      expected(path, v, range);
      return std::nullopt;
    }
    double d = v.get<double>();
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
      expected(path, v, range);
      return std::nullopt;
    }
    return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
  }

  std::optional<bool> boolean(const json& v, const std::string& path) {
    if (!v.is_boolean()) {
      expected(path, v, "true or false");
      return std::nullopt;
    }
    return v.get<bool>();
  }

  std::optional<Millis> duration(const json& v, const std::string& path, Millis min) {
    auto d = parse_duration(v);
    if (!d) {
      expected(path, v, "a duration such as \"500ms\", \"10s\", \"5m\" or a number of seconds");
      return std::nullopt;
    }
    if (*d < min) {
      expected(path, v, "a duration of at least " + format_duration(min));
      return std::nullopt;
    }
    return d;
  }

 private:
  std::vector<Error>& errors_;
};

bool valid_instance_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  auto first = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(first) || first == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

void parse_log(const json& v, const std::string& path, log::Options& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  check.only_keys(v, path, {"level", "format", "file", "max_file_bytes", "max_files"});
  if (v.contains("level")) {
    const auto& x = v["level"];
    auto level = x.is_string() ? log::parse_level(x.get<std::string>()) : std::nullopt;
    if (level)
      out.level = *level;
    else
      check.expected(Checker::child(path, "level"), x,
                     "one of trace, debug, info, warn, error, off");
  }
  if (v.contains("format")) {
    const auto& x = v["format"];
    auto format = x.is_string() ? log::parse_format(x.get<std::string>()) : std::nullopt;
    if (format)
      out.format = *format;
    else
      check.expected(Checker::child(path, "format"), x, "\"text\" or \"json\"");
  }
  if (v.contains("file")) {
    if (auto s = check.string(v["file"], Checker::child(path, "file"), false)) out.file = *s;
  }
  if (v.contains("max_file_bytes")) {
    if (auto n = check.integer(v["max_file_bytes"], Checker::child(path, "max_file_bytes"), 4096,
                               std::numeric_limits<int64_t>::max()))
      out.max_file_bytes = static_cast<uint64_t>(*n);
  }
  if (v.contains("max_files")) {
    if (auto n = check.integer(v["max_files"], Checker::child(path, "max_files"), 1, 1000))
      out.max_files = static_cast<size_t>(*n);
  }
}

void parse_http(const json& v, const std::string& path, HttpConfig& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  check.only_keys(v, path,
                  {"address", "port", "threads", "max_concurrent_requests", "max_body_bytes"});
  if (v.contains("address")) {
    if (auto s = check.string(v["address"], Checker::child(path, "address"), true))
      out.address = *s;
  }
  if (v.contains("port")) {
    if (auto n = check.integer(v["port"], Checker::child(path, "port"), 0, 65535))
      out.port = static_cast<uint16_t>(*n);
  }
  if (v.contains("threads")) {
    if (auto n = check.integer(v["threads"], Checker::child(path, "threads"), 1, 64))
      out.threads = static_cast<unsigned>(*n);
  }
  if (v.contains("max_concurrent_requests")) {
    if (auto n = check.integer(v["max_concurrent_requests"],
                               Checker::child(path, "max_concurrent_requests"), 1, 1024))
      out.max_concurrent_requests = static_cast<unsigned>(*n);
  }
  if (v.contains("max_body_bytes")) {
    if (auto n = check.integer(v["max_body_bytes"], Checker::child(path, "max_body_bytes"), 0,
                               1LL << 30))
      out.max_body_bytes = static_cast<size_t>(*n);
  }
}

void parse_scheduler(const json& v, const std::string& path, SchedulerConfig& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  check.only_keys(v, path, {"workers", "interval", "timeout", "jitter"});
  if (v.contains("workers")) {
    if (auto n = check.integer(v["workers"], Checker::child(path, "workers"), 1, 256))
      out.workers = static_cast<unsigned>(*n);
  }
  if (v.contains("interval")) {
    if (auto d = check.duration(v["interval"], Checker::child(path, "interval"), Millis{10}))
      out.interval = *d;
  }
  if (v.contains("timeout")) {
    if (auto d = check.duration(v["timeout"], Checker::child(path, "timeout"), Millis{1}))
      out.timeout = *d;
  }
  if (v.contains("jitter")) {
    const auto& x = v["jitter"];
    if (x.is_number() && x.get<double>() >= 0 && x.get<double>() <= 1) {
      out.jitter = x.get<double>();
    } else {
      check.expected(Checker::child(path, "jitter"), x, "a number from 0 to 1");
    }
  }
}

std::vector<std::filesystem::path> parse_paths(const json& v, const std::string& path,
                                               const std::filesystem::path& base, Checker& check) {
  std::vector<std::filesystem::path> out;
  if (!v.is_array()) {
    check.expected(path, v, "an array of paths");
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (auto s = check.string(v[i], Checker::index(path, i), true)) {
      std::filesystem::path p(*s);
      out.push_back(p.is_absolute() ? p : (base / p).lexically_normal());
    }
  }
  return out;
}

void parse_delivery(const json& v, const std::string& path, DeliveryConfig& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  check.only_keys(v, path, {"fallback", "max_age", "backoff_min", "backoff_max", "backoff_factor"});
  if (v.contains("fallback"))
    out.fallback = check.string(v["fallback"], Checker::child(path, "fallback"), true);
  if (v.contains("max_age")) {
    if (auto d = check.duration(v["max_age"], Checker::child(path, "max_age"), Millis{1000}))
      out.max_age = *d;
  }
  if (v.contains("backoff_min")) {
    if (auto d = check.duration(v["backoff_min"], Checker::child(path, "backoff_min"), Millis{1}))
      out.backoff_min = *d;
  }
  if (v.contains("backoff_max")) {
    if (auto d = check.duration(v["backoff_max"], Checker::child(path, "backoff_max"), Millis{1}))
      out.backoff_max = *d;
  }
  if (v.contains("backoff_factor")) {
    const auto& x = v["backoff_factor"];
    if (x.is_number() && x.get<double>() >= 1 && x.get<double>() <= 10)
      out.backoff_factor = x.get<double>();
    else
      check.expected(Checker::child(path, "backoff_factor"), x, "a number from 1 to 10");
  }
  if (out.backoff_max < out.backoff_min)
    check.fail(Checker::child(path, "backoff_max"), "found " + format_duration(out.backoff_max) +
                                                        ", expected at least backoff_min (" +
                                                        format_duration(out.backoff_min) + ")");
}

void parse_silence(const json& v, const std::string& path, SilenceConfig& out, Checker& check) {
  out.json_path = path;
  if (!v.is_object()) return check.expected(path, v, "an object with \"matchers\"");
  check.only_keys(
      v, path, {"matchers", "starts", "ends", "duration", "author", "comment", "end_on_resolve"});
  const std::string mpath = Checker::child(path, "matchers");
  if (!v.contains("matchers") || !v["matchers"].is_array() || v["matchers"].empty()) {
    check.expected(mpath, v.contains("matchers") ? v["matchers"] : json(),
                   "a non-empty array of matchers such as \"alertname=\\\"DiskFull\\\"\"");
  } else {
    for (size_t i = 0; i < v["matchers"].size(); ++i) {
      std::string ipath = Checker::index(mpath, i);
      auto text = check.string(v["matchers"][i], ipath, true);
      if (!text) continue;
      std::string error;
      if (!alerts::parse_matcher(*text, error)) {
        check.fail(ipath, error);
        continue;
      }
      out.matchers.push_back(*text);
    }
  }
  for (const char* key : {"starts", "ends"}) {
    if (!v.contains(key)) continue;
    std::string kpath = Checker::child(path, key);
    const auto& x = v[key];
    std::optional<int64_t> ms = x.is_string() ? parse_rfc3339(x.get<std::string>()) : std::nullopt;
    if (!ms) {
      check.expected(kpath, x, "an RFC 3339 time such as \"2026-11-23T09:00:00Z\"");
      continue;
    }
    (std::string_view(key) == "starts" ? out.starts_ms : out.ends_ms) = ms;
  }
  if (v.contains("duration"))
    out.duration = check.duration(v["duration"], Checker::child(path, "duration"), Millis{1000});
  if (out.ends_ms.has_value() == out.duration.has_value())
    check.fail(path, std::string(out.ends_ms ? "found both \"ends\" and \"duration\""
                                             : "found neither \"ends\" nor \"duration\"") +
                         ", expected exactly one of them");
  if (out.starts_ms && out.ends_ms && *out.ends_ms <= *out.starts_ms)
    check.fail(Checker::child(path, "ends"),
               "found an end before the start, expected a later time");
  if (v.contains("author")) {
    if (auto s = check.string(v["author"], Checker::child(path, "author"), true)) out.author = *s;
  }
  if (v.contains("comment")) {
    if (auto s = check.string(v["comment"], Checker::child(path, "comment"), false))
      out.comment = *s;
  }
  if (v.contains("end_on_resolve")) {
    if (auto b = check.boolean(v["end_on_resolve"], Checker::child(path, "end_on_resolve")))
      out.end_on_resolve = *b;
  }
}

void parse_alerting(const json& v, const std::string& path, const std::filesystem::path& base,
                    AlertingConfig& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  out.enabled = true;
  check.only_keys(v, path,
                  {"rules", "script_dirs", "data_dir", "evaluation_interval", "instruction_budget",
                   "memory_limit_bytes", "window_retention", "window_max_samples",
                   "window_all_series", "external_url", "silences"});
  if (v.contains("rules"))
    out.rules = parse_paths(v["rules"], Checker::child(path, "rules"), base, check);
  if (v.contains("script_dirs"))
    out.script_dirs =
        parse_paths(v["script_dirs"], Checker::child(path, "script_dirs"), base, check);
  if (v.contains("data_dir")) {
    if (auto s = check.string(v["data_dir"], Checker::child(path, "data_dir"), true)) {
      std::filesystem::path p(*s);
      out.data_dir = p.is_absolute() ? p : (base / p).lexically_normal();
    }
  }
  if (v.contains("evaluation_interval")) {
    if (auto d = check.duration(v["evaluation_interval"],
                                Checker::child(path, "evaluation_interval"), Millis{100}))
      out.evaluation_interval = *d;
  }
  if (v.contains("instruction_budget")) {
    if (auto n = check.integer(v["instruction_budget"], Checker::child(path, "instruction_budget"),
                               1000, 1'000'000'000'000))
      out.instruction_budget = static_cast<uint64_t>(*n);
  }
  if (v.contains("memory_limit_bytes")) {
    if (auto n = check.integer(v["memory_limit_bytes"], Checker::child(path, "memory_limit_bytes"),
                               1 << 20, 1LL << 40))
      out.memory_limit_bytes = static_cast<size_t>(*n);
  }
  if (v.contains("window_retention")) {
    if (auto d = check.duration(v["window_retention"], Checker::child(path, "window_retention"),
                                Millis{1000}))
      out.window_retention = *d;
  }
  if (v.contains("window_max_samples")) {
    if (auto n = check.integer(v["window_max_samples"], Checker::child(path, "window_max_samples"),
                               2, 1'000'000))
      out.window_max_samples = static_cast<size_t>(*n);
  }
  if (v.contains("window_all_series")) {
    if (auto b = check.boolean(v["window_all_series"], Checker::child(path, "window_all_series")))
      out.window_all_series = *b;
  }
  if (v.contains("external_url")) {
    if (auto s = check.string(v["external_url"], Checker::child(path, "external_url"), false))
      out.external_url = *s;
  }
  if (v.contains("silences")) {
    const auto& list = v["silences"];
    std::string spath = Checker::child(path, "silences");
    if (!list.is_array()) {
      check.expected(spath, list, "an array of silences");
    } else {
      for (size_t i = 0; i < list.size(); ++i) {
        SilenceConfig silence;
        parse_silence(list[i], Checker::index(spath, i), silence, check);
        out.silences.push_back(std::move(silence));
      }
    }
  }
}

void parse_api(const json& v, const std::string& path, const std::filesystem::path& base,
               ApiConfig& out, Checker& check) {
  if (!v.is_object()) return check.expected(path, v, "an object");
  check.only_keys(v, path, {"tokens", "open_reads"});
  if (v.contains("open_reads")) {
    if (auto b = check.boolean(v["open_reads"], Checker::child(path, "open_reads")))
      out.open_reads = *b;
  }
  if (!v.contains("tokens")) return;
  const auto& list = v["tokens"];
  std::string tpath = Checker::child(path, "tokens");
  if (!list.is_array()) return check.expected(tpath, list, "an array of tokens");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string ipath = Checker::index(tpath, i);
    const auto& t = list[i];
    if (!t.is_object()) {
      check.expected(ipath, t, "an object with \"name\", \"role\" and \"token\" or \"token_file\"");
      continue;
    }
    check.only_keys(t, ipath, {"name", "role", "token", "token_file"});
    ApiToken token;
    token.json_path = ipath;
    if (auto s = t.contains("name") ? check.string(t["name"], Checker::child(ipath, "name"), true)
                                    : std::nullopt)
      token.name = *s;
    else if (!t.contains("name"))
      check.fail(Checker::child(ipath, "name"), "missing, expected a name for the token's holder");
    const json role = t.contains("role") ? t["role"] : json();
    if (role.is_string() && (role == "read" || role == "operate" || role == "admin"))
      token.role = role.get<std::string>();
    else
      check.expected(Checker::child(ipath, "role"), role,
                     "one of \"read\", \"operate\", \"admin\"");
    if (t.contains("token") == t.contains("token_file")) {
      check.fail(ipath, "expected exactly one of \"token\" and \"token_file\"");
    } else if (t.contains("token")) {
      if (auto s = check.string(t["token"], Checker::child(ipath, "token"), true)) {
        if (s->size() < 16)
          check.fail(Checker::child(ipath, "token"),
                     "found a token of " + std::to_string(s->size()) +
                         " characters, expected at least 16 (a guessable token guards nothing)");
        token.token = *s;
      }
    } else if (auto s = check.string(t["token_file"], Checker::child(ipath, "token_file"), true)) {
      std::filesystem::path p(*s);
      if (!p.is_absolute()) p = (base / p).lexically_normal();
      std::ifstream in(p);
      std::string line;
      if (!in || !std::getline(in, line)) {
        check.fail(Checker::child(ipath, "token_file"),
                   "cannot read " + p.string() + " (" + std::strerror(errno) +
                       "), expected a file whose first line is the token");
      } else {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
          line.pop_back();
        if (line.size() < 16)
          check.fail(Checker::child(ipath, "token_file"), p.string() + " holds a token of " +
                                                              std::to_string(line.size()) +
                                                              " characters, expected at least 16");
        token.token = line;
      }
    }
    out.tokens.push_back(std::move(token));
  }
}

std::optional<InstanceConfig> parse_instance(const json& v, const std::string& path,
                                             Checker& check) {
  if (!v.is_object()) {
    check.expected(path, v, "an object with at least \"plugin\"");
    return std::nullopt;
  }
  check.only_keys(v, path,
                  {"plugin", "name", "interval", "timeout", "labels", "options", "log_level",
                   "gates_readiness", "kinds", "delivery"});
  InstanceConfig out;
  out.json_path = path;
  bool ok = true;
  if (!v.contains("plugin")) {
    check.fail(Checker::child(path, "plugin"), "missing, expected the name of a plugin");
    ok = false;
  } else if (auto s = check.string(v["plugin"], Checker::child(path, "plugin"), true)) {
    out.plugin = *s;
  } else {
    ok = false;
  }
  out.name = out.plugin;
  if (v.contains("name")) {
    const auto& x = v["name"];
    if (x.is_string() && valid_instance_name(x.get<std::string>())) {
      out.name = x.get<std::string>();
    } else {
      check.expected(Checker::child(path, "name"), x,
                     "a name of letters, digits, '_', '-' or '.' (at most 128)");
      ok = false;
    }
  }
  if (v.contains("interval"))
    out.interval = check.duration(v["interval"], Checker::child(path, "interval"), Millis{10});
  if (v.contains("timeout"))
    out.timeout = check.duration(v["timeout"], Checker::child(path, "timeout"), Millis{1});
  if (v.contains("labels")) {
    const auto& labels = v["labels"];
    std::string lpath = Checker::child(path, "labels");
    if (!labels.is_object()) {
      check.expected(lpath, labels, "an object of label names to string values");
    } else {
      for (const auto& [key, value] : labels.items()) {
        std::string kpath = Checker::child(lpath, key);
        if (!valid_label_name(key)) {
          check.fail(kpath, "invalid label name " + quote(key) +
                                ", expected [a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"");
        } else if (auto s = check.string(value, kpath, false)) {
          out.labels.emplace_back(key, *s);
        }
      }
      std::sort(out.labels.begin(), out.labels.end());
    }
  }
  if (v.contains("options")) {
    if (v["options"].is_object())
      out.options = v["options"];
    else
      check.expected(Checker::child(path, "options"), v["options"], "an object");
  }
  if (v.contains("log_level")) {
    const auto& x = v["log_level"];
    auto level = x.is_string() ? log::parse_level(x.get<std::string>()) : std::nullopt;
    if (level)
      out.log_level = level;
    else
      check.expected(Checker::child(path, "log_level"), x,
                     "one of trace, debug, info, warn, error, off");
  }
  if (v.contains("gates_readiness")) {
    if (auto b = check.boolean(v["gates_readiness"], Checker::child(path, "gates_readiness")))
      out.gates_readiness = *b;
  }
  if (v.contains("kinds")) {
    const auto& kinds = v["kinds"];
    const std::string kpath = Checker::child(path, "kinds");
    if (!kinds.is_array() || kinds.empty()) {
      check.expected(kpath, kinds,
                     "a non-empty array of \"collector\", \"health_check\", \"exporter\", "
                     "\"notifier\"");
    } else {
      std::vector<std::string> list;
      for (size_t i = 0; i < kinds.size(); ++i) {
        const auto& k = kinds[i];
        static const std::set<std::string> known = {"collector", "health_check", "exporter",
                                                    "notifier"};
        if (!k.is_string() || !known.count(k.get<std::string>())) {
          check.expected(Checker::index(kpath, i), k,
                         "one of \"collector\", \"health_check\", \"exporter\", \"notifier\"");
          continue;
        }
        list.push_back(k.get<std::string>());
      }
      out.kinds = std::move(list);
    }
  }
  if (v.contains("delivery")) {
    out.has_delivery = true;
    parse_delivery(v["delivery"], Checker::child(path, "delivery"), out.delivery, check);
  }
  if (!ok) return std::nullopt;
  return out;
}

// A default written in an option table, as JSON: "5s" and plain words are strings.
json default_as_json(const std::string& text) {
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return json(text);
  return parsed;
}

// Checks one option value against its declared type; fills `out` (strings kept in `keep`).
bool convert_option(const OptionSpec& spec, const json& value, const std::string& path,
                    const std::string& plugin, vigil_option_value& out,
                    std::vector<std::unique_ptr<std::string>>& keep,
                    std::vector<std::unique_ptr<std::vector<const char*>>>& lists,
                    std::vector<Error>& errors) {
  Checker check(errors);
  auto expect = [&](std::string_view what) {
    check.fail(path, "found " + describe_value(value) + ", expected " + std::string(what) +
                         " (option " + quote(spec.name) + " of plugin " + quote(plugin) + " is " +
                         option_type_name(spec.type) + ")");
    return false;
  };
  auto hold = [&](std::string s) {
    keep.push_back(std::make_unique<std::string>(std::move(s)));
    return keep.back()->c_str();
  };
  switch (spec.type) {
    case VIGIL_OPT_STRING:
      if (!value.is_string()) return expect("a string");
      out.string_value = hold(value.get<std::string>());
      return true;
    case VIGIL_OPT_INT: {
      if (!value.is_number_integer()) {
        if (!(value.is_number_float() && std::trunc(value.get<double>()) == value.get<double>() &&
              std::abs(value.get<double>()) < 9.0e18))
          return expect("an integer");
      }
      out.int_value = value.is_number_integer() ? value.get<int64_t>()
                                                : static_cast<int64_t>(value.get<double>());
      out.double_value = static_cast<double>(out.int_value);
      return true;
    }
    case VIGIL_OPT_DOUBLE:
      if (!value.is_number()) return expect("a number");
      out.double_value = value.get<double>();
      return true;
    case VIGIL_OPT_BOOL:
      if (!value.is_boolean()) return expect("true or false");
      out.int_value = value.get<bool>() ? 1 : 0;
      return true;
    case VIGIL_OPT_DURATION: {
      auto d = parse_duration(value);
      if (!d) return expect("a duration such as \"500ms\", \"10s\", \"5m\" or a number of seconds");
      out.int_value = d->count();
      out.double_value = static_cast<double>(d->count());
      return true;
    }
    case VIGIL_OPT_STRING_LIST: {
      if (!value.is_array()) return expect("an array of strings");
      auto items = std::make_unique<std::vector<const char*>>();
      bool ok = true;
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
          check.fail(Checker::index(path, i),
                     "found " + describe_value(value[i]) + ", expected a string");
          ok = false;
          continue;
        }
        items->push_back(hold(value[i].get<std::string>()));
      }
      if (!ok) return false;
      out.list_items = items->data();
      out.list_count = items->size();
      lists.push_back(std::move(items));
      return true;
    }
    case VIGIL_OPT_JSON:
      out.string_value = hold(value.dump());
      return true;
    default:
      check.fail(path, "plugin " + quote(plugin) + " declares option " + quote(spec.name) +
                           " with unknown type " + std::to_string(spec.type));
      return false;
  }
}

}  // namespace

std::string describe(const Error& error, const std::string& file) {
  std::string out = file;
  if (!error.path.empty()) {
    out += ": ";
    out += error.path;
  }
  out += ": ";
  out += error.message;
  return out;
}

std::optional<Millis> parse_duration(const json& value) {
  if (value.is_number()) {
    double seconds = value.get<double>();
    if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return std::nullopt;
    return Millis{static_cast<int64_t>(std::llround(seconds * 1000.0))};
  }
  if (!value.is_string()) return std::nullopt;
  const std::string text = value.get<std::string>();
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    double number = 0;
    try {
      number = std::stod(text.substr(start, i - start));
    } catch (...) {
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit(text.data() + unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else
      return std::nullopt;
    total_ms += number * scale;
  }
  if (total_ms > 1e12) return std::nullopt;
  return Millis{static_cast<int64_t>(std::llround(total_ms))};
}

std::optional<int64_t> parse_rfc3339(const std::string& text) {
  int y, mo, d, h, mi, sec, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6)
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = static_cast<size_t>(consumed);
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return (static_cast<int64_t>(timegm(&tm)) - offset_s) * 1000 + millis;
}

std::string format_duration(Millis value) {
  auto ms = value.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string describe_value(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.dump() + " (a boolean)";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return value.dump() + " (a number)";
    case json::value_t::string: {
      std::string text = value.dump();
      if (text.size() > 60) text = text.substr(0, 57) + "...\"";
      return text + " (a string)";
    }
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a value of an unexpected kind";
  }
}

LoadResult parse(const json& document, const std::filesystem::path& file) {
  LoadResult result;
  HostConfig& cfg = result.config;
  cfg.file = file;
  Checker check(result.errors);
  if (!document.is_object()) {
    check.expected("", document, "an object at the top level");
    return result;
  }
  check.only_keys(document, "",
                  {"plugin_dirs", "log", "http", "scheduler", "shutdown_timeout", "instances",
                   "alerting", "api"});
  auto base = file.has_parent_path() ? std::filesystem::absolute(file).parent_path()
                                     : std::filesystem::current_path();
  if (document.contains("plugin_dirs")) {
    const auto& dirs = document["plugin_dirs"];
    if (!dirs.is_array()) {
      check.expected("plugin_dirs", dirs, "an array of directory paths");
    } else {
      for (size_t i = 0; i < dirs.size(); ++i) {
        if (auto s = check.string(dirs[i], Checker::index("plugin_dirs", i), true)) {
          std::filesystem::path p(*s);
          cfg.plugin_dirs.push_back(p.is_absolute() ? p : (base / p).lexically_normal());
        }
      }
    }
  }
  if (document.contains("log")) parse_log(document["log"], "log", cfg.log, check);
  if (cfg.log.file.size() && !std::filesystem::path(cfg.log.file).is_absolute())
    cfg.log.file = (base / cfg.log.file).lexically_normal().string();
  if (document.contains("http")) parse_http(document["http"], "http", cfg.http, check);
  if (document.contains("scheduler"))
    parse_scheduler(document["scheduler"], "scheduler", cfg.scheduler, check);
  if (document.contains("shutdown_timeout")) {
    if (auto d = check.duration(document["shutdown_timeout"], "shutdown_timeout", Millis{0}))
      cfg.shutdown_timeout = *d;
  }
  if (document.contains("alerting"))
    parse_alerting(document["alerting"], "alerting", base, cfg.alerting, check);
  if (document.contains("api")) parse_api(document["api"], "api", base, cfg.api, check);
  if (document.contains("instances")) {
    const auto& list = document["instances"];
    if (!list.is_array()) {
      check.expected("instances", list, "an array of plugin instances");
    } else {
      std::map<std::string, std::string> seen;  // name -> path of its first use
      for (size_t i = 0; i < list.size(); ++i) {
        std::string path = Checker::index("instances", i);
        auto instance = parse_instance(list[i], path, check);
        if (!instance) continue;
        auto [it, inserted] = seen.emplace(instance->name, path);
        if (!inserted) {
          check.fail(Checker::child(path, "name"),
                     "found " + quote(instance->name) + ", already used by " + it->second +
                         "; expected a name unique among instances (set \"name\" to tell "
                         "instances of one plugin apart)");
          continue;
        }
        cfg.instances.push_back(std::move(*instance));
      }
      for (const auto& instance : cfg.instances) {
        const auto& fallback = instance.delivery.fallback;
        if (!fallback) continue;
        std::string fpath = instance.json_path + ".delivery.fallback";
        if (*fallback == instance.name)
          check.fail(fpath, "found the instance itself, expected another notifier instance");
        else if (!seen.count(*fallback))
          check.fail(fpath, "found " + quote(*fallback) +
                                ", expected the name of a notifier instance in \"instances\"");
      }
    }
  }
  return result;
}

LoadResult load_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.config.file = file;
    result.errors.push_back({"", "cannot open the file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  try {
    return parse(json::parse(text), file);
  } catch (const json::parse_error& e) {
    // nlohmann reports a byte offset; people look for a line and column.
    size_t offset = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
    size_t line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
    size_t column = line_start == std::string::npos ? offset + 1 : offset - line_start;
    std::string what = e.what();
    auto pos = what.find("parse error");
    if (auto colon = what.find(": ", pos == std::string::npos ? 0 : pos);
        colon != std::string::npos)
      what = what.substr(colon + 2);
    LoadResult result;
    result.config.file = file;
    result.errors.push_back({"line " + std::to_string(line) + ", column " + std::to_string(column),
                             "invalid JSON: " + what});
    return result;
  }
}

const char* option_type_name(vigil_option_type type) {
  switch (type) {
    case VIGIL_OPT_STRING:
      return "string";
    case VIGIL_OPT_INT:
      return "int";
    case VIGIL_OPT_DOUBLE:
      return "double";
    case VIGIL_OPT_BOOL:
      return "bool";
    case VIGIL_OPT_DURATION:
      return "duration";
    case VIGIL_OPT_STRING_LIST:
      return "string list";
    case VIGIL_OPT_JSON:
      return "json";
    default:
      return "unknown";
  }
}

const vigil_option_value* ResolvedOptions::find(std::string_view name) const {
  for (const auto& v : values_)
    if (name == v.name) return &v;
  return nullptr;
}

ResolvedOptions resolve_options(const std::vector<OptionSpec>& specs, const json& given,
                                const std::string& path, const std::string& plugin,
                                std::vector<Error>& errors) {
  ResolvedOptions out;
  Checker check(errors);
  if (!given.is_object()) {
    check.expected(path, given, "an object");
    return out;
  }
  for (const auto& [key, value] : given.items()) {
    bool known = std::any_of(specs.begin(), specs.end(), [&](auto& s) { return s.name == key; });
    if (!known) {
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      check.fail(Checker::child(path, key),
                 "unknown option " + quote(key) + " for plugin " + quote(plugin) + ", expected " +
                     (names.empty() ? std::string("no options (it takes none)")
                                    : "one of: " + join(names)));
    }
  }
  out.values_.reserve(specs.size());
  for (const auto& spec : specs) {
    vigil_option_value value{};
    value.size = sizeof(vigil_option_value);
    out.strings_.push_back(std::make_unique<std::string>(spec.name));
    value.name = out.strings_.back()->c_str();
    value.type = spec.type;
    std::string opath = Checker::child(path, spec.name);
    if (given.contains(spec.name)) {
      std::vector<Error> local;
      if (convert_option(spec, given[spec.name], opath, plugin, value, out.strings_, out.lists_,
                         local)) {
        value.is_set = 1;
      }
      errors.insert(errors.end(), local.begin(), local.end());
    } else if (spec.default_text) {
      json def = default_as_json(*spec.default_text);
      if (spec.type == VIGIL_OPT_STRING && !def.is_string()) def = json(*spec.default_text);
      std::vector<Error> local;
      if (convert_option(spec, def, opath, plugin, value, out.strings_, out.lists_, local))
        value.is_set = 1;
      // A broken default is the plugin's bug; check_option_specs reports it at load time.
    } else if (spec.required) {
      check.fail(opath, "missing required option of plugin " + quote(plugin) + ", expected " +
                            option_type_name(spec.type) +
                            (spec.description.empty() ? "" : ": " + spec.description));
    }
    out.values_.push_back(value);
  }
  return out;
}

std::vector<std::string> check_option_specs(const std::vector<OptionSpec>& specs) {
  std::vector<std::string> problems;
  std::set<std::string> names;
  for (const auto& spec : specs) {
    if (spec.name.empty()) {
      problems.push_back("an option has an empty name");
      continue;
    }
    if (!names.insert(spec.name).second)
      problems.push_back("option " + quote(spec.name) + " is declared twice");
    if (std::string(option_type_name(spec.type)) == "unknown")
      problems.push_back("option " + quote(spec.name) + " has unknown type " +
                         std::to_string(spec.type));
    if (spec.default_text) {
      json def = default_as_json(*spec.default_text);
      if (spec.type == VIGIL_OPT_STRING && !def.is_string()) def = json(*spec.default_text);
      vigil_option_value value{};
      std::vector<std::unique_ptr<std::string>> keep;
      std::vector<std::unique_ptr<std::vector<const char*>>> lists;
      std::vector<Error> errors;
      if (!convert_option(spec, def, spec.name, "", value, keep, lists, errors))
        problems.push_back("default " + quote(*spec.default_text) + " of option " +
                           quote(spec.name) + " is not a valid " + option_type_name(spec.type));
    }
  }
  return problems;
}

}  // namespace vigil::config
