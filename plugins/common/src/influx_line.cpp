// vigil_plugin_text: the InfluxDB line protocol parser, for commands (collector_exec) that print
// Telegraf-style output instead of the Prometheus text format.
//
// `measurement[,tag=value...] field=value[,field=value...] [timestamp]` per line; each numeric or
// boolean field becomes one gauge series `<measurement>_<field>{<tags>}` in the same Exposition
// model the Prometheus parser fills, so the Publisher treats both alike. Names are sanitized
// into Prometheus names; string fields carry no number and are skipped. It must never produce a
// name or label the store would refuse, and never report an error without its line.
#include "text_internal.hpp"

#include <algorithm>
#include <unordered_map>

namespace vigil::plugin_text {

using detail::quote_for_message;

// Thread-safety: one parser per input, used by one thread.
class InfluxParser {
 public:
  InfluxParser(Exposition& out, const InfluxOptions& options)
      : out_(out), storage_(*out.storage_), options_(options) {}

  static bool parse(std::string text, Exposition& out, std::string& error,
                    const InfluxOptions& options) {
    out = Exposition();
    out.storage_->text = std::move(text);
    InfluxParser parser(out, options);
    if (!parser.run(error)) {
      out = Exposition();
      return false;
    }
    error.clear();
    return true;
  }

 private:
  bool run(std::string& error) {
    if (options_.precision == "ns") {
      divisor_ = 1000000;
    } else if (options_.precision == "us") {
      divisor_ = 1000;
    } else if (options_.precision == "ms") {
      divisor_ = 1;
    } else if (options_.precision == "s") {
      multiplier_ = 1000;
    } else {
      error = "unknown timestamp precision " + quote_for_message(options_.precision) +
              "; expected ns, us, ms or s";
      return false;
    }
    const std::string& text = storage_.text;
    if (text.size() > kMaxInputBytes) {
      error = "the input is " + std::to_string(text.size()) + " bytes; at most " +
              std::to_string(kMaxInputBytes) + " can be parsed";
      return false;
    }
    const char* pos = text.data();
    const char* text_end = pos + text.size();
    while (pos < text_end) {
      ++line_;
      const char* nl = static_cast<const char*>(std::memchr(pos, '\n', text_end - pos));
      end_ = nl != nullptr ? nl : text_end;
      if (end_ > pos && end_[-1] == '\r') --end_;
      p_ = pos;
      skip_blanks();
      if (p_ < end_ && *p_ != '#' && !line()) {
        error = "line " + std::to_string(line_) + ": " + message_;
        return false;
      }
      pos = nl != nullptr ? nl + 1 : text_end;
    }
    return true;
  }

  void skip_blanks() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t')) ++p_;
  }
  bool error(std::string message) {
    message_ = std::move(message);
    return false;
  }
  // The rest of the line (shortened), or "end of line".
  std::string found() const {
    if (p_ >= end_) return "end of line";
    return quote_for_message(std::string_view(p_, end_ - p_));
  }
  std::string_view keep(std::string s) {
    storage_.kept.push_back(std::move(s));
    return storage_.kept.back();
  }

