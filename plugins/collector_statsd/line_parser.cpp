// The StatsD line grammar, written out by hand: line = name ":" values "|" type *("|" field).
//
// Lenient where real clients differ (DogStatsD value packing, container ids and timestamps are
// accepted), strict where a wrong guess would corrupt data (negative counter increments, NaN,
// sample rates outside (0, 1], tag names Prometheus reserves). This file must never allocate per
// character or throw: the listener threads call it for every line they receive.
#include "line_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace vigil::collector_statsd {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view text) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

// `"text"` for messages, cut to a length a log line can carry.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "\"";
  if (text.size() > kMax) {
    out.append(text.substr(0, kMax));
    out += "...";
  } else {
    out.append(text);
  }
  out += '"';
  return out;
}

// A whole token as a finite double; from_chars takes no '+' and no blanks, which is what we
// want everywhere except the gauge sign, handled by the caller.
bool parse_number(std::string_view text, double& out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

bool parse_type(std::string_view text, SampleType& out) {
  if (text == "c") {
    out = SampleType::counter;
  } else if (text == "g") {
    out = SampleType::gauge;
  } else if (text == "ms") {
    out = SampleType::timer;
  } else if (text == "h") {
    out = SampleType::histogram;
  } else if (text == "d") {
    out = SampleType::distribution;
  } else if (text == "s") {
    out = SampleType::set;
  } else {
    return false;
  }
  return true;
}

bool parse_value(std::string_view token, SampleType type, SampleValue& out, std::string& error) {
  std::string_view digits = token;
  bool sign = !digits.empty() && (digits.front() == '+' || digits.front() == '-');
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  if (!parse_number(digits, out.number)) {
    error = "value " + quoted(token) + " is not a finite number (expected e.g. 1, 0.25, -3)";
    return false;
  }
  if (type == SampleType::gauge) {
    // Etsy StatsD: a sign makes a gauge relative; a negative absolute value cannot be sent.
    out.relative = sign;
    return true;
  }
  if (out.number < 0 && (type == SampleType::counter || type == SampleType::timer)) {
    error = "value " + quoted(token) + " is negative; a " + sample_type_name(type) +
            (type == SampleType::counter ? " only counts up (a Prometheus counter never decreases)"
                                         : " is a duration and cannot be negative");
    return false;
  }
  return true;
}

// "#k:v,k2:v2" without the '#'.
bool parse_tags(std::string_view text, SampleType type, TagList& out, std::string& error) {
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view tag = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (tag.empty()) continue;
    std::size_t colon = tag.find(':');
    // A DogStatsD tag without a value ("#canary") has no Prometheus equivalent: skipped.
    if (colon == std::string_view::npos) continue;
    std::string_view key = tag.substr(0, colon);
    std::string_view value = tag.substr(colon + 1);
    if (key.empty()) {
      error = "tag " + quoted(tag) + " has no name before ':' (expected name:value)";
      return false;
    }
    std::string name = sanitize_label_name(key);
    if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
      error = "tag " + quoted(key) +
              " starts with \"__\", which Prometheus reserves for its own labels; rename the tag";
      return false;
    }
    bool observed = type == SampleType::timer || type == SampleType::histogram ||
                    type == SampleType::distribution;
    if (observed && (name == "le" || name == "quantile")) {
      error = "tag " + quoted(key) + " is reserved on a " + sample_type_name(type) +
              ", which becomes a histogram (le) and a summary (quantile); rename the tag";
      return false;
    }
    if (!valid_label_value(value)) {
      error = "tag " + quoted(key) + " has a value that is not UTF-8 text";
      return false;
    }
    // The last value given for a name wins, as when a client merges global and local tags.
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& t) { return t.first == name; });
    if (it != out.end()) {
      it->second.assign(value);
    } else {
      out.emplace_back(std::move(name), std::string(value));
    }
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const auto& t) { return t.second.empty(); }),
            out.end());
  std::sort(out.begin(), out.end());
  return true;
}

// Fields after the type that DogStatsD clients send and that carry nothing for Prometheus:
// "c:<container id>" (protocol 1.2), "e:<external data>" (1.3), "T<unix seconds>" (1.3).
bool ignorable_field(std::string_view field) {
  if (field.size() >= 2 && (field[0] == 'c' || field[0] == 'e') && field[1] == ':') return true;
  if (field.size() >= 2 && field[0] == 'T') {
    return std::all_of(field.begin() + 1, field.end(), is_digit);
  }
  return false;
}

}  // namespace

