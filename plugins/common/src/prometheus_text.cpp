// vigil_plugin_text: the Prometheus text exposition format 0.0.4 parser.
//
// One pass over the text, line by line: comments (HELP, TYPE, others ignored), then samples
// `name{labels} value [timestamp]`. Samples are grouped into families the way Prometheus' own
// parser does: a name with a TYPE is its family; `x_bucket`, `x_sum`, `x_count` join histogram
// `x`, `x_sum`, `x_count` and `x{quantile=...}` join summary `x`; any other name is an untyped
// family of its own. Histogram and summary lines are merged into one composite series per label
// set (without `le` / `quantile`). A finishing pass checks what needs the whole input: buckets
// cumulative and equal across a family's series, counts whole, `_count` matching `+Inf`.
//
// Speed matters (100,000 lines in a few ms): names and values stay views into the text, only
// values with escape sequences are copied, consecutive samples of one family skip the name
// lookup, and duplicates are found with a flat hash index. The next version of an input that
// only changed its values (a rewritten textfile) is not parsed again: update() matches it line
// by line against the one parsed, and reads only the values. This file must never report an error
// without the line number and what was found, and never let a duplicate series through.
#include "text_internal.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace vigil::plugin_text {

using detail::is_blank;
using detail::quote_for_message;

namespace {

enum class Role { plain, bucket, sum, count, quantile };

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

const char* type_name(MetricType t) {
  return metric_type_name(t);
}

bool parse_type(std::string_view token, MetricType& out) {
  using detail::equal_ignore_case;
  if (equal_ignore_case(token, "counter")) {
    out = MetricType::counter;
  } else if (equal_ignore_case(token, "gauge")) {
    out = MetricType::gauge;
  } else if (equal_ignore_case(token, "histogram")) {
    out = MetricType::histogram;
  } else if (equal_ignore_case(token, "summary")) {
    out = MetricType::summary;
  } else if (equal_ignore_case(token, "untyped")) {
    out = MetricType::untyped;
  } else {
    return false;
  }
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string buckets_text(const std::vector<double>& bounds) {
  std::string out = "[";
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (i > 0) out += ", ";
    out += format_value(bounds[i]);
  }
  return out + "]";
}

bool whole_non_negative(double v) {
  return std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 1.8e19;
}

}  // namespace

// Thread-safety: one parser per input, used by one thread.
class PrometheusParser {
 public:
  PrometheusParser(Exposition& out, const ParseOptions& options)
      : out_(out), storage_(*out.storage_), options_(options) {}

  static bool parse(std::string text, Exposition& out, std::string& error,
                    const ParseOptions& options) {
    out = Exposition();
    out.storage_->text = std::move(text);
    PrometheusParser parser(out, options);
    if (!parser.run(error)) {
      out = Exposition();
      return false;
    }
    error.clear();
    return true;
  }

  bool run(std::string& error) {
    const std::string& text = storage_.text;
    if (text.size() > kMaxInputBytes) {
      error = "the input is " + std::to_string(text.size()) + " bytes; at most " +
              std::to_string(kMaxInputBytes) + " can be parsed";
      return false;
    }
    const char* pos = text.data();
    const char* text_end = text.data() + text.size();
    // Sized once from the line count: growing them line by line would copy and fault in
    // several times the memory (most of the cost of a 100,000-line parse).
    std::size_t lines = 1;
    for (const char* q = pos; (q = static_cast<const char*>(std::memchr(q, '\n', text_end - q)));
         ++q)
      ++lines;
    where_.reserve(lines);
    plain_keys_.reserve(lines);
    total_lines_ = lines;
    out_.labels_.reserve(lines * 2);
    out_.shapes_.reserve(lines);
    while (pos < text_end) {
      ++line_;
      lines_left_ = total_lines_ - line_ + 1;
      const char* nl = static_cast<const char*>(std::memchr(pos, '\n', text_end - pos));
      if (nl == nullptr && options_.require_final_newline) {
        return fail(error,
                    "the last line does not end with a newline; the file may be in the middle of "
                    "being written (write it to a temporary file and rename it into place)");
      }
      end_ = nl != nullptr ? nl : text_end;
      if (end_ > pos && end_[-1] == '\r') --end_;
      p_ = pos;
      skip_blanks();
      bool ok = true;
      value_at_ = nullptr;
      if (p_ < end_) ok = *p_ == '#' ? comment() : sample();
      if (!ok) return fail(error, message_);
      Exposition::LineShape shape;
      if (value_at_ != nullptr) {
        shape.value_at = static_cast<uint32_t>(value_at_ - pos);
        shape.family = last_family_;
      }
      out_.shapes_.push_back(shape);
      pos = nl != nullptr ? nl + 1 : text_end;
    }
    if (!finish()) return fail(error, message_);
    // Timestamps are not matched by update(): such an input is always parsed in full.
    out_.has_shapes_ = !had_timestamp_;
    if (had_timestamp_) out_.shapes_ = {};
    return true;
  }

