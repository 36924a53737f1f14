// A tiny blocking HTTP/1.1 client on plain sockets, for the HTTP server's tests only.
//
// It is deliberately independent of Beast so a bug shared by the server and a Beast client
// cannot hide. Every wait is bounded (a test never hangs on a silent server); it understands only
// Content-Length framing, which is all the server sends. It must never be used outside tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace vigil::http::test {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  bool has(const std::string& name) const { return headers.count(name) > 0; }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One connection. Thread-safety: one thread at a time.
class Connection {
 public:
  explicit Connection(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
  }
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void send_raw(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<size_t>(n);
    }
  }

  void send(const std::string& method, const std::string& target, const std::string& body = {},
            const std::string& extra_headers = {}) {
    std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers;
    if (!body.empty() || method == "POST" || method == "PUT") {
      request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    send_raw(request);
  }

  // Reads one response. `head`: the response to a HEAD request carries no body bytes.
  Reply read(bool head = false) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) fill();
    Reply reply;
    const std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
      throw std::runtime_error("bad status line: " + status_line);
    }
    reply.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head_text.find("\r\n", start);
      const std::string line = head_text.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t value_start = colon + 1;
      while (value_start < line.size() && line[value_start] == ' ') ++value_start;
      reply.headers[name] = line.substr(value_start);
    }
    if (!head && reply.has("content-length")) {
      const size_t length = std::stoul(reply.header("content-length"));
      while (buffer_.size() < length) fill();
      reply.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    return reply;
  }

  Reply request(const std::string& method, const std::string& target, const std::string& body = {},
                const std::string& extra_headers = {}) {
    send(method, target, body, extra_headers);
    return read(method == "HEAD");
  }

  // True when the server closed the connection (EOF or reset) within the timeout.
  bool closed_by_server() {
    if (!buffer_.empty()) return false;
    try {
      fill();
    } catch (const std::runtime_error&) {
      return eof_;
    }
    return false;
  }

  // Bytes received but not yet consumed by read().
  const std::string& pending() const { return buffer_; }

 private:
  void fill() {
    pollfd entry{fd_, POLLIN, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(timeout_.count()));
    if (ready <= 0) throw std::runtime_error("timed out waiting for the server");
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      throw std::runtime_error("the server closed the connection");
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  bool eof_ = false;
};

inline Reply fetch(uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body = {}, const std::string& extra_headers = {}) {
  Connection connection(port);
  return connection.request(method, target, body, extra_headers);
}

}  // namespace vigil::http::test
