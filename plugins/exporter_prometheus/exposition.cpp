// The text exposition renderer; see exposition.hpp for the contract.
//
// Every line is written straight into the buffer through a raw pointer after one capacity check,
// because a scrape of 100,000 series must render in a few milliseconds. It must never allocate
// per line nor format through iostreams or printf (locale-dependent and slow).
#include "exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::exporter_prometheus {
namespace {

// Room for " " + an int64 timestamp.
constexpr std::size_t kTimestampChars = 1 + 20;
// Room for " " + a value (float or uint64) + timestamp + "\n".
constexpr std::size_t kTailChars = 1 + kMaxFloatChars + kTimestampChars + 1;

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_u64(char* p, std::uint64_t v) {
  return std::to_chars(p, p + 20, v).ptr;
}

char* put_i64(char* p, std::int64_t v) {
  return std::to_chars(p, p + 21, v).ptr;
}

std::string_view labels_of(const vigil_series_view& s) {
  if (s.labels_text == nullptr || s.labels_text_len == 0) return {};
  return {s.labels_text, s.labels_text_len};
}

// Writes "{labels,extra=\"" (or "{extra=\"" when there are no labels), the opening of a label set
// with one more label whose value the caller writes next, then closes with "\"}".
char* open_extra_label(char* p, std::string_view labels, std::string_view extra_name) {
  if (labels.size() >= 2) {
    p = put(p, labels.substr(0, labels.size() - 1));  // drop the closing '}'
    *p++ = ',';
  } else {
    *p++ = '{';
  }
  p = put(p, extra_name);
  *p++ = '=';
  *p++ = '"';
  return p;
}

char* put_tail_timestamp(char* p, const vigil_series_view& s, const RenderOptions& options) {
  if (options.force_timestamps || s.explicit_timestamp != 0) {
    *p++ = ' ';
    p = put_i64(p, s.timestamp_ms);
  }
  *p++ = '\n';
  return p;
}

std::string_view family_name(const vigil_family_view& f) {
  return f.name == nullptr ? std::string_view{} : std::string_view{f.name};
}

void render_simple(OutputBuffer& out, std::string_view name, const vigil_series_view& s,
                   const RenderOptions& options) {
  std::string_view labels = labels_of(s);
  char* p = out.ensure(name.size() + labels.size() + kTailChars);
  p = put(p, name);
  p = put(p, labels);
  *p++ = ' ';
  p = format_float(p, s.value);
  out.commit(put_tail_timestamp(p, s, options));
}

// name + suffix + labels + " " + value(float) [timestamp]
void render_suffixed_float(OutputBuffer& out, std::string_view name, std::string_view suffix,
                           std::string_view labels, double value, const vigil_series_view& s,
                           const RenderOptions& options) {
  char* p = out.ensure(name.size() + suffix.size() + labels.size() + kTailChars);
  p = put(p, name);
  p = put(p, suffix);
  p = put(p, labels);
  *p++ = ' ';
  p = format_float(p, value);
  out.commit(put_tail_timestamp(p, s, options));
}

void render_suffixed_count(OutputBuffer& out, std::string_view name, std::string_view suffix,
                           std::string_view labels, std::uint64_t value, const vigil_series_view& s,
                           const RenderOptions& options) {
  char* p = out.ensure(name.size() + suffix.size() + labels.size() + kTailChars);
  p = put(p, name);
  p = put(p, suffix);
  p = put(p, labels);
  *p++ = ' ';
  p = put_u64(p, value);
  out.commit(put_tail_timestamp(p, s, options));
}

void render_histogram(OutputBuffer& out, std::string_view name, const vigil_family_view& f,
                      const vigil_series_view& s, const RenderOptions& options) {
  std::string_view labels = labels_of(s);
  constexpr std::string_view kBucket = "_bucket";
  constexpr std::string_view kLe = "le";
  // name_bucket{labels,le="bound"} count [ts]
  const std::size_t line_max = name.size() + kBucket.size() + labels.size() + 1 + kLe.size() + 2 +
                               kMaxFloatChars + 2 + kTailChars;
  const std::size_t buckets =
      (f.buckets != nullptr && s.bucket_counts != nullptr) ? f.bucket_count : 0;
  char* p = out.ensure(line_max * (buckets + 1));
  for (std::size_t i = 0; i <= buckets; ++i) {
    p = put(p, name);
    p = put(p, kBucket);
    p = open_extra_label(p, labels, kLe);
    if (i < buckets) {
      p = format_float(p, f.buckets[i]);
    } else {
      p = put(p, "+Inf");
    }
    *p++ = '"';
    *p++ = '}';
    *p++ = ' ';
    p = put_u64(p, i < buckets ? s.bucket_counts[i] : s.count);
    p = put_tail_timestamp(p, s, options);
  }
  out.commit(p);
  render_suffixed_float(out, name, "_sum", labels, s.sum, s, options);
  render_suffixed_count(out, name, "_count", labels, s.count, s, options);
}

void render_summary(OutputBuffer& out, std::string_view name, const vigil_series_view& s,
                    const RenderOptions& options) {
  std::string_view labels = labels_of(s);
  constexpr std::string_view kQuantile = "quantile";
  const std::size_t line_max =
      name.size() + labels.size() + 1 + kQuantile.size() + 2 + kMaxFloatChars + 2 + kTailChars;
  const std::size_t quantiles =
      (s.quantiles != nullptr && s.quantile_values != nullptr) ? s.quantile_count : 0;
  char* p = out.ensure(line_max * quantiles);
  for (std::size_t i = 0; i < quantiles; ++i) {
    p = put(p, name);
    p = open_extra_label(p, labels, kQuantile);
    p = format_float(p, s.quantiles[i]);
    *p++ = '"';
    *p++ = '}';
    *p++ = ' ';
    p = format_float(p, s.quantile_values[i]);
    p = put_tail_timestamp(p, s, options);
  }
  out.commit(p);
  render_suffixed_float(out, name, "_sum", labels, s.sum, s, options);
  render_suffixed_count(out, name, "_count", labels, s.count, s, options);
}

}  // namespace