  // See detail::update_values() in text_internal.hpp. Three steps: match every line of `text`
  // with its line in e's input and read the values (nothing changed yet), swap them into `e`,
  // and check the histograms and summaries again (swapping back when they fail). The line
  // parts before a value are compared byte for byte, so a matched line is parsed exactly as
  // its old line was: same family, labels, bound and series, and no duplicate among them.
  static bool update(std::string_view text, Exposition& e, const ParseOptions& options,
                     detail::UpdateScratch& scratch) {
    if (!e.has_shapes_ || e.storage_ == nullptr || text.size() > kMaxInputBytes) return false;
    if (options.require_final_newline && !text.empty() && text.back() != '\n') return false;

    // Where each line's value goes. Plain series have one line each, in line order within
    // their family; the lines of a histogram or summary are found by the line numbers it kept.
    std::vector<std::pair<uint32_t, double*>> composite_lines;
    if (!e.composites_.empty()) {
      for (Family& f : e.families_) {
        if (f.type != MetricType::histogram && f.type != MetricType::summary) continue;
        for (const Series& s : f.series) {
          Composite& c = e.composites_[s.composite];
          for (Point& p : c.points) composite_lines.emplace_back(p.line, &p.value);
          if (c.has_sum) composite_lines.emplace_back(c.sum_line, &c.sum);
          if (c.has_count) composite_lines.emplace_back(c.count_line, &c.count);
        }
      }
      std::sort(composite_lines.begin(), composite_lines.end());
    }
    std::size_t next_composite = 0;
    std::vector<uint32_t> next_series(e.families_.size(), 0);
    std::vector<double>& values = scratch.values;
    std::vector<double*>& targets = scratch.targets;
    values.clear();
    targets.clear();
    values.reserve(e.shapes_.size());
    targets.reserve(e.shapes_.size());

    const std::string& old = e.storage_->text;
    const char* o = old.data();
    const char* const o_end = o + old.size();
    const char* n = text.data();
    const char* const n_end = n + text.size();
    uint32_t line = 0;
    for (const Exposition::LineShape& shape : e.shapes_) {
      ++line;
      if (n >= n_end) return false;
      if (shape.value_at == Exposition::LineShape::kWholeLine) {
        // A comment or a blank line: the same bytes, newline included.
        const char* onl = static_cast<const char*>(std::memchr(o, '\n', o_end - o));
        const std::size_t len = static_cast<std::size_t>((onl != nullptr ? onl + 1 : o_end) - o);
        if (static_cast<std::size_t>(n_end - n) < len || std::memcmp(n, o, len) != 0) return false;
        o += len;
        n += len;
        continue;
      }
      // A sample: the same bytes up to the value, then a value and nothing else, as sample()
      // reads it (the line ends before "\r\n" or "\n", the value at a blank).
      const std::size_t at = shape.value_at;
      if (static_cast<std::size_t>(n_end - n) <= at || !detail::same_bytes(n, o, at)) return false;
      const char* value_at = n + at;
      const char* nl = value_at;
      while (nl < n_end && *nl != '\n') ++nl;
      const char* end = nl;
      if (end > n && end[-1] == '\r') --end;
      const char* value_end = value_at;
      while (value_end < end && !is_blank(*value_end)) ++value_end;
      if (value_end == value_at) return false;
      const char* rest = value_end;
      while (rest < end && is_blank(*rest)) ++rest;
      if (rest != end) return false;  // a timestamp or more: the full parse says what it is
      double value;
      if (!detail::parse_double(std::string_view(value_at, value_end - value_at), value))
        return false;
      Family& f = e.families_[shape.family];
      if (f.type != MetricType::histogram && f.type != MetricType::summary) {
        uint32_t& k = next_series[shape.family];
        if (k >= f.series.size()) return false;
        targets.push_back(&f.series[k++].value);
      } else {
        if (next_composite >= composite_lines.size() ||
            composite_lines[next_composite].first != line)
          return false;
        targets.push_back(composite_lines[next_composite++].second);
      }
      values.push_back(value);
      n = nl < n_end ? nl + 1 : n_end;
      const char* onl = o + at;
      while (onl < o_end && *onl != '\n') ++onl;
      o = onl < o_end ? onl + 1 : o_end;
    }
    if (n != n_end || next_composite != composite_lines.size()) return false;

    // Swapped in, so that undoing it is the same loop.
    auto swap_all = [&] {
      for (std::size_t k = 0; k < targets.size(); ++k) std::swap(*targets[k], values[k]);
    };
    swap_all();
    if (!composite_lines.empty()) {
      PrometheusParser checker(e, options);
      for (Family& f : e.families_) {
        bool ok = f.type == MetricType::histogram ? checker.finish_histogram(f)
                  : f.type == MetricType::summary ? checker.finish_summary(f)
                                                  : true;
        if (!ok) {
          swap_all();
          return false;
        }
      }
    }
    return true;
  }

