// Internet message pieces for notifier_email (see mime.hpp). Plain string work plus one call
// into OpenSSL for SHA-256.
#include "mime.hpp"

#include <openssl/evp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace vigil::notifier_email {
namespace {

constexpr size_t kFoldColumn = 78;
// An encoded-word carries at most this many bytes of text: 52 base64 characters, 64 with
// "=?UTF-8?B?" and "?=", so "Subject: " and one word stay within RFC 2047's 76 columns.
constexpr size_t kEncodedWordBytes = 39;
// An ASCII word longer than this is sent as encoded-words, which may be split anywhere, so no
// line ever exceeds RFC 5322's 998 octets.
constexpr size_t kLongestPlainWord = 900;

const char kHex[] = "0123456789ABCDEF";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_ascii_printable(unsigned char c) {
  return c >= 0x20 && c < 0x7f;
}

// RFC 5322 atext: what a display name may hold without quotes (besides spaces).
bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr && c != '\0';
}

// Control characters and line breaks become spaces, runs of whitespace one space, both ends
// trimmed: what a one-line header value may hold.
std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : trim(text)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) words.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return words;
}

// "Name: atom atom\r\n atom\r\n": atoms joined by single spaces, a new line (starting with a
// space, RFC 5322 folding) before an atom that would pass column 78. An atom is never split.
std::string fold(std::string_view name, const std::vector<std::string>& atoms) {
  std::string out;
  std::string line(name);
  line += ':';
  bool line_has_atom = false;
  for (const std::string& atom : atoms) {
    if (line_has_atom && line.size() + 1 + atom.size() > kFoldColumn) {
      out += line;
      out += "\r\n";
      line.clear();
    }
    line += ' ';
    line += atom;
    line_has_atom = true;
  }
  out += line;
  out += "\r\n";
  return out;
}

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += kBase64[(n >> 6) & 63];
    out += kBase64[n & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t n = static_cast<unsigned char>(data[i]) << 16;
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t n = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8);
    out += kBase64[(n >> 18) & 63];
    out += kBase64[(n >> 12) & 63];
    out += kBase64[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// The length of the UTF-8 sequence starting with `lead` (1 for a stray byte, so nothing loops).
size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0 && lead < 0xF8) return 4;
  if (lead >= 0xE0) return lead < 0xF0 ? 3 : 1;
  if (lead >= 0xC0) return 2;
  return 1;
}

// RFC 2047 "B" encoded-words, each holding whole UTF-8 characters.
std::vector<std::string> encoded_words(std::string_view text) {
  std::vector<std::string> words;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = start;
    while (end < text.size()) {
      size_t n = utf8_length(static_cast<unsigned char>(text[end]));
      if (end + n > text.size()) n = text.size() - end;
      if (end + n - start > kEncodedWordBytes && end > start) break;
      end += n;
    }
    words.push_back("=?UTF-8?B?" + base64(text.substr(start, end - start)) + "?=");
    start = end;
  }
  return words;
}

bool needs_encoding(std::string_view text) {
  for (char c : text)
    if (!is_ascii_printable(static_cast<unsigned char>(c))) return true;
  return text.find("=?") != std::string_view::npos;
}

// The atoms of a display name: as written when it is plain words, one quoted-string when it
// holds specials, encoded-words when it is not ASCII.
std::vector<std::string> phrase_atoms(std::string_view name) {
  std::string text = one_line(name);
  if (text.empty()) return {};
  if (needs_encoding(text)) return encoded_words(text);
  bool plain = true;
  for (char c : text) plain = plain && (is_atext(c) || c == ' ');
  if (plain) return split_words(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  return {quoted};
}

}  // namespace

