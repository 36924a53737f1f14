// notifier_webhook: POSTs each notification as JSON compatible with Alertmanager's webhook
// payload (version 4) plus Vigil's fields, to a configured URL.
//
// The host does retries, backoff and fallback; this plugin only says how one attempt went:
// 2xx delivered, 408/429/5xx and network errors retryable, other 4xx and an untrusted
// certificate permanent. It must never log the body or the secret, and never follow a redirect
// (a webhook that moved should be reconfigured, not chased).
#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/request_options.hpp"
#include "webhook.hpp"

namespace vigil::notifier_webhook {

// Thread-safety: the host delivers one notification at a time per instance.
class WebhookNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    request_.method = "POST";
    request_.url = config.string("url");
    if (request_.url.rfind("http://", 0) != 0 && request_.url.rfind("https://", 0) != 0)
      return Status::invalid_argument("option \"url\": found \"" + request_.url +
                                      "\", expected an http:// or https:// URL");
    plugin_http::read_request_options(config, request_);
    request_.accept_gzip = false;
    request_.max_body_bytes = 1 << 20;
    request_.user_agent = "vigil-notifier-webhook";
    request_.headers = {{"Content-Type", "application/json"}};
    const auto headers = nlohmann::json::parse(config.json("headers"), nullptr, false);
    if (!headers.is_object())
      return Status::invalid_argument(
          "option \"headers\": expected an object of header names to values, such as "
          "{\"Authorization\": \"Bearer ...\"}");
    for (const auto& [name, value] : headers.items()) {
      if (!value.is_string())
        return Status::invalid_argument("option \"headers\": \"" + name +
                                        "\" has a value that is not a string");
      request_.headers.emplace_back(name, value.get<std::string>());
    }
    secret_ = config.string("hmac_secret");
    const std::string secret_file = config.string("hmac_secret_file");
    if (!secret_file.empty()) {
      if (!secret_.empty())
        return Status::invalid_argument(
            "options \"hmac_secret\" and \"hmac_secret_file\": both set, expected one");
      std::ifstream in(secret_file);
      if (!in || !std::getline(in, secret_) || secret_.empty())
        return Status::invalid_argument("option \"hmac_secret_file\": cannot read a secret from " +
                                        secret_file + ", expected a file whose first line is it");
    }
    signature_header_ = config.string("signature_header");
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    plugin_http::Request request = request_;
    request.body = n.payload_json;
    request.headers.emplace_back("Idempotency-Key", n.idempotency_key);
    request.headers.emplace_back("X-Vigil-Attempt", std::to_string(n.attempt));
    if (!secret_.empty())
      request.headers.emplace_back(signature_header_, signature(secret_, n.payload_json));
    const auto result = client_.perform(request);
    const auto judgement = plugin_http::judge_delivery("POST " + request.url, result);
    switch (judgement.verdict) {
      case plugin_http::Verdict::delivered:
        return Status::ok();
      case plugin_http::Verdict::retryable:
        return Status::retryable(judgement.message, judgement.retry_after);
      case plugin_http::Verdict::permanent:
        return Status::permanent(judgement.message);
    }
    return Status::retryable(judgement.message);
  }

 private:
  plugin_http::Client client_;
  plugin_http::Request request_;
  std::string secret_, signature_header_;
};

}  // namespace vigil::notifier_webhook

VIGIL_PLUGIN(
    "notifier_webhook", "1.0.0",
    vigil::plugin_http::add_request_options(
        vigil::notifier<vigil::notifier_webhook::WebhookNotifier>(
            "POSTs each notification as JSON (Alertmanager webhook v4 plus Vigil's fields)")
            .required_option("url", vigil::String, "the receiver's http:// or https:// URL")
            .option("headers", vigil::Json, "{}",
                    "extra request headers, such as {\"Authorization\": \"Bearer ...\"}")
            .option("hmac_secret", vigil::String, "",
                    "shared secret: sign each body with HMAC-SHA256 into signature_header")
            .option("hmac_secret_file", vigil::String, "",
                    "file whose first line is the shared secret (instead of hmac_secret)")
            .option("signature_header", vigil::String, "X-Vigil-Signature",
                    "header carrying \"sha256=<hex>\" when a secret is set")));
