// The pieces of an Internet message that notifier_email writes by hand: mailboxes (RFC 5322
// addresses with an optional display name), header fields folded under 78 columns with RFC 2047
// encoded-words for text that is not ASCII, quoted-printable and base64 bodies with CRLF line
// endings, the Date header's format, and Message-IDs derived from a stable seed.
//
// Everything here is a pure function of its arguments, so it is tested on its own. What it must
// never produce: a bare CR or LF, a line over 998 octets, or a byte above 127 in a header or an
// encoded body (the message then passes any SMTP server without 8BITMIME or SMTPUTF8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::notifier_email {

// One mailbox as configured: "ops@example.com" or "Vigil on web1 <vigil@example.com>".
// Thread-safety: a value type.
struct Mailbox {
  std::string display_name;  // UTF-8, may be empty
  std::string address;       // local@domain, ASCII

  // The domain part ("example.com"), or "" when there is none.
  std::string domain() const;
};

// Reads "local@domain" or "Display Name <local@domain>" (the name may be quoted). The address
// must be ASCII, without spaces, angle brackets, commas or line breaks, with one '@' between a
// non-empty local part and a non-empty domain. On failure returns nothing and sets `error` to
// what was found and what was expected.
std::optional<Mailbox> parse_mailbox(std::string_view text, std::string& error);

// A whole header field, "Name: value\r\n", folded at spaces so lines stay within 78 columns
// where the words allow. Text with a byte outside printable ASCII (or with "=?", which a reader
// would take for an encoded-word) becomes UTF-8 base64 encoded-words of at most 75 characters.
// Line breaks and other control characters in `text` become spaces.
std::string unstructured_header(std::string_view name, std::string_view text);

// "To: Ops <ops@example.com>, b@example.com\r\n": the mailboxes, comma-separated, folded between
// words; display names quoted or encoded as RFC 5322 and RFC 2047 require.
std::string address_header(std::string_view name, const std::vector<Mailbox>& mailboxes);

// A header whose value is already a valid ASCII token list, such as a Message-ID or a
// Content-Type: folded at spaces, otherwise unchanged.
std::string structured_header(std::string_view name, std::string_view value);

// A body part's text in quoted-printable (RFC 2045): any line ending in `text` becomes CRLF,
// lines are at most 76 characters (soft breaks with '='), trailing spaces and tabs are encoded.
// The result ends with CRLF only where `text` ends with a line break: the CRLF before a MIME
// boundary belongs to the boundary. A line holding only "." stays "."; SMTP dot-stuffing is the
// transport's job.
std::string quoted_printable(std::string_view text);

// Base64 (RFC 2045) in lines of 76 characters separated by CRLF (none after the last).
std::string base64_lines(std::string_view data);

// Which transfer encoding suits a text: quoted-printable unless more than a quarter of its bytes
// would need escaping (text mostly outside ASCII, such as CJK), then base64, the shorter one.
bool prefers_base64(std::string_view text);

// `text` with every line ending as CRLF (for base64, which encodes the line breaks too).
std::string crlf_lines(std::string_view text);

// "Mon, 23 Nov 2026 10:00:05 +0000" (RFC 5322 section 3.3) for a Unix time in milliseconds.
std::string rfc5322_date(int64_t unix_ms);

// The lowercase hex SHA-256 of `data`, cut to `hex_digits`.
std::string sha256_hex(std::string_view data, size_t hex_digits = 64);

// "<vigil.<32 hex digits of SHA-256(kind, seed)>@domain>": equal seeds give equal ids, different
// seeds never meet in practice, and the seed's own characters (which may be anything) never
// reach the header. `kind` keeps a notification's id apart from a group's.
std::string message_id(std::string_view kind, std::string_view seed, std::string_view domain);

}  // namespace vigil::notifier_email
