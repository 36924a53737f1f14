// check_tcp's probe: connect to host:port within a deadline, optionally send a string, and
// optionally read until the answer contains a substring or matches a pattern. Plain POSIX
// sockets, non-blocking with poll(), so every step is bounded by the one deadline.
//
// It must never block past the deadline once connected (name resolution is the system
// resolver's and has its own timeouts), never raise SIGPIPE (MSG_NOSIGNAL), and never keep a
// socket open after probe() returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "vigil_plugin_pattern/pattern.hpp"

namespace vigil::check_tcp {

struct ProbeOptions {
  std::string host;  // name or address; every address it resolves to is tried in turn
  uint16_t port = 0;
  std::chrono::milliseconds timeout{5000};  // for everything: connect, send, the answer
  std::string send;                         // sent once connected, when not empty
  // What the answer must hold. With neither set the probe ends once connected (and sent).
  std::string expect;                                     // a substring
  std::optional<plugin_pattern::Pattern> expect_pattern;  // or a pattern (takes precedence)
  std::size_t max_read_bytes = 4096;                      // stop reading after this many
};

enum class Outcome {
  ok,
  resolve_failed,   // the host name did not resolve
  connect_failed,   // refused, unreachable, ... (error holds the reason)
  connect_timeout,  // no connection within the deadline
  send_failed,      // the connection broke while sending
  no_match,         // the answer ended (closed, or max_read_bytes) without the expected text
  answer_timeout,   // the deadline passed before the expected text arrived
};

struct ProbeResult {
  Outcome outcome = Outcome::connect_failed;
  std::string address;  // the address connected to, or last tried: "127.0.0.1:22", "[::1]:22"
  std::string error;    // the system's reason for a failure ("Connection refused")
  double connect_seconds = 0;
  double total_seconds = 0;
  std::string received;  // what was read, at most max_read_bytes
  bool closed_by_peer = false;
};

ProbeResult probe(const ProbeOptions& options);

// The one-line health message for a result: "connected to 127.0.0.1:5432 in 0.4 ms", "cannot
// connect to 127.0.0.1:1: Connection refused", ...
std::string describe(const ProbeOptions& options, const ProbeResult& result);

// `text` as it can be shown on one line: printable ASCII as is, \r \n \t escaped, other bytes as
// \xNN, cut to `max` characters with "..." after. `in_quotes` also escapes " and \ (for text
// shown between double quotes; a regular expression is shown between slashes, as written).
std::string printable(const std::string& text, std::size_t max = 80, bool in_quotes = true);

// "db.internal:5432", "127.0.0.1:5432", "[::1]:5432".
std::string host_port(const std::string& host, uint16_t port);

}  // namespace vigil::check_tcp
