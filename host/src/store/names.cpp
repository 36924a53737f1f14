// Prometheus naming and escaping rules, shared by the store (at registration) and the exporters
// (when rendering text). Every refusal says which name, which character at which position, and
// what would have been accepted, because the person reading it is a plugin author who only sees
// the log line. Nothing here allocates unless it has to build a message, and nothing here knows
// about the store's data.
#include "store/store.hpp"

#include <cstdio>

namespace vigil::store {
namespace {

// The name as it goes into a message: quoted, with bytes a terminal would mangle written as \xNN.
std::string quoted(std::string_view name) {
  std::string out = "\"";
  for (unsigned char c : name) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  return out;
}

std::string describe_char(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  if (c == ' ') return "a space";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
  return buf;
}

bool is_letter(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

// One checker for both kinds of names: they differ only in whether ':' is allowed and in the
// "__" reservation, so their messages stay worded alike.
bool check_name(std::string_view name, std::string* why, const char* what, bool colon_allowed) {
  const char* pattern = colon_allowed ? "[a-zA-Z_:][a-zA-Z0-9_:]*" : "[a-zA-Z_][a-zA-Z0-9_]*";
  if (name.empty()) {
    if (why) *why = std::string(what) + " is empty; expected a name matching " + pattern;
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool ok =
        is_letter(c) || c == '_' || (colon_allowed && c == ':') || (i > 0 && is_digit(c));
    if (ok) continue;
    if (why) {
      *why = std::string(what) + " " + quoted(name) + ": " + describe_char(c) + " at position " +
             std::to_string(i);
      if (i == 0) {
        *why += colon_allowed ? " cannot start a name; expected a letter, '_' or ':'"
                              : " cannot start a name; expected a letter or '_'";
      } else {
        *why += colon_allowed ? " is not allowed; expected letters, digits, '_' or ':'"
                              : " is not allowed; expected letters, digits or '_'";
      }
      *why += std::string(" (") + pattern + ")";
    }
    return false;
  }
  if (!colon_allowed && name.size() >= 2 && name[0] == '_' && name[1] == '_') {
    if (why) {
      *why = std::string(what) + " " + quoted(name) +
             " starts with \"__\", which Prometheus reserves for its own labels; expected a name "
             "that does not start with \"__\"";
    }
    return false;
  }
  return true;
}

}  // namespace

bool valid_metric_name(std::string_view name, std::string* why) {
  return check_name(name, why, "metric name", true);
}

bool valid_label_name(std::string_view name, std::string* why) {
  return check_name(name, why, "label name", false);
}

void append_escaped_label_value(std::string& out, std::string_view value) {
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
        out.push_back(c);
    }
  }
}

bool valid_utf8(std::string_view text, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto fail = [&] {
    if (bad_offset) *bad_offset = i;
    return false;
  };
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return fail();
    }
    if (n - i < len) return fail();
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return fail();
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and values past Unicode are not characters.
    if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return fail();
    i += len;
  }
  return true;
}

}  // namespace vigil::store
