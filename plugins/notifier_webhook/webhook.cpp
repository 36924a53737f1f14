// Judging webhook answers and signing bodies (see webhook.hpp).
#include "webhook.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace vigil::notifier_webhook {

Judgement judge(const plugin_http::Request& request, const plugin_http::Result& result) {
  using plugin_http::ErrorKind;
  const std::string where = "POST " + request.url;
  if (!result.ok()) {
    switch (result.error_kind) {
      case ErrorKind::tls_verify:
        return {Verdict::permanent,
                result.error +
                    "; the receiver's certificate is not trusted: expected one for "
                    "its host name signed by a trusted CA (option ca_file)"};
      case ErrorKind::invalid_request:
        return {Verdict::permanent, result.error};
      default:
        return {Verdict::retryable, result.error};
    }
  }
  const long status = result.response.status;
  if (status >= 200 && status < 300)
    return {Verdict::delivered, where + ": HTTP " + std::to_string(status)};
  std::string body = result.response.body.substr(0, 200);
  for (auto& c : body)
    if (c == '\n' || c == '\r') c = ' ';
  std::string message =
      where + ": HTTP " + std::to_string(status) + (body.empty() ? "" : " (" + body + ")");
  if (status == 408 || status == 429) {
    if (auto after = result.response.header("Retry-After")) message += "; Retry-After " + *after;
    return {Verdict::retryable, message};
  }
  if (status >= 500) return {Verdict::retryable, message + "; the receiver failed, retrying"};
  if (status >= 300 && status < 400) {
    auto location = result.response.header("Location");
    return {Verdict::permanent, message + ": a redirect" +
                                    (location ? " to " + *location : std::string()) +
                                    "; expected 2xx from the configured URL (set the final URL)"};
  }
  return {Verdict::permanent, message +
                                  "; expected 2xx, and a client error will not change on "
                                  "a retry"};
}

std::string signature(std::string_view secret, std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace vigil::notifier_webhook
