// Composing notifier_email's messages (see message.hpp). The built-in templates are written in
// the SDK's template language, like anything a user would configure instead.
#include "message.hpp"

#include <vigil/notification_context.hpp>

#include <cctype>

namespace vigil::notifier_email {

// "[FIRING:2] DiskFull web1", "[ACK:2] ...", "[RESOLVED] ...": the status prefix changes, the
// text after it is the same for every notification of a group (its group labels' values), so
// mail clients that group by subject do so.
const char* const kDefaultSubject =
    R"tpl([{{#if status | eq "resolved"}}RESOLVED{{else if vigil.acknowledged}}ACK{{else}}{{status | upper}}{{/if}}{{#if firing}}:{{firing | count}}{{/if}}] {{group_label_values | default "Vigil alerts"}})tpl";

const char* const kDefaultText =
    R"tpl({{#if firing}}{{firing | count}} firing{{/if}}{{#if resolved}}{{#if firing}}, {{/if}}{{resolved | count}} resolved{{/if}}: {{group_label_values | default "Vigil alerts"}}
{{#if vigil.acknowledged}}Acknowledged by {{vigil.acknowledged.author}}{{#if vigil.acknowledged.comment}}: {{vigil.acknowledged.comment}}{{/if}}
{{/if}}{{#if escalation.step}}Escalation step {{escalation.step}}{{#if escalation.policy}} of policy "{{escalation.policy}}"{{/if}}{{#if escalation.iteration}} (repeat {{escalation.iteration}}){{/if}}
{{/if}}{{#if externalURL}}Vigil: {{externalURL}}
{{/if}}{{#each alerts}}
[{{status | upper}}] {{#if annotations.summary}}{{annotations.summary}}{{else}}{{labels.alertname}}{{/if}}
{{#if acknowledged}}  Acknowledged by {{acknowledged.author}}{{#if acknowledged.comment}}: {{acknowledged.comment}}{{/if}}
{{/if}}  Started: {{startsAt}}
{{#if status | eq "resolved"}}  Ended: {{endsAt}}
{{/if}}  Value: {{value}}
  Labels:
{{#each labels}}    {{@key}} = {{.}}
{{/each}}{{#if annotations}}  Annotations:
{{#each annotations}}    {{@key}} = {{. | replace "\n" "\n      "}}
{{/each}}{{/if}}{{#if generatorURL}}  Source: {{generatorURL}}
{{/if}}{{/each}}{{#if truncatedAlerts}}
{{truncatedAlerts}} more alerts were left out.
{{/if}})tpl";

const char* const kDefaultHtml =
    R"tpl(<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>{{subject | html}}</title>
</head>
<body style="margin:0;padding:16px;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222">
<p style="margin:0 0 12px;font-size:16px"><strong>{{#if firing}}{{firing | count}} firing{{/if}}{{#if resolved}}{{#if firing}}, {{/if}}{{resolved | count}} resolved{{/if}}</strong>: {{group_label_values | default "Vigil alerts" | html}}</p>
{{#if vigil.acknowledged}}<p style="margin:0 0 12px;padding:8px;background:#fff3cd">Acknowledged by <strong>{{vigil.acknowledged.author | html}}</strong>{{#if vigil.acknowledged.comment}}: {{vigil.acknowledged.comment | html}}{{/if}}</p>
{{/if}}{{#if escalation.step}}<p style="margin:0 0 12px">Escalation step {{escalation.step}}{{#if escalation.policy}} of policy &quot;{{escalation.policy | html}}&quot;{{/if}}{{#if escalation.iteration}} (repeat {{escalation.iteration}}){{/if}}</p>
{{/if}}{{#each alerts}}<table cellpadding="6" cellspacing="0" width="100%" style="margin:0 0 12px;border-collapse:collapse;background:#fff;border:1px solid #ddd">
<tr><td colspan="2" style="background:{{#if status | eq "firing"}}#c9302c{{else}}#3c763d{{/if}};color:#fff"><strong>{{status | upper}}</strong> {{#if annotations.summary}}{{annotations.summary | html}}{{else}}{{labels.alertname | html}}{{/if}}</td></tr>
{{#if acknowledged}}<tr><td colspan="2" style="background:#fff3cd">Acknowledged by <strong>{{acknowledged.author | html}}</strong>{{#if acknowledged.comment}}: {{acknowledged.comment | html}}{{/if}}</td></tr>
{{/if}}<tr><td style="color:#666;width:1%;white-space:nowrap">Started</td><td>{{startsAt | html}}</td></tr>
{{#if status | eq "resolved"}}<tr><td style="color:#666">Ended</td><td>{{endsAt | html}}</td></tr>
{{/if}}<tr><td style="color:#666">Value</td><td>{{value | html}}</td></tr>
<tr><td colspan="2"><strong>Labels</strong></td></tr>
{{#each labels}}<tr><td style="color:#666">{{@key | html}}</td><td>{{. | html}}</td></tr>
{{/each}}{{#if annotations}}<tr><td colspan="2"><strong>Annotations</strong></td></tr>
{{#each annotations}}<tr><td style="color:#666">{{@key | html}}</td><td style="white-space:pre-wrap">{{. | html}}</td></tr>
{{/each}}{{/if}}{{#if generatorURL}}<tr><td colspan="2"><a href="{{generatorURL | html}}">Source</a></td></tr>
{{/if}}</table>
{{/each}}{{#if truncatedAlerts}}<p>{{truncatedAlerts}} more alerts were left out.</p>
{{/if}}{{#if externalURL}}<p><a href="{{externalURL | html}}">Open Vigil</a></p>
{{/if}}</body>
</html>
)tpl";

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// "Content-Type" and "Content-Transfer-Encoding" of a text part, a blank line and the text in
// the transfer encoding that suits it.
std::string text_part(std::string_view subtype, const std::string& text) {
  std::string out = "Content-Type: text/";
  out += subtype;
  out += "; charset=UTF-8\r\n";
  if (prefers_base64(text)) {
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    out += base64_lines(crlf_lines(text));
  } else {
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += quoted_printable(text);
  }
  return out;
}

}  // namespace

bool is_reserved_header(std::string_view name) {
  static const char* const kReserved[] = {"From",
                                          "To",
                                          "Cc",
                                          "Bcc",
                                          "Subject",
                                          "Date",
                                          "Message-ID",
                                          "In-Reply-To",
                                          "References",
                                          "MIME-Version",
                                          "Content-Type",
                                          "Content-Transfer-Encoding",
                                          "Auto-Submitted",
                                          "X-Vigil-Receiver",
                                          "X-Vigil-Status"};
  for (const char* reserved : kReserved)
    if (iequals(name, reserved)) return true;
  return false;
}

nlohmann::json template_context(const Notification& n, const nlohmann::json& payload) {
  using json = nlohmann::json;
  json context = notification_context(n, payload);

  std::string values;
  if (auto labels = payload.is_object() ? payload.find("groupLabels") : payload.end();
      payload.is_object() && labels != payload.end() && labels->is_object()) {
    for (const auto& [name, value] : labels->items()) {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) continue;
      if (!values.empty()) values += ' ';
      values += value.get<std::string>();
    }
  }
  context["group_label_values"] = values;

  json escalation = nullptr;
  if (n.escalation_step >= 0) {
    escalation = {{"step", n.escalation_step}, {"policy", ""}, {"iteration", 0}};
    if (auto vigil = payload.is_object() ? payload.find("vigil") : payload.end();
        payload.is_object() && vigil != payload.end() && vigil->is_object()) {
      if (auto p = vigil->find("policy"); p != vigil->end() && p->is_string())
        escalation["policy"] = *p;
      if (auto i = vigil->find("iteration"); i != vigil->end() && i->is_number())
        escalation["iteration"] = *i;
    }
  }
  context["escalation"] = std::move(escalation);
  return context;
}

ComposedMessage compose(const MessageSpec& spec, const Notification& n,
                        const nlohmann::json& payload, int64_t now_ms) {
  ComposedMessage m;
  nlohmann::json context = template_context(n, payload);
  m.subject = spec.subject.render(context);
  context["subject"] = m.subject;
  std::optional<std::string> text, html;
  if (spec.text) text = spec.text->render(context);
  if (spec.html) html = spec.html->render(context);

  const std::string domain = spec.from.domain();
  m.message_id = message_id("notification", n.idempotency_key, domain);
  m.thread_id = message_id("group", n.group_key, domain);

  std::string& out = m.data;
  out += "Date: " + rfc5322_date(now_ms) + "\r\n";
  out += address_header("From", {spec.from});
  out += address_header("To", spec.to);
  if (!spec.cc.empty()) out += address_header("Cc", spec.cc);
  out += unstructured_header("Subject", m.subject);
  out += "Message-ID: " + m.message_id + "\r\n";
  out += "In-Reply-To: " + m.thread_id + "\r\n";
  out += "References: " + m.thread_id + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  // RFC 3834: vacation responders and auto-repliers leave an automatic message alone.
  out += "Auto-Submitted: auto-generated\r\n";
  out += unstructured_header("X-Vigil-Receiver", n.receiver);
  out += unstructured_header("X-Vigil-Status", n.status);
  for (const auto& [name, value] : spec.headers) {
    std::string rendered = value.render(context);
    if (rendered.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    out += unstructured_header(name, rendered);
  }

  if (text && html) {
    // "=_" never occurs in quoted-printable or base64 text, so the boundary cannot either.
    const std::string boundary = "=_vigil_" + sha256_hex(m.message_id, 24);
    out +=
        structured_header("Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
    out += "\r\nThis is a multi-part message in MIME format.\r\n";
    out += "--" + boundary + "\r\n";
    out += text_part("plain", *text);
    out += "\r\n--" + boundary + "\r\n";
    out += text_part("html", *html);
    out += "\r\n--" + boundary + "--\r\n";
  } else {
    out += text_part(text ? "plain" : "html", text ? *text : html.value_or(""));
    out += "\r\n";
  }
  return m;
}

}  // namespace vigil::notifier_email
