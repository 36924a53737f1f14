// Judging a notifier's HTTP answer (see delivery.hpp).
#include "vigil_plugin_http/delivery.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace vigil::plugin_http {

namespace {

constexpr int64_t kMaxRetryAfterSeconds = 86400;

std::string one_line_prefix(const std::string& body) {
  std::string out = body.substr(0, 200);
  for (auto& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return out;
}

// "Wed, 21 Oct 2026 07:28:00 GMT" as seconds since the epoch.
std::optional<int64_t> parse_imf_fixdate(std::string_view value) {
  std::string text(value);
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           int64_t now_unix) {
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
    value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > kMaxRetryAfterSeconds) break;
    }
  } else {
    const auto at = parse_imf_fixdate(value);
    if (!at) return std::nullopt;
    seconds = std::max<int64_t>(0, *at - now_unix);
  }
  return std::chrono::seconds(std::min(seconds, kMaxRetryAfterSeconds));
}

Judgement judge_delivery(std::string_view what, const Result& result) {
  if (!result.ok()) {
    switch (result.error_kind) {
      case ErrorKind::tls_verify:
        return {Verdict::permanent,
                result.error +
                    "; the receiver's certificate is not trusted: expected one for its host name "
                    "signed by a trusted CA (option ca_file)",
                {}};
      case ErrorKind::invalid_request:
        return {Verdict::permanent, result.error, {}};
      default:
        return {Verdict::retryable, result.error, {}};
    }
  }
  const long status = result.response.status;
  const std::string where = std::string(what) + ": HTTP " + std::to_string(status);
  if (status >= 200 && status < 300) return {Verdict::delivered, where, {}};
  const std::string body = one_line_prefix(result.response.body);
  std::string message = where + (body.empty() ? "" : " (" + body + ")");
  if (status == 408 || status == 429 || status >= 500) {
    Judgement j{Verdict::retryable, message, {}};
    if (status == 408 || status == 429 || status == 503) {
      if (auto value = result.response.header("Retry-After")) {
        if (auto after = parse_retry_after(*value, static_cast<int64_t>(std::time(nullptr)))) {
          j.retry_after = *after;
          j.message += "; Retry-After " + *value;
        } else {
          j.message += "; Retry-After \"" + *value +
                       "\" is neither seconds nor an HTTP date, using the host's backoff";
        }
      }
    }
    if (status >= 500) j.message += "; the receiver failed, retrying";
    return j;
  }
  if (status >= 300 && status < 400) {
    auto location = result.response.header("Location");
    return {Verdict::permanent,
            message + ": a redirect" + (location ? " to " + *location : std::string()) +
                "; expected 2xx from the configured URL (set the final URL)",
            {}};
  }
  return {Verdict::permanent,
          message + "; expected 2xx, and a client error will not change on a retry",
          {}};
}

}  // namespace vigil::plugin_http