 private:
  // ---- low-level scanning -------------------------------------------------------------------

  void skip_blanks() {
    while (p_ < end_ && is_blank(*p_)) ++p_;
  }
  std::string_view token() {
    const char* b = p_;
    while (p_ < end_ && !is_blank(*p_)) ++p_;
    return std::string_view(b, p_ - b);
  }
  // What the parser found at `from`, for messages: a quoted token or "end of line".
  std::string found(const char* from) const {
    if (from >= end_) return "end of line";
    const char* e = from;
    while (e < end_ && !is_blank(*e)) ++e;
    return quote_for_message(std::string_view(from, e - from));
  }
  bool error(std::string message) {
    message_ = std::move(message);
    error_line_ = line_;
    return false;
  }
  bool error_at(uint32_t line, std::string message) {
    message_ = std::move(message);
    error_line_ = line;
    return false;
  }
  bool fail(std::string& out, const std::string& message) {
    out = "line " + std::to_string(error_line_ != 0 ? error_line_ : line_) + ": " + message;
    return false;
  }
  std::string_view keep(std::string decoded) {
    storage_.kept.push_back(std::move(decoded));
    return storage_.kept.back();
  }

  // ---- families ----------------------------------------------------------------------------

  uint32_t find_family(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? kNone : it->second;
  }

  // The histogram or summary that exposes `name` as one of its own lines, or kNone.
  uint32_t composite_owner(std::string_view name, Role* role) const {
    static const std::pair<std::string_view, Role> kSuffixes[] = {
        {"_bucket", Role::bucket}, {"_sum", Role::sum}, {"_count", Role::count}};
    for (const auto& [suffix, r] : kSuffixes) {
      if (!ends_with(name, suffix)) continue;
      uint32_t base = find_family(name.substr(0, name.size() - suffix.size()));
      if (base == kNone) continue;
      MetricType t = out_.families_[base].type;
      if (t == MetricType::histogram || (t == MetricType::summary && r != Role::bucket)) {
        if (role != nullptr) *role = r;
        return base;
      }
    }
    return kNone;
  }

  // Creates a family for a name no family has yet; fails when a histogram or summary already
  // exposes a line of that name.
  uint32_t create_family(std::string_view name) {
    uint32_t owner = composite_owner(name, nullptr);
    if (owner != kNone) {
      const Family& o = out_.families_[owner];
      error("metric " + std::string(name) + " conflicts with " + type_name(o.type) + " " +
            std::string(o.name) + " (line " + std::to_string(o.line) + "), which exposes " +
            std::string(name) + " itself");
      return kNone;
    }
    Family f;
    f.name = name;
    f.line = line_;
    out_.families_.push_back(std::move(f));
    uint32_t index = static_cast<uint32_t>(out_.families_.size() - 1);
    by_name_.emplace(name, index);
    return index;
  }

  // ---- comments: HELP, TYPE, anything else ignored -----------------------------------------

