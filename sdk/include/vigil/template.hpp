// vigil/template.hpp — the one small template language all of Vigil uses: alert annotations
// rendered by the host's alert engine, and the subjects, bodies and messages of every notifier.
//
// Header-only C++17 over an nlohmann::json context, so including it needs nlohmann_json
// (Debian's nlohmann-json3-dev; in CMake: find_package(nlohmann_json 3) and link
// nlohmann_json::nlohmann_json). The rest of the SDK does not need it.
//
//   {{ labels.instance }}              a dot path; alerts.0.labels.x indexes arrays; [odd key]
//   {{ value | percent }}              pipes: percent bytes si duration printf upper lower title
//                                      trim default json json_string html urlquery join truncate
//                                      replace count eq ne gt ge lt le
//   {{#if path}} … {{else if p}} … {{else}} … {{/if}}     also #unless; #with path scopes a value
//   {{#each alerts}} {{@index}} {{@key}} {{.}} {{../status}} {{else}}none{{/each}}
//   {{! comment }}  {{!-- comment with }} --}}  {{~ x ~}} trims whitespace on that side
//   {{ "{{" }}                         a literal: how to write braces
//
// Every syntax error (unknown function, bad arguments, a printf format that is not exactly one
// conversion, unclosed or mismatched sections, a ../ that leaves every scope) is found by
// compile(), all of them at once, each with its line and column, so `vigil check-config` reports
// them before a template ever renders. What this file must never do: throw or fail while
// rendering because data is missing or of an unexpected type — missing renders as empty (or as
// `default`), a value a number function cannot read passes through as text. Output is never
// escaped implicitly; `| html`, `| json` and `| json_string` escape where the author asks.
#ifndef VIGIL_TEMPLATE_HPP
#define VIGIL_TEMPLATE_HPP

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil {

// One syntax error: where (1-based line and column, columns counted in characters) and what.
// Thread-safety: a value type.
struct TemplateError {
  size_t line = 0;
  size_t column = 0;
  std::string message;

  // "line 2, column 14: unknown function "percnt" …" — callers prefix the file or JSON path.
  std::string to_string() const {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
  }
};

namespace template_detail {

using json = nlohmann::json;

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string dquote(std::string_view s) {
  std::string out = "\"";
  out.append(s.data(), s.size());
  out += '"';
  return out;
}

// UTF-8 characters, counted by their lead bytes (invalid bytes count as one each).
inline size_t char_count(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++n;
  return n;
}

// Byte length of the first `chars` characters of `s`, never splitting a UTF-8 sequence.
inline size_t prefix_bytes(std::string_view s, size_t chars) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0u) != 0x80u) {
      if (seen == chars) return i;
      ++seen;
    }
  }
  return s.size();
}

// ---- numbers and their human forms -------------------------------------------------------------

// `digits` decimals, then trailing zeros (and a bare point) dropped: 93.40 -> "93.4", 50.0 -> "50".
inline std::string fixed_trimmed(double x, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, x);
  std::string out = buffer;
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

// How a number reads in output: whole numbers without a fraction, others in the shortest form
// that reads back as the same double, NaN and infinities as Prometheus writes them.
inline std::string number_text(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "+Inf" : "-Inf";
  if (x == std::floor(x) && std::fabs(x) < 1e15) return fixed_trimmed(x, 0);
  return json(x).dump();
}

// A number, or a string that is exactly a number ("0.93"): labels carry numbers as text.
inline bool to_number(const json* j, double& out) {
  if (j == nullptr) return false;
  if (j->is_number()) {
    out = j->get<double>();
    return true;
  }
  if (!j->is_string()) return false;
  const std::string& s = j->get_ref<const std::string&>();
  if (s.empty() || is_space(s.front())) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

inline std::string percent_text(double ratio, int digits) {
  if (!std::isfinite(ratio)) return number_text(ratio);
  return fixed_trimmed(ratio * 100.0, digits) + "%";
}

// Scales by `base` until below it; a value that rounds up to `base` moves to the next unit, so
// 1048575 bytes is "1 MiB", never "1024 KiB".
inline std::string scaled_text(double x, int digits, double base, const char* const* units,
                               size_t unit_count, const char* space) {
  if (!std::isfinite(x)) return number_text(x);
  double magnitude = std::fabs(x);
  size_t unit = 0;
  while (magnitude >= base && unit + 1 < unit_count) {
    magnitude /= base;
    ++unit;
  }
  double scale = std::pow(10.0, digits);
  if (std::round(magnitude * scale) / scale >= base && unit + 1 < unit_count) {
    magnitude /= base;
    ++unit;
  }
  std::string out = (x < 0 ? "-" : "") + fixed_trimmed(magnitude, digits);
  if (units[unit][0] != '\0') out += space;
  return out + units[unit];
}

inline std::string bytes_text(double x, int digits) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  return scaled_text(x, digits, 1024.0, units, 7, " ");
}

inline std::string si_text(double x, int digits) {
  static const char* const units[] = {"", "k", "M", "G", "T", "P", "E"};
  return scaled_text(x, digits, 1000.0, units, 7, "");
}

// Seconds as a person reads them: "350ms", "1.5s", "59s", "2m 5s", "1h 2m", "3d 4h". Above a
// minute, the two largest adjacent units, truncated (like Prometheus' humanizeDuration).
inline std::string duration_text(double seconds) {
  if (std::isnan(seconds)) return "NaN";
  if (seconds < 0) return "-" + duration_text(-seconds);
  if (std::isinf(seconds)) return "+Inf";
  if (seconds == 0) return "0s";
  if (seconds < 1) {
    std::string ms = fixed_trimmed(seconds * 1000.0, 1);
    if (ms != "1000") return ms + "ms";
  }
  if (seconds < 60) {
    std::string s = fixed_trimmed(seconds, 1);
    if (s != "60") return s + "s";
  }
  static const struct {
    double size;
    const char* suffix;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  double left = std::floor(seconds + 0.5);
  for (size_t i = 0; i < 4; ++i) {
    double count = std::floor(left / units[i].size);
    if (count < 1) continue;
    std::string out = fixed_trimmed(count, 0) + units[i].suffix;
    if (i + 1 < 4) {
      double rest = std::floor((left - count * units[i].size) / units[i + 1].size);
      if (rest >= 1) out += " " + fixed_trimmed(rest, 0) + units[i + 1].suffix;
    }
    return out;
  }
  return "0s";
}

// ---- escaping ----------------------------------------------------------------------------------

inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Invalid UTF-8 becomes U+FFFD instead of an exception: rendering must not fail on odd data.
inline std::string json_dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline std::string url_escape(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0x0Fu];
    }
  }
  return out;
}

