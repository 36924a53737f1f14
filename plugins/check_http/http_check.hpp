// check_http's judgement, apart from the plugin glue so it can be tested on its own: which status
// codes count as up, the request headers from the config, and turning one HTTP result into a
// health status and the one-line message a person reads in /api/v1/health.
//
// Pure functions of their inputs (the time is passed in): never do I/O here, never read the
// clock, never log.
#pragma once

#include <vigil/plugin.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_pattern/pattern.hpp"

namespace vigil::check_http {

// The status codes that count as up: single codes and ranges ("2xx" is 200..299).
// Thread-safety: immutable after parse(); safe to share.
class StatusMatcher {
 public:
  // Any 2xx or 3xx.
  StatusMatcher() : ranges_{{200, 399}} {}

  // `json` is the option's compact JSON: an array of codes (200) and classes ("2xx"), or ""
  // for the default. On error sets `error` to what was found and what was expected.
  static bool parse(std::string_view json, StatusMatcher& out, std::string& error);

  bool matches(long status) const;
  // "2xx or 3xx", "200 or 204", "200, 301 or 5xx".
  std::string describe() const;

 private:
  std::vector<std::pair<int, int>> ranges_;  // inclusive
};

// The "headers" option: a JSON object of name -> value (strings or numbers), or "" for none.
bool parse_headers(std::string_view json, plugin_http::Headers& out, std::string& error);

struct Expectations {
  StatusMatcher status;
  std::optional<plugin_pattern::Pattern> body_pattern;
  int64_t cert_warning_days = 14;
  int64_t cert_critical_days = 7;
};

struct Verdict {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
  // The presented certificate that expires first, when the server sent any (https only).
  const plugin_http::Certificate* certificate = nullptr;
};

// The status and message for one result: critical when there was no response, the status is not
// expected, or the body does not match; warning or critical when a certificate expires within
// the thresholds; ok otherwise. `now_unix` is the wall clock in seconds. The verdict's
// certificate points into `result`.
Verdict judge(const plugin_http::Result& result, const Expectations& expect, int64_t now_unix);

}  // namespace vigil::check_http