  bool comment() {
    ++p_;
    skip_blanks();
    std::string_view keyword = token();
    bool is_help = keyword == "HELP", is_type = keyword == "TYPE";
    if (!is_help && !is_type) return true;
    last_name_ = {};  // a TYPE can change what a cached name means
    skip_blanks();
    const char* name_at = p_;
    std::string_view name = token();
    if (name.empty())
      return error(std::string(keyword) + " line without a metric name; expected # " +
                   std::string(keyword) + " <metric name> " + (is_help ? "<help text>" : "<type>"));
    if (!valid_metric_name(name))
      return error("invalid metric name " + found(name_at) + " in " + std::string(keyword) +
                   " line; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    uint32_t index = find_family(name);
    if (index == kNone) {
      index = create_family(name);
      if (index == kNone) return false;
    }
    Family& f = out_.families_[index];
    skip_blanks();
    if (is_help) {
      if (f.has_help)
        return error("second HELP line for " + std::string(name) + "; the first is on line " +
                     std::to_string(help_line_[index]));
      std::string_view help(p_, end_ - p_);
      if (help.find('\\') != std::string_view::npos) {
        std::string decoded;
        decoded.reserve(help.size());
        for (std::size_t i = 0; i < help.size(); ++i) {
          if (help[i] != '\\') {
            decoded += help[i];
            continue;
          }
          char next = i + 1 < help.size() ? help[i + 1] : '\0';
          if (next == '\\') {
            decoded += '\\';
          } else if (next == 'n') {
            decoded += '\n';
          } else {
            return error("invalid escape sequence " +
                         quote_for_message(help.substr(i, next != '\0' ? 2 : 1)) +
                         " in the HELP text of " + std::string(name) + "; expected \\\\ or \\n");
          }
          ++i;
        }
        help = keep(std::move(decoded));
      }
      std::size_t bad = detail::invalid_utf8_at(help);
      if (bad != std::string_view::npos)
        return error("the HELP text of " + std::string(name) + " is not valid UTF-8 (byte " +
                     std::to_string(bad) + ")");
      f.help = help;
      f.has_help = true;
      if (help_line_.size() <= index) help_line_.resize(index + 1, 0);
      help_line_[index] = line_;
      return true;
    }
    // TYPE
    const char* type_at = p_;
    std::string_view type_token = token();
    if (type_token.empty())
      return error("TYPE line for " + std::string(name) +
                   " without a type; expected counter, gauge, histogram, summary or untyped");
    MetricType type;
    if (!parse_type(type_token, type))
      return error("unknown metric type " + found(type_at) + " for " + std::string(name) +
                   "; expected counter, gauge, histogram, summary or untyped");
    skip_blanks();
    if (p_ < end_)
      return error("unexpected text after the type of " + std::string(name) + ": " + found(p_));
    if (f.has_type)
      return error("second TYPE line for " + std::string(name) + "; the first is on line " +
                   std::to_string(type_line_[index]));
    if (!f.series.empty())
      return error("TYPE line for " + std::string(name) + " comes after its first sample on line " +
                   std::to_string(f.first_sample_line) + "; expected TYPE before the samples");
    if (type == MetricType::histogram || type == MetricType::summary) {
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (type == MetricType::summary && suffix == "_bucket") continue;
        std::string line_name = std::string(name) + std::string(suffix);
        uint32_t other = find_family(line_name);
        if (other != kNone)
          return error("TYPE " + std::string(type_name(type)) + " for " + std::string(name) +
                       " conflicts with metric " + line_name + " (line " +
                       std::to_string(out_.families_[other].line) + "): a " + type_name(type) +
                       " exposes " + line_name + " itself");
      }
    }
    f.type = type;
    f.has_type = true;
    if (type_line_.size() <= index) type_line_.resize(index + 1, 0);
    type_line_[index] = line_;
    return true;
  }

  // ---- samples -----------------------------------------------------------------------------

  bool sample() {
    const char* name_at = p_;
    while (p_ < end_ && detail::metric_char(*p_)) ++p_;
    if (p_ == name_at) return error("expected a metric name, found " + found(name_at));
    if (p_ < end_ && !is_blank(*p_) && *p_ != '{') {
      const char* e = p_;
      while (e < end_ && !is_blank(*e) && *e != '{') ++e;
      return error("invalid character " + quote_for_message(std::string_view(p_, 1)) +
                   " in metric name " + quote_for_message(std::string_view(name_at, e - name_at)) +
                   "; expected [a-zA-Z_:][a-zA-Z0-9_:]*");
    }
    std::string_view name(name_at, p_ - name_at);
    if (detail::is_digit(name[0]))
      return error("invalid metric name " + quote_for_message(name) +
                   ": it must not start with a digit");
    skip_blanks();
    scratch_.clear();
    bool had_labels = false;
    if (p_ < end_ && *p_ == '{') {
      had_labels = true;
      if (!labels()) return false;
      skip_blanks();
    }
    if (!canonical_labels()) return false;

    uint32_t index;
    Role role;
    if (!last_name_.empty() && name == last_name_) {
      index = last_family_;
      role = last_role_;
    } else {
      if (!resolve(name, index, role)) return false;
      last_name_ = name;
      last_family_ = index;
      last_role_ = role;
    }
    double bound = 0;
    if (!special_label(index, role, name, bound)) return false;
    const uint32_t key =
        static_cast<uint32_t>(detail::hash_labels(index, scratch_.data(), scratch_.size()));
    if (role != Role::plain) index_.prefetch(key);  // read the value while it arrives

    const char* value_at = p_;
    value_at_ = value_at;
    std::string_view value_token = token();
    double value = 0;
    if (value_token.empty() || !detail::parse_double(value_token, value))
      return error(std::string("expected a value after the ") +
                   (had_labels ? "labels" : "metric name") + ", found " + found(value_at));
    skip_blanks();
    int64_t timestamp = kNoTimestamp;
    if (p_ < end_) {
      had_timestamp_ = true;
      const char* ts_at = p_;
      std::string_view ts = token();
      if (!options_.allow_timestamps)
        return error("timestamps are not supported here, found " + found(ts_at) +
                     " after the value; remove the timestamp (the sample is taken when read)");
      if (!detail::parse_int64(ts, timestamp) || timestamp == kNoTimestamp)
        return error("expected a timestamp (integer milliseconds) after the value, found " +
                     found(ts_at));
      skip_blanks();
      if (p_ < end_) return error("unexpected text after the timestamp: " + found(p_));
    }
    return add(index, role, name, key, bound, value, timestamp);
  }

