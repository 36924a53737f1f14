// Deadline-bound Redis connection; see redis_connection.hpp.
#include "redis_connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace vigil::check_redis {
namespace {

constexpr const char* kTimedOut = "timed out";
constexpr std::size_t kReadChunk = 16384;

bool valid_port(std::string_view port) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return !port.empty() && ec == std::errc() && ptr == port.data() + port.size() && value > 0 &&
         value <= 65535;
}

std::string system_error(int err) {
  return std::strerror(err);
}

}  // namespace

std::string Address::text() const {
  if (unix_socket) return path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

bool parse_address(std::string_view text, Address& out, std::string& error) {
  out = Address{};
  const std::string expected =
      "; expected \"host:port\" (such as \"127.0.0.1:6379\"), \"[::1]:6379\", or a Unix socket "
      "path such as \"/run/redis/redis.sock\"";
  if (text.substr(0, 5) == "unix:") text.remove_prefix(5);
  if (!text.empty() && text.front() == '/') {
    if (text.size() >= sizeof(sockaddr_un{}.sun_path)) {
      error = "the socket path \"" + std::string(text) + "\" is longer than the " +
              std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes a Unix socket allows";
      return false;
    }
    out.unix_socket = true;
    out.path = std::string(text);
    return true;
  }
  std::string_view host = text, port = "6379";
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "\"" + std::string(text) + "\" has no closing ']'" + expected;
      return false;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error =
            "\"" + std::string(text) + "\" has \"" + std::string(rest) + "\" after ']'" + expected;
        return false;
      }
      port = rest.substr(1);
    }
  } else {
    std::size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.find(':') != colon) {
        error = "\"" + std::string(text) +
                "\" looks like a bare IPv6 address; write it in brackets" + expected;
        return false;
      }
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
  }
  if (host.empty()) {
    error = "\"" + std::string(text) + "\" has no host" + expected;
    return false;
  }
  if (!valid_port(port)) {
    error = "\"" + std::string(text) + "\" has port \"" + std::string(port) +
            "\", expected a number from 1 to 65535";
    return false;
  }
  out.host = std::string(host);
  out.port = std::string(port);
  return true;
}

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool Connection::wait(short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    // Errors and hang-ups count as ready: the following read or write reports them.
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;
  }
}

bool Connection::open(const Address& address, Clock::time_point deadline, std::string& error) {
  close();
  // One attempt at one socket address; false with `error` set.
  auto attempt = [&](int family, const sockaddr* addr, socklen_t len) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error = "cannot create a socket: " + system_error(errno);
      return false;
    }
    if (::connect(fd_, addr, len) != 0) {
      if (errno != EINPROGRESS && errno != EAGAIN) {
        error = system_error(errno);
        close();
        return false;
      }
      if (!wait(POLLOUT, deadline)) {
        error = kTimedOut;
        close();
        return false;
      }
      int so_error = 0;
      socklen_t so_len = sizeof so_error;
      if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) so_error = errno;
      if (so_error != 0) {
        error = system_error(so_error);
        close();
        return false;
      }
    }
    if (family != AF_UNIX) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return true;
  };

  if (address.unix_socket) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, address.path.c_str(), address.path.size() + 1);
    return attempt(AF_UNIX, reinterpret_cast<const sockaddr*>(&un), sizeof un);
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found);
  if (rc != 0) {
    error = "cannot resolve \"" + address.host + "\": " + ::gai_strerror(rc);
    return false;
  }
  std::string first_error;
  bool ok = false;
  for (addrinfo* ai = found; ai != nullptr && !ok; ai = ai->ai_next) {
    ok = attempt(ai->ai_family, ai->ai_addr, ai->ai_addrlen);
    if (!ok && first_error.empty()) first_error = error;
    if (!ok && error == kTimedOut) break;  // the deadline is gone for the others too
  }
  ::freeaddrinfo(found);
  // The first address's reason is the one a user expects (localhost's ::1 before 127.0.0.1).
  if (!ok && error != kTimedOut) error = first_error;
  return ok;
}

bool Connection::command(const std::vector<std::string>& args, Clock::time_point deadline,
                         Reply& reply, std::string& error) {
  if (fd_ < 0) {
    error = "not connected";
    return false;
  }
  auto fail = [&](std::string why) {
    error = std::move(why);
    close();
    return false;
  };

  const std::string request = encode_command(args);
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait(POLLOUT, deadline)) return fail(kTimedOut);
      continue;
    }
    return fail("sending failed: " + system_error(errno));
  }

  char chunk[kReadChunk];
  for (;;) {
    std::size_t used = 0;
    std::string parse_error;
    ParseStatus status = parse_reply(buffer_, reply, used, parse_error);
    if (status == ParseStatus::complete) {
      buffer_.erase(0, used);
      return true;
    }
    if (status == ParseStatus::malformed) return fail(parse_error);
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      return fail(buffer_.empty() ? "the server closed the connection"
                                  : "the server closed the connection in the middle of a reply");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait(POLLIN, deadline)) return fail(kTimedOut);
      continue;
    }
    return fail("receiving failed: " + system_error(errno));
  }
}

}  // namespace vigil::check_redis
