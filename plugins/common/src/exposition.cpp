// vigil_plugin_text: the Exposition container and the small helpers both parsers, the Publisher
// and the plugins share (name checks and sanitizing, escaping, value formatting for messages).
// Nothing here parses; it must never allocate per series beyond what series_text() returns.
#include "text_internal.hpp"

#include <charconv>
#include <cmath>

namespace vigil::plugin_text {

Exposition::Exposition() : storage_(std::make_unique<Storage>()) {}
Exposition::~Exposition() = default;
Exposition::Exposition(Exposition&&) noexcept = default;
Exposition& Exposition::operator=(Exposition&&) noexcept = default;

std::size_t Exposition::series_count() const {
  std::size_t n = 0;
  for (const Family& f : families_) n += f.series.size();
  return n;
}

const Family* Exposition::find(std::string_view name) const {
  for (const Family& f : families_)
    if (f.name == name) return &f;
  return nullptr;
}

void Exposition::labels(const Series& s, std::vector<Label>& out) const {
  out.clear();
  for (uint32_t i = 0; i < s.labels_count; ++i) out.push_back(label(s, i));
}

std::string Exposition::series_text(const Family& family, const Series& series) const {
  std::string out(family.name);
  if (series.labels_count == 0) return out;
  out += '{';
  for (uint32_t i = 0; i < series.labels_count; ++i) {
    Label l = label(series, i);
    if (i > 0) out += ',';
    out.append(l.name);
    out += "=\"";
    append_escaped(out, l.value);
    out += '"';
  }
  out += '}';
  return out;
}

uint32_t Exposition::store_text(std::string_view s) {
  const std::string& text = storage_->text;
  if (s.data() >= text.data() && s.data() + s.size() <= text.data() + text.size())
    return static_cast<uint32_t>(s.data() - text.data());
  // Not in the input (unescaped or sanitized): copied once into the decoded buffer.
  uint32_t at = static_cast<uint32_t>(storage_->decoded.size());
  storage_->decoded.append(s);
  return at | StoredLabel::kDecoded;
}

StoredLabel Exposition::store(const Label& label) {
  StoredLabel out;
  out.name_at = store_text(label.name);
  out.name_len = static_cast<uint32_t>(label.name.size());
  out.value_at = store_text(label.value);
  out.value_len = static_cast<uint32_t>(label.value.size());
  return out;
}

bool valid_metric_name(std::string_view name) {
  if (name.empty() || detail::is_digit(name[0])) return false;
  for (char c : name)
    if (!detail::metric_char(c)) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || detail::is_digit(name[0])) return false;
  for (char c : name)
    if (!detail::label_char(c)) return false;
  return true;
}

std::string sanitize_name(std::string_view name, bool allow_colon) {
  std::string out;
  out.reserve(name.size() + 1);
  if (!name.empty() && detail::is_digit(name[0])) out += '_';
  for (char c : name) {
    bool ok = allow_colon ? detail::metric_char(c) : detail::label_char(c);
    out += ok ? c : '_';
  }
  return out;
}

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return "?";
  return std::string(buffer, ptr);
}

namespace detail {

std::string quote_for_message(std::string_view text, std::size_t max) {
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    // Cut only between characters, never inside a UTF-8 sequence.
    if (shown++ >= max && (u & 0xC0) != 0x80) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace detail
}  // namespace vigil::plugin_text
