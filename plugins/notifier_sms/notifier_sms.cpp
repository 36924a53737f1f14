// notifier_sms: sends each notification as a short text message through an SMS gateway's HTTP
// API, one POST per recipient (a form, as Twilio takes, or JSON), with a templated message cut to
// the gateway's length.
//
// The host does retries, backoff and fallback; this plugin says how one attempt went, with the
// judgement every HTTP notifier shares (vigil_plugin_http/delivery.hpp) applied per recipient:
// delivered when every recipient has the message, retryable while any failure may pass on a
// retry, permanent only when every recipient still missing it failed for good. A retry of the
// same notification never texts a recipient who already has it (DeliveredRecipients). It must
// never log the password or the message at info level (a text may carry what the alert says,
// and the log is read more widely than the pager), and configure() must do no network I/O.
#include <vigil/sdk.hpp>

#include <vigil/notification_context.hpp>
#include <vigil/template.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "delivered_recipients.hpp"
#include "sms_message.hpp"
#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/request_options.hpp"

namespace vigil::notifier_sms {

namespace {

// Notifications whose served recipients are remembered; a host retries one for hours at most
// (delivery.max_age), and this many notifications in flight at once is far beyond one machine.
constexpr size_t kRememberedNotifications = 4096;

const char* const kDefaultMessage =
    "{{#if status | eq \"resolved\"}}[RESOLVED]{{else if vigil.acknowledged}}[ACK]"
    "{{else}}[FIRING:{{firing | count}}]{{/if}} "
    "{{commonLabels.alertname | default groupLabels.alertname | default \"alerts\"}}"
    "{{#if commonLabels.instance}} {{commonLabels.instance}}{{/if}}"
    "{{#if status | eq \"resolved\"}}"
    "{{#with commonAnnotations.summary | default alerts.0.annotations.summary}}: {{.}}{{/with}}"
    "{{else if vigil.acknowledged}} by {{vigil.acknowledged.author}}"
    "{{#if vigil.acknowledged.comment}}: {{vigil.acknowledged.comment}}{{/if}}"
    "{{else}}"
    "{{#with commonAnnotations.summary | default alerts.0.annotations.summary}}: {{.}}{{/with}}"
    "{{/if}}";

std::string trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_control_character(const std::string& s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

// One recipient's failed attempt.
struct Failure {
  std::string recipient;
  plugin_http::Judgement judgement;
};

}  // namespace

// Thread-safety: the host delivers one notification at a time per instance; nothing else runs.
class SmsNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    url_ = config.string("url");
    if (!plugin_http::has_http_scheme(url_))
      return Status::invalid_argument("option \"url\": found \"" + plugin_http::redact_url(url_) +
                                      "\", expected the gateway's http:// or https:// URL");
    const std::string format = config.string("format");
    if (format != "form" && format != "json")
      return Status::invalid_argument("option \"format\": found \"" + format +
                                      "\", expected \"form\" or \"json\"");
    json_ = format == "json";
    if (Status s = read_recipients(config.strings("recipients")); !s.is_ok()) return s;
    from_ = config.string("from");
    to_field_ = config.string("to_field");
    from_field_ = config.string("from_field");
    body_field_ = config.string("body_field");
    if (to_field_.empty() || body_field_.empty() || (!from_.empty() && from_field_.empty()))
      return Status::invalid_argument(std::string("option \"") +
                                      (to_field_.empty()     ? "to_field"
                                       : body_field_.empty() ? "body_field"
                                                             : "from_field") +
                                      "\": empty, expected the name of the gateway's field");
    if (to_field_ == body_field_ ||
        (!from_.empty() && (from_field_ == to_field_ || from_field_ == body_field_)))
      return Status::invalid_argument(
          "options \"to_field\", \"from_field\" and \"body_field\": two name the same field \"" +
          (to_field_ == body_field_ ? to_field_ : from_field_) + "\", expected three names");
    if (Status s = read_fields(config.json("fields")); !s.is_ok()) return s;
    if (Status s = read_message(config.string("message")); !s.is_ok()) return s;
    const int64_t max_length = config.integer("max_length");
    if (max_length < 1)
      return Status::invalid_argument("option \"max_length\": found " + std::to_string(max_length) +
                                      ", expected at least 1 (characters per message)");
    max_length_ = static_cast<size_t>(max_length);