  // `{name="value",...}` into scratch_; p_ is on '{'.
  bool labels() {
    ++p_;
    for (;;) {
      skip_blanks();
      if (p_ >= end_) return error("expected a label name or '}', found end of line");
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      const char* name_at = p_;
      while (p_ < end_ && detail::label_char(*p_)) ++p_;
      if (p_ == name_at) return error("expected a label name, found " + found(name_at));
      std::string_view name(name_at, p_ - name_at);
      if (detail::is_digit(name[0]))
        return error("invalid label name " + quote_for_message(name) +
                     ": it must not start with a digit");
      if (name.size() >= 2 && name[0] == '_' && name[1] == '_')
        return error("label name " + quote_for_message(name) +
                     " is reserved: names starting with \"__\" are for Prometheus' internal use");
      skip_blanks();
      if (p_ >= end_ || *p_ != '=')
        return error("expected '=' after label name " + quote_for_message(name) + ", found " +
                     found(p_));
      ++p_;
      skip_blanks();
      if (p_ >= end_ || *p_ != '"')
        return error("expected a quoted label value after " + std::string(name) + "=, found " +
                     found(p_));
      ++p_;
      std::string_view value;
      if (!label_value(name, value)) return false;
      scratch_.push_back({name, value});
      skip_blanks();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < end_ && *p_ == '}') {
        ++p_;
        return true;
      }
      return error("expected ',' or '}' after the value of label " + quote_for_message(name) +
                   ", found " + found(p_));
    }
  }

  // A label value after its opening quote; leaves p_ after the closing quote. The common case,
  // plain ASCII without escapes, stays a view into the text.
  bool label_value(std::string_view name, std::string_view& value) {
    const char* b = p_;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        value = std::string_view(b, p_ - b);
        ++p_;
        return true;
      }
      if (c == '\\' || c >= 0x80 || c == 0) break;
      ++p_;
    }
    p_ = b;
    return label_value_slow(name, value);
  }

  // Escapes to decode, or bytes that need the UTF-8 check.
  __attribute__((noinline)) bool label_value_slow(std::string_view name, std::string_view& value) {
    const char* b = p_;
    bool escaped = false;
    std::string decoded;
    for (;;) {
      if (p_ >= end_) return unterminated(name);
      char c = *p_;
      if (c == '"') break;
      if (c == '\\') {
        if (!escaped) decoded.assign(b, p_ - b);
        escaped = true;
        char next = p_ + 1 < end_ ? p_[1] : '\0';
        if (next == '\\') {
          decoded += '\\';
        } else if (next == '"') {
          decoded += '"';
        } else if (next == 'n') {
          decoded += '\n';
        } else {
          return error("invalid escape sequence " +
                       quote_for_message(std::string_view(p_, next != '\0' ? 2 : 1)) +
                       " in the value of label " + quote_for_message(name) +
                       "; expected \\\\, \\\" or \\n");
        }
        p_ += 2;
        continue;
      }
      if (escaped) decoded += c;
      ++p_;
    }
    value = escaped ? keep(std::move(decoded)) : std::string_view(b, p_ - b);
    ++p_;
    std::size_t bad = detail::invalid_utf8_at(value);
    if (bad != std::string_view::npos)
      return error("the value of label " + quote_for_message(name) + " is not valid UTF-8 (byte " +
                   std::to_string(bad) + " of the value); expected UTF-8 text");
    return true;
  }

  bool unterminated(std::string_view name) {
    return error("the value of label " + quote_for_message(name) +
                 " is not terminated; expected a closing '\"' before the end of the line");
  }

  // Sorts scratch_ by name, refuses a name given twice, drops empty values (Prometheus treats
  // a label with an empty value as absent).
  bool canonical_labels() {
    if (scratch_.empty()) return true;
    detail::sort_labels(scratch_.data(), scratch_.size());
    for (std::size_t i = 1; i < scratch_.size(); ++i)
      if (scratch_[i].name == scratch_[i - 1].name)
        return error("label " + quote_for_message(scratch_[i].name) + " is given twice");
    scratch_.erase(std::remove_if(scratch_.begin(), scratch_.end(),
                                  [](const Label& l) { return l.value.empty(); }),
                   scratch_.end());
    return true;
  }

  bool resolve(std::string_view name, uint32_t& index, Role& role) {
    index = find_family(name);
    if (index != kNone) {
      const Family& f = out_.families_[index];
      if (f.type == MetricType::histogram) {
        std::string n(name);
        return error("histogram " + n + ": a sample named " + n + " is not allowed; expected " + n +
                     "_bucket, " + n + "_sum or " + n + "_count");
      }
      role = f.type == MetricType::summary ? Role::quantile : Role::plain;
      return true;
    }
    index = composite_owner(name, &role);
    if (index != kNone) return true;
    role = Role::plain;
    index = create_family(name);
    return index != kNone;
  }

  // Removes the label `special` from scratch_ into `value`; false when absent.
  bool take_label(std::string_view special, std::string_view& value) {
    for (std::size_t i = 0; i < scratch_.size(); ++i) {
      if (scratch_[i].name == special) {
        value = scratch_[i].value;
        scratch_.erase(scratch_.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  }
  bool has_label(std::string_view special) const {
    for (const Label& l : scratch_)
      if (l.name == special) return true;
    return false;
  }

  // The series of family `index` with scratch_'s labels (hashed to `key`), created when new.
  Series& series_for(uint32_t index, uint32_t key, bool composite, bool& created) {
    Family& f = out_.families_[index];
    // Plain series are checked for duplicates all at once in finish(), by sorting their hashes:
    // a lookup per line in a table of 100,000 would miss the cache on nearly every line.
    const uint32_t* hit = !composite ? nullptr : index_.find(key, [&](uint32_t ordinal) {
      uint64_t w = where_[ordinal];
      if (static_cast<uint32_t>(w >> 32) != index) return false;
      return detail::same_labels(out_, f.series[static_cast<uint32_t>(w)], scratch_.data(),
                                 scratch_.size());
    });
    if (hit != nullptr) {
      created = false;
      return f.series[static_cast<uint32_t>(where_[*hit])];
    }
    created = true;
    Series s;
    s.labels_begin = static_cast<uint32_t>(out_.labels_.size());
    s.labels_count = static_cast<uint32_t>(scratch_.size());
    s.line = line_;
    for (const Label& l : scratch_) out_.labels_.push_back(out_.store(l));
    if (composite) {
      s.composite = static_cast<uint32_t>(out_.composites_.size());
      out_.composites_.emplace_back();
    }
    if (f.series.empty()) {
      f.first_sample_line = line_;
      // Most inputs are a few large families: the first one to get a sample is made big enough
      // for the rest of the input (pages it never fills are never touched, so they cost no
      // memory), the others start at a capped size; growing a 100,000-series family by
      // doubling copied and faulted in several megabytes per parse.
      f.series.reserve(reserved_family_ ? std::min<std::size_t>(lines_left_, 4096) : lines_left_);
      reserved_family_ = true;
    }
    f.series.push_back(s);
    const uint32_t ordinal = static_cast<uint32_t>(where_.size());
    if (composite) {
      index_.insert(key, ordinal);
    } else {
      plain_keys_.push_back(uint64_t{key} << 32 | ordinal);
    }
    where_.push_back((uint64_t{index} << 32) | (f.series.size() - 1));
    return f.series.back();
  }

  std::string current_series_text(const Family& f) const {
    std::string out(f.name);
    if (scratch_.empty()) return out;
    out += '{';
    for (std::size_t i = 0; i < scratch_.size(); ++i) {
      if (i > 0) out += ',';
      out.append(scratch_[i].name);
      out += "=\"";
      append_escaped(out, scratch_[i].value);
      out += '"';
    }
    return out + "}";
  }

  // For composite roles: takes "le" / "quantile" out of scratch_ into `bound`, or refuses it
  // where it does not belong.
  bool special_label(uint32_t index, Role role, std::string_view name, double& bound) {
    if (role == Role::plain) return true;
    const Family& family = out_.families_[index];
    const bool histogram = family.type == MetricType::histogram;
    if (role == Role::bucket || role == Role::quantile) {
      std::string_view special = role == Role::bucket ? "le" : "quantile";
      std::string_view text;
      if (!take_label(special, text))
        return error(std::string(histogram ? "histogram " : "summary ") + std::string(family.name) +
                     " needs a \"" + std::string(special) + "\" label on " + std::string(name));
      if (!detail::parse_double(text, bound) || std::isnan(bound))
        return error("invalid \"" + std::string(special) + "\" value " + quote_for_message(text) +
                     " on " + std::string(name) +
                     (histogram ? "; expected a number or +Inf" : "; expected a number"));
      if (histogram && bound == -std::numeric_limits<double>::infinity())
        return error("invalid \"le\" value " + quote_for_message(text) + " on " +
                     std::string(name) + "; expected a finite upper bound or +Inf");
      if (!histogram && !(bound >= 0 && bound <= 1))
        return error("quantile " + quote_for_message(text) + " on " + std::string(name) +
                     " is out of range; expected a number between 0 and 1");
      return true;
    }
    std::string_view special = histogram ? "le" : "quantile";
    if (has_label(special))
      return error("unexpected label \"" + std::string(special) + "\" on " + std::string(name) +
                   "; it belongs on " +
                   (histogram ? std::string(family.name) + "_bucket" : std::string(family.name)));
    return true;
  }

  bool add(uint32_t index, Role role, std::string_view name, uint32_t key, double bound,
           double value, int64_t timestamp) {
    const Family& family = out_.families_[index];
    bool created = false;
    Series& s = series_for(index, key, role != Role::plain, created);
    (void)created;
    if (role == Role::plain) {
      s.value = value;
      s.timestamp_ms = timestamp;
      return true;
    }
    Composite& c = out_.composites_[s.composite];
    if (timestamp != kNoTimestamp && (!s.has_timestamp() || timestamp > s.timestamp_ms))
      s.timestamp_ms = timestamp;
    switch (role) {
      case Role::bucket:
      case Role::quantile:
        for (const Point& p : c.points) {
          if (p.bound == bound)
            return error(std::string(role == Role::bucket ? "duplicate bucket le=\""
                                                          : "duplicate quantile=\"") +
                         format_value(bound) + "\" for " + current_series_text(family) +
                         "; first seen on line " + std::to_string(p.line));
        }
        c.points.push_back({bound, value, line_});
        return true;
      case Role::sum:
        if (c.has_sum)
          return error("duplicate " + std::string(name) + " for " + current_series_text(family) +
                       "; first seen on line " + std::to_string(c.sum_line));
        c.sum = value;
        c.has_sum = true;
        c.sum_line = line_;
        return true;
      case Role::count:
        if (c.has_count)
          return error("duplicate " + std::string(name) + " for " + current_series_text(family) +
                       "; first seen on line " + std::to_string(c.count_line));
        c.count = value;
        c.has_count = true;
        c.count_line = line_;
        return true;
      case Role::plain:
        break;
    }
    return true;
  }

  // ---- checks that need the whole input ------------------------------------------------------

  bool finish() {
    if (!find_duplicates()) return false;
    for (Family& f : out_.families_) {
      if (f.type == MetricType::histogram) {
        if (!finish_histogram(f)) return false;
      } else if (f.type == MetricType::summary) {
        if (!finish_summary(f)) return false;
      }
    }
    return true;
  }

  // Sorts the plain series' (hash << 32 | ordinal) keys by hash (a stable LSD radix sort, so
  // equal hashes keep input order) and compares the series within each run of equal hashes.
  // Reports the duplicate that comes first in the input, as a line-by-line check would.
  bool find_duplicates() {
    std::vector<uint64_t>& keys = plain_keys_;
    if (keys.size() < 2) return true;
    std::vector<uint64_t> tmp(keys.size());
    for (int shift = 32; shift < 64; shift += 8) {
      std::size_t counts[257] = {0};
      for (uint64_t k : keys) ++counts[((k >> shift) & 0xff) + 1];
      for (int i = 0; i < 256; ++i) counts[i + 1] += counts[i];
      for (uint64_t k : keys) tmp[counts[(k >> shift) & 0xff]++] = k;
      keys.swap(tmp);
    }
    const Series* first = nullptr;
    const Series* second = nullptr;
    uint32_t second_family = 0;
    for (std::size_t i = 0; i < keys.size();) {
      std::size_t j = i + 1;
      while (j < keys.size() && (keys[j] >> 32) == (keys[i] >> 32)) ++j;
      for (std::size_t a = i; a + 1 < j; ++a) {
        for (std::size_t b = a + 1; b < j; ++b) {
          uint64_t wa = where_[static_cast<uint32_t>(keys[a])];
          uint64_t wb = where_[static_cast<uint32_t>(keys[b])];
          if ((wa >> 32) != (wb >> 32)) continue;
          const Family& f = out_.families_[wa >> 32];
          const Series& sa = f.series[static_cast<uint32_t>(wa)];
          const Series& sb = f.series[static_cast<uint32_t>(wb)];
          if (sa.labels_count != sb.labels_count) continue;
          bool same = true;
          for (uint32_t l = 0; l < sa.labels_count && same; ++l) {
            Label x = out_.label(sa, l), y = out_.label(sb, l);
            same = x.name == y.name && x.value == y.value;
          }
          if (!same) continue;
          const Series& later = sa.line < sb.line ? sb : sa;
          const Series& earlier = sa.line < sb.line ? sa : sb;
          if (second == nullptr || later.line < second->line) {
            first = &earlier;
            second = &later;
            second_family = static_cast<uint32_t>(wa >> 32);
          }
        }
      }
      i = j;
    }
    if (second == nullptr) return true;
    const Family& f = out_.families_[second_family];
    return error_at(second->line, "duplicate series " + out_.series_text(f, *second) +
                                      "; first seen on line " + std::to_string(first->line));
  }

  bool finish_histogram(Family& f) {
    std::vector<double> reference;
    const Series* reference_series = nullptr;
    std::vector<double> bounds;
    for (const Series& s : f.series) {
      Composite& c = out_.composites_[s.composite];
      std::sort(c.points.begin(), c.points.end(),
                [](const Point& a, const Point& b) { return a.bound < b.bound; });
      const Point* previous = nullptr;
      for (const Point& p : c.points) {
        if (!whole_non_negative(p.value))
          return error_at(p.line, "bucket le=\"" + format_value(p.bound) + "\" of " +
                                      out_.series_text(f, s) + " counts " + format_value(p.value) +
                                      "; expected a whole, non-negative number of observations");
        if (previous != nullptr && p.value < previous->value)
          return error_at(p.line, "bucket le=\"" + format_value(p.bound) + "\" of " +
                                      out_.series_text(f, s) + " counts " + format_value(p.value) +
                                      ", fewer than bucket le=\"" + format_value(previous->bound) +
                                      "\" (" + format_value(previous->value) + " on line " +
                                      std::to_string(previous->line) +
                                      "); expected cumulative counts");
        previous = &p;
      }
      if (c.has_count) {
        if (!whole_non_negative(c.count))
          return error_at(c.count_line,
                          std::string(f.name) + "_count of " + out_.series_text(f, s) + " is " +
                              format_value(c.count) + "; expected a whole, non-negative number");
        if (previous != nullptr && std::isinf(previous->bound) && c.count != previous->value)
          return error_at(c.count_line,
                          std::string(f.name) + "_count of " + out_.series_text(f, s) + " is " +
                              format_value(c.count) + " but its +Inf bucket (line " +
                              std::to_string(previous->line) + ") counts " +
                              format_value(previous->value) + "; expected the same number");
        if (previous != nullptr && c.count < previous->value)
          return error_at(c.count_line,
                          std::string(f.name) + "_count of " + out_.series_text(f, s) + " is " +
                              format_value(c.count) + ", fewer than bucket le=\"" +
                              format_value(previous->bound) + "\" (" +
                              format_value(previous->value) + "); expected at least as many");
      }
      bounds.clear();
      for (const Point& p : c.points)
        if (std::isfinite(p.bound)) bounds.push_back(p.bound);
      if (reference_series == nullptr) {
        reference = bounds;
        reference_series = &s;
      } else if (bounds != reference) {
        uint32_t line = c.points.empty() ? s.line : c.points.front().line;
        return error_at(line, "histogram " + std::string(f.name) + ": " + out_.series_text(f, s) +
                                  " has buckets " + buckets_text(bounds) + " but " +
                                  out_.series_text(f, *reference_series) + " (line " +
                                  std::to_string(reference_series->line) + ") has " +
                                  buckets_text(reference) +
                                  "; every series of a histogram needs the same buckets");
      }
    }
    return true;
  }

  bool finish_summary(Family& f) {
    for (const Series& s : f.series) {
      Composite& c = out_.composites_[s.composite];
      std::sort(c.points.begin(), c.points.end(),
                [](const Point& a, const Point& b) { return a.bound < b.bound; });
      if (c.points.size() > kMaxQuantiles)
        return error_at(c.points[kMaxQuantiles].line,
                        out_.series_text(f, s) + " has " + std::to_string(c.points.size()) +
                            " quantiles; at most " + std::to_string(kMaxQuantiles) +
                            " are supported");
      if (c.has_count && !whole_non_negative(c.count))
        return error_at(c.count_line, std::string(f.name) + "_count of " + out_.series_text(f, s) +
                                          " is " + format_value(c.count) +
                                          "; expected a whole, non-negative number");
    }
    return true;
  }

  Exposition& out_;
  Exposition::Storage& storage_;
  const ParseOptions& options_;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  uint32_t line_ = 0;
  std::size_t total_lines_ = 0, lines_left_ = 0;
  uint32_t error_line_ = 0;
  std::string message_;
  std::vector<Label> scratch_;
  std::unordered_map<std::string_view, uint32_t> by_name_;
  std::vector<uint32_t> help_line_, type_line_;
  detail::FlatIndex<uint32_t, uint32_t> index_;  // hash -> ordinal
  std::vector<uint64_t> where_;                  // ordinal -> family << 32 | series
  std::vector<uint64_t> plain_keys_;             // hash << 32 | ordinal, of plain series
  std::string_view last_name_;
  bool reserved_family_ = false;  // a family was sized for the rest of the input
  bool had_timestamp_ = false;
  const char* value_at_ = nullptr;  // where the current line's value starts (a sample line)
  uint32_t last_family_ = kNone;
  Role last_role_ = Role::plain;
};

bool parse_prometheus(std::string text, Exposition& out, std::string& error,
                      const ParseOptions& options) {
  return PrometheusParser::parse(std::move(text), out, error, options);
}

namespace detail {

bool update_values(std::string_view text, Exposition& e, const ParseOptions& options,
                   UpdateScratch& scratch) {
  return PrometheusParser::update(text, e, options, scratch);
}

}  // namespace detail

}  // namespace vigil::plugin_text
