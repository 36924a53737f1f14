// Regular expressions for checks that look at what a server answered (check_http's
// body_pattern, check_tcp's expect): POSIX extended syntax (the one Nagios' check_http -r and
// grep -E use), matched over bytes, so a body with NUL bytes or invalid UTF-8 is still searched.
//
// glibc's matcher is used rather than std::regex because libstdc++'s recurses per character and
// can overflow the stack on a multi-megabyte body; a check must never crash the host. It must
// never allocate per search beyond what regexec does, nor keep the searched text.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::plugin_pattern {

// A compiled expression.
// Thread-safety: immutable after compile(); search() may run concurrently on one Pattern.
class Pattern {
 public:
  // ERE syntax. On a syntax error returns nullopt and sets `error` to the matcher's reason
  // ("Unmatched ( or \\(").
  static std::optional<Pattern> compile(std::string_view expression, std::string& error);

  // True when the expression matches anywhere in `text`.
  bool search(std::string_view text) const;
  const std::string& expression() const { return expression_; }

 private:
  struct Compiled;
  Pattern() = default;
  std::shared_ptr<const Compiled> compiled_;
  std::string expression_;
};

}  // namespace vigil::plugin_pattern