// ---- values ------------------------------------------------------------------------------------

// What an expression yields while rendering: borrowed from the context where possible, owned
// when a function computed it; absent when the data is missing.
// Thread-safety: a value type, local to one render.
struct Value {
  const json* ref = nullptr;
  json own;
  bool owned = false;

  static Value of(json j) {
    Value v;
    v.own = std::move(j);
    v.owned = true;
    return v;
  }
  const json* get() const { return owned ? &own : ref; }
  bool missing() const { return get() == nullptr || get()->is_null(); }
};

inline std::string text_of(const json* j) {
  if (j == nullptr) return {};
  switch (j->type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return {};
    case json::value_t::string:
      return j->get<std::string>();
    case json::value_t::boolean:
      return j->get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(j->get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(j->get<uint64_t>());
    case json::value_t::number_float:
      return number_text(j->get<double>());
    default:
      return json_dump(*j);
  }
}

// null, false, 0, NaN, "", [] and {} are false; everything else is true.
inline bool truthy(const json* j) {
  if (j == nullptr) return false;
  switch (j->type()) {
    case json::value_t::boolean:
      return j->get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      double d = j->get<double>();
      return d != 0 && !std::isnan(d);
    }
    case json::value_t::string:  // json::empty() is false for every string
      return !j->get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object:
      return !j->empty();
    default:
      return false;
  }
}

// ---- the compiled form -------------------------------------------------------------------------

enum class DataVar { none, key, index, first, last };

struct Path {
  size_t up = 0;      // how many "../"
  bool root = false;  // @root
  DataVar data = DataVar::none;
  std::vector<std::string> segments;  // empty: the scope's value itself ({{.}}, {{this}})
};

// An argument or the head of an expression: a literal or a path.
struct Operand {
  bool is_path = false;
  Path path;
  json literal;
};

enum class Fn {
  percent,
  bytes,
  si,
  duration,
  printf_,
  upper,
  lower,
  title,
  trim,
  default_,
  json_,
  json_string,
  html,
  urlquery,
  join,
  truncate,
  replace,
  count,
  eq,
  ne,
  gt,
  ge,
  lt,
  le
};

// What printf's one conversion takes, and the format rewritten for it (integers get "ll").
enum class PrintfKind { integer, unsigned_integer, floating, string };

struct Call {
  Fn fn = Fn::upper;
  std::vector<Operand> args;
  std::string format;  // printf only
  PrintfKind printf_kind = PrintfKind::floating;
};

struct Expr {
  Operand head;
  std::vector<Call> calls;
};

enum class NodeKind { text, output, if_, each, with };

struct Node {
  NodeKind kind = NodeKind::text;
  std::string text;             // text
  Expr expr;                    // output, and the value a section tests or walks
  bool negate = false;          // #unless
  std::vector<Node> body, alt;  // alt: the {{else}} part
};

// ---- the function table ------------------------------------------------------------------------

// literal: a quoted string; whole: a whole number >= 1; digits: 0..15; any: a literal or a path.
enum class ArgKind { string, whole, digits, any };

struct FunctionSpec {
  const char* name;
  Fn fn;
  size_t min_args, max_args;
  ArgKind kinds[2];
  const char* usage;
};

inline const std::vector<FunctionSpec>& functions() {
  using A = ArgKind;
  static const std::vector<FunctionSpec> table = {
      {"bytes", Fn::bytes, 0, 1, {A::digits, A::any}, "bytes, or bytes 2 for two decimals"},
      {"count", Fn::count, 0, 0, {A::any, A::any}, "count"},
      {"default", Fn::default_, 1, 1, {A::any, A::any}, "default \"none\""},
      {"duration", Fn::duration, 0, 0, {A::any, A::any}, "duration"},
      {"eq", Fn::eq, 1, 1, {A::any, A::any}, "eq \"firing\""},
      {"ge", Fn::ge, 1, 1, {A::any, A::any}, "ge 0.9"},
      {"gt", Fn::gt, 1, 1, {A::any, A::any}, "gt 0.9"},
      {"html", Fn::html, 0, 0, {A::any, A::any}, "html"},
      {"join", Fn::join, 0, 1, {A::string, A::any}, "join \", \""},
      {"json", Fn::json_, 0, 0, {A::any, A::any}, "json"},
      {"json_string", Fn::json_string, 0, 0, {A::any, A::any}, "json_string"},
      {"le", Fn::le, 1, 1, {A::any, A::any}, "le 0.9"},
      {"lower", Fn::lower, 0, 0, {A::any, A::any}, "lower"},
      {"lt", Fn::lt, 1, 1, {A::any, A::any}, "lt 0.9"},
      {"ne", Fn::ne, 1, 1, {A::any, A::any}, "ne \"resolved\""},
      {"percent", Fn::percent, 0, 1, {A::digits, A::any}, "percent, or percent 2 for two decimals"},
      {"printf", Fn::printf_, 1, 1, {A::string, A::any}, "printf \"%.2f\""},
      {"replace", Fn::replace, 2, 2, {A::string, A::string}, "replace \"_\" \" \""},
      {"si", Fn::si, 0, 1, {A::digits, A::any}, "si, or si 2 for two decimals"},
      {"title", Fn::title, 0, 0, {A::any, A::any}, "title"},
      {"trim", Fn::trim, 0, 0, {A::any, A::any}, "trim"},
      {"truncate",
       Fn::truncate,
       1,
       2,
       {A::whole, A::string},
       "truncate 160, or truncate 160 \"...\""},
      {"upper", Fn::upper, 0, 0, {A::any, A::any}, "upper"},
      {"urlquery", Fn::urlquery, 0, 0, {A::any, A::any}, "urlquery"},
  };
  return table;
}

