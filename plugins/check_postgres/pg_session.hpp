// One libpq connection, driven through libpq's asynchronous API so that connecting and every
// statement end at a deadline the caller chooses.
//
// libpq's blocking calls wait as long as the network lets them (connect_timeout covers only the
// connect, nothing covers a server that stops answering mid-query), and a health check that
// hangs is reported by the host as hung instead of as the critical it is. Here every wait is a
// poll() bounded by the deadline. This file must never log, and never put the connection
// parameters (which may hold a password) into a message: messages name the server by host, port,
// database and user only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

typedef struct pg_conn PGconn;

namespace vigil::check_postgres {

using Clock = std::chrono::steady_clock;

// libpq keyword/value pairs, passed as they are (no conninfo string expansion).
using ConnParams = std::vector<std::pair<std::string, std::string>>;

// What one statement gave.
struct QueryResult {
  bool ok = false;
  bool timed_out = false;  // the deadline passed; the connection was closed
  // On failure, one line: the server's message and SQLSTATE, or libpq's first line.
  std::string error;
  // Text values, row by row; std::nullopt for SQL NULL. The last result's rows when the
  // statement returned several.
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// The first line of a (possibly multi-line) libpq message, without trailing blanks.
std::string first_line(const char* message);

// Thread-safety: not thread-safe; one check at a time uses it.
class Session {
 public:
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() { close(); }

  bool connected() const;

  // Opens a new connection (closing any open one). On failure returns false with `error` set to
  // libpq's first line, or to a timeout message when `deadline` passed first.
  bool connect(const ConnParams& params, Clock::time_point deadline, std::string& error);

  // Runs one statement (extended protocol, so exactly one) and waits for its result until
  // `deadline`. A timeout closes the connection: the statement's state on the server is unknown.
  QueryResult exec(const std::string& sql, Clock::time_point deadline);

  void close();

  // "127.0.0.1:5432 (database postgres, user vigil)" as libpq resolved it at the last connect
  // attempt; a socket directory stands for the host when connecting over a Unix socket.
  const std::string& target() const { return target_; }
  // The server's version as libpq reports it (150004 for 15.4), 0 when not connected.
  int server_version() const;

 private:
  PGconn* conn_ = nullptr;
  std::string target_;
};

}  // namespace vigil::check_postgres
