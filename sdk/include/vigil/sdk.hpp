// vigil/sdk.hpp — the C++17 layer plugin authors write against.
//
// It turns the C ABI in <vigil/plugin.h> into classes: a plugin derives from Collector,
// HealthCheck, Exporter and/or Notifier, reads its options through Config, writes metrics through
// Host and Emitter, and registers itself with VIGIL_PLUGIN(). Everything here is header-only and
// compiled into the plugin, so the host never sees a C++ type.
//
// What this file must never do: let an exception, a C++ type or an allocation cross into the
// host. Every function the host calls is a noexcept trampoline that turns whatever the plugin
// threw into a status and a message in the host's error buffer. It must also never call a host
// slot added after 1.0 without checking VIGIL_API_HAS first: a plugin built against this header
// has to keep working in a 1.0 host.
#ifndef VIGIL_SDK_HPP
#define VIGIL_SDK_HPP

#include <vigil/plugin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

// The SDK's own version (the C++ layer and the CMake package), distinct from the ABI version.
#define VIGIL_SDK_VERSION_MAJOR 1
#define VIGIL_SDK_VERSION_MINOR 2
#define VIGIL_SDK_VERSION_PATCH 0

namespace vigil {

enum class MetricType { counter, gauge, histogram, summary, untyped };
enum class OptionType { string, integer, number, boolean, duration, string_list, json };

// Short aliases for option rows, as in DESIGN.md: .option("path", vigil::String, ...).
inline constexpr OptionType String = OptionType::string;
inline constexpr OptionType Int = OptionType::integer;
inline constexpr OptionType Double = OptionType::number;
inline constexpr OptionType Bool = OptionType::boolean;
inline constexpr OptionType Duration = OptionType::duration;
inline constexpr OptionType StringList = OptionType::string_list;
inline constexpr OptionType Json = OptionType::json;

using Labels = std::vector<std::pair<std::string, std::string>>;

inline vigil_metric_type to_c(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return VIGIL_METRIC_COUNTER;
    case MetricType::gauge:
      return VIGIL_METRIC_GAUGE;
    case MetricType::histogram:
      return VIGIL_METRIC_HISTOGRAM;
    case MetricType::summary:
      return VIGIL_METRIC_SUMMARY;
    case MetricType::untyped:
      break;
  }
  return VIGIL_METRIC_UNTYPED;
}

inline vigil_option_type to_c(OptionType type) {
  switch (type) {
    case OptionType::string:
      return VIGIL_OPT_STRING;
    case OptionType::integer:
      return VIGIL_OPT_INT;
    case OptionType::number:
      return VIGIL_OPT_DOUBLE;
    case OptionType::boolean:
      return VIGIL_OPT_BOOL;
    case OptionType::duration:
      return VIGIL_OPT_DURATION;
    case OptionType::string_list:
      return VIGIL_OPT_STRING_LIST;
    case OptionType::json:
      break;
  }
  return VIGIL_OPT_JSON;
}

inline const char* metric_type_name(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
    case MetricType::summary:
      return "summary";
    case MetricType::untyped:
      break;
  }
  return "untyped";
}

// Names as the user writes them in a config and as `vigil plugins` prints them.
inline const char* option_type_name(vigil_option_type type) {
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

inline const char* status_name(vigil_status code) {
  switch (code) {
    case VIGIL_OK:
      return "ok";
    case VIGIL_ERR_INVALID_ARGUMENT:
      return "invalid argument";
    case VIGIL_ERR_UNAVAILABLE:
      return "unavailable";
    case VIGIL_ERR_TIMEOUT:
      return "timeout";
    case VIGIL_ERR_INTERNAL:
      return "internal";
    case VIGIL_ERR_RETRYABLE:
      return "retryable";
    case VIGIL_ERR_PERMANENT:
      return "permanent";
    case VIGIL_ERR_CANCELLED:
      return "cancelled";
    default:
      return "unknown status";
  }
}

// Thread-safety: a value type; distinct objects may be used from any thread.
class Status {
 public:
  Status() = default;
  Status(vigil_status code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string m) {
    return {VIGIL_ERR_INVALID_ARGUMENT, std::move(m)};
  }
  static Status unavailable(std::string m) { return {VIGIL_ERR_UNAVAILABLE, std::move(m)}; }
  static Status timeout(std::string m) { return {VIGIL_ERR_TIMEOUT, std::move(m)}; }
  static Status internal(std::string m) { return {VIGIL_ERR_INTERNAL, std::move(m)}; }
  static Status retryable(std::string m) { return {VIGIL_ERR_RETRYABLE, std::move(m)}; }
  // Retryable, and the receiver asked to wait this long first (an HTTP Retry-After): the host
  // waits at least that long before the next attempt (hosts from ABI 1.2 on).
  static Status retryable(std::string m, std::chrono::milliseconds after) {
    Status s(VIGIL_ERR_RETRYABLE, std::move(m));
    s.retry_after_ = after.count() > 0 ? after : std::chrono::milliseconds(0);
    return s;
  }
  static Status permanent(std::string m) { return {VIGIL_ERR_PERMANENT, std::move(m)}; }
  static Status cancelled(std::string m) { return {VIGIL_ERR_CANCELLED, std::move(m)}; }

  bool is_ok() const { return code_ == VIGIL_OK; }
  vigil_status code() const { return code_; }
  const std::string& message() const { return message_; }
  // What retryable(message, after) was given; zero otherwise.
  std::chrono::milliseconds retry_after() const { return retry_after_; }
  // "unavailable: cannot read /proc/loadavg", or "ok"; for test output and logs.
  std::string to_string() const {
    std::string out = status_name(code_);
    if (!message_.empty()) out += ": " + message_;
    return out;
  }

 private:
  vigil_status code_ = VIGIL_OK;
  std::string message_;
  std::chrono::milliseconds retry_after_{0};
};

// Thrown by the SDK's helpers (Config, Host, Emitter) when something cannot be done; plugin code
// may throw it too. The trampolines turn it into its code and message.
// Thread-safety: a value type.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : Error(VIGIL_ERR_INTERNAL, message) {}
  Error(vigil_status code, const std::string& message)
      : std::runtime_error(message), code_(code == VIGIL_OK ? VIGIL_ERR_INTERNAL : code) {}
  vigil_status code() const { return code_; }
  Status status() const { return Status(code_, what()); }

 private:
  vigil_status code_;
};

