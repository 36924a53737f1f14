// One connection to a Redis server (TCP or Unix socket), every wait bounded by a deadline.
//
// A health check must answer even when the server does not: connect, send and receive are
// non-blocking and each wait is a poll() that ends at the caller's deadline. After any failure
// (timeout, reset, a reply that is not RESP) the connection is closed, as the stream's position
// is unknown. This file must never log, and never put command arguments (AUTH carries the
// password) into an error message.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "resp.hpp"

namespace vigil::check_redis {

using Clock = std::chrono::steady_clock;

// Where the server listens: "host:port", "[ipv6]:port", "host" (port 6379), or a Unix socket
// path ("/run/redis/redis.sock" or "unix:/run/redis/redis.sock").
struct Address {
  bool unix_socket = false;
  std::string host, port;  // TCP
  std::string path;        // Unix socket
  // As messages show it: "127.0.0.1:6379", "[::1]:6379", "/run/redis/redis.sock".
  std::string text() const;
};

// False with `error` (what was found and what was expected) when `text` is not an address.
bool parse_address(std::string_view text, Address& out, std::string& error);

// Thread-safety: not thread-safe; one check at a time uses it.
class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  bool is_open() const { return fd_ >= 0; }

  // Connects (closing any open connection first). Tries every address the host name resolves
  // to. On failure `error` is the system's reason ("Connection refused"), or "timed out".
  // Name resolution itself is the system resolver's and is not bounded by the deadline.
  bool open(const Address& address, Clock::time_point deadline, std::string& error);

  // Sends one command and reads its reply. False with `error` on an I/O failure, a timeout
  // ("timed out") or a reply that is not RESP; the connection is then closed. An error reply
  // from the server (-ERR ...) is a successful exchange: it is in `reply`.
  bool command(const std::vector<std::string>& args, Clock::time_point deadline, Reply& reply,
               std::string& error);

  void close();

 private:
  bool wait(short events, Clock::time_point deadline);

  int fd_ = -1;
  std::string buffer_;  // bytes received and not yet parsed
};

}  // namespace vigil::check_redis
