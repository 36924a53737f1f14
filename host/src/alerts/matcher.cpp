// Parsing and matching of Prometheus-style label matchers and selectors (see matcher.hpp).
//
// One hand-written scanner for both: it reports the byte position and what it expected, and it
// never throws to its caller. Regexes are compiled once, anchored, and shared between copies.
#include "alerts/matcher.hpp"

#include <cctype>
#include <stdexcept>

namespace vigil::alerts {

namespace {

const char* op_text(MatchOp op) {
  switch (op) {
    case MatchOp::equal:
      return "=";
    case MatchOp::not_equal:
      return "!=";
    case MatchOp::regex:
      return "=~";
    case MatchOp::not_regex:
      return "!~";
  }
  return "=";
}

// A cursor over the text with the error conventions every parse shares.
struct Scanner {
  std::string_view text;
  size_t pos = 0;
  std::string& error;

  bool done() const { return pos >= text.size(); }
  char peek() const { return done() ? '\0' : text[pos]; }
  void skip_space() {
    while (!done() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  bool fail(const std::string& expected) {
    if (error.empty()) {
      std::string found = done() ? "the end of the text" : "'" + std::string(1, text[pos]) + "'";
      error = "at " + std::to_string(pos + 1) + " of `" + std::string(text) + "`: found " + found +
              ", expected " + expected;
    }
    return false;
  }
  static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool name_char(char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c));
  }

  bool name(std::string& out, bool allow_colon) {
    skip_space();
    size_t start = pos;
    if (done() || !(name_start(peek()) || (allow_colon && peek() == ':'))) {
      return fail(allow_colon ? "a metric name" : "a label name");
    }
    while (!done() && (name_char(peek()) || (allow_colon && peek() == ':'))) ++pos;
    out.assign(text.substr(start, pos - start));
    return true;
  }

  bool op(MatchOp& out) {
    skip_space();
    if (text.substr(pos, 2) == "=~") {
      out = MatchOp::regex;
      pos += 2;
    } else if (text.substr(pos, 2) == "!=") {
      out = MatchOp::not_equal;
      pos += 2;
    } else if (text.substr(pos, 2) == "!~") {
      out = MatchOp::not_regex;
      pos += 2;
    } else if (peek() == '=') {
      out = MatchOp::equal;
      pos += 1;
    } else {
      return fail("one of = != =~ !~");
    }
    return true;
  }

  bool quoted(std::string& out) {
    skip_space();
    char quote = peek();
    if (quote != '"' && quote != '\'' && quote != '`') return fail("a quoted value");
    ++pos;
    out.clear();
    while (!done() && peek() != quote) {
      char c = text[pos++];
      if (c == '\\' && quote != '`') {
        if (done()) break;
        char e = text[pos++];
        switch (e) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case '\\':
            out += '\\';
            break;
          case '"':
            out += '"';
            break;
          case '\'':
            out += '\'';
            break;
          default:
            // Regexes need their own escapes (\d, \.) to survive as written.
            out += '\\';
            out += e;
        }
      } else {
        out += c;
      }
    }
    if (done()) return fail(std::string("the closing ") + quote);
    ++pos;
    return true;
  }

  std::optional<Matcher> matcher() {
    std::string label, value;
    MatchOp match_op{};
    if (!name(label, false) || !op(match_op) || !quoted(value)) return std::nullopt;
    try {
      return Matcher(label, match_op, value);
    } catch (const std::invalid_argument& e) {
      error = e.what();
      return std::nullopt;
    }
  }
};

}  // namespace

Matcher::Matcher(std::string name, MatchOp op, std::string value)
    : name_(std::move(name)), op_(op), value_(std::move(value)) {
  if (op_ == MatchOp::regex || op_ == MatchOp::not_regex) {
    try {
      regex_ =
          std::make_shared<const std::regex>(value_, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("label " + name_ + ": `" + value_ +
                                  "` is not a valid regular expression (" + e.what() +
                                  "), expected an ECMAScript regex such as \"web-.*\"");
    }
  }
}

bool Matcher::matches(std::string_view label_value) const {
  switch (op_) {
    case MatchOp::equal:
      return label_value == value_;
    case MatchOp::not_equal:
      return label_value != value_;
    case MatchOp::regex:
      return std::regex_match(label_value.begin(), label_value.end(), *regex_);
    case MatchOp::not_regex:
      return !std::regex_match(label_value.begin(), label_value.end(), *regex_);
  }
  return false;
}

bool Matcher::matches(const std::map<std::string, std::string>& labels) const {
  auto it = labels.find(name_);
  return matches(it == labels.end() ? std::string_view{} : std::string_view{it->second});
}

std::string Matcher::to_string() const {
  std::string out = name_ + op_text(op_) + "\"";
  for (char c : value_) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

bool matches_all(const std::vector<Matcher>& matchers,
                 const std::map<std::string, std::string>& labels) {
  for (const auto& m : matchers) {
    if (!m.matches(labels)) return false;
  }
  return true;
}

std::optional<Matcher> parse_matcher(std::string_view text, std::string& error) {
  error.clear();
  Scanner s{text, 0, error};
  auto m = s.matcher();
  if (!m) return std::nullopt;
  s.skip_space();
  if (!s.done()) {
    s.fail("the end of the matcher");
    return std::nullopt;
  }
  return m;
}

std::optional<Selector> parse_selector(std::string_view text, std::string& error) {
  error.clear();
  Scanner s{text, 0, error};
  Selector out;
  s.skip_space();
  if (s.peek() != '{') {
    if (!s.name(out.name, true)) return std::nullopt;
    s.skip_space();
  }
  if (s.peek() == '{') {
    ++s.pos;
    s.skip_space();
    while (s.peek() != '}') {
      auto m = s.matcher();
      if (!m) return std::nullopt;
      if (m->name() == "__name__" && m->op() == MatchOp::equal) {
        if (!out.name.empty() && out.name != m->value()) {
          error = "`" + std::string(text) + "` names two metrics: " + out.name + " and " +
                  m->value() + ", expected one";
          return std::nullopt;
        }
        out.name = m->value();
      } else {
        out.matchers.push_back(std::move(*m));
      }
      s.skip_space();
      if (s.peek() == ',') {
        ++s.pos;
        s.skip_space();
      } else if (s.peek() != '}') {
        s.fail("',' or '}'");
        return std::nullopt;
      }
    }
    ++s.pos;
  }
  s.skip_space();
  if (!s.done()) {
    s.fail("the end of the selector");
    return std::nullopt;
  }
  if (out.name.empty() && out.matchers.empty()) {
    error = "`" + std::string(text) + "` selects nothing, expected a metric name or matchers";
    return std::nullopt;
  }
  return out;
}

}  // namespace vigil::alerts