namespace detail {

// Copies `parts` into a C buffer of `capacity` bytes, NUL-terminated, never splitting a UTF-8
// sequence. Allocates nothing, so it is safe inside a catch block after std::bad_alloc.
inline void copy_to_buffer(char* data, size_t capacity, std::string_view first,
                           std::string_view second = {}) noexcept {
  if (data == nullptr || capacity == 0) return;
  size_t used = 0;
  for (std::string_view part : {first, second}) {
    size_t n = std::min(part.size(), capacity - 1 - used);
    if (n == 0) continue;  // an empty view may hold a null pointer: memcpy must not see it
    std::memcpy(data + used, part.data(), n);
    used += n;
    if (n < part.size()) {
      // Truncated: drop a partial trailing character rather than hand over invalid UTF-8.
      size_t end = used;
      while (end > 0 && (static_cast<unsigned char>(data[end - 1]) & 0xC0u) == 0x80u) --end;
      if (end > 0 && (static_cast<unsigned char>(data[end - 1]) & 0x80u) != 0) {
        unsigned char lead = static_cast<unsigned char>(data[end - 1]);
        size_t want = (lead & 0xE0u) == 0xC0u ? 2 : (lead & 0xF0u) == 0xE0u ? 3 : 4;
        if (used - (end - 1) < want) used = end - 1;
      }
      break;
    }
  }
  data[used] = '\0';
}

inline void write_error(vigil_error* err, std::string_view first,
                        std::string_view second = {}) noexcept {
  if (err != nullptr) copy_to_buffer(err->data, err->capacity, first, second);
}

// Copies a size-prefixed struct the other side wrote into a zeroed one of our own layout, so a
// field the writer did not know reads as zero (plugin.h's compatibility rule).
template <class S>
S copy_sized(const S* from) noexcept {
  S out;
  std::memset(&out, 0, sizeof out);
  if (from != nullptr) std::memcpy(&out, from, std::min<size_t>(from->size, sizeof(S)));
  return out;
}

// Runs plugin code for the host: the one place exceptions stop.
template <class Fn>
vigil_status guard(vigil_error* err, Fn&& fn) noexcept {
  try {
    Status status = fn();
    if (!status.is_ok()) write_error(err, status.message());
    return status.code();
  } catch (const Error& e) {
    write_error(err, e.what());
    return e.code();
  } catch (const std::exception& e) {
    write_error(err, "uncaught exception: ", e.what());
    return VIGIL_ERR_INTERNAL;
  } catch (...) {
    write_error(err, "uncaught exception of a type not derived from std::exception");
    return VIGIL_ERR_INTERNAL;
  }
}

inline std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text.data(), text.size());
  out += '"';
  return out;
}

// `name{a="x",b="y"}` for messages.
inline std::string series_text(std::string_view name, const Labels& labels) {
  std::string out(name);
  if (labels.empty()) return out;
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first + "=" + quote(labels[i].second);
  }
  out += '}';
  return out;
}

// An intrusive reference to a type with retain() and release(): one pointer per handle, where a
// shared_ptr is two plus a control block.
// Thread-safety: as a raw pointer; the count it drives is atomic.
template <class T>
class Ref {
 public:
  Ref() = default;
  explicit Ref(T* adopted) noexcept : p_(adopted) {}  // takes over one reference
  Ref(const Ref& other) noexcept : p_(other.p_) {
    if (p_ != nullptr) p_->retain();
  }
  Ref(Ref&& other) noexcept : p_(other.p_) { other.p_ = nullptr; }
  Ref& operator=(Ref other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~Ref() {
    if (p_ != nullptr) p_->release();
  }
  T* get() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  T* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// What all series handles of one family share: the host's table and context, the family id, and
// the name for messages.
// Thread-safety: immutable after construction except the reference count (atomic).
class FamilyRef {
 public:
  static Ref<FamilyRef> create(const vigil_host_api* api, vigil_host_ctx* ctx,
                               vigil_family_id family, std::string name) {
    return Ref<FamilyRef>(new FamilyRef(api, ctx, family, std::move(name)));
  }
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const vigil_host_api* const api;
  vigil_host_ctx* const ctx;
  const vigil_family_id family;
  const std::string name;

 private:
  FamilyRef(const vigil_host_api* a, vigil_host_ctx* c, vigil_family_id f, std::string n)
      : api(a), ctx(c), family(f), name(std::move(n)) {}
  std::atomic<uint32_t> refs_{1};
};

// One registered series as the plugin holds it: a single allocation of this header followed by
// its labels as NUL-terminated name/value text, about 64 bytes for two short labels (a
// shared_ptr to a struct with a std::string name and a vector of string pairs took ~250: 25 MB
// for 100,000 gauges). The labels are kept only to register the series again when the host
// dropped it. The id is atomic because Gauge::set may be called from several threads and any of
// them may re-register a series the host dropped.
// Thread-safety: safe for concurrent use.
class SeriesSlot {
 public:
  static Ref<SeriesSlot> create(Ref<FamilyRef> family, const Labels& labels) {
    size_t text = 0;
    for (const auto& [k, v] : labels) text += k.size() + 1 + v.size() + 1;
    void* memory = ::operator new(sizeof(SeriesSlot) + text);
    auto* slot = new (memory) SeriesSlot(std::move(family), static_cast<uint32_t>(labels.size()));
    char* out = slot->text();
    for (const auto& [k, v] : labels) {
      // Copied up to an embedded NUL at most, which is all the C ABI would pass anyway.
      out = copy_c_string(out, k);
      out = copy_c_string(out, v);
    }
    return Ref<SeriesSlot>(slot);
  }
  SeriesSlot(const SeriesSlot&) = delete;
  SeriesSlot& operator=(const SeriesSlot&) = delete;

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    this->~SeriesSlot();
    ::operator delete(static_cast<void*>(this));
  }

  const vigil_host_api* api() const noexcept { return family_->api; }
  vigil_host_ctx* ctx() const noexcept { return family_->ctx; }
  const std::string& name() const noexcept { return family_->name; }
  Labels labels() const {
    Labels out;
    out.reserve(label_count_);
    const char* p = text();
    for (uint32_t i = 0; i < label_count_; ++i) {
      std::string k(p);
      p += k.size() + 1;
      std::string v(p);
      p += v.size() + 1;
      out.emplace_back(std::move(k), std::move(v));
    }
    return out;
  }

  std::atomic<vigil_series_id> id{0};

  // Registers the series; on failure returns the status and leaves the host's message in `err`.
  vigil_status register_now(vigil_series_id* out, vigil_error* err) const noexcept {
    try {
      constexpr uint32_t kOnStack = 16;
      vigil_label on_stack[kOnStack];
      std::vector<vigil_label> on_heap;
      vigil_label* c_labels = on_stack;
      if (label_count_ > kOnStack) {
        on_heap.resize(label_count_);
        c_labels = on_heap.data();
      }
      const char* p = text();
      for (uint32_t i = 0; i < label_count_; ++i) {
        c_labels[i].name = p;
        p += std::strlen(p) + 1;
        c_labels[i].value = p;
        p += std::strlen(p) + 1;
      }
      return api()->register_series(ctx(), family_->family, c_labels, label_count_, out, err);
    } catch (...) {
      return VIGIL_ERR_INTERNAL;
    }
  }

  // A write by handle; when the host says the handle is no longer valid (it dropped a stale
  // series, or the plugin unregistered it), registers once more and retries once.
  template <class Write>
  vigil_status write(Write&& write_fn) noexcept {
    vigil_series_id current = id.load(std::memory_order_acquire);
    if (current != 0) {
      vigil_status status = write_fn(current);
      if (status != VIGIL_ERR_INVALID_ARGUMENT) return status;
    }
    char buffer[256] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_series_id fresh = 0;
    vigil_status status = register_now(&fresh, &err);
    if (status != VIGIL_OK) return status;
    id.store(fresh, std::memory_order_release);
    return write_fn(fresh);
  }

 private:
  SeriesSlot(Ref<FamilyRef> family, uint32_t label_count)
      : family_(std::move(family)), label_count_(label_count) {}
  ~SeriesSlot() = default;

  static char* copy_c_string(char* out, const std::string& s) {
    const size_t n = std::strlen(s.c_str());
    std::memcpy(out, s.data(), n);
    out[n] = '\0';
    return out + n + 1;
  }
  char* text() noexcept { return reinterpret_cast<char*>(this) + sizeof(SeriesSlot); }
  const char* text() const noexcept {
    return reinterpret_cast<const char*>(this) + sizeof(SeriesSlot);
  }

  Ref<FamilyRef> family_;
  std::atomic<uint32_t> refs_{1};
  uint32_t label_count_;
};

}  // namespace detail

