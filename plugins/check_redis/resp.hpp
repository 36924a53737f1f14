// The small part of Redis' RESP2 protocol check_redis speaks: encoding a command, decoding one
// reply from a buffer that may hold only part of it, and parsing INFO's "key:value" text.
//
// Pure functions over bytes: no sockets, no SDK, so the tests drive them with fixtures. They must
// never throw on malformed or hostile input (a port that is not Redis at all answers anything):
// they report what was found and what was expected instead, and they bound what they accept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::check_redis {

// One decoded reply.
struct Reply {
  enum class Type { simple, error, integer, bulk, nil, array };
  Type type = Type::nil;
  std::string text;  // simple, error and bulk strings
  int64_t integer = 0;
  std::vector<Reply> elements;  // arrays
};

enum class ParseStatus { complete, incomplete, malformed };

// Limits on what a reply may claim, so a stray peer cannot make the plugin allocate without end.
inline constexpr int64_t kMaxBulkBytes = 64 * 1024 * 1024;
inline constexpr int64_t kMaxArrayElements = 1024 * 1024;
inline constexpr int kMaxNesting = 8;

// The command as a RESP array of bulk strings (binary-safe: arguments may hold anything).
std::string encode_command(const std::vector<std::string>& args);

// Decodes the reply at the start of `in`. complete: `out` is set and `used` is its length.
// incomplete: more bytes are needed. malformed: `error` says what was found and expected.
ParseStatus parse_reply(std::string_view in, Reply& out, std::size_t& used, std::string& error);

// INFO's text ("# Section" headers, "key:value" lines, CRLF or LF) as a map of keys to values.
// Values keep their text; later duplicates win.
std::map<std::string, std::string> parse_info(std::string_view text);

// A reply as a person reads it in a message: +PONG -> "PONG", -ERR x -> "ERR x", bulk
// strings in quotes, shortened.
std::string describe(const Reply& reply);

}  // namespace vigil::check_redis