  // A token up to an unescaped character of `stops` (or a space), with backslash escapes of
  // those characters removed. A backslash before anything else is kept as is.
  std::string_view escaped_token(std::string_view stops) {
    const char* b = p_;
    bool escapes = false;
    while (p_ < end_ && *p_ != ' ' && stops.find(*p_) == std::string_view::npos) {
      if (*p_ == '\\' && p_ + 1 < end_) {
        escapes = true;
        ++p_;
      }
      ++p_;
    }
    std::string_view raw(b, p_ - b);
    if (!escapes) return raw;
    std::string decoded;
    decoded.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char next = i + 1 < raw.size() ? raw[i + 1] : '\0';
      if (raw[i] == '\\' &&
          (next == ' ' || next == '\\' || stops.find(next) != std::string_view::npos)) {
        decoded += next;
        ++i;
      } else {
        decoded += raw[i];
      }
    }
    return keep(std::move(decoded));
  }

  bool line() {
    tags_.clear();
    fields_.clear();
    std::string_view measurement = escaped_token(",");
    if (measurement.empty()) return error("expected a measurement name, found " + found());
    while (p_ < end_ && *p_ == ',') {
      ++p_;
      std::string_view key = escaped_token(",=");
      if (key.empty()) return error("expected a tag key after ',', found " + found());
      if (p_ >= end_ || *p_ != '=')
        return error("expected '=' after tag key " + quote_for_message(key) + ", found " + found());
      ++p_;
      std::string_view value = escaped_token(",=");
      tags_.push_back({key, value});
    }
    if (p_ >= end_ || *p_ != ' ')
      return error("expected a space and the fields after the measurement and tags, found " +
                   found());
    skip_blanks();
    for (;;) {
      std::string_view key = escaped_token(",=");
      if (key.empty()) return error("expected a field key, found " + found());
      if (p_ >= end_ || *p_ != '=')
        return error("expected '=' after field key " + quote_for_message(key) + ", found " +
                     found());
      ++p_;
      if (!field(key)) return false;
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      break;
    }
    skip_blanks();
    int64_t timestamp_ms = 0;
    bool has_timestamp = false;
    if (p_ < end_) {
      const char* b = p_;
      while (p_ < end_ && *p_ != ' ' && *p_ != '\t') ++p_;
      int64_t ts = 0;
      std::string_view token(b, p_ - b);
      if (!detail::parse_int64(token, ts)) {
        p_ = b;
        return error("expected a timestamp (integer, precision " + options_.precision +
                     ") after the fields, found " + found());
      }
      timestamp_ms = multiplier_ > 1 ? ts * multiplier_ : ts / divisor_;
      has_timestamp = true;
      skip_blanks();
      if (p_ < end_) return error("unexpected text after the timestamp: " + found());
    }
    return emit(measurement, timestamp_ms, has_timestamp);
  }

  // One field value; numeric and boolean ones are kept in fields_.
  bool field(std::string_view key) {
    if (p_ < end_ && *p_ == '"') {  // a string: skipped, but it must be well-formed
      ++p_;
      while (p_ < end_ && *p_ != '"') p_ += (*p_ == '\\' && p_ + 1 < end_) ? 2 : 1;
      if (p_ >= end_)
        return error("the string value of field " + quote_for_message(key) +
                     " is not terminated; expected a closing '\"'");
      ++p_;
      return true;
    }
    const char* b = p_;
    while (p_ < end_ && *p_ != ',' && *p_ != ' ' && *p_ != '\t') ++p_;
    std::string_view token(b, p_ - b);
    double value = 0;
    if (token == "t" || token == "T" || token == "true" || token == "True" || token == "TRUE") {
      value = 1;
    } else if (token == "f" || token == "F" || token == "false" || token == "False" ||
               token == "FALSE") {
      value = 0;
    } else if (!token.empty() && (token.back() == 'i' || token.back() == 'u')) {
      int64_t v = 0;
      std::string_view digits = token.substr(0, token.size() - 1);
      if (token.back() == 'u' && !digits.empty() && digits[0] == '-') digits = {};
      if (!detail::parse_int64(digits, v)) return bad_value(key, token);
      value = static_cast<double>(v);
    } else if (!detail::parse_double(token, value)) {
      return bad_value(key, token);
    }
    fields_.push_back({key, value});
    return true;
  }

  bool bad_value(std::string_view key, std::string_view token) {
    return error("invalid value " + quote_for_message(token) + " for field " +
                 quote_for_message(key) +
                 "; expected a number, an integer (12i), a boolean or a quoted string");
  }

  bool emit(std::string_view measurement, int64_t timestamp_ms, bool has_timestamp) {
    // Tags become labels: sanitized names, sorted, empty values dropped.
    labels_.clear();
    for (const auto& [key, value] : tags_) {
      if (value.empty()) continue;
      std::string_view name = key;
      if (!valid_label_name(key)) name = keep(sanitize_name(key, false));
      if (name.size() >= 2 && name[0] == '_' && name[1] == '_')
        return error("tag " + quote_for_message(key) +
                     " would become a label starting with \"__\", which is reserved");
      std::size_t bad = detail::invalid_utf8_at(value);
      if (bad != std::string_view::npos)
        return error("the value of tag " + quote_for_message(key) + " is not valid UTF-8 (byte " +
                     std::to_string(bad) + ")");
      labels_.push_back({name, value});
    }
    detail::sort_labels(labels_.data(), labels_.size());
    for (std::size_t i = 1; i < labels_.size(); ++i) {
      if (labels_[i].name == labels_[i - 1].name)
        return error("two tags become the label " + quote_for_message(labels_[i].name) +
                     "; rename one of them");
    }
    for (const auto& [key, value] : fields_) {
      uint32_t index = family(measurement, key);
      Family& f = out_.families_[index];
      const uint32_t h =
          static_cast<uint32_t>(detail::hash_labels(index, labels_.data(), labels_.size()));
      const uint32_t* hit = index_.find(h, [&](uint32_t ordinal) {
        uint64_t w = where_[ordinal];
        if (static_cast<uint32_t>(w >> 32) != index) return false;
        return detail::same_labels(out_, f.series[static_cast<uint32_t>(w)], labels_.data(),
                                   labels_.size());
      });
      Series* s;
      if (hit != nullptr) {  // a later point of the same series: the last one counts
        s = &f.series[static_cast<uint32_t>(where_[*hit])];
      } else {
        Series fresh;
        fresh.labels_begin = static_cast<uint32_t>(out_.labels_.size());
        fresh.labels_count = static_cast<uint32_t>(labels_.size());
        fresh.line = line_;
        for (const Label& l : labels_) out_.labels_.push_back(out_.store(l));
        if (f.series.empty()) f.first_sample_line = line_;
        f.series.push_back(fresh);
        index_.insert(h, static_cast<uint32_t>(where_.size()));
        where_.push_back((uint64_t{index} << 32) | (f.series.size() - 1));
        s = &f.series.back();
      }
      s->value = value;
      s->timestamp_ms = has_timestamp ? timestamp_ms : kNoTimestamp;
    }
    return true;
  }

  // The gauge family `<measurement>_<field>` (sanitized), created with a help text on first use.
  // Consecutive lines usually repeat the measurement and fields: those skip the name building.
  uint32_t family(std::string_view measurement, std::string_view field) {
    for (const Recent& r : recent_)
      if (r.measurement == measurement && r.field == field) return r.index;
    joined_.assign(measurement);
    joined_ += '_';
    joined_.append(field);
    uint32_t index = family_named(joined_, measurement, field);
    if (recent_.size() == 16) recent_.erase(recent_.begin());
    // The views stay valid: they point into the text or into kept strings.
    recent_.push_back({measurement, field, index});
    return index;
  }

  uint32_t family_named(std::string_view raw_name, std::string_view measurement,
                        std::string_view field) {
    name_ = sanitize_name(raw_name, true);
    auto it = by_name_.find(name_);
    if (it != by_name_.end()) return it->second;
    Family f;
    f.name = keep(name_);
    f.type = MetricType::gauge;
    f.has_type = true;
    f.help = keep("Field \"" + std::string(field) + "\" of measurement \"" +
                  std::string(measurement) + "\" (InfluxDB line protocol).");
    f.has_help = true;
    f.line = line_;
    out_.families_.push_back(std::move(f));
    uint32_t index = static_cast<uint32_t>(out_.families_.size() - 1);
    by_name_.emplace(out_.families_.back().name, index);
    return index;
  }

  Exposition& out_;
  Exposition::Storage& storage_;
  const InfluxOptions& options_;
  int64_t divisor_ = 1, multiplier_ = 1;
  const char* p_ = nullptr;
  const char* end_ = nullptr;
  uint32_t line_ = 0;
  std::string message_;
  std::vector<std::pair<std::string_view, std::string_view>> tags_;
  std::vector<std::pair<std::string_view, double>> fields_;
  std::vector<Label> labels_;
  std::string joined_, name_;
  std::unordered_map<std::string_view, uint32_t> by_name_;
  struct Recent {
    std::string_view measurement, field;
    uint32_t index;
  };
  std::vector<Recent> recent_;
  detail::FlatIndex<uint32_t, uint32_t> index_;  // hash -> ordinal
  std::vector<uint64_t> where_;                  // ordinal -> family << 32 | series
};

bool parse_influx(std::string text, Exposition& out, std::string& error,
                  const InfluxOptions& options) {
  return InfluxParser::parse(std::move(text), out, error, options);
}

}  // namespace vigil::plugin_text