// Typed accessors over the instance configuration the host validated against the option table.
// An option that is declared but has no value (not set, no default) reads as empty/zero; use
// is_set() to tell. Reading an undeclared option, or with the wrong accessor, throws vigil::Error
// naming the option.
// Thread-safety: immutable after construction; safe to read from any thread.
class Config {
 public:
  Config() = default;
  explicit Config(const vigil_config* config) {
    if (config == nullptr) return;
    vigil_config c = detail::copy_sized(config);
    instance_name_ = c.instance_name != nullptr ? c.instance_name : "";
    interval_ms_ = c.interval_ms;
    timeout_ms_ = c.timeout_ms;
    if (c.options == nullptr || c.option_count == 0) return;
    // The array's stride is the writer's struct size, which may be larger than ours.
    size_t stride = c.options[0].size;
    if (stride < offsetof(vigil_option_value, is_set) + sizeof(int32_t))
      stride = sizeof(vigil_option_value);
    const auto* base = reinterpret_cast<const unsigned char*>(c.options);
    for (size_t i = 0; i < c.option_count; ++i) {
      vigil_option_value v =
          detail::copy_sized(reinterpret_cast<const vigil_option_value*>(base + i * stride));
      Option o;
      o.name = v.name != nullptr ? v.name : "";
      o.type = v.type;
      o.is_set = v.is_set != 0;
      if (v.string_value != nullptr) o.text = v.string_value;
      o.int_value = v.int_value;
      o.double_value = v.double_value;
      for (size_t j = 0; v.list_items != nullptr && j < v.list_count; ++j)
        o.items.emplace_back(v.list_items[j] != nullptr ? v.list_items[j] : "");
      options_.push_back(std::move(o));
    }
  }

  std::string string(std::string_view name) const {
    return find(name, VIGIL_OPT_STRING, "string()").text;
  }
  int64_t integer(std::string_view name) const {
    return find(name, VIGIL_OPT_INT, "integer()").int_value;
  }
  // Accepts int options too: a number that happens to be whole is still a number.
  double number(std::string_view name) const {
    const Option& o = find(name, VIGIL_OPT_DOUBLE, "number()", VIGIL_OPT_INT);
    return o.type == VIGIL_OPT_INT ? static_cast<double>(o.int_value) : o.double_value;
  }
  bool boolean(std::string_view name) const {
    return find(name, VIGIL_OPT_BOOL, "boolean()").int_value != 0;
  }
  std::chrono::milliseconds duration(std::string_view name) const {
    return std::chrono::milliseconds(find(name, VIGIL_OPT_DURATION, "duration()").int_value);
  }
  std::vector<std::string> strings(std::string_view name) const {
    return find(name, VIGIL_OPT_STRING_LIST, "strings()").items;
  }
  // Compact JSON text, or "" when not set.
  std::string json(std::string_view name) const {
    return find(name, VIGIL_OPT_JSON, "json()").text;
  }
  bool is_set(std::string_view name) const { return lookup(name, "is_set()").is_set; }

  std::string_view instance_name() const { return instance_name_; }
  std::chrono::milliseconds interval() const { return std::chrono::milliseconds(interval_ms_); }
  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(timeout_ms_); }

 private:
  struct Option {
    std::string name;
    vigil_option_type type = 0;
    bool is_set = false;
    std::string text;
    int64_t int_value = 0;
    double double_value = 0;
    std::vector<std::string> items;
  };

  static const char* accessor_for(vigil_option_type type) {
    switch (type) {
      case VIGIL_OPT_STRING:
        return "string()";
      case VIGIL_OPT_INT:
        return "integer()";
      case VIGIL_OPT_DOUBLE:
        return "number()";
      case VIGIL_OPT_BOOL:
        return "boolean()";
      case VIGIL_OPT_DURATION:
        return "duration()";
      case VIGIL_OPT_STRING_LIST:
        return "strings()";
      case VIGIL_OPT_JSON:
        return "json()";
      default:
        return "no accessor";
    }
  }

  const Option& lookup(std::string_view name, const char* accessor) const {
    for (const auto& o : options_)
      if (o.name == name) return o;
    std::string declared;
    for (const auto& o : options_)
      declared += (declared.empty() ? "" : ", ") + detail::quote(o.name);
    throw Error(VIGIL_ERR_INVALID_ARGUMENT,
                "option " + detail::quote(name) + " read with Config::" + accessor +
                    " is not in the plugin's option table (declared: " +
                    (declared.empty() ? std::string("none") : declared) +
                    "); add it with .option() in VIGIL_PLUGIN");
  }

  const Option& find(std::string_view name, vigil_option_type want, const char* accessor,
                     vigil_option_type also = 0) const {
    const Option& o = lookup(name, accessor);
    if (o.type != want && (also == 0 || o.type != also))
      throw Error(VIGIL_ERR_INVALID_ARGUMENT,
                  "option " + detail::quote(name) + " is declared as " + option_type_name(o.type) +
                      " but was read with Config::" + accessor + ", which expects " +
                      option_type_name(want) + "; read it with Config::" + accessor_for(o.type));
    return o;
  }

  std::vector<Option> options_;
  std::string instance_name_;
  int64_t interval_ms_ = 0;
  int64_t timeout_ms_ = 0;
};

class Host;
class Emitter;

// Handles to one series, written by handle (the hot path). A default-constructed handle is empty
// and writes nothing. set()/observe() return false when the host refused the value even after
// re-registering a dropped series once.
// Thread-safety: a handle may be copied and written from several threads at once.
class Gauge {
 public:
  Gauge() = default;
  bool set(double v, int64_t timestamp_ms = 0) const {
    return slot_ && slot_->write([&](vigil_series_id id) {
      return slot_->api()->write(slot_->ctx(), id, v, timestamp_ms);
    }) == VIGIL_OK;
  }
  explicit operator bool() const { return static_cast<bool>(slot_); }

