// The mail notifier_email sends for one notification: the context its templates render against,
// the built-in subject, text and HTML templates, and the whole RFC 5322 message with its MIME
// parts, ready for SMTP's DATA.
//
// It must never put the notification's own text into a header unencoded or unfolded, never write
// a line over 998 octets or a bare LF, and never let two notifications share a Message-ID while
// every retry of one notification keeps its own: a mail system that drops duplicates by
// Message-ID then drops exactly the retries.
#pragma once

#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mime.hpp"

namespace vigil::notifier_email {

// The built-in templates: kDefaultSubject is option "subject"'s default, the bodies are used
// when options "text" and "html" are not set (the README shows their output).
extern const char* const kDefaultSubject;
extern const char* const kDefaultText;
extern const char* const kDefaultHtml;

// What every message of one instance shares: its mailboxes and its compiled templates.
// Thread-safety: immutable after configure(); compose() only reads it.
struct MessageSpec {
  Mailbox from;
  std::vector<Mailbox> to, cc;
  Template subject;
  std::optional<Template> text, html;                     // not set: that part is left out
  std::vector<std::pair<std::string, Template>> headers;  // extra fields, in the given order
};

// Header fields the plugin writes itself, which option "headers" may not set (case-insensitive).
bool is_reserved_header(std::string_view name);

// What the templates see: vigil::notification_context() (the payload's fields, the
// notification's, "payload", "firing" and "resolved"), and for mail "group_label_values" (the
// group labels' values in name order, joined by spaces) and "escalation" ({step, policy,
// iteration}, or null).
nlohmann::json template_context(const Notification& n, const nlohmann::json& payload);

// One message as it leaves: its ids, its subject (for logs) and the bytes for DATA.
// Thread-safety: a value type.
struct ComposedMessage {
  std::string message_id;  // "<vigil.<hash of the idempotency key>@<from's domain>>"
  std::string thread_id;   // "<vigil.<hash of the group key>@<from's domain>>"
  std::string subject;
  std::string data;  // CRLF line endings, not dot-stuffed
};

// Renders the templates (the bodies also see "subject") and writes the message: Date (from
// `now_ms`), From, To, Cc, Subject, Message-ID, In-Reply-To and References (the group's
// thread id, so mail clients thread a group's notifications), MIME-Version, Auto-Submitted,
// X-Vigil-Receiver, X-Vigil-Status, the extra headers whose value renders non-empty, then a
// text/plain part, a text/html part or both as multipart/alternative.
ComposedMessage compose(const MessageSpec& spec, const Notification& n,
                        const nlohmann::json& payload, int64_t now_ms);

}  // namespace vigil::notifier_email