void OutputBuffer::reserve(std::size_t capacity) {
  if (block_size_ == 0 && capacity > capacity_) grow(capacity - size_);
}

void OutputBuffer::append(std::string_view s) {
  char* p = ensure(s.size());
  commit(put(p, s));
}

void OutputBuffer::clear() {
  sealed_.clear();
  sealed_bytes_ = 0;
  size_ = 0;
}

void OutputBuffer::grow(std::size_t n) {
  if (block_size_ != 0) {
    // Seal the current block and start another; a line longer than a block gets a block of its
    // own size.
    if (size_ > 0) {
      sealed_.push_back(Block{std::move(data_), size_});
      sealed_bytes_ += size_;
    }
    const std::size_t want = std::max(block_size_, n);
    data_.reset(new char[want]);
    size_ = 0;
    capacity_ = want;
    return;
  }
  std::size_t want = capacity_ < 4096 ? 4096 : capacity_ * 2;
  if (want - size_ < n) want = size_ + n;
  std::unique_ptr<char[]> bigger(new char[want]);
  if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = want;
}

char* format_float(char* out, double value) {
  if (std::isnan(value)) return put(out, "NaN");
  if (std::isinf(value)) return put(out, value > 0 ? "+Inf" : "-Inf");
  if (value == 0) {
    *out++ = '0';  // the Go client writes -0 as "0" too
    return out;
  }
  char* const end = out + kMaxFloatChars;
  const double magnitude = std::fabs(value);
  // Go's 'g' with shortest digits switches to an exponent when it is below -4 or at least 6.
  if (magnitude >= 1e-4 && magnitude < 1e6) {
    // Integers are the common case (counts, bytes, jiffies): skip the float algorithm.
    if (value == std::trunc(value)) return put_i64(out, static_cast<std::int64_t>(value));
    return std::to_chars(out, end, value, std::chars_format::fixed).ptr;
  }
  // std::to_chars' scientific form is Go's: "1e+06", "1.5e-07", "1e+100".
  return std::to_chars(out, end, value, std::chars_format::scientific).ptr;
}

