// See tcp_probe.hpp.
#include "tcp_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "vigil_plugin_procfs/human.hpp"

namespace vigil::check_tcp {
namespace {

using Clock = std::chrono::steady_clock;
using procfs::format_duration;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Milliseconds left until `deadline` for poll(), never negative.
int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  // Round up so a poll never returns a hair before the deadline and loops once more for nothing.
  return static_cast<int>(left.count()) + 1;
}

std::string address_text(const sockaddr* sa) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
  ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
}

// Closes the descriptor on every path out of probe().
struct Socket {
  int fd = -1;
  ~Socket() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

bool matched(const ProbeOptions& o, const std::string& received) {
  if (o.expect_pattern) return o.expect_pattern->search(received);
  return received.find(o.expect) != std::string::npos;
}

// Connects to one address by the deadline. Returns 0 on success, or the errno that explains
// the failure (ETIMEDOUT when the deadline passed).
int connect_one(const addrinfo* ai, Clock::time_point deadline, Socket& s) {
  s.reset();
  s.fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (s.fd < 0) return errno;
  if (::connect(s.fd, ai->ai_addr, ai->ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    pollfd p{s.fd, POLLOUT, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

}  // namespace

ProbeResult probe(const ProbeOptions& o) {
  ProbeResult r;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + o.timeout;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(o.port);
  int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    r.outcome = Outcome::resolve_failed;
    r.error = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    r.total_seconds = seconds_since(start);
    return r;
  }

  Socket s;
  int last_error = ETIMEDOUT;
  bool connected = false;
  for (const addrinfo* ai = list; ai != nullptr && !connected; ai = ai->ai_next) {
    r.address = address_text(ai->ai_addr);
    last_error = connect_one(ai, deadline, s);
    connected = last_error == 0;
    if (last_error == ETIMEDOUT) break;  // the deadline is shared: nothing left for the next one
  }
  ::freeaddrinfo(list);
  r.connect_seconds = seconds_since(start);
  if (!connected) {
    r.outcome = last_error == ETIMEDOUT ? Outcome::connect_timeout : Outcome::connect_failed;
    r.error = std::strerror(last_error);
    r.total_seconds = seconds_since(start);
    return r;
  }

  // Send everything, as far as the deadline allows.
  std::size_t sent = 0;
  while (sent < o.send.size()) {
    ssize_t n = ::send(s.fd, o.send.data() + sent, o.send.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{s.fd, POLLOUT, 0};
      int ready = ::poll(&p, 1, ms_left(deadline));
      if (ready == 0) {
        r.outcome = Outcome::send_failed;
        r.error = "timed out (the server is not reading)";
        r.total_seconds = seconds_since(start);
        return r;
      }
      continue;
    }
    r.outcome = Outcome::send_failed;
    r.error = std::strerror(errno);
    r.total_seconds = seconds_since(start);
    return r;
  }

  if (o.expect.empty() && !o.expect_pattern) {
    r.outcome = Outcome::ok;
    r.total_seconds = seconds_since(start);
    return r;
  }

  // Read until the expected text shows up, the peer closes, the buffer is full or time is up.
  char buffer[4096];
  for (;;) {
    if (matched(o, r.received)) {
      r.outcome = Outcome::ok;
      break;
    }
    if (r.received.size() >= o.max_read_bytes) {
      r.outcome = Outcome::no_match;
      break;
    }
    pollfd p{s.fd, POLLIN, 0};
    int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      r.outcome = Outcome::answer_timeout;
      break;
    }
    std::size_t want = std::min(sizeof buffer, o.max_read_bytes - r.received.size());
    ssize_t n = ::recv(s.fd, buffer, want, 0);
    if (n > 0) {
      r.received.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) r.error = std::strerror(errno);
    r.closed_by_peer = true;
    r.outcome = matched(o, r.received) ? Outcome::ok : Outcome::no_match;
    break;
  }
  r.total_seconds = seconds_since(start);
  return r;
}

std::string printable(const std::string& text, std::size_t max, bool in_quotes) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (in_quotes && (c == '"' || c == '\\'))
      (out += '\\') += static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::string host_port(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string describe(const ProbeOptions& o, const ProbeResult& r) {
  const std::string target = host_port(o.host, o.port);
  // Name the address too when the host was a name: "localhost (127.0.0.1:6379)".
  const std::string where =
      r.address.empty() || r.address == target ? target : target + " (" + r.address + ")";
  // The expected text as a noun phrase: "\"+PONG\"" or "a match for /^220 /".
  const std::string expected =
      o.expect_pattern
          ? "a match for /" + printable(o.expect_pattern->expression(), 80, false) + "/"
          : "\"" + printable(o.expect) + "\"";
  const std::string got = r.received.empty() ? "nothing" : "\"" + printable(r.received) + "\"";
  const std::string connected =
      "connected to " + where + " in " + format_duration(r.connect_seconds);
  const std::string within = format_duration(std::chrono::duration<double>(o.timeout).count());

  switch (r.outcome) {
    case Outcome::resolve_failed:
      return "cannot resolve \"" + o.host + "\": " + r.error;
    case Outcome::connect_failed:
      return "cannot connect to " + where + ": " + r.error;
    case Outcome::connect_timeout:
      return "cannot connect to " + where + " within " + within + ": timed out";
    case Outcome::send_failed:
      return connected + ", but sending failed: " + r.error;
    case Outcome::ok:
      if (o.expect.empty() && !o.expect_pattern) return connected;
      return connected + ", found " + expected + " after " + format_duration(r.total_seconds);
    case Outcome::no_match:
      if (r.closed_by_peer)
        return connected + ", but the server closed the connection without sending " + expected +
               "; got " + got;
      return connected + ", but the first " + std::to_string(r.received.size()) +
             " bytes came without " + expected + "; got " + got;
    case Outcome::answer_timeout:
      return connected + ", but " + expected + " did not arrive within " + within + "; got " + got;
  }
  return "unknown outcome";
}

}  // namespace vigil::check_tcp
