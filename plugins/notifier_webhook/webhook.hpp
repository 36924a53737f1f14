// The webhook notifier's signature of a body, apart from the plugin glue so it is tested on its
// own. How an answer is judged (delivered, retryable, permanent) is shared by every HTTP
// notifier: vigil_plugin_http/delivery.hpp.
#pragma once

#include <string>
#include <string_view>

namespace vigil::notifier_webhook {

// "sha256=" + lowercase hex of HMAC-SHA256(secret, body).
std::string signature(std::string_view secret, std::string_view body);

}  // namespace vigil::notifier_webhook
