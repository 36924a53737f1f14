// Label matchers and series selectors in Prometheus' syntax, shared by rule queries
// (`node_cpu_seconds_total{mode!="idle"}`), routes, inhibition rules and silences
// (`severity=~"critical|page"`), so a user learns one notation.
//
// Regular expressions are fully anchored, as in Prometheus. Parsing never throws: a bad matcher
// comes back as an error naming the offending text, its position and what was expected.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::alerts {

enum class MatchOp { equal, not_equal, regex, not_regex };

// Thread-safety: immutable after construction; matches() may be called from any thread.
class Matcher {
 public:
  // Throws std::invalid_argument with a readable message when `value` is not a valid regex for
  // the regex operators (parse_matcher catches it and reports an error instead).
  Matcher(std::string name, MatchOp op, std::string value);

  const std::string& name() const { return name_; }
  MatchOp op() const { return op_; }
  const std::string& value() const { return value_; }
  // A missing label matches as the empty string, as in Prometheus.
  bool matches(std::string_view label_value) const;
  bool matches(const std::map<std::string, std::string>& labels) const;
  std::string to_string() const;  // `name="value"` with the value escaped

 private:
  std::string name_;
  MatchOp op_;
  std::string value_;
  std::shared_ptr<const std::regex> regex_;
};

bool matches_all(const std::vector<Matcher>& matchers,
                 const std::map<std::string, std::string>& labels);

// `name="value"`, `name!="value"`, `name=~"re"`, `name!~"re"`; the value in double quotes with
// backslash escapes (single quotes and backticks accepted too). On failure returns nullopt and sets
// `error`, e.g. `at 9: found '>', expected one of = != =~ !~`.
std::optional<Matcher> parse_matcher(std::string_view text, std::string& error);

// `metric`, `metric{a="b",c=~"d"}` or `{__name__="metric",a="b"}`. The metric name, when given,
// comes back in `name` (and never also as a matcher); `matchers` holds the rest.
struct Selector {
  std::string name;  // "" when the selector names no metric
  std::vector<Matcher> matchers;
};
std::optional<Selector> parse_selector(std::string_view text, std::string& error);

}  // namespace vigil::alerts
