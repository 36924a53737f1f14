// Expansion of the test-rules series notation (see series_notation.hpp).
//
// Hand-written on purpose: the grammar is a handful of token shapes and every failure must say
// which token and what was expected, which a regex cannot.
#include "core/series_notation.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace vigil::core {
namespace {

constexpr size_t kMaxSteps = 1'000'000;  // a typo like 0+1x100000000 must not eat the memory

bool parse_number(std::string_view text, double& out) {
  if (text.empty()) return false;
  std::string s(text);
  if (s == "Inf" || s == "+Inf" || s == "inf") {
    out = INFINITY;
    return true;
  }
  if (s == "-Inf" || s == "-inf") {
    out = -INFINITY;
    return true;
  }
  if (s == "NaN" || s == "nan") {
    out = NAN;
    return true;
  }
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool parse_count(std::string_view text, size_t& out) {
  if (text.empty() || text.size() > 7) return false;
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

std::string token_error(size_t index, const std::string& token, const std::string& what) {
  return "token " + std::to_string(index) + " \"" + token + "\": " + what;
}

// Splits "<head>x<count>" where count is all digits; returns false when there is no repetition.
bool split_repeat(const std::string& token, std::string& head, size_t& count) {
  auto x = token.rfind('x');
  if (x == std::string::npos || x == 0 || x + 1 >= token.size()) return false;
  if (!parse_count(std::string_view(token).substr(x + 1), count)) return false;
  head = token.substr(0, x);
  return true;
}

template <class Word>
std::optional<std::vector<Step>> expand(std::string_view text, std::string& error, Word word,
                                        bool allow_stale) {
  std::vector<Step> out;
  std::istringstream in{std::string(text)};
  std::string token;
  size_t index = 0;
  while (in >> token) {
    ++index;
    if (token == "stale") {
      if (!allow_stale) {
        error = token_error(index, token, "\"stale\" is for series, expected a health status");
        return std::nullopt;
      }
      out.push_back({Step::stale, 0});
      continue;
    }
    std::string head = token;
    size_t repeat = 0;
    bool repeated = split_repeat(token, head, repeat);
    if (out.size() + repeat + 1 > kMaxSteps) {
      error = token_error(index, token,
                          "expands past " + std::to_string(kMaxSteps) + " steps, expected fewer");
      return std::nullopt;
    }
    if (head == "_") {
      out.insert(out.end(), repeat + 1, Step{Step::missing, 0});
      continue;
    }
    double v = 0;
    if (word(head, v)) {
      out.insert(out.end(), repeat + 1, Step{Step::value, v});
      continue;
    }
    // start+step or start-step, then the mandatory repetition. A leading sign belongs to start.
    auto op = head.find_first_of("+-", 1);
    while (op != std::string::npos && (head[op - 1] == 'e' || head[op - 1] == 'E'))
      op = head.find_first_of("+-", op + 1);  // 1e-3 is a number, not an increment
    if (allow_stale && op != std::string::npos) {
      double start = 0, step = 0;
      if (!parse_number(std::string_view(head).substr(0, op), start)) {
        error = token_error(
            index, token,
            "found \"" + head.substr(0, op) + "\" before \"" + head[op] + "\", expected a number");
        return std::nullopt;
      }
      if (!parse_number(std::string_view(head).substr(op + 1), step)) {
        error = token_error(
            index, token,
            "found \"" + head.substr(op + 1) + "\" after \"" + head[op] + "\", expected a number");
        return std::nullopt;
      }
      if (!repeated) {
        error = token_error(index, token, "expected a repetition such as \"" + head + "x10\"");
        return std::nullopt;
      }
      if (head[op] == '-') step = -step;
      for (size_t i = 0; i <= repeat; ++i)
        out.push_back({Step::value, start + step * static_cast<double>(i)});
      continue;
    }
    error = token_error(index, token,
                        allow_stale ? "expected a number, a+bxN, a-bxN, axN, _, _xN or stale"
                                    : "expected ok, warning, critical, unknown (or 0-3), _ or "
                                      "one of them with xN");
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<std::vector<Step>> expand_series(std::string_view text, std::string& error) {
  return expand(text, error, parse_number, true);
}

std::optional<std::vector<Step>> expand_health(std::string_view text, std::string& error) {
  auto word = [](const std::string& w, double& v) {
    static const char* names[] = {"ok", "warning", "critical", "unknown"};
    for (int i = 0; i < 4; ++i) {
      if (w == names[i] || w == std::to_string(i)) {
        v = i;
        return true;
      }
    }
    return false;
  };
  return expand(text, error, word, false);
}

}  // namespace vigil::core
