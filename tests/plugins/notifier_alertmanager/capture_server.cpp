// See capture_server.hpp.
#include "capture_server.hpp"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct CaptureServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<std::thread> sessions;
  std::vector<int> open_fds;
  std::vector<CapturedRequest> seen;
  int status = 200;
  std::string body, retry_after;
  std::chrono::milliseconds delay{0};

  void accept_loop() {
    while (!stopping) {
      tcp::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      if (ec || stopping) return;
      std::lock_guard<std::mutex> lock(mutex);
      open_fds.push_back(socket.native_handle());
      sessions.emplace_back([this, s = std::move(socket)]() mutable { session(std::move(s)); });
    }
  }

  void session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      CapturedRequest c;
      c.method = std::string(req.method_string());
      c.target = std::string(req.target());
      c.body = req.body();
      c.at = std::chrono::steady_clock::now();
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        c.headers[name] = std::string(field.value());
      }
      http::response<http::string_body> res;
      std::chrono::milliseconds wait{0};
      {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(std::move(c));
        res.result(static_cast<unsigned>(status));
        res.body() = body;
        if (!retry_after.empty()) res.set(http::field::retry_after, retry_after);
        wait = delay;
      }
      changed.notify_all();
      const auto until = std::chrono::steady_clock::now() + wait;
      while (!stopping && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      res.version(req.version());
      res.set(http::field::content_type, "application/json");
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    std::lock_guard<std::mutex> lock(mutex);
    open_fds.erase(std::remove(open_fds.begin(), open_fds.end(), socket.native_handle()),
                   open_fds.end());
  }
};

CaptureServer::CaptureServer() : impl_(std::make_unique<Impl>()) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

CaptureServer::~CaptureServer() {
  impl_->stopping = true;
  // shutdown() wakes a thread blocked in accept() or read() on Linux; closing would race.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  std::vector<std::thread> sessions;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
    sessions.swap(impl_->sessions);
  }
  for (std::thread& t : sessions) t.join();
}

std::string CaptureServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void CaptureServer::answer(int status, const std::string& body, const std::string& retry_after) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->status = status;
  impl_->body = body;
  impl_->retry_after = retry_after;
}

void CaptureServer::delay(std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->delay = d;
}

std::vector<CapturedRequest> CaptureServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen;
}

bool CaptureServer::wait_for(const std::function<bool(const std::vector<CapturedRequest>&)>& done,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return done(impl_->seen); });
}

}  // namespace vigil::testing
