// notifier_slack: posts each notification to a Slack incoming webhook as a message with a
// severity colour bar and Block Kit blocks (slack_message.hpp builds it).
//
// The host does retries, backoff and fallback; this plugin only says how one attempt went, with
// the judgement every HTTP notifier shares (vigil_plugin_http/delivery.hpp): 2xx delivered,
// 408/429/5xx and network errors retryable (429's Retry-After handed to the host), Slack's
// 400 invalid_payload, 403, 404 and 410 (revoked webhook, archived channel), redirects and an
// untrusted certificate permanent. A Slack webhook URL is a credential: anyone holding it can
// post to the channel. It must never appear in a log line or a status message (they say "the
// Slack webhook"), and configure() must do no network I/O and start no thread.
#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <nlohmann/json.hpp>

#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "slack_message.hpp"
#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/request_options.hpp"

namespace vigil::notifier_slack {

namespace {

constexpr const char* kWebhook = "the Slack webhook";

const char* const kDefaultTitle =
    "{{#if status | eq \"resolved\"}}[RESOLVED]{{else if vigil.acknowledged}}[ACK]"
    "{{else}}[FIRING:{{firing | count}}]{{/if}} "
    "{{commonLabels.alertname | default groupLabels.alertname | default \"Vigil alerts\"}}"
    "{{#if commonLabels.instance}} on {{commonLabels.instance}}{{/if}}";

// What every alert of the group shares; an alert's own summary is in its section below.
const char* const kDefaultText =
    "{{#if status | eq \"resolved\"}}*Resolved.*"
    "{{#if commonAnnotations.summary}} {{commonAnnotations.summary}}{{/if}}"
    "{{else}}{{commonAnnotations.summary}}{{/if}}"
    "{{#if commonAnnotations.description}}\n{{commonAnnotations.description}}{{/if}}";

// Compiles one template option; on a mistake, every error with its line and column.
Status compile(const std::string& option, const std::string& text, Template& out) {
  std::vector<TemplateError> errors;
  std::optional<Template> compiled = Template::compile(text, errors);
  if (!compiled) {
    std::string message = "option \"" + option + "\": ";
    for (size_t i = 0; i < errors.size(); ++i)
      message += (i > 0 ? "; " : "") + errors[i].to_string();
    return Status::invalid_argument(message);
  }
  out = std::move(*compiled);
  return Status::ok();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

}  // namespace

// Thread-safety: the host delivers one notification at a time per instance.
class SlackNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    url_ = config.string("url");
    // Never quote the URL back: it is the webhook's credential.
    if (!plugin_http::has_http_scheme(url_))
      return Status::invalid_argument(
          "option \"url\": expected the Slack webhook's https:// URL, such as "
          "https://hooks.slack.com/services/T000/B000/XXXX (the value given is not repeated "
          "here: it is a credential)");
    options_.channel = config.string("channel");
    options_.username = config.string("username");
    options_.icon_emoji = config.string("icon_emoji");
    options_.icon_url = config.string("icon_url");
    if (!options_.icon_emoji.empty() && !options_.icon_url.empty())
      return Status::invalid_argument(
          "options \"icon_emoji\" and \"icon_url\": both set, expected one");
    const std::string& emoji = options_.icon_emoji;
    if (!emoji.empty() && (emoji.size() < 3 || emoji.front() != ':' || emoji.back() != ':'))
      return Status::invalid_argument("option \"icon_emoji\": found \"" + emoji +
                                      "\", expected an emoji code such as \":rotating_light:\"");
    if (!options_.icon_url.empty() && !plugin_http::has_http_scheme(options_.icon_url))
      return Status::invalid_argument("option \"icon_url\": found \"" + options_.icon_url +
                                      "\", expected an http:// or https:// URL of an image");
    if (Status s = compile("title", config.string("title"), options_.title); !s.is_ok()) return s;
    if (Status s = compile("text", config.string("text"), options_.text); !s.is_ok()) return s;
    if (Status s = read_links(config.json("links")); !s.is_ok()) return s;
    if (Status s = read_colors(config.json("colors")); !s.is_ok()) return s;
    const int64_t max_alerts = config.integer("max_alerts");
    if (max_alerts < 1 || max_alerts > static_cast<int64_t>(kMaxAlertsLimit))
      return Status::invalid_argument("option \"max_alerts\": found " + std::to_string(max_alerts) +
                                      ", expected 1 to " + std::to_string(kMaxAlertsLimit) +
                                      " (a Slack message holds at most " +
                                      std::to_string(kMaxBlocks) + " blocks)");
    options_.max_alerts = static_cast<size_t>(max_alerts);

    request_.method = "POST";
    request_.url = url_;
    plugin_http::read_request_options(config, request_);
    request_.accept_gzip = false;
    request_.max_body_bytes = 64 << 10;  // Slack answers "ok" or a short error name
    request_.user_agent = "vigil-notifier-slack";
    request_.headers = {{"Content-Type", "application/json; charset=utf-8"}};
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    nlohmann::json payload;
    if (!n.payload_json.empty()) {
      payload = nlohmann::json::parse(n.payload_json, nullptr, false);
      // The same payload will never parse on a retry: permanent, so the fallback receiver gets it.
      if (payload.is_discarded())
        return Status::permanent("the payload is not valid JSON (notification " +
                                 n.idempotency_key + ")");
    }
    std::vector<std::string> warnings;
    const nlohmann::ordered_json message = build_message(options_, n, payload, warnings);
    for (const std::string& warning : warnings) host().warn(warning);