 private:
  friend class Host;
  friend class Emitter;
  explicit Gauge(detail::Ref<detail::SeriesSlot> slot) : slot_(std::move(slot)) {}
  detail::Ref<detail::SeriesSlot> slot_;
};

// A counter written as an absolute total (e.g. read from /proc), never as an increment.
// Thread-safety: as Gauge.
class Counter {
 public:
  Counter() = default;
  bool set(double total, int64_t timestamp_ms = 0) const {
    return slot_ && slot_->write([&](vigil_series_id id) {
      return slot_->api()->write(slot_->ctx(), id, total, timestamp_ms);
    }) == VIGIL_OK;
  }
  explicit operator bool() const { return static_cast<bool>(slot_); }

 private:
  friend class Host;
  friend class Emitter;
  explicit Counter(detail::Ref<detail::SeriesSlot> slot) : slot_(std::move(slot)) {}
  detail::Ref<detail::SeriesSlot> slot_;
};

// Thread-safety: as Gauge.
class Histogram {
 public:
  Histogram() = default;
  bool observe(double v) const {
    return slot_ && slot_->write([&](vigil_series_id id) {
      return slot_->api()->observe(slot_->ctx(), id, v);
    }) == VIGIL_OK;
  }
  // Replaces the state: cumulative counts per bucket of the family (without +Inf), sum, count.
  bool set(const std::vector<uint64_t>& cumulative, double sum, uint64_t count,
           int64_t timestamp_ms = 0) const {
    return slot_ && slot_->write([&](vigil_series_id id) {
      return slot_->api()->write_histogram(slot_->ctx(), id, cumulative.data(), cumulative.size(),
                                           sum, count, timestamp_ms);
    }) == VIGIL_OK;
  }
  explicit operator bool() const { return static_cast<bool>(slot_); }

 private:
  friend class Host;
  friend class Emitter;
  explicit Histogram(detail::Ref<detail::SeriesSlot> slot) : slot_(std::move(slot)) {}
  detail::Ref<detail::SeriesSlot> slot_;
};

// A request as a route handler sees it; valid only during the handler call.
// Thread-safety: used by the one thread running the handler.
class HttpRequest {
 public:
  HttpRequest(const vigil_host_api* api, const vigil_http_request* request)
      : api_(api), request_(request) {}
  std::string_view method() const { return text(api_->http_request_method(request_)); }
  // "path?query" as the client sent it.
  std::string_view target() const { return text(api_->http_request_target(request_)); }
  std::string_view path() const {
    std::string_view t = target();
    return t.substr(0, t.find('?'));
  }
  std::optional<std::string_view> header(const char* name) const {
    const char* v = api_->http_request_header(request_, name);
    if (v == nullptr) return std::nullopt;
    return std::string_view(v);
  }
  std::string_view body() const {
    size_t length = 0;
    const char* data = api_->http_request_body(request_, &length);
    return data != nullptr ? std::string_view(data, length) : std::string_view();
  }
  bool cancelled() const { return api_->http_cancelled(request_) != 0; }

 private:
  static std::string_view text(const char* p) { return p != nullptr ? p : ""; }
  const vigil_host_api* api_;
  const vigil_http_request* request_;
};

// Thread-safety: used by the one thread running the handler.
class HttpResponse {
 public:
  HttpResponse(const vigil_host_api* api, vigil_http_response* response)
      : api_(api), response_(response) {}
  // Status and headers must come before the first write().
  void status(int code) { api_->http_set_status(response_, code); }
  void header(const char* name, const char* value) {
    api_->http_set_header(response_, name, value);
  }
  // False once the client went away: stop working.
  bool write(std::string_view data) {
    return api_->http_write(response_, data.data(), data.size()) == VIGIL_OK;
  }

 private:
  const vigil_host_api* api_;
  vigil_http_response* response_;
};

// Runs on the host's HTTP worker threads, possibly concurrently: it must be thread-safe.
using HttpHandler = std::function<Status(const HttpRequest&, HttpResponse&)>;

// For exporters: Host::visit() calls it for each family, then each of its live series. Return
// false to stop the visit. Views are valid only during the call.
// Thread-safety: called on the thread that called Host::visit().
class StoreVisitor {
 public:
  virtual ~StoreVisitor() = default;
  virtual bool family(const vigil_family_view& family) = 0;
  virtual bool series(const vigil_family_view& family, const vigil_series_view& series) = 0;
};

namespace detail {
struct InstanceBox;
template <class T>
vigil_status create_instance(const vigil_host_api*, vigil_host_ctx*, const vigil_config*, void**,
                             vigil_error*) noexcept;

struct MountedRoute {
  const vigil_host_api* api = nullptr;
  HttpHandler handler;
};

inline vigil_status http_trampoline(void* user, const vigil_http_request* request,
                                    vigil_http_response* response, vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    auto* route = static_cast<MountedRoute*>(user);
    if (route == nullptr || !route->handler)
      return Status::internal("HTTP route called without its handler");
    HttpRequest req(route->api, request);
    HttpResponse resp(route->api, response);
    return route->handler(req, resp);
  });
}

// Carries the visitor and, if it threw, the exception to rethrow once the host returned.
struct VisitState {
  StoreVisitor* visitor = nullptr;
  std::exception_ptr error;
  // The current family's view when the host's struct is older (smaller) than ours and had to be
  // copied into a zeroed one; `copied_from` is the host's pointer it was copied from.
  const vigil_family_view* copied_from = nullptr;
  vigil_family_view family_copy;
};

// A view the host wrote with at least our fields is used where it lies: copying it per series
// (memset and memcpy of both views, 100,000 times a scrape) was a sixth of the exposition's CPU.
// Only a view from an older host, smaller than ours, is copied into a zeroed one.
template <class View>
inline bool usable_in_place(const View* view) noexcept {
  return view != nullptr && view->size >= sizeof(View);
}

inline int visit_family_trampoline(void* user, const vigil_family_view* family) noexcept {
  auto* state = static_cast<VisitState*>(user);
  try {
    if (usable_in_place(family)) return state->visitor->family(*family) ? 0 : 1;
    state->family_copy = copy_sized(family);
    state->copied_from = family;
    return state->visitor->family(state->family_copy) ? 0 : 1;
  } catch (...) {
    state->error = std::current_exception();
    return 1;
  }
}

inline int visit_series_trampoline(void* user, const vigil_family_view* family,
                                   const vigil_series_view* series) noexcept {
  auto* state = static_cast<VisitState*>(user);
  try {
    const vigil_family_view* f = family;
    if (!usable_in_place(family)) {
      // Copied once per family by the family callback; again only if the host moved it.
      if (family == nullptr || family != state->copied_from) {
        state->family_copy = copy_sized(family);
        state->copied_from = family;
      }
      f = &state->family_copy;
    }
    if (usable_in_place(series)) return state->visitor->series(*f, *series) ? 0 : 1;
    vigil_series_view s = copy_sized(series);
    return state->visitor->series(*f, s) ? 0 : 1;
  } catch (...) {
    state->error = std::current_exception();
    return 1;
  }
}
}  // namespace detail

