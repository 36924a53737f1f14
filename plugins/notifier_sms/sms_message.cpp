// The SMS message and request bodies; see sms_message.hpp.
#include "sms_message.hpp"

#include <cstdint>

namespace vigil::notifier_sms {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0u) == 0x80u;
}

}  // namespace

json template_context(const Notification& n, const json& payload) {
  json context = json::object();
  if (payload.is_object())
    for (auto it = payload.begin(); it != payload.end(); ++it) context[it.key()] = *it;
  context["idempotency_key"] = n.idempotency_key;
  context["receiver"] = n.receiver;
  context["status"] = n.status;
  context["group_key"] = n.group_key;
  context["escalation_step"] = n.escalation_step >= 0 ? json(n.escalation_step) : json(nullptr);
  context["attempt"] = n.attempt;
  context["payload"] = payload;
  json firing = json::array(), resolved = json::array();
  if (payload.is_object() && payload.contains("alerts") && payload["alerts"].is_array()) {
    for (const json& alert : payload["alerts"]) {
      const bool is_resolved =
          alert.is_object() && alert.contains("status") && alert["status"] == "resolved";
      (is_resolved ? resolved : firing).push_back(alert);
    }
  }
  context["firing"] = std::move(firing);
  context["resolved"] = std::move(resolved);
  return context;
}

size_t char_count(std::string_view text) {
  size_t n = 0;
  for (char c : text)
    if (!is_continuation(c)) ++n;
  return n;
}

std::string truncate_chars(std::string text, size_t max_chars) {
  if (char_count(text) <= max_chars) return text;
  if (max_chars == 0) return "";
  size_t kept = 0, cut = 0;
  for (; cut < text.size(); ++cut) {
    if (is_continuation(text[cut])) continue;
    if (kept == max_chars - 1) break;
    ++kept;
  }
  text.resize(cut);
  return text + "…";
}

std::string form_text(const ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string form_body(const Fields& fields) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  auto encode = [&](const std::string& text) {
    for (char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '*' ||
          c == '-' || c == '.' || c == '_') {
        out += c;
      } else if (c == ' ') {
        out += '+';
      } else {
        out += '%';
        out += hex[u >> 4];
        out += hex[u & 0x0Fu];
      }
    }
  };
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    encode(name);
    out += '=';
    encode(form_text(value));
  }
  return out;
}

std::string json_body(const Fields& fields) {
  ordered_json body = ordered_json::object();
  for (const auto& [name, value] : fields) body[name] = value;
  // Invalid UTF-8 from the alert data becomes U+FFFD rather than a body the gateway refuses.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace vigil::notifier_sms
