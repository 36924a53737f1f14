// vigil/testing/fake_host.hpp — an in-memory host for unit-testing plugins without the daemon.
//
// FakeHost implements every slot of vigil_host_api in memory (families, series with labels, last
// values, histograms, summaries, captured log lines, mounted routes callable with a fake request,
// visit_store over what was written) and instantiates a plugin straight from its
// vigil_plugin_desc, validating options against the plugin's option table the way the host does:
//
//     vigil::testing::FakeHost host;
//     auto inst = host.create(vigil_plugin_entry(), {{"path", "/tmp/x"}});
//     REQUIRE(inst.collect().is_ok());
//     CHECK(host.value("node_load1") == 0.5);
//
// It goes through the C ABI exactly as the daemon does, so a test exercises the plugin's
// trampolines too. It must never need anything but the SDK headers and the standard library, and
// never call plugin code while holding its own lock (plugin code calls back into it).
#ifndef VIGIL_TESTING_FAKE_HOST_HPP
#define VIGIL_TESTING_FAKE_HOST_HPP

#include <vigil/plugin.h>
#include <vigil/sdk.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::testing {

// Option name -> value text, written as in the JSON config: "5s", "true", "[\"a\",\"b\"]", "42",
// and strings either bare ("text") or quoted ("\"text\"").
using OptionMap = std::map<std::string, std::string>;

// What the host decides for an instance beside its options.
struct InstanceSettings {
  InstanceSettings() = default;
  InstanceSettings(std::string instance_name)
      : name(std::move(instance_name)) {}  // NOLINT: {"name"}
  std::string name = "test";
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds timeout{5000};
  Labels labels;  // extra labels added to every series, as the config's "labels"
};

struct LogLine {
  std::string instance;
  vigil_log_level level = VIGIL_LOG_INFO;
  std::string message;
};

struct FamilyInfo {
  std::string name, help, unit;
  MetricType type = MetricType::untyped;
  std::vector<double> buckets;
};

struct SeriesValue {
  Labels labels;  // sorted by name, extra labels included
  double value = 0;
  int64_t timestamp_ms = 0;
  bool explicit_timestamp = false;
};

struct HistogramValue {
  std::vector<double> bounds;        // the family's upper bounds, without +Inf
  std::vector<uint64_t> cumulative;  // one count per bound
  double sum = 0;
  uint64_t count = 0;  // the +Inf bucket
};

struct FakeRequest {
  std::string method = "GET";
  std::string target = "/";  // path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool cancelled = false;  // the client is already gone
  // The client goes away once this many body bytes were written: later writes fail.
  size_t client_gone_after = std::numeric_limits<size_t>::max();
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Status result;  // what the handler returned (and its error message)
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (equal_ignore_case(k, name)) return v;
    return std::nullopt;
  }
  static bool equal_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  }
};

namespace fake_detail {

// Just enough JSON to read option values the way the host does. Numbers keep their text so
// integers stay exact.
struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  std::string text;  // string contents, or the number as written
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;
};

class JsonParser {
 public:
  static std::optional<JsonValue> parse(std::string_view text) {
    JsonParser p(text);
    JsonValue v;
    p.skip_space();
    if (!p.value(v, 0)) return std::nullopt;
    p.skip_space();
    if (p.pos_ != text.size()) return std::nullopt;
    return v;
  }

 private:
  explicit JsonParser(std::string_view text) : in_(text) {}

  void skip_space() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool value(JsonValue& out, int depth) {
    if (depth > 64 || pos_ >= in_.size()) return false;
    char c = in_[pos_];
    if (c == '"') {
      out.kind = JsonValue::Kind::string;
      return string(out.text);
    }
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (literal("true")) {
      out.kind = JsonValue::Kind::boolean;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.kind = JsonValue::Kind::boolean;
      return true;
    }
    if (literal("null")) return true;
    return number(out);
  }
  bool number(JsonValue& out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t s = pos_;
      while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
      return pos_ > s;
    };
    if (pos_ < in_.size() && in_[pos_] == '-') ++pos_;
    if (!digits()) return false;
    if (pos_ < in_.size() && in_[pos_] == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      if (!digits()) return false;
    }
    out.kind = JsonValue::Kind::number;
    out.text = std::string(in_.substr(start, pos_ - start));
    return true;
  }
  bool string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= in_.size()) return false;
      char e = in_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned code = 0;
          if (!hex4(code)) return false;
          if (code >= 0xD800 && code <= 0xDBFF) {
            unsigned low = 0;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool hex4(unsigned& code) {
    if (pos_ + 4 > in_.size()) return false;
    for (int i = 0; i < 4; ++i) {
      char h = in_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        code |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        code |= static_cast<unsigned>(h - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }
  bool array(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::array;
    ++pos_;
    skip_space();
    if (pos_ < in_.size() && in_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      JsonValue item;
      skip_space();
      if (!value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      skip_space();
      if (pos_ >= in_.size()) return false;
      if (in_[pos_] == ']') {
        ++pos_;
        return true;
      }
      if (in_[pos_++] != ',') return false;
    }
  }
  bool object(JsonValue& out, int depth) {
    out.kind = JsonValue::Kind::object;
    ++pos_;
    skip_space();
    if (pos_ < in_.size() && in_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      skip_space();
      std::string key;
      if (pos_ >= in_.size() || in_[pos_] != '"' || !string(key)) return false;
      skip_space();
      if (pos_ >= in_.size() || in_[pos_++] != ':') return false;
      skip_space();
      JsonValue item;
      if (!value(item, depth + 1)) return false;
      out.members.emplace_back(std::move(key), std::move(item));
      skip_space();
      if (pos_ >= in_.size()) return false;
      if (in_[pos_] == '}') {
        ++pos_;
        return true;
      }
      if (in_[pos_++] != ',') return false;
    }
  }

  std::string_view in_;
  size_t pos_ = 0;
};

inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xF];
          out += hex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

inline std::string json_dump(const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Kind::null:
      return "null";
    case JsonValue::Kind::boolean:
      return v.boolean ? "true" : "false";
    case JsonValue::Kind::number:
      return v.text;
    case JsonValue::Kind::string:
      return json_quote(v.text);
    case JsonValue::Kind::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.items.size(); ++i) out += (i ? "," : "") + json_dump(v.items[i]);
      return out + "]";
    }
    case JsonValue::Kind::object: {
      std::string out = "{";
      for (size_t i = 0; i < v.members.size(); ++i)
        out +=
            (i ? "," : "") + json_quote(v.members[i].first) + ":" + json_dump(v.members[i].second);
      return out + "}";
    }
  }
  return "null";
}

