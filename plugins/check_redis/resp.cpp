// RESP2 encoding and decoding and INFO parsing; see resp.hpp.
#include "resp.hpp"

#include <charconv>

namespace vigil::check_redis {
namespace {

constexpr std::size_t kMaxQuoted = 120;

// Printable text for messages: control bytes as '?', shortened.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxQuoted)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (s.size() > kMaxQuoted) out += "...";
  return out;
}

// The line starting at `pos` without its CRLF; npos in `end` when no CRLF yet.
bool read_line(std::string_view in, std::size_t pos, std::string_view& line, std::size_t& next) {
  std::size_t crlf = in.find("\r\n", pos);
  if (crlf == std::string_view::npos) return false;
  line = in.substr(pos, crlf - pos);
  next = crlf + 2;
  return true;
}

bool to_int(std::string_view s, int64_t& v) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && ptr == s.data() + s.size();
}

ParseStatus parse_at(std::string_view in, std::size_t pos, int depth, Reply& out, std::size_t& next,
                     std::string& error) {
  if (pos >= in.size()) return ParseStatus::incomplete;
  if (depth > kMaxNesting) {
    error = "a reply nested deeper than " + std::to_string(kMaxNesting) + " arrays";
    return ParseStatus::malformed;
  }
  const char kind = in[pos];
  std::string_view line;
  std::size_t after = 0;
  if (kind != '+' && kind != '-' && kind != ':' && kind != '$' && kind != '*') {
    // Most likely not a Redis server: quote what it said so the user can tell what it is.
    std::string_view said = in.substr(pos);
    std::size_t eol = said.find_first_of("\r\n");
    error = "expected a Redis (RESP) reply starting with +, -, :, $ or *, found \"" +
            printable(said.substr(0, eol)) + "\"";
    return ParseStatus::malformed;
  }
  if (!read_line(in, pos + 1, line, after)) {
    // A line longer than any sane header without its CRLF is not RESP either.
    if (kind != '+' && kind != '-' && in.size() - pos > 64) {
      error = "expected a RESP length line ending in CRLF, found \"" +
              printable(in.substr(pos, 40)) + "\"";
      return ParseStatus::malformed;
    }
    return ParseStatus::incomplete;
  }
  switch (kind) {
    case '+':
    case '-':
      out.type = kind == '+' ? Reply::Type::simple : Reply::Type::error;
      out.text.assign(line.data(), line.size());
      next = after;
      return ParseStatus::complete;
    case ':':
      if (!to_int(line, out.integer)) {
        error = "expected an integer after ':', found \"" + printable(line) + "\"";
        return ParseStatus::malformed;
      }
      out.type = Reply::Type::integer;
      next = after;
      return ParseStatus::complete;
    case '$': {
      int64_t length = 0;
      if (!to_int(line, length) || length < -1 || length > kMaxBulkBytes) {
        error = "expected a bulk string length from -1 to " + std::to_string(kMaxBulkBytes) +
                " after '$', found \"" + printable(line) + "\"";
        return ParseStatus::malformed;
      }
      if (length == -1) {
        out.type = Reply::Type::nil;
        next = after;
        return ParseStatus::complete;
      }
      const std::size_t n = static_cast<std::size_t>(length);
      if (in.size() < after + n + 2) return ParseStatus::incomplete;
      if (in.substr(after + n, 2) != "\r\n") {
        error = "expected CRLF after a bulk string of " + std::to_string(n) + " bytes";
        return ParseStatus::malformed;
      }
      out.type = Reply::Type::bulk;
      out.text.assign(in.data() + after, n);
      next = after + n + 2;
      return ParseStatus::complete;
    }
    default: {  // '*'
      int64_t count = 0;
      if (!to_int(line, count) || count < -1 || count > kMaxArrayElements) {
        error = "expected an array length from -1 to " + std::to_string(kMaxArrayElements) +
                " after '*', found \"" + printable(line) + "\"";
        return ParseStatus::malformed;
      }
      if (count == -1) {
        out.type = Reply::Type::nil;
        next = after;
        return ParseStatus::complete;
      }
      out.type = Reply::Type::array;
      out.elements.clear();
      std::size_t cursor = after;
      for (int64_t i = 0; i < count; ++i) {
        Reply element;
        ParseStatus s = parse_at(in, cursor, depth + 1, element, cursor, error);
        if (s != ParseStatus::complete) return s;
        out.elements.push_back(std::move(element));
      }
      next = cursor;
      return ParseStatus::complete;
    }
  }
}

}  // namespace

std::string encode_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

ParseStatus parse_reply(std::string_view in, Reply& out, std::size_t& used, std::string& error) {
  out = Reply{};
  std::size_t next = 0;
  ParseStatus s = parse_at(in, 0, 0, out, next, error);
  if (s == ParseStatus::complete) used = next;
  return s;
}

std::map<std::string, std::string> parse_info(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    out[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 1));
  }
  return out;
}

std::string describe(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::simple:
    case Reply::Type::error:
      return printable(reply.text);
    case Reply::Type::integer:
      return "(integer) " + std::to_string(reply.integer);
    case Reply::Type::bulk:
      return "\"" + printable(reply.text) + "\"";
    case Reply::Type::nil:
      return "(nil)";
    case Reply::Type::array:
      break;
  }
  return "an array of " + std::to_string(reply.elements.size()) + " elements";
}

}  // namespace vigil::check_redis
