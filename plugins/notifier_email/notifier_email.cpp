// notifier_email: sends each notification as a mail through an SMTP smarthost (STARTTLS,
// implicit TLS or plain), with a text and an HTML part rendered from the SDK's templates.
//
// The host does retries, backoff and fallback; this plugin says how one attempt went: delivered
// once the server accepted the message for every recipient, retryable on a 4xx answer or a
// network failure, permanent on a 5xx answer, failed authentication or an untrusted
// certificate. configure() only reads options and files: no network, no threads, so
// `vigil check-config` can create and destroy instances freely. It must never log the password
// or a message body.
#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "message.hpp"
#include "mime.hpp"
#include "smtp.hpp"

namespace vigil::notifier_email {
namespace {

std::string in_quotes(const std::string& text) {
  return "\"" + text + "\"";
}

// "host:port" or "[v6 address]:port".
bool parse_smarthost(const std::string& text, SmtpSettings& s, std::string& error) {
  const std::string expected =
      "option \"smarthost\": found " + in_quotes(text) +
      ", expected host:port such as \"smtp.example.com:587\" (\"[2001:db8::1]:25\" for IPv6)";
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = expected;
    return false;
  }
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      error = expected;
      return false;
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    error = expected;
    return false;
  }
  for (char c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::strchr("/@?#[]", c) != nullptr) {
      error = expected;
      return false;
    }
  }
  long port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      error = expected;
      return false;
    }
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) {
    error = expected;
    return false;
  }
  s.host = host;
  s.port = static_cast<int>(port);
  return true;
}

bool parse_mailboxes(const std::string& option, const std::vector<std::string>& items,
                     std::vector<Mailbox>& out, std::string& error) {
  for (size_t i = 0; i < items.size(); ++i) {
    std::string why;
    auto m = parse_mailbox(items[i], why);
    if (!m) {
      error = "option " + in_quotes(option) + " (item " + std::to_string(i + 1) + "): " + why;
      return false;
    }
    out.push_back(*m);
  }
  return true;
}

std::optional<Template> compile_option(const std::string& option, const std::string& text,
                                       std::string& error) {
  std::vector<TemplateError> errors;
  std::optional<Template> t = Template::compile(text, errors);
  if (!t) {
    error = option;
    for (size_t i = 0; i < errors.size(); ++i)
      error += (i > 0 ? "; " : ": ") + errors[i].to_string();
  }
  return t;
}

// RFC 5322 field names: printable ASCII without ':' or space.
bool is_field_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  return true;
}

bool readable_file(const std::string& option, const std::string& path, std::string& error) {
  if (path.empty() || ::access(path.c_str(), R_OK) == 0) return true;
  error = "option " + in_quotes(option) + ": " + path + " cannot be read: " + std::strerror(errno);
  return false;
}