inline std::string function_names() {
  std::string out;
  for (const FunctionSpec& f : functions()) {
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

inline size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Checks a printf format: literal text, "%%", and exactly one conversion with optional flags,
// width and precision. On success `out` is the format to hand to snprintf. On failure returns why.
inline std::string check_printf(const std::string& format, std::string& out, PrintfKind& kind) {
  out.clear();
  size_t conversions = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    out += c;
    if (c != '%') continue;
    if (i + 1 < format.size() && format[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < format.size() && std::string_view("-+ #0").find(format[j]) != std::string::npos)
      out += format[j++];
    while (j < format.size() && is_digit(format[j])) out += format[j++];
    if (j < format.size() && format[j] == '.') {
      out += format[j++];
      while (j < format.size() && is_digit(format[j])) out += format[j++];
    }
    if (j >= format.size()) return "printf format " + dquote(format) + " ends inside a conversion";
    char conv = format[j];
    if (conv == '*')
      return "printf format " + dquote(format) +
             ": '*' width or precision is not supported; write the number";
    if (std::string_view("hlLjzt").find(conv) != std::string::npos)
      return "printf format " + dquote(format) + ": length modifiers such as '" +
             std::string(1, conv) + "' are not needed; write %d or %f";
    if (std::string_view("diouxXeEfFgGaAs").find(conv) == std::string::npos)
      return "printf format " + dquote(format) + ": unknown conversion '%" + std::string(1, conv) +
             "'; expected one of %d %i %u %o %x %X %e %E %f %F %g %G %a %A %s";
    ++conversions;
    if (std::string_view("di").find(conv) != std::string::npos) {
      kind = PrintfKind::integer;
      out += "ll";
    } else if (std::string_view("ouxX").find(conv) != std::string::npos) {
      kind = PrintfKind::unsigned_integer;
      out += "ll";
    } else if (conv == 's') {
      kind = PrintfKind::string;
    } else {
      kind = PrintfKind::floating;
    }
    out += conv;
    i = j;
  }
  if (conversions == 0)
    return "printf format " + dquote(format) + " has no conversion; expected one such as \"%.2f\"";
  if (conversions > 1)
    return "printf format " + dquote(format) + " has " + std::to_string(conversions) +
           " conversions; expected exactly one (use \"%%\" for a percent sign)";
  return {};
}

// ---- the parser --------------------------------------------------------------------------------

// Turns template text into nodes, collecting every error instead of stopping at the first.
// Thread-safety: one use, one thread.
class Parser {
 public:
  Parser(std::string_view source, std::vector<TemplateError>& errors)
      : src_(source), errors_(errors) {}

  std::vector<Node> parse() {
    std::vector<Segment> segments = split();
    for (const Segment& s : segments) {
      if (s.is_tag) {
        tag(s);
      } else if (s.end > s.begin) {
        Node n;
        n.text = std::string(src_.substr(s.begin, s.end - s.begin));
        target().push_back(std::move(n));
      }
    }
    while (!open_.empty()) {
      if (!open_.back().chained) {
        const Open& o = open_.back();
        error(o.offset, open_text(o) + " is never closed; expected {{/" + o.name + "}}");
      }
      open_.pop_back();
    }
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    return std::move(root_);
  }

 private:
  // A run of text, or one {{ … }} with its body (without braces and ~).
  struct Segment {
    bool is_tag = false;
    size_t begin = 0, end = 0;  // text: the bytes; tag: the body
    size_t open = 0;            // tag: where "{{" is
    bool trim_before = false, trim_after = false;
  };

  // A section being filled: its node, or a scratch node for an unknown section so what it holds
  // is still checked.
  struct Open {
    Node* node = nullptr;
    std::string name;  // "if", "unless", "each", "with", or the unknown name
    std::string head;  // the opening tag as written, for messages
    size_t offset = 0;
    bool in_else = false;
    bool chained = false;  // an {{else if}} inside the section below it
    bool scope = false;    // #each or #with: changes what paths are relative to
    bool each = false;
  };

  struct Token {
    enum Kind { word, string, pipe } kind = word;
    std::string text;  // string: the unescaped value
    size_t offset = 0;
  };

  // Line and column (in characters) of a byte offset.
  TemplateError locate(size_t offset) const {
    TemplateError e;
    e.line = 1;
    e.column = 1;
    for (size_t i = 0; i < offset && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++e.line;
        e.column = 1;
      } else if ((static_cast<unsigned char>(src_[i]) & 0xC0u) != 0x80u) {
        ++e.column;
      }
    }
    return e;
  }

  void error(size_t offset, std::string message) {
    TemplateError e = locate(offset);
    e.message = std::move(message);
    errors_.push_back(std::move(e));
  }

  std::vector<Node>& target() {
    if (open_.empty()) return root_;
    Open& o = open_.back();
    return o.in_else ? o.node->alt : o.node->body;
  }

  static std::string open_text(const Open& o) {
    std::string head = o.head.size() > 60 ? o.head.substr(0, 57) + "..." : o.head;
    return "{{" + head + "}}";
  }

  std::string where(const Open& o) const {
    TemplateError at = locate(o.offset);
    return "opened at line " + std::to_string(at.line) + ", column " + std::to_string(at.column);
  }

  // Finds the tags. A "{{" without its "}}" is reported; a tag cut short by the next "{{" is
  // reported and skipped, so the tags after it are still checked.
  std::vector<Segment> split() {
    std::vector<Segment> out;
    size_t pos = 0;
    while (pos <= src_.size()) {
      size_t open = src_.find("{{", pos);
      Segment text;
      text.begin = pos;
      text.end = open == std::string_view::npos ? src_.size() : open;
      out.push_back(text);
      if (open == std::string_view::npos) break;
      Segment t;
      t.is_tag = true;
      t.open = open;
      t.begin = open + 2;
      if (t.begin < src_.size() && src_[t.begin] == '~') {
        t.trim_before = true;
        ++t.begin;
      }
      size_t open_string = std::string_view::npos;
      size_t close = find_close(t.begin, open_string);
      if (close == std::string_view::npos) {
        if (open_string != std::string_view::npos) {
          TemplateError at = locate(open_string);
          error(open, "this {{ is never closed: the string at line " + std::to_string(at.line) +
                          ", column " + std::to_string(at.column) + " has no closing \"");
        } else {
          error(open, "this {{ is never closed; expected }}");
        }
        break;
      }
      if (src_.compare(close, 2, "{{") == 0) {
        error(open, "this tag has no closing }} before the next {{");
        pos = close;
        continue;
      }
      t.end = close;
      if (t.end > t.begin && src_[t.end - 1] == '~') {
        t.trim_after = true;
        --t.end;
      }
      out.push_back(t);
      pos = close + 2;
    }
    // ~ trims the whitespace of the neighbouring text, newlines included.
    for (size_t i = 0; i < out.size(); ++i) {
      if (!out[i].is_tag) continue;
      if (out[i].trim_before && i > 0 && !out[i - 1].is_tag) {
        Segment& prev = out[i - 1];
        while (prev.end > prev.begin && is_space(src_[prev.end - 1])) --prev.end;
      }
      if (out[i].trim_after && i + 1 < out.size() && !out[i + 1].is_tag) {
        Segment& next = out[i + 1];
        while (next.begin < next.end && is_space(src_[next.begin])) ++next.begin;
      }
    }
    return out;
  }

  // Where the tag's "}}" is (skipping quoted strings and, for comments, everything), or the
  // position of a "{{" that comes first, or npos (with `open_string` set when a quoted string
  // ran to the end).
  size_t find_close(size_t from, size_t& open_string) const {
    std::string_view rest = src_.substr(from);
    size_t lead = 0;
    while (lead < rest.size() && is_space(rest[lead])) ++lead;
    if (rest.compare(lead, 3, "!--") == 0) {
      size_t end = src_.find("--", from + lead + 3);
      while (end != std::string_view::npos) {
        size_t k = end + 2;
        if (k < src_.size() && src_[k] == '~') ++k;
        if (src_.compare(k, 2, "}}") == 0) return k;
        end = src_.find("--", end + 1);
      }
      return std::string_view::npos;
    }
    if (rest.compare(lead, 1, "!") == 0) return src_.find("}}", from);
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      char c = src_[i];
      if (c == '"') {
        size_t start = i;
        for (++i; i < src_.size() && src_[i] != '"'; ++i)
          if (src_[i] == '\\') ++i;
        if (i >= src_.size()) {
          open_string = start;
          return std::string_view::npos;
        }
        continue;
      }
      if (c == '}' && src_[i + 1] == '}') return i;
      if (c == '{' && src_[i + 1] == '{') return i;
    }
    return std::string_view::npos;
  }

  void tag(const Segment& s) {
    std::string_view raw = src_.substr(s.begin, s.end - s.begin);
    size_t lead = 0;
    while (lead < raw.size() && is_space(raw[lead])) ++lead;
    std::string_view body = trim(raw);
    size_t at = s.begin + lead;
    if (body.empty()) {
      error(s.open, "empty tag {{}}; expected a value such as {{ labels.instance }}");
      return;
    }
    switch (body[0]) {
      case '!':
        return;
      case '{':
        error(s.open,
              "{{{ … }}} is not needed: output is never escaped; write {{ x }}, or {{ x | html }} "
              "to escape for HTML");
        return;
      case '>':
        error(s.open, "partials ({{> name}}) are not supported");
        return;
      case '#':
        return open_section(body, at, s.open);
      case '/':
        return close_section(body, at, s.open);
      default:
        break;
    }
    if (body.substr(0, 4) == "else" && (body.size() == 4 || is_space(body[4])))
      return else_tag(body, at, s.open);
    Node n;
    n.kind = NodeKind::output;
    if (expression(body, at, n.expr, "")) target().push_back(std::move(n));
  }

  static size_t name_length(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '_')) ++n;
    return n;
  }

  void open_section(std::string_view body, size_t at, size_t tag_offset) {
    size_t n = name_length(body.substr(1));
    std::string name(body.substr(1, n));
    std::string_view rest = body.substr(1 + n);
    size_t rest_at = at + 1 + n;
    while (!rest.empty() && is_space(rest.front())) {
      rest.remove_prefix(1);
      ++rest_at;
    }
    rest = trim(rest);
    Open o;
    o.name = name;
    o.head = std::string(body);
    o.offset = tag_offset;
    bool known = name == "if" || name == "unless" || name == "each" || name == "with";
    if (!known) {
      error(tag_offset, "unknown section {{#" + name + "}}; expected #if, #unless, #each or #with");
      scratch_.emplace_back();
      o.node = &scratch_.back();
      open_.push_back(o);
      return;
    }
    Node node;
    node.kind = name == "each" ? NodeKind::each : name == "with" ? NodeKind::with : NodeKind::if_;
    node.negate = name == "unless";
    if (rest.empty()) {
      error(tag_offset, "{{#" + name + "}} needs a value, such as {{#" + name + " " +
                            (name == "each"   ? "alerts"
                             : name == "with" ? "alerts.0"
                                              : "labels.severity") +
                            "}}");
    } else {
      expression(rest, rest_at, node.expr, name);
    }
    std::vector<Node>& list = target();
    list.push_back(std::move(node));
    o.node = &list.back();
    o.scope = name == "each" || name == "with";
    o.each = name == "each";
    open_.push_back(o);
  }

  // The innermost section that is not an {{else if}} link, or -1.
  long base_index(long from) const {
    for (long i = from; i >= 0; --i)
      if (!open_[static_cast<size_t>(i)].chained) return i;
    return -1;
  }

  void close_section(std::string_view body, size_t /*at*/, size_t tag_offset) {
    size_t n = name_length(body.substr(1));
    std::string name(body.substr(1, n));
    std::string tag_text = "{{/" + name + "}}";
    if (!trim(body.substr(1 + n)).empty()) {
      error(tag_offset, "{{" + std::string(body) +
                            "}}: a closing tag takes nothing after its name; expected " + tag_text);
    }
    long base = base_index(static_cast<long>(open_.size()) - 1);
    if (base < 0) {
      error(tag_offset, tag_text + " closes nothing: no {{#" + name + "}} is open");
      return;
    }
    long match = base;
    while (match >= 0 && open_[static_cast<size_t>(match)].name != name)
      match = base_index(match - 1);
    if (match < 0) {
      const Open& inner = open_[static_cast<size_t>(base)];
      error(tag_offset, tag_text + " does not match " + open_text(inner) + " " + where(inner) +
                            "; expected {{/" + inner.name + "}}");
      return;
    }
    for (long i = static_cast<long>(open_.size()) - 1; i > match; --i) {
      const Open& o = open_[static_cast<size_t>(i)];
      if (!o.chained)
        error(o.offset,
              open_text(o) + " is never closed; expected {{/" + o.name + "}} before " + tag_text);
    }
    open_.resize(static_cast<size_t>(match));
  }

  void else_tag(std::string_view body, size_t at, size_t tag_offset) {
    std::string_view rest = body.substr(4);
    size_t rest_at = at + 4;
    while (!rest.empty() && is_space(rest.front())) {
      rest.remove_prefix(1);
      ++rest_at;
    }
    rest = trim(rest);
    if (open_.empty()) {
      error(tag_offset,
            "{{else}} outside any section; expected it inside {{#if}}, {{#unless}}, "
            "{{#each}} or {{#with}}");
      return;
    }
    Open& top = open_.back();
    if (top.in_else) {
      error(tag_offset, "a second {{else}} in " + open_text(top) + " " + where(top) +
                            "; expected {{/" + top.name + "}}");
      return;
    }
    if (rest.empty()) {
      top.in_else = true;
      return;
    }
    size_t n = name_length(rest);
    std::string word(rest.substr(0, n));
    if (word != "if" && word != "unless") {
      error(tag_offset, "{{" + std::string(body) +
                            "}}: expected {{else}}, {{else if value}} or {{else unless value}}");
      return;
    }
    if (top.node->kind != NodeKind::if_) {
      error(tag_offset,
            "{{else " + word + "}} only follows {{#if}} or {{#unless}}, not " + open_text(top));
      return;
    }
    top.in_else = true;
    Node node;
    node.kind = NodeKind::if_;
    node.negate = word == "unless";
    std::string_view cond = rest.substr(n);
    size_t cond_at = rest_at + n;
    while (!cond.empty() && is_space(cond.front())) {
      cond.remove_prefix(1);
      ++cond_at;
    }
    if (trim(cond).empty())
      error(tag_offset,
            "{{else " + word + "}} needs a value, such as {{else " + word + " labels.severity}}");
    else
      expression(trim(cond), cond_at, node.expr, word);
    top.node->alt.push_back(std::move(node));
    Open link;
    link.node = &top.node->alt.back();
    link.name = top.name;
    link.head = std::string(body);
    link.offset = tag_offset;
    link.chained = true;
    open_.push_back(link);
  }

  // ---- expressions ---------------------------------------------------------------------------

  bool tokenize(std::string_view text, size_t at, std::vector<Token>& out) {
    size_t i = 0;
    while (i < text.size()) {
      char c = text[i];
      if (is_space(c)) {
        ++i;
        continue;
      }
      Token t;
      t.offset = at + i;
      if (c == '|') {
        t.kind = Token::pipe;
        t.text = "|";
        ++i;
      } else if (c == '"') {
        t.kind = Token::string;
        ++i;
        bool closed = false;
        while (i < text.size()) {
          char d = text[i++];
          if (d == '"') {
            closed = true;
            break;
          }
          if (d != '\\') {
            t.text += d;
            continue;
          }
          if (i >= text.size()) break;
          char e = text[i++];
          switch (e) {
            case '"':
            case '\\':
              t.text += e;
              break;
            case 'n':
              t.text += '\n';
              break;
            case 't':
              t.text += '\t';
              break;
            case 'r':
              t.text += '\r';
              break;
            default:
              error(at + i - 2, std::string("unknown escape \\") + e +
                                    " in a string; expected \\\" \\\\ \\n \\t or \\r");
              return false;
          }
        }
        if (!closed) {
          error(t.offset, "this string is never closed; expected a closing \"");
          return false;
        }
      } else {
        t.kind = Token::word;
        while (i < text.size() && !is_space(text[i]) && text[i] != '|' && text[i] != '"') {
          if (text[i] == '[') {
            size_t close = text.find(']', i);
            if (close == std::string_view::npos) {
              error(at + i, "this [ is never closed; expected ] after the key");
              return false;
            }
            t.text += text.substr(i, close + 1 - i);
            i = close + 1;
            continue;
          }
          t.text += text[i++];
        }
      }
      out.push_back(std::move(t));
    }
    return true;
  }

  static bool is_number_word(const std::string& w) {
    if (w.empty()) return false;
    size_t i = w[0] == '-' ? 1 : 0;
    if (i >= w.size() || !is_digit(w[i])) return false;
    if (w.find_first_not_of("0123456789.eE+-") != std::string::npos) return false;
    char* end = nullptr;
    std::strtod(w.c_str(), &end);
    return end == w.c_str() + w.size();
  }

  // A word as a literal or a path; false (and an error) when it is neither.
  bool operand(const Token& t, Operand& out) {
    if (t.kind == Token::string) {
      out.literal = t.text;
      return true;
    }
    const std::string& w = t.text;
    if (is_number_word(w)) {
      if (w.find_first_of(".eE") == std::string::npos) {
        errno = 0;
        long long v = std::strtoll(w.c_str(), nullptr, 10);
        if (errno == 0) {
          out.literal = static_cast<int64_t>(v);
          return true;
        }
      }
      out.literal = std::strtod(w.c_str(), nullptr);
      return true;
    }
    if (w == "true" || w == "false") {
      out.literal = w == "true";
      return true;
    }
    if (w == "null") {
      out.literal = nullptr;
      return true;
    }
    out.is_path = true;
    return path(t, out.path);
  }

  bool path(const Token& t, Path& p) {
    std::string_view w = t.text;
    auto bad = [&](const std::string& why) {
      error(t.offset, "bad path " + dquote(t.text) + ": " + why);
      return false;
    };
    while (w.substr(0, 3) == "../") {
      ++p.up;
      w.remove_prefix(3);
    }
    if (w == "..") return bad("expected ../name or ../. for the enclosing scope's value");
    if (w == "." || w == "this") return check_scope(t, p);
    if (w.substr(0, 5) == "this.") w.remove_prefix(5);
    if (w.substr(0, 5) == "@root") {
      if (p.up > 0) return bad("@root cannot follow ../");
      p.root = true;
      w.remove_prefix(5);
      if (w.empty()) return true;
      if (w[0] != '.') return bad("expected @root or @root.name");
      w.remove_prefix(1);
    } else if (!w.empty() && w[0] == '@') {
      if (w == "@key")
        p.data = DataVar::key;
      else if (w == "@index")
        p.data = DataVar::index;
      else if (w == "@first")
        p.data = DataVar::first;
      else if (w == "@last")
        p.data = DataVar::last;
      else
        return bad("expected @key, @index, @first, @last or @root");
      return check_scope(t, p);
    }
    if (w.empty()) return bad("expected a name after ../, such as ../labels.instance");
    while (true) {
      std::string segment;
      if (w[0] == '[') {
        size_t close = w.find(']');
        segment = std::string(w.substr(1, close - 1));
        w.remove_prefix(close + 1);
        if (segment.empty()) return bad("[] needs a key inside");
      } else {
        size_t dot = w.find('.');
        std::string_view part = w.substr(0, dot);
        if (part.empty())
          return bad(
              "an empty name between dots; expected names separated by single dots, "
              "such as labels.instance");
        for (char c : part) {
          if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == ':' || c == '$' ||
                (static_cast<unsigned char>(c) & 0x80u))) {
            return bad(std::string("'") + c + "' cannot be part of a name; write [" +
                       std::string(part) + "] for a key like that");
          }
        }
        segment = std::string(part);
        w.remove_prefix(part.size());
      }
      p.segments.push_back(std::move(segment));
      if (w.empty()) break;
      if (w[0] != '.') return bad("expected a dot after ]");
      w.remove_prefix(1);
      if (w.empty()) return bad("a trailing dot; expected a name after it");
    }
    return check_scope(t, p);
  }

  // ../ must stay inside the sections that set a scope, and @index & co. need an {{#each}}.
  bool check_scope(const Token& t, const Path& p) {
    std::vector<const Open*> scopes;
    for (const Open& o : open_)  // an {{else}} part renders in the scope around the section
      if (o.scope && !o.in_else) scopes.push_back(&o);
    if (p.up > scopes.size()) {
      error(t.offset,
            dquote(t.text) + " goes up " + std::to_string(p.up) +
                (p.up == 1 ? " scope" : " scopes") + ", but this tag is inside " +
                (scopes.empty() ? std::string("no") : "only " + std::to_string(scopes.size())) +
                " {{#each}} or {{#with}}");
      return false;
    }
    if (p.data != DataVar::none) {
      bool found = false;
      for (size_t i = 0; i + p.up < scopes.size(); ++i) found = found || scopes[i]->each;
      if (!found) {
        error(t.offset, dquote(t.text) + " is only defined inside {{#each}}");
        return false;
      }
    }
    return true;
  }

  // `value | fn arg | fn …`; `section` names the tag for messages ("" for output).
  bool expression(std::string_view text, size_t at, Expr& out, const std::string& section) {
    std::vector<Token> tokens;
    if (!tokenize(text, at, tokens)) return false;
    if (tokens.empty() || tokens[0].kind == Token::pipe) {
      error(at, "expected a value before '|', such as {{ value | percent }}");
      return false;
    }
    bool ok = operand(tokens[0], out.head);
    size_t i = 1;
    if (i < tokens.size() && tokens[i].kind != Token::pipe) {
      error(tokens[i].offset,
            "unexpected " + dquote(tokens[i].text) + " after " + dquote(tokens[0].text) +
                "; expected '|' and a function (such as | " + tokens[i].text + ") or }}" +
                (section.empty() ? "" : " (a section tests one value)"));
      return false;
    }
    while (i < tokens.size()) {
      const Token& pipe = tokens[i++];
      if (i >= tokens.size() || tokens[i].kind != Token::word) {
        error(pipe.offset,
              "'|' must be followed by a function, such as | upper; one of: " + function_names());
        return false;
      }
      const Token& name = tokens[i++];
      std::vector<const Token*> args;
      while (i < tokens.size() && tokens[i].kind != Token::pipe) args.push_back(&tokens[i++]);
      Call call;
      ok = function(name, args, call) && ok;
      out.calls.push_back(std::move(call));
    }
    return ok;
  }

  bool function(const Token& name, const std::vector<const Token*>& args, Call& call) {
    const FunctionSpec* spec = nullptr;
    for (const FunctionSpec& f : functions())
      if (name.text == f.name) spec = &f;
    if (spec == nullptr) {
      std::string message = "unknown function " + dquote(name.text);
      size_t best = 3;
      const char* guess = nullptr;
      for (const FunctionSpec& f : functions()) {
        size_t d = edit_distance(name.text, f.name);
        if (d < best) {
          best = d;
          guess = f.name;
        }
      }
      if (guess != nullptr) message += " (did you mean " + dquote(guess) + "?)";
      error(name.offset, message + "; expected one of: " + function_names());
      return false;
    }
    call.fn = spec->fn;
    if (args.size() < spec->min_args || args.size() > spec->max_args) {
      std::string want =
          spec->min_args == spec->max_args
              ? std::to_string(spec->min_args)
              : std::to_string(spec->min_args) + " or " + std::to_string(spec->max_args);
      std::string unit = spec->max_args == 1 ? " argument" : " arguments";
      error(args.size() > spec->max_args ? args[spec->max_args]->offset : name.offset,
            dquote(spec->name) + " takes " + want + unit + ", found " +
                std::to_string(args.size()) + "; write | " + spec->usage);
      return false;
    }
    for (size_t k = 0; k < args.size(); ++k) {
      const Token& a = *args[k];
      Operand op;
      std::string nth = "argument " + std::to_string(k + 1) + " of " + dquote(spec->name);
      switch (spec->kinds[k]) {
        case ArgKind::string:
          if (a.kind != Token::string) {
            error(a.offset,
                  nth + " must be a quoted string, found " + a.text + "; write | " + spec->usage);
            return false;
          }
          op.literal = a.text;
          break;
        case ArgKind::whole:
        case ArgKind::digits: {
          bool whole = a.kind == Token::word && !a.text.empty() &&
                       std::all_of(a.text.begin(), a.text.end(), is_digit) && a.text.size() < 9;
          long v = whole ? std::strtol(a.text.c_str(), nullptr, 10) : -1;
          bool fits = spec->kinds[k] == ArgKind::whole ? v >= 1 : v >= 0 && v <= 15;
          if (!whole || !fits) {
            std::string shown = a.kind == Token::string ? dquote(a.text) : a.text;
            error(a.offset, nth +
                                (spec->kinds[k] == ArgKind::whole
                                     ? " must be a whole number of at least 1"
                                     : " must be a number of decimals from 0 to 15") +
                                ", found " + shown + "; write | " + spec->usage);
            return false;
          }
          op.literal = static_cast<int64_t>(v);
          break;
        }
        case ArgKind::any:
          if (!operand(a, op)) return false;
          break;
      }
      call.args.push_back(std::move(op));
    }
    if (spec->fn == Fn::printf_) {
      std::string why =
          check_printf(call.args[0].literal.get<std::string>(), call.format, call.printf_kind);
      if (!why.empty()) {
        error(args[0]->offset, why);
        return false;
      }
    }
    if (spec->fn == Fn::replace && call.args[0].literal.get<std::string>().empty()) {
      error(args[0]->offset,
            "argument 1 of \"replace\" must not be empty; write | " + std::string(spec->usage));
      return false;
    }
    return true;
  }

  std::string_view src_;
  std::vector<TemplateError>& errors_;
  std::vector<Node> root_;
  std::vector<Open> open_;
  std::deque<Node> scratch_;  // bodies of unknown sections: checked, never rendered
};