    request_.method = "POST";
    request_.url = url_;
    plugin_http::read_request_options(config, request_);
    request_.accept_gzip = false;
    request_.max_body_bytes = 1 << 20;
    request_.user_agent = "vigil-notifier-sms";
    request_.headers = {
        {"Content-Type", json_ ? "application/json" : "application/x-www-form-urlencoded"}};
    if (Status s = read_headers(config.json("headers")); !s.is_ok()) return s;
    return read_basic_auth(config);
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
    const std::string message =
        truncate_chars(trim(message_.render(notification_context(n, payload))), max_length_);
    if (message.empty()) {
      // The template chose to say nothing for this notification (say, resolved ones).
      host().debug("the message renders empty for notification " + n.idempotency_key +
                   "; nothing sent");
      return Status::ok();
    }

    std::vector<Failure> failures;
    size_t served = 0;
    for (const std::string& recipient : recipients_) {
      if (delivered_.delivered(n.idempotency_key, recipient)) {
        ++served;
        host().debug(recipient + " already has notification " + n.idempotency_key +
                     "; not sent again");
        continue;
      }
      const auto result = client_.perform(request_for(n, recipient, message));
      auto judgement = plugin_http::judge_delivery("POST " + plugin_http::redact_url(url_), result);
      if (judgement.verdict == plugin_http::Verdict::delivered) {
        delivered_.record(n.idempotency_key, recipient);
        ++served;
      } else {
        failures.push_back({recipient, std::move(judgement)});
      }
    }
    if (failures.empty()) return Status::ok();
    return failed(failures, served);
  }

 private:
  plugin_http::Request request_for(const Notification& n, const std::string& recipient,
                                   const std::string& message) const {
    Fields fields;
    fields.emplace_back(to_field_, recipient);
    if (!from_.empty()) fields.emplace_back(from_field_, from_);
    fields.emplace_back(body_field_, message);
    fields.insert(fields.end(), extra_fields_.begin(), extra_fields_.end());
    plugin_http::Request request = request_;
    request.body = json_ ? json_body(fields) : form_body(fields);
    // The same on every retry to this recipient, different for each recipient: a gateway that
    // deduplicates on it drops what it already sent, never another recipient's text.
    request.headers.emplace_back("Idempotency-Key", n.idempotency_key + ":" + recipient);
    return request;
  }

  // Retryable while any failure may pass on a retry (waiting the longest Retry-After any
  // recipient's answer asked for); permanent when every one is for good.
  Status failed(const std::vector<Failure>& failures, size_t served) const {
    bool retryable = false;
    std::chrono::milliseconds after{0};
    std::string who, why;
    for (const Failure& f : failures) {
      const bool again = f.judgement.verdict == plugin_http::Verdict::retryable;
      retryable = retryable || again;
      after = std::max(after, f.judgement.retry_after);
      who += (who.empty() ? "" : ", ") + f.recipient;
      why +=
          ". " + f.recipient + (again ? " (will retry): " : " (permanent): ") + f.judgement.message;
    }
    const std::string message = "not delivered to " + who + " (delivered to " +
                                std::to_string(served) + " of " +
                                std::to_string(recipients_.size()) + " recipients)" + why;
    if (retryable) return Status::retryable(message, after);
    return Status::permanent(message);
  }

  Status read_recipients(const std::vector<std::string>& recipients) {
    if (recipients.empty())
      return Status::invalid_argument(
          "option \"recipients\": empty, expected at least one number such as [\"+15550001\"]");
    std::set<std::string> seen;
    for (const std::string& r : recipients) {
      if (trim(r).empty() || has_control_character(r))
        return Status::invalid_argument("option \"recipients\": found \"" + r +
                                        "\", expected a number or address on one line");
      if (!seen.insert(r).second)
        return Status::invalid_argument("option \"recipients\": \"" + r +
                                        "\" is listed twice, expected each once");
    }
    recipients_ = recipients;
    return Status::ok();
  }

