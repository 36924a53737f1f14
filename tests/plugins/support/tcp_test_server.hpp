// Real TCP listeners on 127.0.0.1 (or ::1) and a port the kernel picks, for check_tcp's and
// check_redis' tests: each accepted connection is handed to a function of the test's choosing
// (send a banner, answer a PING, stay silent), one at a time, on the server's own thread.
//
// Test fixtures: they must never listen beyond loopback and never outlive the test (the
// destructor wakes and joins the thread, and closes every socket).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "loopback.hpp"

namespace vigil::testing {

// Thread-safety: received() may be read from the test's thread while the server runs.
class TcpTestServer {
 public:
  // fd: the accepted connection; wake: becomes readable when the server is stopping.
  using Handler = std::function<void(TcpTestServer& self, int fd, int wake)>;

  explicit TcpTestServer(Handler handler, bool accept_connections = true, bool ipv6 = false)
      : handler_(std::move(handler)), ipv6_(ipv6) {
    listen_fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    if (ipv6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      bound_ = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      socklen_t len = sizeof a;
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin6_port);
    } else {
      sockaddr_in a = loopback_address(0);
      bound_ = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      socklen_t len = sizeof a;
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    }
    if (!bound_) return;
    REQUIRE(::listen(listen_fd_, 16) == 0);
    REQUIRE(::pipe2(wake_, O_CLOEXEC) == 0);
    // Without accepting, the kernel still completes connections into the backlog: a service
    // that is up but never answers.
    if (accept_connections) thread_ = std::thread([this] { run(); });
  }

  ~TcpTestServer() {
    if (wake_[1] >= 0) {
      char c = 'x';
      (void)!::write(wake_[1], &c, 1);
    }
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
    if (wake_[0] >= 0) ::close(wake_[0]);
    if (wake_[1] >= 0) ::close(wake_[1]);
  }
  TcpTestServer(const TcpTestServer&) = delete;
  TcpTestServer& operator=(const TcpTestServer&) = delete;

  bool bound() const { return bound_; }
  uint16_t port() const { return port_; }
  // "127.0.0.1:<port>" or "[::1]:<port>".
  std::string address() const { return (ipv6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_); }
  // Everything read from clients so far (by handlers that use read_until()).
  std::string received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

  // Reads into received() until `text` arrived (true), the peer closed or the server stops.
  bool read_until(int fd, int wake, const std::string& text) {
    std::string mine;
    char buf[1024];
    for (;;) {
      if (!text.empty() && mine.find(text) != std::string::npos) return true;
      pollfd p[2] = {{fd, POLLIN, 0}, {wake, POLLIN, 0}};
      if (::poll(p, 2, -1) <= 0 || (p[1].revents & POLLIN)) return false;
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      mine.append(buf, static_cast<std::size_t>(n));
      std::lock_guard<std::mutex> lock(mutex_);
      received_.append(buf, static_cast<std::size_t>(n));
    }
  }

  static void write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  void run() {
    for (;;) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) <= 0 || (p[1].revents & POLLIN)) return;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handler_(*this, fd, wake_[0]);
      ::close(fd);
    }
  }

  Handler handler_;
  bool ipv6_ = false;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  bool bound_ = false;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::string received_;
};

// Handlers for the usual cases.
inline TcpTestServer::Handler banner(std::string text, bool close_after) {
  return [text, close_after](TcpTestServer& self, int fd, int wake) {
    TcpTestServer::write_all(fd, text);
    if (!close_after) self.read_until(fd, wake, "");
  };
}
inline TcpTestServer::Handler reply_to(std::string request, std::string reply) {
  return [request, reply](TcpTestServer& self, int fd, int wake) {
    if (self.read_until(fd, wake, request)) TcpTestServer::write_all(fd, reply);
    self.read_until(fd, wake, "");
  };
}
inline TcpTestServer::Handler silent() {
  return [](TcpTestServer& self, int fd, int wake) { self.read_until(fd, wake, ""); };
}

}  // namespace vigil::testing