// The host's services table plus this instance's context. Families are described once (usually
// in configure()); series handles are then written on the hot path.
// Thread-safety: safe for concurrent use, like the C slots, except mount() (configure() only).
class Host {
 public:
  Host(const vigil_host_api* api, vigil_host_ctx* ctx) : api_(api), ctx_(ctx) {}
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  void log(vigil_log_level level, std::string_view message) const {
    if (api_->log == nullptr) return;
    std::string text(message);
    api_->log(ctx_, level, text.c_str());
  }
  void trace(std::string_view message) const { log(VIGIL_LOG_TRACE, message); }
  void debug(std::string_view message) const { log(VIGIL_LOG_DEBUG, message); }
  void info(std::string_view message) const { log(VIGIL_LOG_INFO, message); }
  void warn(std::string_view message) const { log(VIGIL_LOG_WARN, message); }
  void error(std::string_view message) const { log(VIGIL_LOG_ERROR, message); }
  // Lets a plugin skip building a message nobody will read.
  bool log_enabled(vigil_log_level level) const {
    return api_->log_enabled != nullptr && api_->log_enabled(ctx_, level) != 0;
  }

  int64_t now_ms() const { return api_->now_ms(ctx_); }
  int64_t monotonic_ns() const { return api_->monotonic_ns(ctx_); }

  // Registers a family (or finds the same one again). Histograms need their bucket upper bounds,
  // strictly increasing, without +Inf. Throws vigil::Error with the host's message on failure.
  void describe(std::string_view name, MetricType type, std::string_view help,
                std::string_view unit = "", std::vector<double> buckets = {}) {
    std::string n(name), h(help), u(unit);
    vigil_family_desc desc;
    std::memset(&desc, 0, sizeof desc);
    desc.size = sizeof desc;
    desc.name = n.c_str();
    desc.help = h.c_str();
    desc.unit = u.c_str();
    desc.type = to_c(type);
    desc.buckets = buckets.empty() ? nullptr : buckets.data();
    desc.bucket_count = buckets.size();
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_family_id id = 0;
    vigil_status status = api_->register_family(ctx_, &desc, &id, &err);
    if (status != VIGIL_OK)
      throw Error(status,
                  host_message(buffer, status, "registering metric family " + detail::quote(n)));
    std::lock_guard<std::mutex> lock(mutex_);
    Family& family = families_[n];
    // Handles already made keep their reference; a family registered again under the same id
    // (the usual case: describe() twice with the same description) keeps sharing one.
    if (!family.shared || family.shared->family != id) {
      family.shared = detail::FamilyRef::create(api_, ctx_, id, n);
    }
    family.id = id;
    family.type = type;
    family.bucket_count = buckets.size();
  }

  // Handles to one series. A family used before describe() is registered with empty help; a
  // histogram must have been described with its buckets. Throws vigil::Error on failure.
  Gauge gauge(std::string_view name, const Labels& labels = {}) {
    return Gauge(series(name, MetricType::gauge, labels));
  }
  Counter counter(std::string_view name, const Labels& labels = {}) {
    return Counter(series(name, MetricType::counter, labels));
  }
  Histogram histogram(std::string_view name, const Labels& labels = {}) {
    return Histogram(series(name, MetricType::histogram, labels));
  }

  // The 1.1 slot unregister_series is present. Without it unregister() does nothing and the
  // series simply goes stale once no longer written.
  bool can_unregister() const { return VIGIL_API_HAS(api_, unregister_series); }
  // Drops the series from the exposition now. Writing the same handle later registers it again.
  void unregister(const Gauge& g) const { unregister_slot(g.slot_.get()); }
  void unregister(const Counter& c) const { unregister_slot(c.slot_.get()); }
  void unregister(const Histogram& h) const { unregister_slot(h.slot_.get()); }

  // Visits every family and live series in the store. An exception the visitor throws stops the
  // visit and is rethrown here, after the host returned.
  Status visit(StoreVisitor& visitor) const {
    vigil_store_visitor v;
    std::memset(&v, 0, sizeof v);
    v.size = sizeof v;
    v.family = &detail::visit_family_trampoline;
    v.series = &detail::visit_series_trampoline;
    detail::VisitState state;
    state.visitor = &visitor;
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status status = api_->visit_store(ctx_, &v, &state, &err);
    if (state.error) std::rethrow_exception(state.error);
    if (status != VIGIL_OK)
      return Status(status, host_message(buffer, status, "visiting the store"));
    return Status::ok();
  }

  // Mounts a route on the host's HTTP server for this instance's lifetime. Only from
  // configure(); the handler runs on HTTP worker threads and must be thread-safe.
  void mount(std::string_view method, std::string_view path, HttpHandler handler) {
    std::string m(method), p(path);
    if (!mounting_allowed_)
      throw Error(VIGIL_ERR_INVALID_ARGUMENT, "route " + m + " " + p +
                                                  " was mounted outside configure(); the host "
                                                  "only accepts routes while creating an instance");
    if (!handler)
      throw Error(VIGIL_ERR_INVALID_ARGUMENT, "route " + m + " " + p + " has an empty handler");
    routes_.push_back(detail::MountedRoute{api_, std::move(handler)});
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status status = api_->http_mount(ctx_, m.c_str(), p.c_str(), &detail::http_trampoline,
                                           &routes_.back(), &err);
    if (status != VIGIL_OK) {
      routes_.pop_back();
      throw Error(status, host_message(buffer, status, "mounting route " + m + " " + p));
    }
  }

  const vigil_host_api* api() const { return api_; }
  vigil_host_ctx* ctx() const { return ctx_; }

 private:
  friend class Emitter;
  template <class T>
  friend vigil_status detail::create_instance(const vigil_host_api*, vigil_host_ctx*,
                                              const vigil_config*, void**, vigil_error*) noexcept;

  struct Family {
    vigil_family_id id = 0;
    MetricType type = MetricType::untyped;
    size_t bucket_count = 0;
    detail::Ref<detail::FamilyRef> shared;  // what this family's series handles point to
  };

  static std::string host_message(const char* buffer, vigil_status status,
                                  const std::string& doing) {
    std::string out = doing + " failed (" + status_name(status) + ")";
    if (buffer[0] != '\0') out += ": " + std::string(buffer);
    return out;
  }

  static bool writable_as(MetricType family, MetricType used) {
    if (family == used) return true;
    return family == MetricType::untyped && used != MetricType::histogram;
  }