const char* sample_type_name(SampleType type) {
  switch (type) {
    case SampleType::counter:
      return "counter";
    case SampleType::gauge:
      return "gauge";
    case SampleType::timer:
      return "timer";
    case SampleType::histogram:
      return "histogram";
    case SampleType::distribution:
      return "distribution";
    case SampleType::set:
      return "set";
  }
  return "sample";
}

LineKind parse_line(std::string_view line, ParsedLine& out, std::string& error) {
  line = trim(line);
  if (line.empty()) return LineKind::blank;
  if (line.substr(0, 3) == "_e{" || line.substr(0, 4) == "_sc|") return LineKind::unsupported;

  out.values.clear();
  out.set_member.clear();
  out.tags.clear();
  out.sample_rate = 1.0;

  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    error = "no ':' after the metric name in " + quoted(line) +
            " (expected name:value|type, e.g. \"deploys:1|c\")";
    return LineKind::error;
  }
  std::string_view name = line.substr(0, colon);
  if (name.empty()) {
    error = "the metric name before ':' is empty in " + quoted(line) +
            " (expected name:value|type, e.g. \"deploys:1|c\")";
    return LineKind::error;
  }
  // Everything after the name: values "|" type, then optional fields, each after a '|'.
  std::string_view rest = line.substr(colon + 1);
  std::size_t bar = rest.find('|');
  if (bar == std::string_view::npos) {
    error = "no '|type' after the value in " + quoted(line) +
            " (expected name:value|type with type c, g, ms, h, d or s)";
    return LineKind::error;
  }
  std::string_view values = rest.substr(0, bar);
  rest = rest.substr(bar + 1);
  bar = rest.find('|');
  std::string_view type_text = rest.substr(0, bar);
  if (!parse_type(type_text, out.type)) {
    error = "unknown type " + quoted(type_text) + " in " + quoted(line) +
            " (expected c, g, ms, h, d or s)";
    return LineKind::error;
  }
  bool more = bar != std::string_view::npos;
  rest = more ? rest.substr(bar + 1) : std::string_view();
  while (more) {
    bar = rest.find('|');
    std::string_view field = rest.substr(0, bar);
    more = bar != std::string_view::npos;
    rest = more ? rest.substr(bar + 1) : std::string_view();
    if (field.empty()) continue;
    if (field[0] == '@') {
      double rate = 0;
      if (!parse_number(field.substr(1), rate) || rate <= 0 || rate > 1) {
        error = "sample rate " + quoted(field) + " in " + quoted(line) +
                " is not a number in (0, 1] (expected e.g. @0.1)";
        return LineKind::error;
      }
      out.sample_rate = rate;
    } else if (field[0] == '#') {
      if (!parse_tags(field.substr(1), out.type, out.tags, error)) {
        error += " in " + quoted(line);
        return LineKind::error;
      }
    } else if (!ignorable_field(field)) {
      error = "unknown field " + quoted(field) + " in " + quoted(line) +
              " (expected @<sample rate> or #<tags> after the type)";
      return LineKind::error;
    }
  }

  if (out.type == SampleType::set) {
    if (values.empty()) {
      error = "the set member is empty in " + quoted(line) + " (expected name:member|s)";
      return LineKind::error;
    }
    out.set_member.assign(values);
  } else {
    while (true) {
      std::size_t next = values.find(':');
      SampleValue v;
      if (!parse_value(values.substr(0, next), out.type, v, error)) {
        error += " in " + quoted(line);
        return LineKind::error;
      }
      out.values.push_back(v);
      if (next == std::string_view::npos) break;
      values = values.substr(next + 1);
    }
  }

  out.source_name.assign(name);
  out.name = sanitize_metric_name(name);
  return LineKind::sample;
}

std::string sanitize_metric_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (!name.empty() && is_digit(name.front())) out += '_';
  for (char c : name) out += (is_alpha(c) || is_digit(c) || c == '_' || c == ':') ? c : '_';
  return out;
}

std::string sanitize_label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  if (!name.empty() && is_digit(name.front())) out += '_';
  for (char c : name) out += (is_alpha(c) || is_digit(c) || c == '_') ? c : '_';
  return out;
}

bool valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == ':'; });
}

bool valid_label_value(std::string_view text) {
  auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0;
  while (i < text.size()) {
    unsigned char lead = byte_at(i);
    if (lead == 0) return false;
    std::size_t extra = 0;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead < 0x80) {
      extra = 0;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      extra = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      extra = 2;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // UTF-16 surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      extra = 3;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // beyond U+10FFFF
    } else {
      return false;
    }
    if (i + extra >= text.size() && extra > 0) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      unsigned char c = byte_at(i + k);
      if (k == 1 ? (c < low || c > high) : (c & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace vigil::collector_statsd
