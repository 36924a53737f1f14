// vigil_plugin_text: metrics read from text — the Prometheus text exposition format 0.0.4 and the
// InfluxDB line protocol — parsed into one model, an Exposition (families of series), that
// Publisher (publisher.hpp) writes into the host's store.
//
// The parsers are built for large inputs (a 100,000-line textfile): one pass over the text, no
// regex, no iostreams, names and label values kept as views into the text the Exposition owns
// (only values with escapes are copied), and a flat hash index for duplicate detection. Every
// error names the line and says what was found and what was expected, e.g.
//   line 12: expected a value after the labels, found "abc"
// They must never accept input the host's store would refuse later without a line to point at
// (label names starting with "__", invalid UTF-8, histograms that are not cumulative, ...).
#pragma once

#include <vigil/sdk.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::plugin_text {

inline constexpr uint32_t kNoComposite = std::numeric_limits<uint32_t>::max();
// The host's store keeps at most this many quantiles per summary series.
inline constexpr std::size_t kMaxQuantiles = 16;
// Inputs are addressed with 31-bit offsets; anything this large is refused.
inline constexpr std::size_t kMaxInputBytes = 0x7fffffffu;

// A label as consumers see it: views into the exposition (valid while it lives).
struct Label {
  std::string_view name, value;
};

// A label as an exposition stores it: 16 bytes instead of two views' 32, because a large input
// has hundreds of thousands of them. Offsets point into the input text, or, with kDecoded set,
// into the exposition's buffer of unescaped values and sanitized names.
struct StoredLabel {
  static constexpr uint32_t kDecoded = 0x80000000u;
  uint32_t name_at = 0, name_len = 0, value_at = 0, value_len = 0;
};

// One bucket (histogram: `bound` is the le upper bound, +Inf included) or one quantile
// (summary: `bound` is the quantile) of a composite series.
struct Point {
  double bound = 0;
  double value = 0;
  uint32_t line = 0;
};

// The parts of a histogram or summary series beyond its labels. After parsing, `points` are
// sorted by bound; histogram counts are whole, non-negative and cumulative.
struct Composite {
  std::vector<Point> points;
  double sum = 0;
  double count = 0;
  bool has_sum = false, has_count = false;
  uint32_t sum_line = 0, count_line = 0;
};

inline constexpr int64_t kNoTimestamp = std::numeric_limits<int64_t>::min();

// 32 bytes: a 100,000-series input is 3 MB of these.
struct Series {
  uint32_t labels_begin = 0;  // into the exposition's labels; sorted by name, no empty values,
  uint32_t labels_count = 0;  // without "le" / "quantile" for histograms / summaries
  uint32_t line = 0;          // the first line of the series
  uint32_t composite = kNoComposite;    // histogram, summary: index of its Composite
  double value = 0;                     // counter, gauge, untyped
  int64_t timestamp_ms = kNoTimestamp;  // the latest timestamp given on its lines
  bool has_timestamp() const { return timestamp_ms != kNoTimestamp; }
};

struct Family {
  std::string_view name, help;
  MetricType type = MetricType::untyped;
  bool has_help = false, has_type = false;
  uint32_t line = 0;  // where it was first mentioned (HELP, TYPE or a sample)
  uint32_t first_sample_line = 0;
  std::vector<Series> series;
};

// A parsed input. It owns the text its views point into, so it is movable but not copyable.
// Thread-safety: immutable after parsing; may be read from several threads.
class Exposition {
 public:
  Exposition();
  ~Exposition();
  Exposition(Exposition&&) noexcept;
  Exposition& operator=(Exposition&&) noexcept;
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  const std::vector<Family>& families() const { return families_; }
  std::size_t series_count() const;
  // The family of that name, or nullptr.
  const Family* find(std::string_view name) const;

  // The i-th label of a series (sorted by name), and all of them into `out` (replacing it).
  Label label(const Series& s, std::size_t i) const {
    const StoredLabel& l = labels_[s.labels_begin + i];
    return {view(l.name_at, l.name_len), view(l.value_at, l.value_len)};
  }
  void labels(const Series& s, std::vector<Label>& out) const;
  const Composite& composite(const Series& s) const { return composites_[s.composite]; }
  // `name{a="x",b="y"}` with Prometheus' escaping, for messages.
  std::string series_text(const Family& family, const Series& series) const;

 private:
  friend class PrometheusParser;
  friend class InfluxParser;
  struct Storage {
    std::string text;
    std::string decoded;           // unescaped label values and sanitized label names
    std::deque<std::string> kept;  // family names and help texts: views stay valid as it grows
  };
  std::string_view view(uint32_t at, uint32_t len) const {
    const std::string& base =
        (at & StoredLabel::kDecoded) != 0 ? storage_->decoded : storage_->text;
    return std::string_view(base.data() + (at & ~StoredLabel::kDecoded), len);
  }
  // Stores a label seen during parsing (a view into the text, or anywhere else: then copied).
  StoredLabel store(const Label& label);
  uint32_t store_text(std::string_view s);

  // What parse_prometheus() remembers of each line of its input, so that the next version of
  // that input can be matched line for line and only its values read (detail::update_values()).
  struct LineShape {
    static constexpr uint32_t kWholeLine = std::numeric_limits<uint32_t>::max();
    uint32_t value_at = kWholeLine;  // sample line: offset of its value in the line
    uint32_t family = 0;             // sample line: its family
  };

  std::unique_ptr<Storage> storage_;
  std::vector<Family> families_;
  std::vector<StoredLabel> labels_;
  std::vector<Composite> composites_;
  std::vector<LineShape> shapes_;  // one per line of the input, when has_shapes_
  bool has_shapes_ = false;        // a Prometheus text input without timestamps
};

struct ParseOptions {
  // node_exporter's textfile collector refuses client-side timestamps; so does textfile here.
  bool allow_timestamps = true;
  // The format requires the last line to end with '\n'; a file cut short while being written
  // usually does not. For files; off for HTTP bodies and command output, which are complete.
  bool require_final_newline = false;
};

// Parses the Prometheus text exposition format 0.0.4. `text` is taken over by `out`. On failure
// returns false, sets `error` to "line N: what was found, what was expected", and leaves `out`
// empty.
bool parse_prometheus(std::string text, Exposition& out, std::string& error,
                      const ParseOptions& options = {});

struct InfluxOptions {
  // Unit of the timestamps: "ns" (InfluxDB's default), "us", "ms" or "s".
  std::string precision = "ns";
};

// Parses InfluxDB line protocol: `measurement[,tag=value...] field=value[,field=value...]
// [timestamp]`. Each numeric or boolean field becomes a gauge named `<measurement>_<field>` with
// the tags as labels; names are sanitized into Prometheus names (invalid characters become '_').
// String fields are skipped. A series given on several lines keeps the last line's value.
bool parse_influx(std::string text, Exposition& out, std::string& error,
                  const InfluxOptions& options = {});

// Helpers shared with the plugins.
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
// Replaces every character outside [a-zA-Z0-9_:] (and ':' too when !allow_colon) by '_', and
// prefixes '_' to a leading digit. Empty stays empty.
std::string sanitize_name(std::string_view name, bool allow_colon);
// Appends `value` with the label-value escaping of the text format (\\, \", \n).
void append_escaped(std::string& out, std::string_view value);
// Prometheus' float formatting for messages: "1", "0.25", "+Inf", "NaN".
std::string format_value(double value);

}  // namespace vigil::plugin_text
