// A tiny HTTP/1.1 server for collector_prometheus_scrape's tests: serves fixed bodies per path
// (an exposition, a 500, a response slower than the scrape timeout, gzip when the client asks
// for it) on 127.0.0.1 and a port the kernel picks, and remembers the last request's headers.
//
// A test fixture: it must never listen beyond loopback, and never outlive its test (the
// destructor stops the accept loop, wakes slow handlers and joins every thread).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vigil::testing {

struct Route {
  int status = 200;
  std::string body;
  std::chrono::milliseconds delay{0};  // before answering
  bool gzip_when_accepted = false;
};

// Thread-safety: set(), last_header() and requests() may be called from any thread.
class MetricsServer {
 public:
  MetricsServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~MetricsServer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    accept_thread_.join();
    std::vector<std::thread> handlers;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handlers.swap(handlers_);
    }
    for (std::thread& t : handlers) t.join();
    ::close(fd_);
  }
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void set(const std::string& path, Route route) {
    std::lock_guard<std::mutex> lock(mutex_);
    routes_[path] = std::move(route);
  }
  // A header of the last request to `path` (name lower-cased), or "" when absent.
  std::string last_header(const std::string& path, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = last_headers_.find(path);
    if (it == last_headers_.end()) return "";
    auto h = it->second.find(name);
    return h == it->second.end() ? "" : h->second;
  }
  int requests() const { return requests_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      handlers_.emplace_back([this, client] { handle(client); });
    }
  }

  void handle(int client) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::read(client, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    ++requests_;
    std::string line = request.substr(0, request.find("\r\n"));
    std::string path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    std::map<std::string, std::string> headers;
    size_t pos = request.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = request.find("\r\n", pos + 2);
      std::string h = request.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string name = h.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        headers[name] = value;
      }
      pos = next;
    }
    Route route;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_headers_[path] = headers;
      auto it = routes_.find(path);
      if (it != routes_.end()) {
        route = it->second;
        found = true;
      }
    }
    if (!found) {
      route.status = 404;
      route.body = "no route " + path + "\n";
    }
    if (route.delay.count() > 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, route.delay, [this] { return stopping_; });
    }
    std::string body = route.body;
    std::string extra;
    if (route.gzip_when_accepted && headers["accept-encoding"].find("gzip") != std::string::npos) {
      body = gzip(body);
      extra = "Content-Encoding: gzip\r\n";
    }
    std::string response =
        "HTTP/1.1 " + std::to_string(route.status) + (route.status == 200 ? " OK" : " Error") +
        "\r\nContent-Type: text/plain; version=0.0.4\r\n" + extra +
        "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::close(client);
  }

  static std::string gzip(const std::string& in) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, in.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<std::thread> handlers_;
  std::map<std::string, Route> routes_;
  std::map<std::string, std::map<std::string, std::string>> last_headers_;
  std::atomic<int> requests_{0};
};

}  // namespace vigil::testing