std::string Mailbox::domain() const {
  size_t at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

std::optional<Mailbox> parse_mailbox(std::string_view text, std::string& error) {
  const std::string shown = "\"" + std::string(text) + "\"";
  std::string_view s = trim(text);
  Mailbox m;
  std::string_view address = s;
  size_t open = s.rfind('<');
  if (open != std::string_view::npos) {
    if (s.back() != '>') {
      error = "found " + shown + ", expected \"Name <local@domain>\" with nothing after the '>'";
      return std::nullopt;
    }
    address = s.substr(open + 1, s.size() - open - 2);
    std::string_view name = trim(s.substr(0, open));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      name = name.substr(1, name.size() - 2);
      for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 1 < name.size()) ++i;
        m.display_name += name[i];
      }
    } else {
      m.display_name = std::string(name);
    }
    if (m.display_name.find_first_of("\r\n") != std::string::npos) {
      error = "found " + shown + ", whose name has a line break; expected one line";
      return std::nullopt;
    }
  }
  for (char c : address) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::strchr("<>,;()\"\\", c) != nullptr) {
      error = "found " + shown +
              ", expected an address such as ops@example.com (ASCII without spaces, quotes, "
              "commas or brackets; write an internationalised domain in its xn-- form)";
      return std::nullopt;
    }
  }
  size_t at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos) {
    error = "found " + shown +
            ", expected an address such as ops@example.com (one '@' between a local part and a "
            "domain)";
    return std::nullopt;
  }
  if (address.size() > 254) {
    error = "found " + shown + ", an address longer than SMTP's 254 characters";
    return std::nullopt;
  }
  m.address = std::string(address);
  return m;
}

std::string unstructured_header(std::string_view name, std::string_view text) {
  std::string value = one_line(text);
  std::vector<std::string> atoms = split_words(value);
  bool encode = needs_encoding(value);
  for (const std::string& word : atoms) encode = encode || word.size() > kLongestPlainWord;
  if (encode) atoms = encoded_words(value);
  return fold(name, atoms);
}

std::string address_header(std::string_view name, const std::vector<Mailbox>& mailboxes) {
  std::vector<std::string> atoms;
  for (size_t i = 0; i < mailboxes.size(); ++i) {
    const Mailbox& m = mailboxes[i];
    std::vector<std::string> phrase = phrase_atoms(m.display_name);
    atoms.insert(atoms.end(), phrase.begin(), phrase.end());
    atoms.push_back(phrase.empty() ? m.address : "<" + m.address + ">");
    if (i + 1 < mailboxes.size()) atoms.back() += ',';
  }
  return fold(name, atoms);
}

std::string structured_header(std::string_view name, std::string_view value) {
  return fold(name, split_words(one_line(value)));
}

std::string quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t column = 0;
  auto put = [&](const char* token, size_t length) {
    if (column + length > 75) {  // leaves room for the '=' of a soft line break
      out += "=\r\n";
      column = 0;
    }
    out.append(token, length);
    column += length;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      column = 0;
      continue;
    }
    unsigned char u = static_cast<unsigned char>(c);
    bool line_end = i + 1 == text.size() || text[i + 1] == '\r' || text[i + 1] == '\n';
    bool literal = (u >= 33 && u <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
    if (literal) {
      put(&c, 1);
    } else {
      char escaped[3] = {'=', kHex[u >> 4], kHex[u & 15]};
      put(escaped, 3);
    }
  }
  return out;
}

std::string base64_lines(std::string_view data) {
  std::string encoded = base64(data);
  std::string out;
  out.reserve(encoded.size() + encoded.size() / 38 + 2);
  for (size_t i = 0; i < encoded.size(); i += 76) {
    if (i > 0) out += "\r\n";
    out.append(encoded, i, 76);
  }
  return out;
}

bool prefers_base64(std::string_view text) {
  size_t escaped = 0;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || c == '=' || (u < 0x20 && c != '\r' && c != '\n' && c != '\t')) ++escaped;
  }
  return escaped * 4 > text.size();
}

std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string rfc5322_date(int64_t unix_ms) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = static_cast<time_t>(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
  struct tm utc {};
  gmtime_r(&t, &utc);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                kDays[utc.tm_wday % 7], utc.tm_mday, kMonths[utc.tm_mon % 12], utc.tm_year + 1900,
                utc.tm_hour, utc.tm_min, utc.tm_sec);
  return buffer;
}

std::string sha256_hex(std::string_view data, size_t hex_digits) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < length && out.size() < hex_digits; ++i) {
    static const char lower[] = "0123456789abcdef";
    out += lower[digest[i] >> 4];
    out += lower[digest[i] & 15];
  }
  out.resize(std::min(out.size(), hex_digits));
  return out;
}

std::string message_id(std::string_view kind, std::string_view seed, std::string_view domain) {
  std::string input(kind);
  input += '\0';
  input += seed;
  return "<vigil." + sha256_hex(input, 32) + "@" + std::string(domain) + ">";
}

}  // namespace vigil::notifier_email