void append_escaped_help(OutputBuffer& out, std::string_view help) {
  char* p = out.ensure(help.size() * 2);
  for (char c : help) {
    if (c == '\\') {
      *p++ = '\\';
      *p++ = '\\';
    } else if (c == '\n') {
      *p++ = '\\';
      *p++ = 'n';
    } else {
      *p++ = c;
    }
  }
  out.commit(p);
}

std::string_view type_name(vigil_metric_type type) {
  switch (type) {
    case VIGIL_METRIC_COUNTER:
      return "counter";
    case VIGIL_METRIC_GAUGE:
      return "gauge";
    case VIGIL_METRIC_HISTOGRAM:
      return "histogram";
    case VIGIL_METRIC_SUMMARY:
      return "summary";
    default:
      return "untyped";
  }
}

void render_family_header(OutputBuffer& out, const vigil_family_view& family) {
  std::string_view name = family_name(family);
  std::string_view help = family.help == nullptr ? std::string_view{} : family.help;
  if (!help.empty()) {
    out.append("# HELP ");
    out.append(name);
    out.append(" ");
    append_escaped_help(out, help);
    out.append("\n");
  }
  out.append("# TYPE ");
  out.append(name);
  out.append(" ");
  out.append(type_name(family.type));
  out.append("\n");
}

namespace {

void render_named(OutputBuffer& out, std::string_view name, const vigil_family_view& family,
                  const vigil_series_view& series, const RenderOptions& options) {
  switch (family.type) {
    case VIGIL_METRIC_HISTOGRAM:
      render_histogram(out, name, family, series, options);
      break;
    case VIGIL_METRIC_SUMMARY:
      render_summary(out, name, series, options);
      break;
    default:
      render_simple(out, name, series, options);
      break;
  }
}

}  // namespace

void render_series(OutputBuffer& out, const vigil_family_view& family,
                   const vigil_series_view& series, const RenderOptions& options) {
  render_named(out, family_name(family), family, series, options);
}

void Renderer::family(const vigil_family_view& family) {
  (void)family;
  header_pending_ = true;
  name_of_ = nullptr;  // measured again at the first series, even if the host reuses the pointer
}

void Renderer::series(const vigil_family_view& family, const vigil_series_view& series) {
  // The host hands the same name pointer for every series of a family; measuring it again for
  // each of 100,000 lines showed in profiles.
  if (family.name != name_of_ || family.name == nullptr) {
    name_of_ = family.name;
    name_ = family_name(family);
  }
  if (!header_pending_) {
    render_named(out_, name_, family, series, options_);
    ++series_rendered_;
    return;
  }
  render_family_header(out_, family);
  header_pending_ = false;
  std::size_t before = out_.size();
  render_named(out_, name_, family, series, options_);
  ++series_rendered_;
  // The family's first series predicts the rest: make room for them all at once, so a large
  // family costs one allocation instead of a chain of doublings (each copying the page so far).
  // A chained buffer never copies, and ignores the hint.
  if (family.series_count > 1) {
    std::size_t line = out_.size() - before;
    // Capped: series_count is the store's word, and a wrong one must not exhaust memory.
    constexpr std::size_t kMaxReservation = std::size_t{256} << 20;
    std::size_t rest = std::min(line * (family.series_count - 1), kMaxReservation);
    out_.reserve(out_.size() + rest + rest / 8);
  }
}

}  // namespace vigil::exporter_prometheus