  detail::Ref<detail::SeriesSlot> series(std::string_view name, MetricType type,
                                         const Labels& labels) {
    std::string n(name);
    Family family;
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = families_.find(n);
      if (it != families_.end()) {
        family = it->second;
        known = true;
      }
    }
    if (!known) {
      if (type == MetricType::histogram)
        throw Error(VIGIL_ERR_INVALID_ARGUMENT,
                    "histogram " + detail::quote(n) +
                        " is used before it is described; call host().describe(" +
                        detail::quote(n) +
                        ", vigil::MetricType::histogram, help, unit, {bucket bounds}) in "
                        "configure()");
      describe(n, type, "");
      std::lock_guard<std::mutex> lock(mutex_);
      family = families_[n];
    }
    if (!writable_as(family.type, type))
      throw Error(VIGIL_ERR_INVALID_ARGUMENT, "metric " + detail::quote(n) + " is described as a " +
                                                  metric_type_name(family.type) +
                                                  " but written as a " + metric_type_name(type) +
                                                  "; use one type per metric name");
    detail::Ref<detail::SeriesSlot> slot = detail::SeriesSlot::create(family.shared, labels);
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_series_id id = 0;
    vigil_status status = slot->register_now(&id, &err);
    if (status != VIGIL_OK)
      throw Error(status, host_message(buffer, status,
                                       "registering series " + detail::series_text(n, labels)));
    slot->id.store(id, std::memory_order_release);
    return slot;
  }

  void unregister_slot(detail::SeriesSlot* slot) const {
    if (slot == nullptr || !can_unregister()) return;
    vigil_series_id id = slot->id.exchange(0, std::memory_order_acq_rel);
    if (id != 0) api_->unregister_series(ctx_, id);
  }

  const vigil_host_api* api_;
  vigil_host_ctx* ctx_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Family> families_;
  std::list<detail::MountedRoute> routes_;  // a list: the host holds pointers into it
  bool mounting_allowed_ = false;
};

// The convenience writer handed to collect(): looks (name, labels) up in a per-instance cache and
// writes by handle, registering on first use and again if the host dropped the series. Failures
// throw vigil::Error, which makes collect() return that status and message.
// Thread-safety: not thread-safe; the host never runs two collect() of one instance at once.
class Emitter {
 public:
  explicit Emitter(Host& host) : host_(&host) {}

  void gauge(std::string_view name, double value, const Labels& labels = {}) {
    detail::SeriesSlot& slot = entry(name, MetricType::gauge, labels);
    check(slot, slot.write([&](vigil_series_id id) {
      return slot.api()->write(slot.ctx(), id, value, 0);
    }),
          "gauge");
  }
  // `total` is the counter's absolute value, not an increment.
  void counter(std::string_view name, double total, const Labels& labels = {}) {
    detail::SeriesSlot& slot = entry(name, MetricType::counter, labels);
    check(slot, slot.write([&](vigil_series_id id) {
      return slot.api()->write(slot.ctx(), id, total, 0);
    }),
          "counter");
  }
  // The histogram must be described with buckets (host().describe in configure()).
  void observe(std::string_view name, double value, const Labels& labels = {}) {
    detail::SeriesSlot& slot = entry(name, MetricType::histogram, labels);
    check(slot, slot.write([&](vigil_series_id id) {
      return slot.api()->observe(slot.ctx(), id, value);
    }),
          "histogram");
  }
  // Forgets a series that is gone for good (a process that exited) and unregisters it when the
  // host can; otherwise it goes stale. Keeps the cache from growing without bound.
  void remove(std::string_view name, const Labels& labels = {}) {
    for (MetricType type : {MetricType::gauge, MetricType::counter, MetricType::histogram}) {
      auto it = cache_.find(make_key(name, type, labels));
      if (it == cache_.end()) continue;
      host_->unregister_slot(it->second.get());
      cache_.erase(it);
    }
  }
  size_t cached_series() const { return cache_.size(); }
  Host& host() { return *host_; }

 private:
  // Length-prefixed so no label value can make two different series collide.
  const std::string& make_key(std::string_view name, MetricType type, const Labels& labels) {
    key_.clear();
    key_ += static_cast<char>('0' + static_cast<int>(type));
    auto add = [this](std::string_view s) {
      uint32_t n = static_cast<uint32_t>(s.size());
      key_.append(reinterpret_cast<const char*>(&n), sizeof n);
      key_.append(s.data(), s.size());
    };
    add(name);
    for (const auto& [k, v] : labels) {
      add(k);
      add(v);
    }
    return key_;
  }

  detail::SeriesSlot& entry(std::string_view name, MetricType type, const Labels& labels) {
    const std::string& key = make_key(name, type, labels);
    auto it = cache_.find(key);
    if (it != cache_.end()) return *it->second;
    detail::Ref<detail::SeriesSlot> slot = host_->series(name, type, labels);
    return *cache_.emplace(key, std::move(slot)).first->second;
  }

  static void check(const detail::SeriesSlot& slot, vigil_status status, const char* what) {
    if (status == VIGIL_OK) return;
    throw Error(status, std::string("writing ") + what + " " +
                            detail::series_text(slot.name(), slot.labels()) +
                            " failed: the host answered " + status_name(status));
  }

  Host* host_;
  std::unordered_map<std::string, detail::Ref<detail::SeriesSlot>> cache_;
  std::string key_;  // reused so a cached write allocates nothing
};

struct HealthResult {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;  // one line
};

struct Notification {
  std::string idempotency_key, receiver, status, group_key, payload_json;
  int escalation_step = -1;  // -1 when no escalation policy applies
  int attempt = 1;
};

// Every kind derives virtually from Instance, so one class may implement several kinds.
// Thread-safety: the host serialises calls of one kind per instance; different kinds and HTTP
// handlers may run concurrently, so shared state between them needs the plugin's own locking.
class Instance {
 public:
  virtual ~Instance() = default;
  // Called once in create(), on the main thread, before anything else. A non-OK status (or an
  // exception) leaves the instance unloaded and is reported with the message.
  virtual Status configure(const Config&) { return Status::ok(); }
  // Valid from configure() on (not in the constructor).
  Host& host() {
    if (host_ == nullptr)
      throw Error(VIGIL_ERR_INTERNAL,
                  "host() used before configure(); move that code from the constructor into "
                  "configure()");
    return *host_;
  }

 private:
  template <class T>
  friend vigil_status detail::create_instance(const vigil_host_api*, vigil_host_ctx*,
                                              const vigil_config*, void**, vigil_error*) noexcept;
  Host* host_ = nullptr;
};

// collect(): on a scheduler worker every interval, never twice at once for one instance.
class Collector : public virtual Instance {
 public:
  virtual Status collect(Emitter& out) = 0;
};

// check(): like collect(). A non-OK return means the check itself failed (counts as UNKNOWN).
class HealthCheck : public virtual Instance {
 public:
  virtual Status check(HealthResult& result) = 0;
};

// A pull exporter mounts routes in configure() and overrides neither; a push exporter overrides
// push(). The host only schedules push() / calls flush() when the class overrides them.
class Exporter : public virtual Instance {
 public:
  virtual Status push() { return Status::ok(); }
  // Once at shutdown, on the main thread.
  virtual Status flush(std::chrono::milliseconds /*deadline*/) { return Status::ok(); }
};