// ---- rendering ---------------------------------------------------------------------------------

// One level of {{#each}} or {{#with}}: the value paths are relative to, and the loop variables.
// Thread-safety: lives on the rendering thread's stack.
struct Scope {
  const json* value = nullptr;
  const Scope* parent = nullptr;
  bool each = false;
  json key;
  size_t index = 0;
  bool first = false, last = false;
};

inline Value lookup(const Path& p, const Scope* scope) {
  for (size_t i = 0; i < p.up && scope != nullptr; ++i) scope = scope->parent;
  if (scope == nullptr) return {};
  if (p.root)
    while (scope->parent != nullptr) scope = scope->parent;
  if (p.data != DataVar::none) {
    while (scope != nullptr && !scope->each) scope = scope->parent;
    if (scope == nullptr) return {};
    switch (p.data) {
      case DataVar::key:
        return Value::of(scope->key);
      case DataVar::index:
        return Value::of(static_cast<uint64_t>(scope->index));
      case DataVar::first:
        return Value::of(scope->first);
      default:
        return Value::of(scope->last);
    }
  }
  const json* at = scope->value;
  for (const std::string& segment : p.segments) {
    if (at == nullptr) return {};
    if (at->is_object()) {
      auto it = at->find(segment);
      at = it == at->end() ? nullptr : &*it;
    } else if (at->is_array() && !segment.empty() &&
               std::all_of(segment.begin(), segment.end(), is_digit) && segment.size() < 12) {
      size_t index = std::strtoull(segment.c_str(), nullptr, 10);
      at = index < at->size() ? &(*at)[index] : nullptr;
    } else {
      return {};
    }
  }
  Value v;
  v.ref = at;
  return v;
}

