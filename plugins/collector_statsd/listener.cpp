// Listener: poll(2) loops over non-blocking sockets, woken for shutdown by an eventfd.
//
// One thread per transport keeps a flood of UDP from starving TCP clients and the other way
// round. This file must never call the Sink while holding anything the Sink could wait for, and
// never leave a socket open after stop().
#include "listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace vigil::collector_statsd {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Binds a socket of `type` (SOCK_DGRAM or SOCK_STREAM) to `address`; returns the descriptor, or
// -1 with `error` set. `bound` receives the address as bound, `port` the real port.
int bind_socket(const std::string& address, int type, std::string& bound, int& port,
                std::string& error) {
  const char* transport = type == SOCK_DGRAM ? "UDP" : "TCP";
  std::string host, service;
  if (!split_address(address, host, service, error)) return -1;
  if (host.empty()) host = "0.0.0.0";

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = type;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    error = "cannot resolve \"" + host + "\" in \"" + address + "\": " + ::gai_strerror(rc) +
            " (expected an IP address or a resolvable host name)";
    return -1;
  }
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    found->ai_protocol);
  if (fd < 0) {
    error = std::string("cannot create a ") + transport + " socket: " + errno_text(errno);
    ::freeaddrinfo(found);
    return -1;
  }
  if (type == SOCK_STREAM) {
    // Lets a restarted agent bind again while old connections sit in TIME_WAIT.
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0) {
    int saved = errno;
    error = std::string("cannot bind ") + transport + " " + address + ": " + errno_text(saved) +
            (saved == EADDRINUSE ? " (another program, or another instance, already uses it)" : "");
    ::close(fd);
    ::freeaddrinfo(found);
    return -1;
  }
  ::freeaddrinfo(found);
  if (type == SOCK_STREAM && ::listen(fd, 128) != 0) {
    error = std::string("cannot listen on TCP ") + address + ": " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  Peer self;
  self.length = sizeof self.address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self.address), &self.length) != 0) {
    error = std::string("cannot read the bound ") + transport + " address: " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  bound = self.text();
  port = self.address.ss_family == AF_INET6
             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&self.address)->sin6_port)
             : ntohs(reinterpret_cast<const sockaddr_in*>(&self.address)->sin_port);
  return fd;
}

}  // namespace

std::string Peer::text() const {
  char host[INET6_ADDRSTRLEN] = {0};
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "an unknown address";
}

bool split_address(std::string_view text, std::string& host, std::string& port,
                   std::string& error) {
  const std::string expected =
      " (expected host:port, e.g. \"127.0.0.1:8125\", \"0.0.0.0:8125\" or \"[::1]:8125\")";
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "\"" + std::string(text) + "\" has no \"]:port\" after the IPv6 address" + expected;
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "\"" + std::string(text) + "\" has no \":port\"" + expected;
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) {
      error =
          "\"" + std::string(text) + "\" looks like an IPv6 address without brackets" + expected;
      return false;
    }
  }
  bool digits = !p.empty() && p.size() <= 5;
  for (char c : p) digits = digits && c >= '0' && c <= '9';
  if (!digits || std::stoul(std::string(p)) > 65535) {
    error = "\"" + std::string(text) + "\" has port \"" + std::string(p) +
            "\", which is not a number from 0 to 65535 (0 picks a free port)" + expected;
    return false;
  }
  host.assign(h);
  port.assign(p);
  return true;
}

Listener::~Listener() {
  stop();
}

bool Listener::open_udp(const std::string& address, std::size_t read_buffer, std::string& error) {
  udp_fd_ = bind_socket(address, SOCK_DGRAM, udp_bound_, udp_port_, error);
  if (udp_fd_ < 0) return false;
  if (read_buffer > 0) {
    // The kernel doubles the value for its bookkeeping and caps it at net.core.rmem_max.
    int bytes = static_cast<int>(std::min<std::size_t>(read_buffer, 1u << 30));
    if (::setsockopt(udp_fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) {
      error = "cannot set the UDP receive buffer to " + std::to_string(read_buffer) +
              " bytes: " + errno_text(errno);
      close_fd(udp_fd_);
      return false;
    }
  }
  // Asks the kernel to tell, with each datagram, how many it dropped for a full buffer: the
  // only way to see StatsD's usual silent loss. Without it (old kernels) nothing is counted.
  int one = 1;
  ::setsockopt(udp_fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  return true;
}

bool Listener::open_tcp(const std::string& address, std::size_t max_connections,
                        std::size_t max_line, std::string& error) {
  max_connections_ = max_connections;
  max_line_ = max_line;
  tcp_fd_ = bind_socket(address, SOCK_STREAM, tcp_bound_, tcp_port_, error);
  return tcp_fd_ >= 0;
}

bool Listener::start(std::string& error) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    error = "cannot create the listener's wake-up eventfd: " + errno_text(errno);
    return false;
  }
  try {
    if (udp_fd_ >= 0) udp_thread_ = std::thread([this] { run_udp(); });
    if (tcp_fd_ >= 0) tcp_thread_ = std::thread([this] { run_tcp(); });
  } catch (const std::system_error& e) {
    error = std::string("cannot start a listener thread: ") + e.what();
    stop();
    return false;
  }
  return true;
}