inline const char* json_kind_name(const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Kind::null:
      return "null";
    case JsonValue::Kind::boolean:
      return "a boolean";
    case JsonValue::Kind::number:
      return "a number";
    case JsonValue::Kind::string:
      return "a string";
    case JsonValue::Kind::array:
      return "an array";
    case JsonValue::Kind::object:
      return "an object";
  }
  return "a value";
}

// "250ms", "10s", "1.5m", "2h", "1h30m", "1d" or a number of seconds, as the host reads them.
inline std::optional<int64_t> parse_duration_ms(const JsonValue& v) {
  if (v.kind == JsonValue::Kind::number) {
    double seconds = std::strtod(v.text.c_str(), nullptr);
    if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9) return std::nullopt;
    return static_cast<int64_t>(std::llround(seconds * 1000.0));
  }
  if (v.kind != JsonValue::Kind::string || v.text.empty()) return std::nullopt;
  const std::string& t = v.text;
  double total = 0;
  size_t i = 0;
  while (i < t.size()) {
    size_t start = i;
    while (i < t.size() && ((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) ++i;
    if (start == i) return std::nullopt;
    std::string number = t.substr(start, i - start);
    char* end = nullptr;
    double n = std::strtod(number.c_str(), &end);
    if (end == nullptr || *end != '\0') return std::nullopt;
    size_t unit_start = i;
    while (i < t.size() && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z'))) ++i;
    std::string_view unit(t.data() + unit_start, i - unit_start);
    double scale = unit == "ms"  ? 1
                   : unit == "s" ? 1000
                   : unit == "m" ? 60000
                   : unit == "h" ? 3600000
                   : unit == "d" ? 86400000
                                 : 0;
    if (scale == 0) return std::nullopt;
    total += n * scale;
  }
  if (total > 1e12) return std::nullopt;
  return static_cast<int64_t>(std::llround(total));
}

// `{a="x",b="y"}` with Prometheus' escaping, or "" for no labels.
inline std::string labels_text(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\')
        out += "\\\\";
      else if (c == '"')
        out += "\\\"";
      else if (c == '\n')
        out += "\\n";
      else
        out += c;
    }
    out += '"';
  }
  return out + "}";
}

inline Labels sorted(Labels labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return labels;
}

inline MetricType from_c(vigil_metric_type t) {
  switch (t) {
    case VIGIL_METRIC_COUNTER:
      return MetricType::counter;
    case VIGIL_METRIC_GAUGE:
      return MetricType::gauge;
    case VIGIL_METRIC_HISTOGRAM:
      return MetricType::histogram;
    case VIGIL_METRIC_SUMMARY:
      return MetricType::summary;
    default:
      return MetricType::untyped;
  }
}

}  // namespace fake_detail

class FakeHost;

// One plugin instance created by FakeHost; destroys it (through the plugin's destroy()) when it
// goes away, and unmounts its routes. Movable, not copyable; must not outlive its FakeHost
// (declare the host first).
// Thread-safety: the same as the real host gives: call collect/check/push/notify from one thread
// at a time; FakeHost::request() may run concurrently with them.
class FakeInstance {
 public:
  FakeInstance() = default;
  FakeInstance(FakeInstance&& other) noexcept { *this = std::move(other); }
  FakeInstance& operator=(FakeInstance&& other) noexcept {
    if (this != &other) {
      reset();
      host_ = std::exchange(other.host_, nullptr);
      desc_ = std::exchange(other.desc_, nullptr);
      ctx_ = std::exchange(other.ctx_, nullptr);
      instance_ = std::exchange(other.instance_, nullptr);
      status_ = std::move(other.status_);
      health_ = std::move(other.health_);
    }
    return *this;
  }
  FakeInstance(const FakeInstance&) = delete;
  FakeInstance& operator=(const FakeInstance&) = delete;
  ~FakeInstance() { reset(); }

  // What create() returned: ok, or why the instance could not be created.
  const Status& status() const { return status_; }
  explicit operator bool() const { return instance_ != nullptr; }

  Status collect() {
    if (!ready("collect()", desc_ && desc_->collector && desc_->collector->collect))
      return status_for("collect()");
    return call([&](vigil_error* err) { return desc_->collector->collect(instance_, err); });
  }
  // Runs check(); the result is in health().
  Status check() {
    if (!ready("check()", desc_ && desc_->health_check && desc_->health_check->check))
      return status_for("check()");
    char message[1024] = {0};
    vigil_health_result r{};
    r.size = sizeof r;
    r.status = VIGIL_HEALTH_UNKNOWN;
    r.message = message;
    r.message_capacity = sizeof message;
    Status s =
        call([&](vigil_error* err) { return desc_->health_check->check(instance_, &r, err); });
    health_.status = s.is_ok() ? r.status : VIGIL_HEALTH_UNKNOWN;
    health_.message = s.is_ok() ? std::string(message) : s.message();
    return s;
  }
  const HealthResult& health() const { return health_; }
  Status push() {
    if (!ready("push()", desc_ && desc_->exporter && desc_->exporter->push))
      return status_for("push()");
    return call([&](vigil_error* err) { return desc_->exporter->push(instance_, err); });
  }
  Status flush(std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
    if (!ready("flush()", desc_ && desc_->exporter && desc_->exporter->flush))
      return status_for("flush()");
    return call([&](vigil_error* err) {
      return desc_->exporter->flush(instance_, static_cast<int64_t>(deadline.count()), err);
    });
  }
  Status notify(const Notification& n) {
    if (!ready("notify()", desc_ && desc_->notifier && desc_->notifier->notify))
      return status_for("notify()");
    vigil_notification c{};
    c.size = sizeof c;
    c.idempotency_key = n.idempotency_key.c_str();
    c.receiver = n.receiver.c_str();
    c.status = n.status.c_str();
    c.group_key = n.group_key.c_str();
    c.escalation_step = n.escalation_step;
    c.attempt = n.attempt;
    c.payload_json = n.payload_json.c_str();
    int64_t retry_after_ms = 0;
    c.retry_after_ms = &retry_after_ms;
    Status status =
        call([&](vigil_error* err) { return desc_->notifier->notify(instance_, &c, err); });
    if (status.code() == VIGIL_ERR_RETRYABLE && retry_after_ms > 0)
      return Status::retryable(status.message(), std::chrono::milliseconds(retry_after_ms));
    return status;
  }

