// How an HTTP notifier's attempt went, shared by every notifier that POSTs to a receiver
// (webhook, slack, events, sms, alertmanager): 2xx delivered; 408, 429, 5xx and network errors
// retryable (with the receiver's Retry-After, when it gave one); any other 4xx, a redirect, a
// bad request and an untrusted certificate permanent. The host does retries, backoff and
// fallback; this only judges one answer.
//
// It must never call a client error worth retrying (a 400 stays a 400) except the two that mean
// "later", never call a TLS verification failure transient, and never quote more than a short,
// single-line prefix of the receiver's body in a message (it goes to the log).
#pragma once

#include "vigil_plugin_http/client.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::plugin_http {

enum class Verdict { delivered, retryable, permanent };

struct Judgement {
  Verdict verdict = Verdict::delivered;
  std::string message;  // for the host's log: what happened and, on failure, what was expected
  // From a 408/429/503 answer's Retry-After (seconds or an HTTP date), capped at one day; zero
  // when there was none or it could not be read.
  std::chrono::milliseconds retry_after{0};
};

// `what` names the attempt in messages, such as "POST https://hooks.example.com/x".
Judgement judge_delivery(std::string_view what, const Result& result);

// A Retry-After value: delta-seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2026 07:28:00
// GMT") relative to `now_unix`. nullopt when it is neither; never negative (a date in the past
// is zero); capped at 86,400 s.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           int64_t now_unix);

}  // namespace vigil::plugin_http
