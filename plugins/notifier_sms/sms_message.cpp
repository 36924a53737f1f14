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