  // The plugin's own instance pointer and the context the host gave it, for ABI-level tests.
  void* handle() const { return instance_; }
  vigil_host_ctx* ctx() const { return ctx_; }

  // Destroys the instance now (as the host does at shutdown).
  void reset();

 private:
  friend class FakeHost;

  bool ready(const char*, bool has_callback) const { return instance_ != nullptr && has_callback; }
  Status status_for(const char* what) const {
    if (instance_ == nullptr)
      return Status::invalid_argument(
          std::string(what) + " on an instance that was not created: " + status_.to_string());
    return Status::invalid_argument(std::string("the plugin does not provide ") + what);
  }
  template <class Fn>
  static Status call(Fn&& fn) {
    char buffer[1024] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status code = fn(&err);
    return Status(code, buffer);
  }

  FakeHost* host_ = nullptr;
  const vigil_plugin_desc* desc_ = nullptr;
  vigil_host_ctx* ctx_ = nullptr;
  void* instance_ = nullptr;
  Status status_;
  HealthResult health_;
};

// The in-memory host. Create instances with create(); inspect what they wrote with value(),
// series(), histogram(), family(), logs(); call their routes with request().
// Thread-safety: every slot and inspection function is safe for concurrent use.
class FakeHost {
 public:
  // Size of a 1.0 host's services table: it ends before unregister_series.
  static constexpr uint32_t api_size_1_0 =
      static_cast<uint32_t>(offsetof(vigil_host_api, unregister_series));

  // `api_size` below sizeof(vigil_host_api) simulates an older host (e.g. api_size_1_0).
  explicit FakeHost(uint32_t api_size = sizeof(vigil_host_api)) {
    std::memset(&api_, 0, sizeof api_);
    api_.size = api_size;
    api_.abi_version = api_size >= sizeof(vigil_host_api)
                           ? VIGIL_ABI_VERSION
                           : VIGIL_MAKE_ABI_VERSION(VIGIL_ABI_MAJOR, 0);
    api_.log = &slot_log;
    api_.log_enabled = &slot_log_enabled;
    api_.now_ms = &slot_now_ms;
    api_.monotonic_ns = &slot_monotonic_ns;
    api_.register_family = &slot_register_family;
    api_.register_series = &slot_register_series;
    api_.write = &slot_write;
    api_.observe = &slot_observe;
    api_.write_histogram = &slot_write_histogram;
    api_.write_summary = &slot_write_summary;
    api_.visit_store = &slot_visit_store;
    api_.http_mount = &slot_http_mount;
    api_.http_request_method = &slot_request_method;
    api_.http_request_target = &slot_request_target;
    api_.http_request_header = &slot_request_header;
    api_.http_request_body = &slot_request_body;
    api_.http_set_status = &slot_set_status;
    api_.http_set_header = &slot_set_header;
    api_.http_write = &slot_http_write;
    api_.http_cancelled = &slot_http_cancelled;
    // Filled in even for a truncated table, so a plugin that ignores the size and calls it anyway
    // is caught by unregister_calls().
    api_.unregister_series = &slot_unregister_series;
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const vigil_host_api* api() const { return &api_; }

  // ---- instances ------------------------------------------------------------------------

  // Validates `options` against the plugin's option table (unknown names, wrong types, missing
  // required options; defaults applied), then calls create(). Throws vigil::Error saying why if
  // anything fails; use try_create() to test failures.
  FakeInstance create(const vigil_plugin_desc* desc, const OptionMap& options = {},
                      const InstanceSettings& settings = {}) {
    FakeInstance inst = try_create(desc, options, settings);
    if (!inst)
      throw Error(inst.status().code(),
                  "creating " + settings.name + " failed: " + inst.status().to_string());
    return inst;
  }

  // As create(), but a failure is returned in FakeInstance::status() instead of thrown.
  FakeInstance try_create(const vigil_plugin_desc* desc, const OptionMap& options = {},
                          const InstanceSettings& settings = {}) {
    FakeInstance inst;
    inst.host_ = this;
    inst.desc_ = desc;
    std::string problem = check_descriptor(desc);
    if (!problem.empty()) {
      inst.status_ = Status::invalid_argument(problem);
      return inst;
    }
    Context* ctx = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      contexts_.emplace_back();
      ctx = &contexts_.back();
      ctx->host = this;
      ctx->id = ++next_owner_;
      ctx->name = settings.name;
      ctx->plugin = desc->name != nullptr ? desc->name : "";
      ctx->extra_labels = settings.labels;
    }
    std::string errors = resolve_options(*desc, options, *ctx);
    if (!errors.empty()) {
      inst.status_ = Status::invalid_argument(errors);
      forget_context(ctx);
      return inst;
    }
    vigil_config cfg{};
    cfg.size = sizeof cfg;
    cfg.instance_name = ctx->name.c_str();
    cfg.options = ctx->values.empty() ? nullptr : ctx->values.data();
    cfg.option_count = ctx->values.size();
    cfg.interval_ms = settings.interval.count();
    cfg.timeout_ms = settings.timeout.count();
    char buffer[1024] = {0};
    vigil_error err{buffer, sizeof buffer};
    void* instance = nullptr;
    ctx->creating = true;
    vigil_status code = desc->create(&api_, as_c(ctx), &cfg, &instance, &err);
    ctx->creating = false;
    if (code != VIGIL_OK) {
      inst.status_ = Status(
          code, buffer[0] != '\0' ? std::string(buffer) : "create() failed without a message");
      unmount(ctx);  // destroy() is never called after a failed create()
      forget_context(ctx);
      return inst;
    }
    if (instance == nullptr) {
      inst.status_ = Status::internal("create() returned OK but no instance");
      unmount(ctx);
      forget_context(ctx);
      return inst;
    }
    inst.ctx_ = as_c(ctx);
    inst.instance_ = instance;
    return inst;
  }

  // ---- what was written -----------------------------------------------------------------