inline Value operand_value(const Operand& op, const Scope* scope) {
  if (op.is_path) return lookup(op.path, scope);
  Value v;
  v.ref = &op.literal;
  return v;
}

// Compares as numbers when both sides read as numbers, else as text; -2 when not comparable
// (ordering functions are then false).
inline int compare(const json* a, const json* b, bool ordering) {
  double x = 0, y = 0;
  if (to_number(a, x) && to_number(b, y)) {
    if (std::isnan(x) || std::isnan(y)) return -2;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ordering && !(a != nullptr && a->is_string() && b != nullptr && b->is_string())) return -2;
  int c = text_of(a).compare(text_of(b));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

inline std::string printf_text(const Call& call, const json* j) {
  std::string text;
  char buffer[256];
  int n = -1;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#endif
  // The format was checked by check_printf: exactly one conversion of the kind passed here.
  auto run = [&](auto arg) {
    n = std::snprintf(buffer, sizeof buffer, call.format.c_str(), arg);
    if (n < 0) return std::string();
    if (static_cast<size_t>(n) < sizeof buffer) return std::string(buffer, static_cast<size_t>(n));
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(big.data(), big.size(), call.format.c_str(), arg);
    big.resize(static_cast<size_t>(n));
    return big;
  };
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
  if (call.printf_kind == PrintfKind::string) {
    text = text_of(j);
    return run(text.c_str());
  }
  double x = 0;
  if (!to_number(j, x)) return text_of(j);
  if (call.printf_kind == PrintfKind::floating) return run(x);
  // Integer conversions round to the nearest whole number; out of range stays as written.
  if (!std::isfinite(x) || std::fabs(x) >= 9.2e18) return number_text(x);
  long long whole = std::llround(x);
  if (call.printf_kind == PrintfKind::integer) return run(whole);
  return run(static_cast<unsigned long long>(whole));
}

inline std::string title_case(std::string s) {
  bool start = true;
  for (char& c : s) {
    if (start && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    start = !(is_alpha(c) || is_digit(c) || (static_cast<unsigned char>(c) & 0x80u));
  }
  return s;
}

inline Value apply(const Call& call, Value in, const Scope* scope) {
  const json* j = in.get();
  auto arg_int = [&](size_t k, int64_t fallback) {
    return k < call.args.size() ? call.args[k].literal.get<int64_t>() : fallback;
  };
  auto arg_text = [&](size_t k, const char* fallback) {
    return k < call.args.size() ? call.args[k].literal.get<std::string>() : std::string(fallback);
  };
  auto text = [](std::string s) { return Value::of(std::move(s)); };
  double x = 0;
  switch (call.fn) {
    case Fn::default_:
      if (in.missing() || (j->is_string() && j->get_ref<const std::string&>().empty()))
        return operand_value(call.args[0], scope);
      return in;
    case Fn::json_:
      return text(j == nullptr ? "null" : json_dump(*j));
    case Fn::count:
      if (j == nullptr) return Value::of(0);
      if (j->is_string()) return Value::of(char_count(j->get_ref<const std::string&>()));
      if (j->is_array() || j->is_object()) return Value::of(j->size());
      return Value::of(0);
    case Fn::eq:
    case Fn::ne:
    case Fn::gt:
    case Fn::ge:
    case Fn::lt:
    case Fn::le: {
      Value other = operand_value(call.args[0], scope);
      bool ordering = call.fn != Fn::eq && call.fn != Fn::ne;
      int c =
          compare(in.missing() ? nullptr : j, other.missing() ? nullptr : other.get(), ordering);
      switch (call.fn) {
        case Fn::eq:
          return Value::of(c == 0);
        case Fn::ne:
          return Value::of(c != 0);
        case Fn::gt:
          return Value::of(c == 1);
        case Fn::ge:
          return Value::of(c == 1 || c == 0);
        case Fn::lt:
          return Value::of(c == -1);
        default:
          return Value::of(c == -1 || c == 0);
      }
    }
    default:
      break;
  }
  if (in.missing()) return {};
  switch (call.fn) {
    case Fn::percent:
      return text(to_number(j, x) ? percent_text(x, static_cast<int>(arg_int(0, 1))) : text_of(j));
    case Fn::bytes:
      return text(to_number(j, x) ? bytes_text(x, static_cast<int>(arg_int(0, 1))) : text_of(j));
    case Fn::si:
      return text(to_number(j, x) ? si_text(x, static_cast<int>(arg_int(0, 1))) : text_of(j));
    case Fn::duration:
      return text(to_number(j, x) ? duration_text(x) : text_of(j));
    case Fn::printf_:
      return text(printf_text(call, j));
    case Fn::upper:
    case Fn::lower: {
      std::string s = text_of(j);
      for (char& c : s) {
        if (call.fn == Fn::upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (call.fn == Fn::lower && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      return text(std::move(s));
    }
    case Fn::title:
      return text(title_case(text_of(j)));
    case Fn::trim:
      return text(std::string(trim(text_of(j))));
    case Fn::html:
      return text(html_escape(text_of(j)));
    case Fn::json_string: {
      std::string quoted_text = json_dump(json(text_of(j)));
      return text(quoted_text.substr(1, quoted_text.size() - 2));
    }
    case Fn::urlquery:
      return text(url_escape(text_of(j)));
    case Fn::join: {
      if (!j->is_array() && !j->is_object()) return in;
      std::string separator = arg_text(0, ", "), out;
      bool first = true;
      for (auto it = j->begin(); it != j->end(); ++it) {
        if (!first) out += separator;
        first = false;
        if (j->is_object()) out += it.key() + "=";
        out += text_of(&*it);
      }
      return text(std::move(out));
    }
    case Fn::truncate: {
      std::string s = text_of(j);
      auto limit = static_cast<size_t>(arg_int(0, 1));
      if (char_count(s) <= limit) return text(std::move(s));
      std::string ellipsis = arg_text(1, "\xE2\x80\xA6");  // "…"
      size_t room = char_count(ellipsis) < limit ? limit - char_count(ellipsis) : 0;
      if (room == 0) return text(s.substr(0, prefix_bytes(s, limit)));
      return text(s.substr(0, prefix_bytes(s, room)) + ellipsis);
    }
    case Fn::replace: {
      std::string s = text_of(j), from = arg_text(0, ""), to = arg_text(1, ""), out;
      size_t pos = 0;
      for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
        out += s.substr(pos, hit - pos) + to;
      return text(out + s.substr(pos));
    }
    default:
      return in;
  }
}

inline Value evaluate(const Expr& e, const Scope* scope) {
  Value v = operand_value(e.head, scope);
  for (const Call& call : e.calls) v = apply(call, std::move(v), scope);
  return v;
}

inline void render_nodes(const std::vector<Node>& nodes, const Scope* scope, std::string& out);

inline void render_node(const Node& n, const Scope* scope, std::string& out) {
  switch (n.kind) {
    case NodeKind::text:
      out += n.text;
      return;
    case NodeKind::output:
      out += text_of(evaluate(n.expr, scope).get());
      return;
    case NodeKind::if_: {
      bool yes = truthy(evaluate(n.expr, scope).get()) != n.negate;
      render_nodes(yes ? n.body : n.alt, scope, out);
      return;
    }
    case NodeKind::with: {
      Value v = evaluate(n.expr, scope);
      if (!truthy(v.get())) return render_nodes(n.alt, scope, out);
      Scope inner;
      inner.value = v.get();
      inner.parent = scope;
      return render_nodes(n.body, &inner, out);
    }
    case NodeKind::each: {
      Value v = evaluate(n.expr, scope);
      const json* j = v.get();
      if (j == nullptr || !(j->is_array() || j->is_object()) || j->empty())
        return render_nodes(n.alt, scope, out);
      Scope inner;
      inner.parent = scope;
      inner.each = true;
      size_t i = 0;
      for (auto it = j->begin(); it != j->end(); ++it, ++i) {
        inner.value = &*it;
        inner.index = i;
        inner.key = j->is_object() ? json(it.key()) : json(static_cast<uint64_t>(i));
        inner.first = i == 0;
        inner.last = i + 1 == j->size();
        render_nodes(n.body, &inner, out);
      }
      return;
    }
  }
}

inline void render_nodes(const std::vector<Node>& nodes, const Scope* scope, std::string& out) {
  for (const Node& n : nodes) render_node(n, scope, out);
}

}  // namespace template_detail

// A compiled template. compile() once (at configure, or when rules load), render() per alert or
// notification.
// Thread-safety: immutable after compile(); render() may run on several threads at once.
class Template {
 public:
  // An empty template: renders "".
  Template() = default;

  // Compiles `text`, or returns nothing and sets `error` to every error found, one per line,
  // each "line L, column C: what was found; what was expected". Callers prefix the file or JSON
  // path ("vigil.json: instances[2].options.template: line 1, column 12: …").
  static std::optional<Template> compile(std::string_view text, std::string& error) {
    std::vector<TemplateError> errors;
    std::optional<Template> t = compile(text, errors);
    error.clear();
    for (const TemplateError& e : errors) {
      if (!error.empty()) error += '\n';
      error += e.to_string();
    }
    return t;
  }

  // The same, with each error as a value (for tools that point at the line).
  static std::optional<Template> compile(std::string_view text,
                                         std::vector<TemplateError>& errors) {
    errors.clear();
    Template t;
    t.source_ = std::string(text);
    t.nodes_ = template_detail::Parser(text, errors).parse();
    if (!errors.empty()) return std::nullopt;
    return t;
  }

  // Renders against `context` (the root scope). Missing data renders as "" and never throws;
  // only running out of memory can.
  std::string render(const nlohmann::json& context) const {
    std::string out;
    render(context, out);
    return out;
  }
  // Appends to `out`.
  void render(const nlohmann::json& context, std::string& out) const {
    template_detail::Scope root;
    root.value = &context;
    template_detail::render_nodes(nodes_, &root, out);
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<template_detail::Node> nodes_;
};

}  // namespace vigil

#endif  // VIGIL_TEMPLATE_HPP
