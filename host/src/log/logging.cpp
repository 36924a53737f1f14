// Sinks and formatters for vigil::log. The JSON formatter writes one object per line with the
// plugin and instance split out of the logger name, so log shippers can filter on them.
#include "log/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <pthread.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

namespace vigil::log {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ [%n] %v";

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        break;
      case '\\':
        out.append(std::string_view("\\\\"));
        break;
      case '\n':
        out.append(std::string_view("\\n"));
        break;
      case '\r':
        out.append(std::string_view("\\r"));
        break;
      case '\t':
        out.append(std::string_view("\\t"));
        break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
          out.append(esc, esc + sizeof esc);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// Thread-safety: spdlog calls a formatter under its sink's lock; clone() gives each sink its own.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
    std::time_t t = secs.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(std::string_view(stamp));
    dest.append(std::string_view("\",\"level\":"));
    const auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(dest, std::string_view(level.data(), level.size()));
    const std::string_view name(msg.logger_name.data(), msg.logger_name.size());
    const auto colon = name.find(':');
    if (colon == std::string_view::npos) {
      dest.append(std::string_view(",\"component\":"));
      append_json_string(dest, name);
    } else {
      dest.append(std::string_view(",\"plugin\":"));
      append_json_string(dest, name.substr(0, colon));
      dest.append(std::string_view(",\"instance\":"));
      append_json_string(dest, name.substr(colon + 1));
    }
    dest.append(std::string_view(",\"msg\":"));
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// Thread-safety: guarded by state_mutex.
struct State {
  std::vector<spdlog::sink_ptr> sinks;
  Options options;
  std::shared_ptr<spdlog::logger> host;
};

std::mutex state_mutex;

State& state() {
  static State s = [] {
    State init;
    init.sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    init.sinks.back()->set_pattern(kTextPattern);
    init.host = std::make_shared<spdlog::logger>("vigil", init.sinks.begin(), init.sinks.end());
    init.host->set_level(init.options.level);
    return init;
  }();
  return s;
}

void apply_format(const spdlog::sink_ptr& sink, Format format) {
  if (format == Format::json) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_pattern(kTextPattern);
  }
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn" || text == "warning") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  if (text == "off") return spdlog::level::off;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "text") return Format::text;
  if (text == "json") return Format::json;
  return std::nullopt;
}

std::string setup(const Options& options) {
  std::lock_guard lock(state_mutex);
  State& s = state();
  std::string error;
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!options.file.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file, options.max_file_bytes, options.max_files));
    } catch (const std::exception& e) {
      error = "log.file: cannot write \"" + options.file + "\" (" + e.what() +
              "); logging to stderr only";
    }
  }
  for (auto& sink : sinks) apply_format(sink, options.format);
  s.sinks = std::move(sinks);
  s.options = options;
  auto host_logger = std::make_shared<spdlog::logger>("vigil", s.sinks.begin(), s.sinks.end());
  host_logger->set_level(options.level);
  host_logger->flush_on(spdlog::level::warn);
  s.host = host_logger;
  // The stages below core (rules, alerts, outbox) log through spdlog's default logger: make it
  // the host's, so their lines have the same sinks and format.
  spdlog::set_default_logger(host_logger);
  return error;
}

std::shared_ptr<spdlog::logger> host() {
  std::lock_guard lock(state_mutex);
  return state().host;
}

std::shared_ptr<spdlog::logger> for_instance(std::string_view plugin, std::string_view instance,
                                             std::optional<spdlog::level::level_enum> level) {
  std::lock_guard lock(state_mutex);
  State& s = state();
  std::string name;
  name.reserve(plugin.size() + instance.size() + 1);
  name.append(plugin).append(":").append(instance);
  auto logger = std::make_shared<spdlog::logger>(std::move(name), s.sinks.begin(), s.sinks.end());
  logger->set_level(level.value_or(s.options.level));
  logger->flush_on(spdlog::level::warn);
  return logger;
}

void name_this_thread(const char* name) {
  char shortened[16] = {};
  std::strncpy(shortened, name, sizeof shortened - 1);
  ::pthread_setname_np(::pthread_self(), shortened);
}

}  // namespace vigil::log