  Status read_fields(const std::string& text) {
    const auto fields = nlohmann::ordered_json::parse(text, nullptr, false);
    if (!fields.is_object())
      return Status::invalid_argument(
          "option \"fields\": expected an object of field names to values, such as "
          "{\"MessagingServiceSid\": \"MG...\"}");
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string& name = it.key();
      if (name == to_field_ || name == body_field_ || (!from_.empty() && name == from_field_))
        return Status::invalid_argument("option \"fields\": \"" + name +
                                        "\" is the recipient, sender or message field, which "
                                        "the plugin fills; expected other fields");
      if (!json_ && (it->is_object() || it->is_array() || it->is_null()))
        return Status::invalid_argument(
            "option \"fields\": \"" + name + "\" is " + std::string(it->type_name()) +
            ", expected a string, number or boolean (a form field holds text; use \"format\": "
            "\"json\" for nested values)");
      extra_fields_.emplace_back(name, *it);
    }
    return Status::ok();
  }

  Status read_message(const std::string& text) {
    std::vector<TemplateError> errors;
    std::optional<Template> compiled = Template::compile(text, errors);
    if (!compiled) {
      std::string message = "option \"message\": ";
      for (size_t i = 0; i < errors.size(); ++i)
        message += (i > 0 ? "; " : "") + errors[i].to_string();
      return Status::invalid_argument(message);
    }
    message_ = std::move(*compiled);
    return Status::ok();
  }

  Status read_headers(const std::string& text) {
    const auto headers = nlohmann::json::parse(text, nullptr, false);
    if (!headers.is_object())
      return Status::invalid_argument(
          "option \"headers\": expected an object of header names to values, such as "
          "{\"X-Api-Key\": \"...\"}");
    for (const auto& [name, value] : headers.items()) {
      if (!value.is_string())
        return Status::invalid_argument("option \"headers\": \"" + name +
                                        "\" has a value that is not a string");
      request_.headers.emplace_back(name, value.get<std::string>());
    }
    return Status::ok();
  }

  Status read_basic_auth(const Config& config) {
    const std::string user = config.string("basic_auth_user");
    std::string password = config.string("basic_auth_password");
    const std::string password_file = config.string("basic_auth_password_file");
    if (!password_file.empty()) {
      if (!password.empty())
        return Status::invalid_argument(
            "options \"basic_auth_password\" and \"basic_auth_password_file\": both set, "
            "expected one");
      std::ifstream in(password_file);
      if (!in || !std::getline(in, password) || password.empty())
        return Status::invalid_argument(
            "option \"basic_auth_password_file\": cannot read a password from " + password_file +
            ", expected a file whose first line is it");
      if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    if (user.empty()) {
      if (!password.empty())
        return Status::invalid_argument(
            "option \"basic_auth_password\" is set without \"basic_auth_user\"; expected both "
            "(for Twilio: the account SID and its auth token)");
      return Status::ok();
    }
    for (const auto& [name, value] : request_.headers)
      if (lower(name) == "authorization")
        return Status::invalid_argument(
            "options \"basic_auth_user\" and \"headers\": both set an Authorization header, "
            "expected one");
    request_.headers.emplace_back("Authorization",
                                  plugin_http::basic_authorization(user, password));
    return Status::ok();
  }

  plugin_http::Client client_;
  plugin_http::Request request_;
  std::string url_;
  bool json_ = false;
  std::vector<std::string> recipients_;
  std::string from_, to_field_, from_field_, body_field_;
  Fields extra_fields_;
  Template message_;
  size_t max_length_ = 160;
  DeliveredRecipients delivered_{kRememberedNotifications};
};

}  // namespace vigil::notifier_sms

VIGIL_PLUGIN(
    "notifier_sms", "1.0.0",
    vigil::plugin_http::add_request_options(
        vigil::notifier<vigil::notifier_sms::SmsNotifier>(
            "Sends each notification as a short text message through an SMS gateway's HTTP API "
            "(Twilio-compatible forms, or JSON), one request per recipient")
            .required_option("url", vigil::String,
                             "the gateway's http:// or https:// URL, such as "
                             "https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json")
            .option("format", vigil::String, "form",
                    "\"form\" (application/x-www-form-urlencoded, as Twilio takes) or \"json\"")
            .required_option("recipients", vigil::StringList,
                             "numbers to text, one request each, such as [\"+15550001\"]")
            .option("from", vigil::String, "", "the sender number or name; empty: no sender field")
            .option("message", vigil::String, vigil::notifier_sms::kDefaultMessage,
                    "the text (a template); longer than max_length it is cut and ends in \"…\"; "
                    "empty: nothing is sent")
            .option("to_field", vigil::String, "To", "the field carrying the recipient")
            .option("from_field", vigil::String, "From", "the field carrying the sender")
            .option("body_field", vigil::String, "Body", "the field carrying the text")
            .option("fields", vigil::Json, "{}",
                    "more fields sent as they are, such as {\"MessagingServiceSid\": \"MG...\"}")
            .option("headers", vigil::Json, "{}",
                    "extra request headers, such as {\"X-Api-Key\": \"...\"}")
            .option("basic_auth_user", vigil::String, "",
                    "HTTP basic auth user (Twilio: the account SID)")
            .option("basic_auth_password", vigil::String, "",
                    "HTTP basic auth password (Twilio: the auth token); never logged")
            .option("basic_auth_password_file", vigil::String, "",
                    "a file whose first line is the password (instead of basic_auth_password)")
            .option("max_length", vigil::Int, "160",
                    "most characters (not bytes) in one message, \"…\" included")));
