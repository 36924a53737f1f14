// The webhook notifier's judgement, apart from the plugin glue so it is tested on its own: how
// an HTTP answer (or a failure to get one) maps to delivered, retryable or permanent, and the
// HMAC-SHA256 signature of a body.
//
// It must never treat a client error as worth retrying (a 400 stays a 400) except the two that
// mean "later" (408, 429), and never call a TLS verification failure transient.
#pragma once

#include "vigil_plugin_http/client.hpp"

#include <string>
#include <string_view>

namespace vigil::notifier_webhook {

enum class Verdict { delivered, retryable, permanent };

struct Judgement {
  Verdict verdict = Verdict::delivered;
  std::string message;  // for the host's log: what happened and, on failure, what was expected
};

Judgement judge(const plugin_http::Request& request, const plugin_http::Result& result);

// "sha256=" + lowercase hex of HMAC-SHA256(secret, body).
std::string signature(std::string_view secret, std::string_view body);

}  // namespace vigil::notifier_webhook
