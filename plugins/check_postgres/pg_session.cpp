// The deadline-bound libpq connection; see pg_session.hpp.
#include "pg_session.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vigil::check_postgres {
namespace {

constexpr const char* kTimedOut = "timed out waiting for the server";

// Waits until `fd` is ready for `events` or the deadline passes. False on timeout; a poll error
// (other than EINTR) or a hang-up reports ready so that libpq itself reads the error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  if (fd < 0) return true;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;
  }
}

std::string result_error(const PGresult* res, PGconn* conn) {
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary != nullptr && *primary != '\0') {
    std::string out = primary;
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state != nullptr && *state != '\0') out += std::string(" (SQLSTATE ") + state + ")";
    return out;
  }
  std::string line = res != nullptr ? first_line(PQresultErrorMessage(res)) : "";
  if (line.empty()) line = first_line(PQerrorMessage(conn));
  if (line.empty()) line = "the server gave no reason";
  return line;
}

}  // namespace

std::string first_line(const char* message) {
  if (message == nullptr) return "";
  std::string line(message, std::strcspn(message, "\r\n"));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
  return line;
}

bool Session::connected() const {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

int Session::server_version() const {
  return connected() ? PQserverVersion(conn_) : 0;
}

void Session::close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

bool Session::connect(const ConnParams& params, Clock::time_point deadline, std::string& error) {
  close();
  std::vector<const char*> keywords, values;
  keywords.reserve(params.size() + 1);
  values.reserve(params.size() + 1);
  for (const auto& [k, v] : params) {
    keywords.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);

  conn_ = PQconnectStartParams(keywords.data(), values.data(), 0);
  if (conn_ == nullptr) {
    error = "libpq could not allocate a connection (out of memory)";
    return false;
  }
  auto text = [](const char* s) { return std::string(s != nullptr ? s : ""); };
  target_ = text(PQhost(conn_)) + ":" + text(PQport(conn_)) + " (database " + text(PQdb(conn_)) +
            ", user " + text(PQuser(conn_)) + ")";
  if (PQstatus(conn_) == CONNECTION_BAD) {
    error = first_line(PQerrorMessage(conn_));
    close();
    return false;
  }
  // libpq's documented loop: wait for what the last poll asked for, then poll again. The
  // socket may change between calls when libpq moves on to the next host or address.
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      error = first_line(PQerrorMessage(conn_));
      if (error.empty()) error = "the connection failed and libpq gave no reason";
      close();
      return false;
    }
    short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_for(PQsocket(conn_), events, deadline)) {
      error = kTimedOut;
      close();
      return false;
    }
    state = PQconnectPoll(conn_);
  }
  // Non-blocking, so that sending a statement never waits on a full socket buffer either.
  if (PQsetnonblocking(conn_, 1) != 0) {
    error = first_line(PQerrorMessage(conn_));
    close();
    return false;
  }
  return true;
}

QueryResult Session::exec(const std::string& sql, Clock::time_point deadline) {
  QueryResult out;
  if (!connected()) {
    out.error = "not connected";
    return out;
  }
  auto timed_out = [&]() {
    out.timed_out = true;
    out.error = kTimedOut;
    out.rows.clear();
    close();
    return out;
  };
  if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 0) {
    out.error = first_line(PQerrorMessage(conn_));
    return out;
  }
  for (;;) {
    int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) {
      out.error = first_line(PQerrorMessage(conn_));
      return out;
    }
    // libpq asks to read too while flushing, so the server is never stuck writing to us.
    if (!wait_for(PQsocket(conn_), POLLIN | POLLOUT, deadline)) return timed_out();
    if (PQconsumeInput(conn_) == 0) {
      out.error = first_line(PQerrorMessage(conn_));
      return out;
    }
  }

  bool failed = false;
  for (;;) {
    bool lost = false;
    while (PQisBusy(conn_) != 0) {
      if (!wait_for(PQsocket(conn_), POLLIN, deadline)) return timed_out();
      if (PQconsumeInput(conn_) == 0) {
        lost = true;
        break;
      }
    }
    if (lost) {
      if (!failed) out.error = first_line(PQerrorMessage(conn_));
      failed = true;
      break;
    }
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr) break;
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      out.rows.clear();
      int rows = PQntuples(res), columns = PQnfields(res);
      out.rows.reserve(static_cast<std::size_t>(rows));
      for (int r = 0; r < rows; ++r) {
        std::vector<std::optional<std::string>> row;
        row.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
          if (PQgetisnull(res, r, c) != 0) {
            row.emplace_back(std::nullopt);
          } else {
            row.emplace_back(std::string(PQgetvalue(res, r, c),
                                         static_cast<std::size_t>(PQgetlength(res, r, c))));
          }
        }
        out.rows.push_back(std::move(row));
      }
    } else if (!failed) {
      out.error = result_error(res, conn_);
      failed = true;
    }
    PQclear(res);
    // A broken connection keeps returning errors; stop reading from it.
    if (PQstatus(conn_) == CONNECTION_BAD) break;
  }
  out.ok = !failed;
  if (failed) out.rows.clear();
  return out;
}

}  // namespace vigil::check_postgres