  // The last value of the series with exactly these labels (order does not matter; extra labels
  // from InstanceSettings included). Throws vigil::Error listing what exists when there is none.
  double value(std::string_view name, const Labels& labels = {}) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Series& s = find_series(name, labels, true);
    return s.value;
  }
  bool has(std::string_view name, const Labels& labels = {}) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto fam = families_.find(std::string(name));
    if (fam == families_.end()) return false;
    auto it = index_.find({fam->second.id, fake_detail::sorted(labels)});
    return it != index_.end() && series_.at(it->second).written;
  }
  // Every written, live series of a family, sorted by labels.
  std::vector<SeriesValue> series(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<SeriesValue> out;
    auto fam = families_.find(std::string(name));
    if (fam == families_.end()) return out;
    for (const Series* s : live_series(fam->second.id))
      out.push_back({s->labels, s->value, s->timestamp_ms, s->explicit_timestamp});
    return out;
  }
  HistogramValue histogram(std::string_view name, const Labels& labels = {}) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Series& s = find_series(name, labels, true);
    const Family& f = families_.at(std::string(name));
    return {f.buckets, s.bucket_counts, s.sum, s.count};
  }
  std::optional<FamilyInfo> family(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = families_.find(std::string(name));
    if (it == families_.end()) return std::nullopt;
    const Family& f = it->second;
    return FamilyInfo{f.name, f.help, f.unit, fake_detail::from_c(f.type), f.buckets};
  }
  std::vector<std::string> family_names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [n, f] : families_) out.push_back(n);
    return out;
  }
  // Registered, live series (written or not); what a plugin still holds handles to.
  size_t series_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto& [id, s] : series_) n += s.alive ? 1 : 0;
    return n;
  }
  // How many series registrations happened in total (re-registrations included).
  uint64_t registrations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return registrations_;
  }

  // ---- simulating the host's side -------------------------------------------------------

  // Drops a series as the host does after long staleness: its handle stops working (writes
  // return INVALID_ARGUMENT) until the plugin registers it again.
  bool drop_series(std::string_view name, const Labels& labels = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto fam = families_.find(std::string(name));
    if (fam == families_.end()) return false;
    auto it = index_.find({fam->second.id, fake_detail::sorted(labels)});
    if (it == index_.end()) return false;
    series_.at(it->second).alive = false;
    index_.erase(it);
    return true;
  }
  // Calls of unregister_series, including ones a plugin made on a table too small to hold it.
  uint64_t unregister_calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return unregister_calls_;
  }
  // Freezes the wall clock (now_ms and "timestamp 0"); std::nullopt returns to the real clock.
  void set_now_ms(std::optional<int64_t> now) {
    std::lock_guard<std::mutex> lock(mutex_);
    fixed_now_ms_ = now;
  }
  // Lines below this level are not captured and log_enabled() says so.
  void set_log_level(vigil_log_level level) {
    std::lock_guard<std::mutex> lock(mutex_);
    log_level_ = level;
  }

  // ---- logs -----------------------------------------------------------------------------

  std::vector<LogLine> logs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return logs_;
  }
  bool logged(std::string_view text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& l : logs_)
      if (l.message.find(text) != std::string::npos) return true;
    return false;
  }
  void clear_logs() {
    std::lock_guard<std::mutex> lock(mutex_);
    logs_.clear();
  }

  // ---- HTTP -----------------------------------------------------------------------------

  // Calls the handler mounted for the request's method and path. No route gives 404; a non-OK
  // handler status with nothing written gives 500 with the message, as the host does.
  FakeResponse request(const FakeRequest& request) {
    std::string path = request.target.substr(0, request.target.find('?'));
    Route route;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const Route& r : routes_)
        if (r.method == request.method && r.path == path) {
          route = r;
          found = true;
        }
    }
    FakeResponse response;
    if (!found) {
      response.status = 404;
      response.body = "no route " + request.method + " " + path;
      response.result = Status::invalid_argument(response.body);
      return response;
    }
    Exchange exchange{this, &request, &response, false, request.cancelled};
    char buffer[1024] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status code =
        route.handler(route.user, reinterpret_cast<const vigil_http_request*>(&exchange),
                      reinterpret_cast<vigil_http_response*>(&exchange), &err);
    response.result = Status(code, buffer);
    if (code != VIGIL_OK && !exchange.written) {
      response.status = 500;
      response.body = buffer;
    }
    return response;
  }
  FakeResponse request(std::string method, std::string target, std::string body = {}) {
    FakeRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    return request(r);
  }
  // "GET /metrics" for every mounted route, in mount order.
  std::vector<std::string> routes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const Route& r : routes_) out.push_back(r.method + " " + r.path);
    return out;
  }

 private:
  friend class FakeInstance;

  struct Family {
    vigil_family_id id = 0;
    std::string name, help, unit;
    vigil_metric_type type = VIGIL_METRIC_UNTYPED;
    std::vector<double> buckets;
  };
  struct Series {
    vigil_series_id id = 0;
    vigil_family_id family = 0;
    uint64_t owner = 0;
    Labels labels;
    std::string labels_text;
    bool alive = true;
    bool written = false;
    double value = 0;
    int64_t timestamp_ms = 0;
    bool explicit_timestamp = false;
    std::vector<uint64_t> bucket_counts;
    std::vector<double> quantiles, quantile_values;
    double sum = 0;
    uint64_t count = 0;
  };
  struct Route {
    std::string method, path;
    vigil_http_handler handler = nullptr;
    void* user = nullptr;
    uint64_t owner = 0;
    std::string instance;
  };
  // One per instance; what vigil_host_ctx* points at.
  struct Context {
    FakeHost* host = nullptr;
    uint64_t id = 0;
    std::string name, plugin;
    Labels extra_labels;
    bool creating = false;
    std::list<std::string> strings;  // a list: option values point into it
    std::list<std::vector<const char*>> lists;
    std::vector<vigil_option_value> values;
  };
  // One HTTP exchange; what both vigil_http_request* and vigil_http_response* point at.
  struct Exchange {
    FakeHost* host;
    const FakeRequest* request;
    FakeResponse* response;
    bool written;
    bool gone;
  };

  static vigil_host_ctx* as_c(Context* c) { return reinterpret_cast<vigil_host_ctx*>(c); }
  static Context* from_c(vigil_host_ctx* c) { return reinterpret_cast<Context*>(c); }
  static const Exchange* exchange_of(const vigil_http_request* r) {
    return reinterpret_cast<const Exchange*>(r);
  }
  static Exchange* exchange_of(vigil_http_response* r) { return reinterpret_cast<Exchange*>(r); }

  static std::string check_descriptor(const vigil_plugin_desc* desc) {
    if (desc == nullptr) return "the plugin descriptor is null";
    // Every 1.x descriptor has all of today's fields; only later minors may add more.
    if (desc->size < sizeof(vigil_plugin_desc))
      return "the plugin descriptor's size is " + std::to_string(desc->size) +
             ", expected at least " + std::to_string(sizeof(vigil_plugin_desc));
    uint32_t major = VIGIL_ABI_VERSION_MAJOR(desc->abi_version);
    uint32_t minor = VIGIL_ABI_VERSION_MINOR(desc->abi_version);
    if (major != VIGIL_ABI_MAJOR || minor > VIGIL_ABI_MINOR)
      return "the plugin was built for ABI " + std::to_string(major) + "." + std::to_string(minor) +
             ", this host speaks " + std::to_string(VIGIL_ABI_MAJOR) + "." +
             std::to_string(VIGIL_ABI_MINOR);
    if (desc->create == nullptr || desc->destroy == nullptr)
      return "the plugin descriptor lacks create() or destroy()";
    if (!desc->collector && !desc->health_check && !desc->exporter && !desc->notifier)
      return "the plugin provides no kind (collector, health check, exporter or notifier)";
    return "";
  }

  // Mirrors the host: each given value is JSON text, except that a string option also takes the
  // bare text; text that is not JSON at all is taken as a string ("5s").
  std::string resolve_options(const vigil_plugin_desc& desc, const OptionMap& given, Context& ctx) {
    std::vector<vigil_option_desc> specs;
    if (desc.options != nullptr && desc.option_count > 0) {
      size_t stride = desc.options[0].size != 0 ? desc.options[0].size : sizeof(vigil_option_desc);
      const auto* base = reinterpret_cast<const unsigned char*>(desc.options);
      for (size_t i = 0; i < desc.option_count; ++i)
        specs.push_back(
            detail::copy_sized(reinterpret_cast<const vigil_option_desc*>(base + i * stride)));
    }
    std::string errors;
    auto fail = [&](const std::string& message) {
      errors += (errors.empty() ? "" : "; ") + message;
    };
    std::string plugin = detail::quote(desc.name != nullptr ? desc.name : "");
    for (const auto& entry : given) {
      const std::string& name = entry.first;  // not a structured binding: lambdas capture it
      bool known = std::any_of(specs.begin(), specs.end(), [&](const vigil_option_desc& s) {
        return s.name && name == s.name;
      });
      if (!known) {
        std::string names;
        for (const auto& s : specs)
          names += (names.empty() ? "" : ", ") + std::string(s.name ? s.name : "");
        fail("unknown option " + detail::quote(name) + " for plugin " + plugin + ", expected " +
             (names.empty() ? std::string("no options (it takes none)") : "one of: " + names));
      }
    }
    for (const vigil_option_desc& spec : specs) {
      std::string name = spec.name != nullptr ? spec.name : "";
      vigil_option_value v{};
      v.size = sizeof v;
      v.name = keep(ctx, name);
      v.type = spec.type;
      auto it = given.find(name);
      if (it != given.end()) {
        std::string problem = convert(spec.type, it->second, ctx, v);
        if (problem.empty())
          v.is_set = 1;
        else
          fail("option " + detail::quote(name) + ": found " + problem);
      } else if (spec.default_value != nullptr) {
        std::string problem = convert(spec.type, spec.default_value, ctx, v);
        if (problem.empty())
          v.is_set = 1;
        else  // the real host refuses such a plugin at load time
          fail("the plugin's default " + detail::quote(spec.default_value) + " of option " +
               detail::quote(name) + " is not valid: found " + problem);
      } else if (spec.required != 0) {
        fail("missing required option " + detail::quote(name) + " of plugin " + plugin +
             ", expected " + option_type_name(spec.type) +
             (spec.description && *spec.description ? std::string(": ") + spec.description : ""));
      }
      ctx.values.push_back(v);
    }
    return errors;
  }

  static const char* keep(Context& ctx, std::string text) {
    ctx.strings.push_back(std::move(text));
    return ctx.strings.back().c_str();
  }

  // Empty when `text` is a valid value of `type`; otherwise "<what it is>, expected <what>".
  static std::string convert(vigil_option_type type, const std::string& text, Context& ctx,
                             vigil_option_value& out) {
    using fake_detail::JsonValue;
    std::optional<JsonValue> parsed = fake_detail::JsonParser::parse(text);
    if (!parsed) {
      parsed = JsonValue{};
      parsed->kind = JsonValue::Kind::string;
      parsed->text = text;
    }
    const JsonValue& v = *parsed;
    std::string found = detail::quote(text) + " (" + fake_detail::json_kind_name(v) + ")";
    switch (type) {
      case VIGIL_OPT_STRING:
        out.string_value = keep(ctx, v.kind == JsonValue::Kind::string ? v.text : text);
        return "";
      case VIGIL_OPT_INT: {
        if (v.kind != JsonValue::Kind::number) return found + ", expected an integer";
        double d = std::strtod(v.text.c_str(), nullptr);
        bool integral = v.text.find_first_of(".eE") == std::string::npos;
        if (!integral && (std::trunc(d) != d || std::fabs(d) >= 9.0e18))
          return found + ", expected an integer";
        out.int_value =
            integral ? std::strtoll(v.text.c_str(), nullptr, 10) : static_cast<int64_t>(d);
        out.double_value = static_cast<double>(out.int_value);
        return "";
      }
      case VIGIL_OPT_DOUBLE:
        if (v.kind != JsonValue::Kind::number) return found + ", expected a number";
        out.double_value = std::strtod(v.text.c_str(), nullptr);
        return "";
      case VIGIL_OPT_BOOL:
        if (v.kind != JsonValue::Kind::boolean) return found + ", expected true or false";
        out.int_value = v.boolean ? 1 : 0;
        return "";
      case VIGIL_OPT_DURATION: {
        auto ms = fake_detail::parse_duration_ms(v);
        if (!ms)
          return found +
                 ", expected a duration such as \"500ms\", \"10s\", \"5m\" or a number of seconds";
        out.int_value = *ms;
        out.double_value = static_cast<double>(*ms);
        return "";
      }
      case VIGIL_OPT_STRING_LIST: {
        if (v.kind != JsonValue::Kind::array) return found + ", expected an array of strings";
        std::vector<const char*> items;
        for (const JsonValue& item : v.items) {
          if (item.kind != JsonValue::Kind::string)
            return found + ", expected an array of strings (an item is " +
                   fake_detail::json_kind_name(item) + ")";
          items.push_back(keep(ctx, item.text));
        }
        ctx.lists.push_back(std::move(items));
        out.list_items = ctx.lists.back().data();
        out.list_count = ctx.lists.back().size();
        return "";
      }
      case VIGIL_OPT_JSON:
        out.string_value = keep(ctx, fake_detail::json_dump(v));
        return "";
      default:
        return found + ", but the plugin declares the option with unknown type " +
               std::to_string(type);
    }
  }

  void unmount(Context* ctx) {
    std::lock_guard<std::mutex> lock(mutex_);
    routes_.erase(std::remove_if(routes_.begin(), routes_.end(),
                                 [&](const Route& r) { return r.owner == ctx->id; }),
                  routes_.end());
  }
  void forget_context(Context* ctx) {
    std::lock_guard<std::mutex> lock(mutex_);
    contexts_.remove_if([&](const Context& c) { return &c == ctx; });
  }

  // Called by FakeInstance::reset(): the instance is gone, its routes with it. Its series stay
  // so a test can still inspect them; the context stays so their owner id stays unique.
  void destroyed(vigil_host_ctx* ctx) { unmount(from_c(ctx)); }

  const Series& find_series(std::string_view name, const Labels& labels,
                            bool must_be_written) const {
    auto fam = families_.find(std::string(name));
    if (fam == families_.end()) {
      std::string names;
      for (const auto& [n, f] : families_) names += (names.empty() ? "" : ", ") + n;
      throw Error(VIGIL_ERR_INVALID_ARGUMENT, "no metric family " + detail::quote(name) +
                                                  " was registered; the store has: " +
                                                  (names.empty() ? std::string("nothing") : names));
    }
    Labels key = fake_detail::sorted(labels);
    auto it = index_.find({fam->second.id, key});
    if (it == index_.end() || (must_be_written && !series_.at(it->second).written)) {
      std::string have;
      for (const Series* s : live_series(fam->second.id))
        have += (have.empty() ? "" : ", ") + std::string(name) + s->labels_text;
      throw Error(
          VIGIL_ERR_INVALID_ARGUMENT,
          "no written series " + std::string(name) + fake_detail::labels_text(key) +
              "; the family has: " + (have.empty() ? std::string("no written series") : have));
    }
    return series_.at(it->second);
  }

  std::vector<const Series*> live_series(vigil_family_id family) const {
    std::vector<const Series*> out;
    for (const auto& [id, s] : series_)
      if (s.family == family && s.alive && s.written) out.push_back(&s);
    std::sort(out.begin(), out.end(),
              [](const Series* a, const Series* b) { return a->labels < b->labels; });
    return out;
  }

  int64_t now_locked() const {
    if (fixed_now_ms_) return *fixed_now_ms_;
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static bool valid_metric_name(const std::string& n, std::string& why) {
    if (n.empty()) {
      why = "the name is empty, expected [a-zA-Z_:][a-zA-Z0-9_:]*";
      return false;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      char c = n[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                (i > 0 && c >= '0' && c <= '9');
      if (!ok) {
        why = "metric name " + detail::quote(n) + " has " + detail::quote(std::string(1, c)) +
              " at position " + std::to_string(i) + ", expected [a-zA-Z_:][a-zA-Z0-9_:]*";
        return false;
      }
    }
    return true;
  }
  static bool valid_label_name(const std::string& n, std::string& why) {
    bool ok = !n.empty() && n.rfind("__", 0) != 0;
    for (size_t i = 0; ok && i < n.size(); ++i) {
      char c = n[i];
      ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (i > 0 && c >= '0' && c <= '9');
    }
    if (!ok)
      why = "label name " + detail::quote(n) +
            " is not valid, expected [a-zA-Z_][a-zA-Z0-9_]* not starting with \"__\"";
    return ok;
  }

  // ---- the C slots ----------------------------------------------------------------------

  static void slot_log(vigil_host_ctx* c, vigil_log_level level, const char* message) {
    Context* ctx = from_c(c);
    if (ctx == nullptr) return;
    FakeHost* self = ctx->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    if (level < self->log_level_) return;
    self->logs_.push_back({ctx->name, level, message != nullptr ? message : ""});
  }
  static int slot_log_enabled(vigil_host_ctx* c, vigil_log_level level) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    return level >= self->log_level_ ? 1 : 0;
  }
  static int64_t slot_now_ms(vigil_host_ctx* c) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    return self->now_locked();
  }
  static int64_t slot_monotonic_ns(vigil_host_ctx*) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static vigil_status slot_register_family(vigil_host_ctx* c, const vigil_family_desc* d,
                                           vigil_family_id* out, vigil_error* err) {
    if (d == nullptr || out == nullptr || d->name == nullptr) {
      detail::write_error(err, "register_family: the descriptor, its name or the output is null");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    vigil_family_desc desc = detail::copy_sized(d);
    FakeHost* self = from_c(c)->host;
    std::string name = desc.name, why;
    if (!valid_metric_name(name, why)) {
      detail::write_error(err, why);
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    if (desc.type < VIGIL_METRIC_COUNTER || desc.type > VIGIL_METRIC_UNTYPED) {
      detail::write_error(
          err, "metric " + detail::quote(name) + " has unknown type " + std::to_string(desc.type));
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    std::vector<double> buckets;
    if (desc.type == VIGIL_METRIC_HISTOGRAM && desc.buckets != nullptr)
      buckets.assign(desc.buckets, desc.buckets + desc.bucket_count);
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (!std::isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        detail::write_error(err, "histogram " + detail::quote(name) +
                                     ": bucket bounds must be finite and strictly increasing "
                                     "(without +Inf); bound " +
                                     std::to_string(i) + " is not");
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
    }
    std::lock_guard<std::mutex> lock(self->mutex_);
    auto it = self->families_.find(name);
    if (it != self->families_.end()) {
      Family& f = it->second;
      if (f.type != desc.type) {
        detail::write_error(err, "metric " + detail::quote(name) + " is already registered as a " +
                                     metric_type_name(fake_detail::from_c(f.type)) + ", not a " +
                                     metric_type_name(fake_detail::from_c(desc.type)));
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
      if (f.type == VIGIL_METRIC_HISTOGRAM && f.buckets != buckets) {
        detail::write_error(
            err, "histogram " + detail::quote(name) + " is already registered with other buckets");
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
      // Help given later fills in a family first used undescribed.
      if (f.help.empty() && desc.help != nullptr) f.help = desc.help;
      if (f.unit.empty() && desc.unit != nullptr) f.unit = desc.unit;
      *out = f.id;
      return VIGIL_OK;
    }
    Family f;
    f.id = ++self->next_id_;
    f.name = name;
    f.help = desc.help != nullptr ? desc.help : "";
    f.unit = desc.unit != nullptr ? desc.unit : "";
    f.type = desc.type;
    f.buckets = std::move(buckets);
    self->family_by_id_[f.id] = name;
    *out = f.id;
    self->families_.emplace(name, std::move(f));
    return VIGIL_OK;
  }

  static vigil_status slot_register_series(vigil_host_ctx* c, vigil_family_id family,
                                           const vigil_label* labels, size_t label_count,
                                           vigil_series_id* out, vigil_error* err) {
    Context* ctx = from_c(c);
    FakeHost* self = ctx->host;
    if (out == nullptr || (label_count > 0 && labels == nullptr)) {
      detail::write_error(err, "register_series: labels or the output pointer is null");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    Labels set;
    for (size_t i = 0; i < label_count; ++i) {
      if (labels[i].name == nullptr || labels[i].value == nullptr) {
        detail::write_error(
            err, "register_series: label " + std::to_string(i) + " has a null name or value");
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
      std::string why;
      if (!valid_label_name(labels[i].name, why)) {
        detail::write_error(err, why);
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
      set.emplace_back(labels[i].name, labels[i].value);
    }
    for (const auto& extra : ctx->extra_labels)
      if (std::none_of(set.begin(), set.end(),
                       [&](const auto& l) { return l.first == extra.first; }))
        set.push_back(extra);
    set = fake_detail::sorted(std::move(set));
    for (size_t i = 1; i < set.size(); ++i)
      if (set[i].first == set[i - 1].first) {
        detail::write_error(err, "label " + detail::quote(set[i].first) + " is given twice");
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
    std::lock_guard<std::mutex> lock(self->mutex_);
    auto fam = self->family_by_id_.find(family);
    if (fam == self->family_by_id_.end()) {
      detail::write_error(err, "register_series: unknown family handle " + std::to_string(family));
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    auto key = std::make_pair(family, set);
    auto it = self->index_.find(key);
    if (it != self->index_.end()) {
      *out = it->second;
      return VIGIL_OK;
    }
    Series s;
    s.id = ++self->next_id_;
    s.family = family;
    s.owner = ctx->id;
    s.labels = set;
    s.labels_text = fake_detail::labels_text(set);
    const Family& f = self->families_.at(fam->second);
    if (f.type == VIGIL_METRIC_HISTOGRAM) s.bucket_counts.assign(f.buckets.size(), 0);
    self->index_.emplace(std::move(key), s.id);
    *out = s.id;
    self->series_.emplace(s.id, std::move(s));
    ++self->registrations_;
    return VIGIL_OK;
  }

  // The live series behind a handle, or null; with the mutex held.
  Series* live(vigil_series_id id, vigil_metric_type* type) {
    auto it = series_.find(id);
    if (it == series_.end() || !it->second.alive) return nullptr;
    *type = families_.at(family_by_id_.at(it->second.family)).type;
    return &it->second;
  }
  void stamp(Series& s, int64_t timestamp_ms) {
    s.written = true;
    s.explicit_timestamp = timestamp_ms != 0;
    s.timestamp_ms = timestamp_ms != 0 ? timestamp_ms : now_locked();
  }

  static vigil_status slot_write(vigil_host_ctx* c, vigil_series_id id, double value, int64_t ts) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    vigil_metric_type type = 0;
    Series* s = self->live(id, &type);
    if (s == nullptr || type == VIGIL_METRIC_HISTOGRAM || type == VIGIL_METRIC_SUMMARY)
      return VIGIL_ERR_INVALID_ARGUMENT;
    s->value = value;
    self->stamp(*s, ts);
    return VIGIL_OK;
  }
  static vigil_status slot_observe(vigil_host_ctx* c, vigil_series_id id, double value) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    vigil_metric_type type = 0;
    Series* s = self->live(id, &type);
    if (s == nullptr || type != VIGIL_METRIC_HISTOGRAM) return VIGIL_ERR_INVALID_ARGUMENT;
    const Family& f = self->families_.at(self->family_by_id_.at(s->family));
    for (size_t i = 0; i < f.buckets.size(); ++i)
      if (value <= f.buckets[i]) ++s->bucket_counts[i];
    s->sum += value;
    ++s->count;
    self->stamp(*s, 0);
    return VIGIL_OK;
  }
  static vigil_status slot_write_histogram(vigil_host_ctx* c, vigil_series_id id,
                                           const uint64_t* counts, size_t n, double sum,
                                           uint64_t count, int64_t ts) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    vigil_metric_type type = 0;
    Series* s = self->live(id, &type);
    if (s == nullptr || type != VIGIL_METRIC_HISTOGRAM) return VIGIL_ERR_INVALID_ARGUMENT;
    if (n != s->bucket_counts.size() || (n > 0 && counts == nullptr))
      return VIGIL_ERR_INVALID_ARGUMENT;
    for (size_t i = 1; i < n; ++i)
      if (counts[i] < counts[i - 1]) return VIGIL_ERR_INVALID_ARGUMENT;  // not cumulative
    if (n > 0 && count < counts[n - 1]) return VIGIL_ERR_INVALID_ARGUMENT;
    s->bucket_counts.assign(counts, counts + n);
    s->sum = sum;
    s->count = count;
    self->stamp(*s, ts);
    return VIGIL_OK;
  }
  static vigil_status slot_write_summary(vigil_host_ctx* c, vigil_series_id id, const double* q,
                                         const double* v, size_t n, double sum, uint64_t count,
                                         int64_t ts) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    vigil_metric_type type = 0;
    Series* s = self->live(id, &type);
    if (s == nullptr || type != VIGIL_METRIC_SUMMARY) return VIGIL_ERR_INVALID_ARGUMENT;
    if (n > 0 && (q == nullptr || v == nullptr)) return VIGIL_ERR_INVALID_ARGUMENT;
    s->quantiles.assign(q, q + n);
    s->quantile_values.assign(v, v + n);
    s->sum = sum;
    s->count = count;
    self->stamp(*s, ts);
    return VIGIL_OK;
  }

  static vigil_status slot_visit_store(vigil_host_ctx* c, const vigil_store_visitor* visitor,
                                       void* user, vigil_error* err) {
    if (visitor == nullptr) {
      detail::write_error(err, "visit_store: the visitor is null");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    vigil_store_visitor v = detail::copy_sized(visitor);
    FakeHost* self = from_c(c)->host;
    // A snapshot, so the visitor may call back into the host without deadlocking.
    std::vector<std::pair<Family, std::vector<Series>>> snapshot;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      for (const auto& [name, f] : self->families_) {
        std::vector<Series> list;
        for (const Series* s : self->live_series(f.id)) list.push_back(*s);
        snapshot.emplace_back(f, std::move(list));
      }
    }
    for (const auto& [f, list] : snapshot) {
      vigil_family_view fv{};
      fv.size = sizeof fv;
      fv.name = f.name.c_str();
      fv.help = f.help.c_str();
      fv.unit = f.unit.c_str();
      fv.type = f.type;
      fv.buckets = f.buckets.empty() ? nullptr : f.buckets.data();
      fv.bucket_count = f.buckets.size();
      fv.series_count = list.size();
      if (v.family != nullptr && v.family(user, &fv) != 0) return VIGIL_OK;
      for (const Series& s : list) {
        std::vector<vigil_label> labels;
        for (const auto& [k, val] : s.labels) labels.push_back({k.c_str(), val.c_str()});
        vigil_series_view sv{};
        sv.size = sizeof sv;
        sv.labels = labels.empty() ? nullptr : labels.data();
        sv.label_count = labels.size();
        sv.labels_text = s.labels_text.c_str();
        sv.labels_text_len = s.labels_text.size();
        sv.timestamp_ms = s.timestamp_ms;
        sv.explicit_timestamp = s.explicit_timestamp ? 1 : 0;
        sv.value = s.value;
        sv.bucket_counts = s.bucket_counts.empty() ? nullptr : s.bucket_counts.data();
        sv.quantiles = s.quantiles.empty() ? nullptr : s.quantiles.data();
        sv.quantile_values = s.quantile_values.empty() ? nullptr : s.quantile_values.data();
        sv.quantile_count = s.quantiles.size();
        sv.sum = s.sum;
        sv.count = s.count;
        if (v.series != nullptr && v.series(user, &fv, &sv) != 0) return VIGIL_OK;
      }
    }
    return VIGIL_OK;
  }

  static vigil_status slot_http_mount(vigil_host_ctx* c, const char* method, const char* path,
                                      vigil_http_handler handler, void* user, vigil_error* err) {
    Context* ctx = from_c(c);
    FakeHost* self = ctx->host;
    if (method == nullptr || path == nullptr || handler == nullptr || path[0] != '/') {
      detail::write_error(err,
                          "http_mount: expected a method, a path starting with '/' and a handler");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    if (!ctx->creating) {
      detail::write_error(err, std::string("http_mount(") + method + " " + path +
                                   ") outside create(); routes can only be mounted while the "
                                   "instance is created");
      return VIGIL_ERR_INVALID_ARGUMENT;
    }
    std::lock_guard<std::mutex> lock(self->mutex_);
    for (const Route& r : self->routes_)
      if (r.method == method && r.path == path) {
        detail::write_error(err, std::string("route ") + method + " " + path +
                                     " is already served by instance " + detail::quote(r.instance));
        return VIGIL_ERR_INVALID_ARGUMENT;
      }
    self->routes_.push_back({method, path, handler, user, ctx->id, ctx->name});
    return VIGIL_OK;
  }
  static const char* slot_request_method(const vigil_http_request* r) {
    return exchange_of(r)->request->method.c_str();
  }
  static const char* slot_request_target(const vigil_http_request* r) {
    return exchange_of(r)->request->target.c_str();
  }
  static const char* slot_request_header(const vigil_http_request* r, const char* name) {
    if (name == nullptr) return nullptr;
    for (const auto& [k, v] : exchange_of(r)->request->headers)
      if (FakeResponse::equal_ignore_case(k, name)) return v.c_str();
    return nullptr;
  }
  static const char* slot_request_body(const vigil_http_request* r, size_t* length) {
    const std::string& body = exchange_of(r)->request->body;
    if (length != nullptr) *length = body.size();
    return body.c_str();
  }
  static void slot_set_status(vigil_http_response* r, int status) {
    Exchange* e = exchange_of(r);
    if (!e->written) e->response->status = status;
  }
  static void slot_set_header(vigil_http_response* r, const char* name, const char* value) {
    Exchange* e = exchange_of(r);
    if (e->written || name == nullptr || value == nullptr) return;
    e->response->headers.emplace_back(name, value);
  }
  static vigil_status slot_http_write(vigil_http_response* r, const char* data, size_t length) {
    Exchange* e = exchange_of(r);
    if (e->gone) return VIGIL_ERR_CANCELLED;
    e->written = true;
    std::string& body = e->response->body;
    size_t limit = e->request->client_gone_after;
    size_t room = body.size() >= limit ? 0 : limit - body.size();
    body.append(data, std::min(length, room));
    if (length > room) {
      e->gone = true;
      return VIGIL_ERR_CANCELLED;
    }
    return VIGIL_OK;
  }
  static int slot_http_cancelled(const vigil_http_request* r) {
    return exchange_of(r)->gone ? 1 : 0;
  }

  static vigil_status slot_unregister_series(vigil_host_ctx* c, vigil_series_id id) {
    FakeHost* self = from_c(c)->host;
    std::lock_guard<std::mutex> lock(self->mutex_);
    ++self->unregister_calls_;
    auto it = self->series_.find(id);
    if (it == self->series_.end() || !it->second.alive) return VIGIL_ERR_INVALID_ARGUMENT;
    it->second.alive = false;
    self->index_.erase({it->second.family, it->second.labels});
    return VIGIL_OK;
  }

  vigil_host_api api_;
  mutable std::mutex mutex_;
  std::list<Context> contexts_;  // a list: plugins hold pointers to contexts
  std::map<std::string, Family> families_;
  std::map<vigil_family_id, std::string> family_by_id_;
  std::map<vigil_series_id, Series> series_;
  std::map<std::pair<vigil_family_id, Labels>, vigil_series_id> index_;  // live series only
  std::vector<Route> routes_;
  std::vector<LogLine> logs_;
  uint64_t next_id_ = 0;
  uint64_t next_owner_ = 0;
  uint64_t registrations_ = 0;
  uint64_t unregister_calls_ = 0;
  vigil_log_level log_level_ = VIGIL_LOG_TRACE;
  std::optional<int64_t> fixed_now_ms_;
};

inline void FakeInstance::reset() {
  if (instance_ != nullptr && desc_ != nullptr && desc_->destroy != nullptr)
    desc_->destroy(instance_);
  if (host_ != nullptr && ctx_ != nullptr) host_->destroyed(ctx_);
  instance_ = nullptr;
  ctx_ = nullptr;
}

}  // namespace vigil::testing

#endif  // VIGIL_TESTING_FAKE_HOST_HPP