// notify(): one notification at a time per instance. Return retryable() or permanent() on
// failure; anything else non-OK counts as retryable.
class Notifier : public virtual Instance {
 public:
  virtual Status notify(const Notification& n) = 0;
};

namespace detail {

// What the host's `void* instance` points at. Members are destroyed in reverse order, so the
// plugin object goes first and may still use its Host in its destructor.
struct InstanceBox {
  InstanceBox(const vigil_host_api* api, vigil_host_ctx* ctx) : host(api, ctx), emitter(host) {}
  Host host;
  Emitter emitter;
  std::unique_ptr<Instance> object;
  Collector* collector = nullptr;
  HealthCheck* health_check = nullptr;
  Exporter* exporter = nullptr;
  Notifier* notifier = nullptr;
};

template <class T>
vigil_status create_instance(const vigil_host_api* api, vigil_host_ctx* ctx,
                             const vigil_config* config, void** out, vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    if (api == nullptr || out == nullptr)
      return Status::invalid_argument("create() needs the host services table and an output");
    auto box = std::make_unique<InstanceBox>(api, ctx);
    auto object = std::make_unique<T>();
    T* typed = object.get();
    if constexpr (std::is_base_of_v<Collector, T>) box->collector = typed;
    if constexpr (std::is_base_of_v<HealthCheck, T>) box->health_check = typed;
    if constexpr (std::is_base_of_v<Exporter, T>) box->exporter = typed;
    if constexpr (std::is_base_of_v<Notifier, T>) box->notifier = typed;
    box->object = std::move(object);
    box->object->host_ = &box->host;
    Config cfg(config);
    box->host.mounting_allowed_ = true;
    Status status = box->object->configure(cfg);
    box->host.mounting_allowed_ = false;
    if (!status.is_ok()) {
      if (status.message().empty())
        status = Status(status.code(), "configure() failed without a message");
      return status;  // the box, and with it the object, is destroyed here
    }
    *out = box.release();
    return Status::ok();
  });
}

inline void destroy_instance(void* instance) noexcept {
  try {
    delete static_cast<InstanceBox*>(instance);
  } catch (...) {
    // A throwing destructor has nowhere to report to; the host must keep running.
  }
}

inline InstanceBox& box_of(void* instance) {
  if (instance == nullptr) throw Error(VIGIL_ERR_INTERNAL, "the host passed a null instance");
  return *static_cast<InstanceBox*>(instance);
}

inline vigil_status collect_trampoline(void* instance, vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    InstanceBox& box = box_of(instance);
    if (box.collector == nullptr) return Status::internal("this instance is not a collector");
    return box.collector->collect(box.emitter);
  });
}

inline vigil_status check_trampoline(void* instance, vigil_health_result* result,
                                     vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    InstanceBox& box = box_of(instance);
    if (box.health_check == nullptr) return Status::internal("this instance is not a health check");
    HealthResult r;
    Status status = box.health_check->check(r);
    if (result != nullptr) {
      if (VIGIL_HAS_FIELD(vigil_health_result, result, status)) result->status = r.status;
      if (VIGIL_HAS_FIELD(vigil_health_result, result, message_capacity))
        copy_to_buffer(result->message, result->message_capacity, r.message);
    }
    return status;
  });
}

inline vigil_status push_trampoline(void* instance, vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    InstanceBox& box = box_of(instance);
    if (box.exporter == nullptr) return Status::internal("this instance is not an exporter");
    return box.exporter->push();
  });
}

inline vigil_status flush_trampoline(void* instance, int64_t deadline_ms,
                                     vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    InstanceBox& box = box_of(instance);
    if (box.exporter == nullptr) return Status::internal("this instance is not an exporter");
    return box.exporter->flush(std::chrono::milliseconds(deadline_ms));
  });
}

inline vigil_status notify_trampoline(void* instance, const vigil_notification* notification,
                                      vigil_error* err) noexcept {
  return guard(err, [&]() -> Status {
    InstanceBox& box = box_of(instance);
    if (box.notifier == nullptr) return Status::internal("this instance is not a notifier");
    vigil_notification c = copy_sized(notification);
    auto text = [](const char* p) { return std::string(p != nullptr ? p : ""); };
    Notification n;
    n.idempotency_key = text(c.idempotency_key);
    n.receiver = text(c.receiver);
    n.status = text(c.status);
    n.group_key = text(c.group_key);
    n.payload_json = text(c.payload_json);
    n.escalation_step = c.escalation_step;
    n.attempt = c.attempt;
    Status status = box.notifier->notify(n);
    if (status.code() == VIGIL_ERR_RETRYABLE && status.retry_after().count() > 0 &&
        c.retry_after_ms != nullptr)
      *c.retry_after_ms = static_cast<int64_t>(status.retry_after().count());
    return status;
  });
}

using CreateFn = vigil_status (*)(const vigil_host_api*, vigil_host_ctx*, const vigil_config*,
                                  void**, vigil_error*);

struct OptionRow {
  std::string name;
  OptionType type = OptionType::string;
  std::optional<std::string> default_value;
  std::string description;
  bool required = false;
};

// Everything a builder collected, without the plugin's type (except inside `create`).
struct PluginSpec {
  std::string description;
  std::vector<OptionRow> options;
  CreateFn create = nullptr;
  // Set for each kind the plugin provides: that kind's description.
  std::optional<std::string> collector_description, health_check_description, exporter_description,
      notifier_description;
  bool exporter_push = false, exporter_flush = false;
};

}  // namespace detail

// Describes a plugin: its kinds and its option table. Evaluated once, into static storage, by
// VIGIL_PLUGIN.
// Thread-safety: build it once; not for concurrent modification.
template <class T>
class PluginBuilder : public detail::PluginSpec {
  static_assert(
      std::is_base_of_v<Instance, T>,
      "a plugin class must derive from vigil::Collector, HealthCheck, Exporter or Notifier");
  static_assert(std::is_default_constructible_v<T>,
                "a plugin class must be default-constructible; read options in configure()");

 public:
  explicit PluginBuilder(std::string description) {
    this->description = std::move(description);
    this->create = &detail::create_instance<T>;
  }

  PluginBuilder& collector(std::string description) {
    static_assert(std::is_base_of_v<Collector, T>,
                  "collector(): the class must derive from vigil::Collector");
    collector_description = std::move(description);
    return *this;
  }
  PluginBuilder& health_check(std::string description) {
    static_assert(std::is_base_of_v<HealthCheck, T>,
                  "health_check(): the class must derive from vigil::HealthCheck");
    health_check_description = std::move(description);
    return *this;
  }
  PluginBuilder& exporter(std::string description) {
    static_assert(std::is_base_of_v<Exporter, T>,
                  "exporter(): the class must derive from vigil::Exporter");
    exporter_description = std::move(description);
    if constexpr (std::is_base_of_v<Exporter, T>) {
      // Only callbacks the class overrides are handed to the host, so a pull exporter is not
      // scheduled for a push() that does nothing.
      exporter_push = !std::is_same_v<decltype(&T::push), Status (Exporter::*)()>;
      exporter_flush =
          !std::is_same_v<decltype(&T::flush), Status (Exporter::*)(std::chrono::milliseconds)>;
    }
    return *this;
  }
  PluginBuilder& notifier(std::string description) {
    static_assert(std::is_base_of_v<Notifier, T>,
                  "notifier(): the class must derive from vigil::Notifier");
    notifier_description = std::move(description);
    return *this;
  }