void Listener::stop() {
  stopping_.store(true);
  if (wake_fd_ >= 0) {
    // The eventfd stays readable once written, so every thread's poll sees it.
    std::uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
  if (udp_thread_.joinable()) udp_thread_.join();
  if (tcp_thread_.joinable()) tcp_thread_.join();
  close_fd(udp_fd_);
  close_fd(tcp_fd_);
  close_fd(wake_fd_);
}

void Listener::run_udp() {
  std::vector<char> buffer(kMaxDatagram + 1);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint32_t))];
  std::uint32_t overflows_seen = 0;  // the kernel's count is cumulative, and wraps at 2^32
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {udp_fd_, POLLIN, 0}};
  while (!stopping_.load()) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;  // EFAULT/EINVAL/ENOMEM: nothing a retry fixes; stop() still joins cleanly
    }
    if (fds[0].revents != 0) return;
    // A bounded batch, then poll again, so a flood cannot delay noticing stop().
    for (int i = 0; i < 256 && !stopping_.load(); ++i) {
      Peer peer;
      iovec data{buffer.data(), buffer.size()};
      msghdr message{};
      message.msg_name = &peer.address;
      message.msg_namelen = sizeof peer.address;
      message.msg_iov = &data;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      ssize_t got = ::recvmsg(udp_fd_, &message, MSG_DONTWAIT);
      if (got < 0) break;  // EAGAIN: drained; anything else is transient for UDP
      peer.length = message.msg_namelen;
      for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL) continue;
        std::uint32_t total = 0;
        std::memcpy(&total, CMSG_DATA(c), sizeof total);
        if (total != overflows_seen) sink_.udp_overflow(total - overflows_seen);
        overflows_seen = total;
      }
      sink_.datagram(std::string_view(buffer.data(), static_cast<std::size_t>(got)), peer);
    }
  }
}

namespace {

struct Connection {
  int fd = -1;
  Peer peer;
  std::string pending;    // the start of a line whose '\n' has not arrived
  bool skipping = false;  // inside a line that was too long: drop up to its '\n'
};

}  // namespace

void Listener::run_tcp() {
  std::vector<Connection> connections;
  std::vector<pollfd> fds;
  std::vector<char> buffer(65536);

  auto feed = [&](Connection& c, std::string_view data) {
    while (!data.empty()) {
      std::size_t newline = data.find('\n');
      const bool complete = newline != std::string_view::npos;
      std::string_view piece = data.substr(0, newline);
      data = complete ? data.substr(newline + 1) : std::string_view();
      if (c.skipping) {
        c.skipping = !complete;
        continue;
      }
      if (c.pending.size() + piece.size() > max_line_) {
        sink_.tcp_line_too_long(c.peer);
        c.pending.clear();
        c.skipping = !complete;
        continue;
      }
      if (!complete) {
        c.pending.append(piece);
        break;
      }
      if (c.pending.empty()) {
        sink_.tcp_line(piece, c.peer);
      } else {
        c.pending.append(piece);
        sink_.tcp_line(c.pending, c.peer);
        c.pending.clear();
      }
    }
  };

  while (!stopping_.load()) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({tcp_fd_, POLLIN, 0});
    for (const Connection& c : connections) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;

    // Connections first: `fds` indexes them as they were before any accept below.
    for (std::size_t i = connections.size(); i-- > 0;) {
      if (fds[i + 2].revents == 0) continue;
      Connection& c = connections[i];
      bool closed = false;
      for (int reads = 0; reads < 16; ++reads) {
        ssize_t got = ::read(c.fd, buffer.data(), buffer.size());
        if (got > 0) {
          feed(c, std::string_view(buffer.data(), static_cast<std::size_t>(got)));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got < 0 && errno == EINTR) continue;
        closed = true;  // EOF or a reset
        break;
      }
      if (!closed) continue;
      // A client that closes without a final '\n' (nc, printf) still means its last line.
      if (!c.skipping && !c.pending.empty()) sink_.tcp_line(c.pending, c.peer);
      ::close(c.fd);
      connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(i));
    }

    if (fds[1].revents != 0) {
      while (true) {
        Peer peer;
        peer.length = sizeof peer.address;
        int fd = ::accept4(tcp_fd_, reinterpret_cast<sockaddr*>(&peer.address), &peer.length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (connections.size() >= max_connections_) {
          ::close(fd);
          sink_.tcp_connection(false, peer);
          continue;
        }
        Connection c;
        c.fd = fd;
        c.peer = peer;
        connections.push_back(std::move(c));
        sink_.tcp_connection(true, peer);
      }
    }
  }
  for (Connection& c : connections) ::close(c.fd);
}

}  // namespace vigil::collector_statsd