    plugin_http::Request request = request_;
    // Invalid UTF-8 from the alert data becomes U+FFFD rather than a body Slack refuses.
    request.body = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const auto result = client_.perform(request);
    auto judgement = plugin_http::judge_delivery(std::string("POST ") + kWebhook, result);
    const std::string why = hide_url(judgement.message);
    switch (judgement.verdict) {
      case plugin_http::Verdict::delivered:
        return Status::ok();
      case plugin_http::Verdict::retryable:
        return Status::retryable(why, judgement.retry_after);
      case plugin_http::Verdict::permanent:
        return Status::permanent(why);
    }
    return Status::retryable(why);
  }

 private:
  // The client's own errors name the URL they tried; ours says "the Slack webhook" instead, and
  // the path (the credential) is taken out wherever curl repeated it.
  std::string hide_url(std::string message) const {
    replace_all(message, url_, kWebhook);
    replace_all(message, plugin_http::redact_url(url_), kWebhook);
    const size_t scheme = url_.find("://");
    const size_t path =
        scheme == std::string::npos ? std::string::npos : url_.find('/', scheme + 3);
    if (path != std::string::npos && url_.size() - path > 1)
      replace_all(message, url_.substr(path), "/…");
    return message;
  }

  Status read_links(const std::string& text) {
    const auto links = nlohmann::json::parse(text, nullptr, false);
    const std::string expected =
        "expected an array of {\"text\": \"Runbook\", \"url\": \"{{ "
        "commonAnnotations.runbook_url }}\"}";
    if (!links.is_array()) return Status::invalid_argument("option \"links\": " + expected);
    if (links.size() > kMaxLinks)
      return Status::invalid_argument("option \"links\": found " + std::to_string(links.size()) +
                                      " links, expected at most " + std::to_string(kMaxLinks));
    for (size_t i = 0; i < links.size(); ++i) {
      const std::string where = "links[" + std::to_string(i) + "]";
      const nlohmann::json& link = links[i];
      if (!link.is_object() || !link.contains("text") || !link["text"].is_string() ||
          !link.contains("url") || !link["url"].is_string() || link.size() != 2)
        return Status::invalid_argument("option \"" + where + "\": found " + link.dump() + ", " +
                                        expected);
      Link out;
      out.text = link["text"].get<std::string>();
      if (out.text.empty())
        return Status::invalid_argument("option \"" + where +
                                        ".text\": empty, expected the link's words");
      if (Status s = compile(where + ".url", link["url"].get<std::string>(), out.url); !s.is_ok())
        return s;
      options_.links.push_back(std::move(out));
    }
    return Status::ok();
  }

  Status read_colors(const std::string& text) {
    const auto colors = nlohmann::json::parse(text, nullptr, false);
    if (!colors.is_object())
      return Status::invalid_argument(
          "option \"colors\": expected an object of severities to colours, such as "
          "{\"warning\": \"#FFA500\"}");
    options_.colors = default_colors();
    for (auto it = colors.begin(); it != colors.end(); ++it) {
      if (!it->is_string())
        return Status::invalid_argument("option \"colors\": \"" + it.key() +
                                        "\" has a value that is not a string");
      const std::string colour = it->get<std::string>();
      if (std::string why = check_color(colour); !why.empty())
        return Status::invalid_argument("option \"colors\": \"" + it.key() + "\": " + why);
      options_.colors[lower(it.key())] = colour;
    }
    return Status::ok();
  }

  plugin_http::Client client_;
  plugin_http::Request request_;
  std::string url_;
  MessageOptions options_;
};

}  // namespace vigil::notifier_slack

VIGIL_PLUGIN(
    "notifier_slack", "1.0.0",
    vigil::plugin_http::add_request_options(
        vigil::notifier<vigil::notifier_slack::SlackNotifier>(
            "Posts each notification to a Slack incoming webhook: a message with a severity colour "
            "bar, the alerts, the acknowledgement and links")
            .required_option("url", vigil::String,
                             "the Slack incoming webhook's URL (a credential: never logged)")
            .option("channel", vigil::String, "",
                    "post to this channel instead of the webhook's own (legacy webhooks only)")
            .option("username", vigil::String, "", "the sender name shown instead of the app's")
            .option("icon_emoji", vigil::String, "",
                    "the sender icon as an emoji code, such as \":rotating_light:\"")
            .option("icon_url", vigil::String, "", "the sender icon as an image URL")
            .option("title", vigil::String, vigil::notifier_slack::kDefaultTitle,
                    "the header line (a template, plain text, at most 150 characters)")
            .option(
                "text", vigil::String, vigil::notifier_slack::kDefaultText,
                "the summary under the header (a template, Slack mrkdwn, at most 3000 "
                "characters); the fallback text of phone notifications is the title, \": \" and "
                "this")
            .option("links", vigil::Json, "[]",
                    "extra links under the message: [{\"text\": \"Runbook\", \"url\": \"{{ "
                    "commonAnnotations.runbook_url }}\"}], the url a template; an empty URL leaves "
                    "the link out")
            .option("colors", vigil::Json, "{}",
                    "colour bar per severity, merged over critical/error #E01E5A, warning #ECB22E, "
                    "info #36C5F0, firing (any other severity) #E01E5A, resolved #2EB67D")
            .option("max_alerts", vigil::Int, "10",
                    "alerts listed one by one (1 to 44); the rest are counted as \"and N more\"")));