std::string this_host_name() {
  char name[HOST_NAME_MAX + 1] = {0};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

// One instance per configured "notifier_email" entry.
// Thread-safety: the host delivers one notification at a time per instance; configure() ran
// before, and nothing else touches the settings.
class EmailNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    std::string error;
    if (!parse_smarthost(config.string("smarthost"), smtp_, error))
      return Status::invalid_argument(error);

    const std::string tls = config.string("tls");
    if (tls == "starttls") {
      smtp_.tls = TlsMode::starttls;
    } else if (tls == "implicit") {
      smtp_.tls = TlsMode::implicit;
    } else if (tls == "none") {
      smtp_.tls = TlsMode::none;
    } else {
      return Status::invalid_argument("option \"tls\": found " + in_quotes(tls) +
                                      ", expected \"starttls\", \"implicit\" or \"none\"");
    }

    std::vector<Mailbox> from;
    if (!parse_mailboxes("from", {config.string("from")}, from, error))
      return Status::invalid_argument(error);
    spec_.from = from.front();
    const std::vector<std::string> to = config.strings("to");
    if (to.empty())
      return Status::invalid_argument(
          "option \"to\": found an empty list, expected at least one address such as "
          "[\"ops@example.com\"]");
    if (!parse_mailboxes("to", to, spec_.to, error) ||
        !parse_mailboxes("cc", config.strings("cc"), spec_.cc, error))
      return Status::invalid_argument(error);
    recipients_.clear();
    for (const Mailbox& m : spec_.to) recipients_.push_back(m.address);
    for (const Mailbox& m : spec_.cc) recipients_.push_back(m.address);

    if (Status s = read_credentials(config); !s.is_ok()) return s;

    smtp_.hello = config.string("hello");
    if (smtp_.hello.empty()) smtp_.hello = this_host_name();
    for (unsigned char c : smtp_.hello)
      if (c <= 0x20 || c >= 0x7f)
        return Status::invalid_argument("option \"hello\": found " + in_quotes(smtp_.hello) +
                                        ", expected a domain name such as \"web1.example.com\"");

    if (Status s = compile_templates(config); !s.is_ok()) return s;

    smtp_.timeout = config.duration("timeout");
    smtp_.connect_timeout = config.duration("connect_timeout");
    if (smtp_.timeout.count() <= 0)
      return Status::invalid_argument(
          "option \"timeout\": expected a positive duration such as \"30s\"");
    smtp_.ca_file = config.string("ca_file");
    smtp_.client_cert = config.string("client_cert");
    smtp_.client_key = config.string("client_key");
    smtp_.insecure_skip_verify = config.boolean("insecure_skip_verify");
    if (!readable_file("ca_file", smtp_.ca_file, error) ||
        !readable_file("client_cert", smtp_.client_cert, error) ||
        !readable_file("client_key", smtp_.client_key, error))
      return Status::invalid_argument(error);
    if (!smtp_.client_key.empty() && smtp_.client_cert.empty())
      return Status::invalid_argument(
          "option \"client_key\": set without client_cert; expected both, or neither");

    if (smtp_.tls == TlsMode::none && !smtp_.username.empty())
      host().warn("tls is \"none\": the login as " + in_quotes(smtp_.username) + " to " +
                  smtp_.where() + " crosses the network in clear");
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    nlohmann::json payload = nullptr;
    if (!n.payload_json.empty()) {
      payload = nlohmann::json::parse(n.payload_json, nullptr, false);
      // The same payload will never parse on a retry: permanent, so the fallback receiver gets it.
      if (payload.is_discarded())
        return Status::permanent("the payload of notification " + n.idempotency_key +
                                 " is not valid JSON");
    }
    const ComposedMessage message = compose(spec_, n, payload, host().now_ms());
    const TransferOutcome outcome =
        send_message(smtp_, spec_.from.address, recipients_, message.data);
    const SendResult result = judge(smtp_, outcome);
    switch (result.verdict) {
      case Verdict::delivered:
        if (host().log_enabled(VIGIL_LOG_DEBUG))
          host().debug("mail " + message.message_id + " " + result.message + " for " +
                       std::to_string(recipients_.size()) + " recipients");
        return Status::ok();
      case Verdict::permanent:
        return Status::permanent(result.message);
      case Verdict::retryable:
        break;
    }
    return Status::retryable(result.message);
  }

 private:
  Status read_credentials(const Config& config) {
    smtp_.username = config.string("username");
    smtp_.password = config.string("password");
    const std::string file = config.string("password_file");
    if (!file.empty()) {
      if (!smtp_.password.empty())
        return Status::invalid_argument(
            "options \"password\" and \"password_file\": both set, expected one");
      std::ifstream in(file);
      std::string line;
      if (!in || !std::getline(in, line))
        return Status::invalid_argument("option \"password_file\": cannot read " + file +
                                        ", expected a file whose first line is the password");
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty())
        return Status::invalid_argument("option \"password_file\": the first line of " + file +
                                        " is empty, expected the password");
      smtp_.password = line;
    }
    if (!smtp_.password.empty() && smtp_.username.empty())
      return Status::invalid_argument(
          "option \"username\": empty while a password is set; expected the user to log in as");
    if (smtp_.password.empty() && !smtp_.username.empty())
      return Status::invalid_argument(
          "option \"username\": set without password or password_file; expected one of them");
    return Status::ok();
  }

  Status compile_templates(const Config& config) {
    std::string error;
    auto text_of = [&](const char* option, const char* builtin) {
      return config.is_set(option) ? config.string(option) : std::string(builtin);
    };
    auto subject = compile_option("option \"subject\"", config.string("subject"), error);
    if (!subject) return Status::invalid_argument(error);
    spec_.subject = std::move(*subject);
    auto compile_part = [&](const char* option, const char* builtin,
                            std::optional<Template>& part) {
      const std::string text = text_of(option, builtin);
      part.reset();
      if (text.empty()) return true;  // "": this part is left out
      part = compile_option("option " + in_quotes(option), text, error);
      return part.has_value();
    };
    if (!compile_part("text", kDefaultText, spec_.text) ||
        !compile_part("html", kDefaultHtml, spec_.html))
      return Status::invalid_argument(error);
    if (!spec_.text && !spec_.html)
      return Status::invalid_argument(
          "options \"text\" and \"html\": both empty, expected at least one body (leave an "
          "option out for the built-in template)");

    const auto headers = nlohmann::json::parse(config.json("headers"), nullptr, false);
    if (!headers.is_object())
      return Status::invalid_argument(
          "option \"headers\": expected an object of header names to values, such as "
          "{\"X-Team\": \"ops\"}");
    spec_.headers.clear();
    for (const auto& [name, value] : headers.items()) {
      if (!is_field_name(name))
        return Status::invalid_argument("option \"headers\": " + in_quotes(name) +
                                        " is not a header name; expected printable ASCII "
                                        "without spaces or ':', such as \"X-Team\"");
      if (is_reserved_header(name))
        return Status::invalid_argument("option \"headers\": " + in_quotes(name) +
                                        " is written by the plugin itself (from options from, "
                                        "to, cc, subject and the notification); expected another "
                                        "header, such as \"Reply-To\" or \"X-Team\"");
      if (!value.is_string())
        return Status::invalid_argument("option \"headers\": " + in_quotes(name) +
                                        " has a value that is not a string");
      auto t =
          compile_option("option \"headers\": " + in_quotes(name), value.get<std::string>(), error);
      if (!t) return Status::invalid_argument(error);
      spec_.headers.emplace_back(name, std::move(*t));
    }
    return Status::ok();
  }

  SmtpSettings smtp_;
  MessageSpec spec_;
  std::vector<std::string> recipients_;  // to and cc, as the envelope's RCPT TO
};

}  // namespace vigil::notifier_email