  // `default_value` is written as the user would write it in JSON ("5s", "true", "[\"a\"]",
  // "text"); nullptr for none.
  PluginBuilder& option(std::string name, OptionType type, const char* default_value,
                        std::string description) {
    detail::OptionRow row;
    row.name = std::move(name);
    row.type = type;
    if (default_value != nullptr) row.default_value = std::string(default_value);
    row.description = std::move(description);
    options.push_back(std::move(row));
    return *this;
  }
  PluginBuilder& required_option(std::string name, OptionType type, std::string description) {
    detail::OptionRow row;
    row.name = std::move(name);
    row.type = type;
    row.description = std::move(description);
    row.required = true;
    options.push_back(std::move(row));
    return *this;
  }
};

// A plugin with several kinds: vigil::plugin<T>("...").collector("...").health_check("...").
template <class T>
PluginBuilder<T> plugin(std::string description) {
  return PluginBuilder<T>(std::move(description));
}
template <class T>
PluginBuilder<T> collector(std::string description) {
  PluginBuilder<T> b(description);
  b.collector(std::move(description));
  return b;
}
template <class T>
PluginBuilder<T> health_check(std::string description) {
  PluginBuilder<T> b(description);
  b.health_check(std::move(description));
  return b;
}
template <class T>
PluginBuilder<T> exporter(std::string description) {
  PluginBuilder<T> b(description);
  b.exporter(std::move(description));
  return b;
}
template <class T>
PluginBuilder<T> notifier(std::string description) {
  PluginBuilder<T> b(description);
  b.notifier(std::move(description));
  return b;
}

namespace detail {

// The C descriptor and every string and array it points to. Lives in static storage for the
// library's lifetime, as plugin.h requires.
// Thread-safety: immutable after construction.
class PluginDescriptor {
 public:
  PluginDescriptor(const char* name, const char* version, const PluginSpec& spec) : spec_(spec) {
    name_ = name != nullptr ? name : "";
    version_ = version != nullptr ? version : "";
    for (const OptionRow& row : spec_.options) {
      vigil_option_desc d;
      std::memset(&d, 0, sizeof d);
      d.size = sizeof d;
      d.name = row.name.c_str();
      d.type = to_c(row.type);
      d.default_value = row.default_value ? row.default_value->c_str() : nullptr;
      d.description = row.description.c_str();
      d.required = row.required ? 1 : 0;
      options_.push_back(d);
    }
    std::memset(&collector_, 0, sizeof collector_);
    std::memset(&health_check_, 0, sizeof health_check_);
    std::memset(&exporter_, 0, sizeof exporter_);
    std::memset(&notifier_, 0, sizeof notifier_);
    std::memset(&desc_, 0, sizeof desc_);
    desc_.size = sizeof desc_;
    desc_.abi_version = VIGIL_ABI_VERSION;
    desc_.name = name_.c_str();
    desc_.version = version_.c_str();
    desc_.description = spec_.description.c_str();
    desc_.options = options_.empty() ? nullptr : options_.data();
    desc_.option_count = options_.size();
    desc_.create = spec_.create;
    desc_.destroy = &destroy_instance;
    if (spec_.collector_description) {
      collector_.size = sizeof collector_;
      collector_.description = spec_.collector_description->c_str();
      collector_.collect = &collect_trampoline;
      desc_.collector = &collector_;
    }
    if (spec_.health_check_description) {
      health_check_.size = sizeof health_check_;
      health_check_.description = spec_.health_check_description->c_str();
      health_check_.check = &check_trampoline;
      desc_.health_check = &health_check_;
    }
    if (spec_.exporter_description) {
      exporter_.size = sizeof exporter_;
      exporter_.description = spec_.exporter_description->c_str();
      exporter_.push = spec_.exporter_push ? &push_trampoline : nullptr;
      exporter_.flush = spec_.exporter_flush ? &flush_trampoline : nullptr;
      desc_.exporter = &exporter_;
    }
    if (spec_.notifier_description) {
      notifier_.size = sizeof notifier_;
      notifier_.description = spec_.notifier_description->c_str();
      notifier_.notify = &notify_trampoline;
      desc_.notifier = &notifier_;
    }
  }
  PluginDescriptor(const PluginDescriptor&) = delete;
  PluginDescriptor& operator=(const PluginDescriptor&) = delete;

  const vigil_plugin_desc* get() const { return &desc_; }

 private:
  PluginSpec spec_;
  std::string name_, version_;
  std::vector<vigil_option_desc> options_;
  vigil_collector_desc collector_;
  vigil_health_check_desc health_check_;
  vigil_exporter_desc exporter_;
  vigil_notifier_desc notifier_;
  vigil_plugin_desc desc_;
};

}  // namespace detail
}  // namespace vigil

// Defines `const vigil_plugin_desc* function_name()` returning the plugin's descriptor, built
// once into static storage. VIGIL_PLUGIN uses it; tests use it directly to get several plugins'
// descriptors into one binary (only one vigil_plugin_entry can exist per binary).
#define VIGIL_PLUGIN_DESCRIPTOR(function_name, plugin_name, plugin_version, ...) \
  const ::vigil_plugin_desc* function_name() {                                   \
    static const ::vigil::detail::PluginDescriptor vigil_descriptor_(            \
        (plugin_name), (plugin_version), (__VA_ARGS__));                         \
    return vigil_descriptor_.get();                                              \
  }                                                                              \
  static_assert(true, "")

// The entry point VIGIL_PLUGIN defines, declared here so a plugin's own tests (other translation
// units of the same binary) can hand it to the fake host.
extern "C" VIGIL_EXPORT const vigil_plugin_desc* vigil_plugin_entry(void);

// One per plugin library: VIGIL_PLUGIN("name", "1.0.0", vigil::collector<T>("...")...);
// The descriptor function has internal linkage so two plugins loaded into one process can never
// share it, whatever visibility they were built with.
#define VIGIL_PLUGIN(plugin_name, plugin_version, ...)                                         \
  namespace {                                                                                  \
  VIGIL_PLUGIN_DESCRIPTOR(vigil_plugin_descriptor_, plugin_name, plugin_version, __VA_ARGS__); \
  }                                                                                            \
  extern "C" VIGIL_EXPORT const ::vigil_plugin_desc* vigil_plugin_entry(void) {                \
    return vigil_plugin_descriptor_();                                                         \
  }                                                                                            \
  static_assert(true, "")

#endif  // VIGIL_SDK_HPP