VIGIL_PLUGIN(
    "notifier_email", "1.0.0",
    vigil::notifier<vigil::notifier_email::EmailNotifier>(
        "Sends each notification as a mail (text and HTML) through an SMTP smarthost")
        .required_option("smarthost", vigil::String,
                         "the SMTP server as host:port, such as smtp.example.com:587")
        .option("tls", vigil::String, "starttls",
                "\"starttls\" (required before anything is sent), \"implicit\" (TLS from the "
                "start, port 465) or \"none\" (in clear, for a local relay)")
        .required_option("from", vigil::String,
                         "sender, such as \"Vigil <vigil@example.com>\" (also the envelope's "
                         "MAIL FROM)")
        .required_option("to", vigil::StringList, "recipients, such as [\"ops@example.com\"]")
        .option("cc", vigil::StringList, "[]", "recipients shown in Cc")
        .option("username", vigil::String, "", "user to log in as (AUTH); empty: no login")
        .option("password", vigil::String, "", "password of username")
        .option("password_file", vigil::String, "",
                "file whose first line is the password (instead of password)")
        .option("hello", vigil::String, "", "name sent with EHLO; empty: this machine's host name")
        .option("subject", vigil::String, vigil::notifier_email::kDefaultSubject,
                "template of the subject (the same text after the status for every "
                "notification of a group)")
        .option("text", vigil::String, nullptr,
                "template of the text/plain part; not set: the built-in one; \"\": no text part")
        .option("html", vigil::String, nullptr,
                "template of the text/html part; not set: the built-in one; \"\": no HTML part")
        .option("headers", vigil::Json, "{}",
                "extra header fields, name to template, such as {\"X-Team\": \"ops\"}")
        .option("timeout", vigil::Duration, "30s", "total time for one attempt")
        .option("connect_timeout", vigil::Duration, "10s", "time to connect (TLS included)")
        .option("ca_file", vigil::String, "", "PEM bundle to trust instead of the system's")
        .option("client_cert", vigil::String, "",
                "PEM client certificate, for servers that ask for one")
        .option("client_key", vigil::String, "", "PEM private key of client_cert")
        .option("insecure_skip_verify", vigil::Bool, "false",
                "do not verify the server's certificate (tests only)"));
