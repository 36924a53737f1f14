// See http_test_server.hpp. One thread accepts and one thread serves each connection (curl
// keeps its connection open between requests, and may open more); shutdown() wakes a thread
// blocked in accept(), read() or write(), and a condition variable wakes one waiting out a
// delay or a hang.
#include <utility>

#include "http_test_server.hpp"

#include <sys/socket.h>
#include <zlib.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// `text` gzip-encoded; "" when zlib fails.
std::string gzip(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return "";
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const bool done = deflate(&z, Z_FINISH) == Z_STREAM_END;
  out.resize(z.total_out);
  deflateEnd(&z);
  return done ? out : "";
}

SeenRequest seen_request(const http::request<http::string_body>& req) {
  SeenRequest seen;
  seen.arrived = std::chrono::steady_clock::now();
  seen.arrived_wall = std::chrono::system_clock::now();
  seen.method = std::string(req.method_string());
  seen.target = std::string(req.target());
  seen.body = req.body();
  for (const auto& field : req) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    seen.headers[name] = std::string(field.value());
  }
  return seen;
}

}  // namespace

std::string SeenRequest::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

nlohmann::json SeenRequest::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

Reply Reply::after(std::chrono::milliseconds delay) {
  Reply r;
  r.delay = delay;
  return r;
}

Reply Reply::never() {
  Reply r;
  r.hang = true;
  return r;
}

Handler always(Reply reply) {
  return [reply = std::move(reply)](const SeenRequest&) { return reply; };
}

Handler test_routes() {
  return [](const SeenRequest& req) {
    Reply res;
    const std::string& target = req.target;
    if (target == "/ok") {
      res.body = "hello from the test server";
    } else if (starts_with(target, "/status/")) {
      res.status = std::atoi(target.c_str() + 8);
      res.body = "status " + std::to_string(res.status);
    } else if (starts_with(target, "/retry-after/")) {
      res.status = 429;
      res.headers["Retry-After"] = target.substr(13);
      res.body = "slow down";
    } else if (starts_with(target, "/slow/")) {
      res.delay = std::chrono::milliseconds(std::atoi(target.c_str() + 6));
      res.body = "slow";
    } else if (target == "/echo") {
      res.body =
          "method=" + req.method + "\nbody=" + req.body + "\nx-test=" + req.header("x-test") + "\n";
    } else if (target == "/redirect") {
      res.status = 302;
      res.headers["Location"] = "/ok";
      res.body = "moved";
    } else if (starts_with(target, "/big/")) {
      res.body = std::string(static_cast<std::size_t>(std::atoll(target.c_str() + 5)), 'x');
    } else if (target == "/gzip") {
      std::string text;
      for (int i = 0; i < 200; ++i) text += "compressed line " + std::to_string(i) + "\n";
      if (req.header("accept-encoding").find("gzip") != std::string::npos) {
        res.headers["Content-Encoding"] = "gzip";
        res.body = gzip(text);
      } else {
        res.body = text;
      }
    } else {
      res.status = 404;
      res.body = "no route " + target;
    }
    return res;
  };
}

struct HttpTestServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::thread accept_thread;

  // Serialises the handler's calls and the recording that goes with each.
  std::mutex handler_mutex;
  Handler handler;

  // Guards everything below; `changed` is signalled at each record and at the stop.
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  bool stopping = false;
  std::vector<std::shared_ptr<tcp::socket>> open_sockets;
  std::vector<std::thread> sessions;
  std::vector<SeenRequest> seen;
  int connections = 0;

  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io);
      beast::error_code ec;
      acceptor.accept(*socket, ec);
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return;
      if (ec) continue;  // a connection reset before it was accepted; keep serving
      ++connections;
      open_sockets.push_back(socket);
      sessions.emplace_back([this, socket] { serve(*socket); });
    }
  }

  // Waits `how_long`, waking early when the server stops; false when it stopped.
  bool pause(std::chrono::milliseconds how_long) {
    std::unique_lock<std::mutex> lock(mutex);
    return !changed.wait_for(lock, how_long, [this] { return stopping; });
  }

  void wait_for_stop() {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [this] { return stopping; });
  }

  Reply answer_to(const SeenRequest& request) {
    std::lock_guard<std::mutex> serial(handler_mutex);
    {
      std::lock_guard<std::mutex> lock(mutex);
      seen.push_back(request);
    }
    changed.notify_all();
    try {
      return handler(request);
    } catch (const std::exception& e) {
      Reply failed;
      failed.status = 500;
      failed.body = std::string("the test's handler threw: ") + e.what();
      return failed;
    }
  }

  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      const Reply reply = answer_to(seen_request(req));
      if (reply.hang) {
        wait_for_stop();
        break;
      }
      if (reply.delay.count() > 0 && !pause(reply.delay)) break;
      http::response<http::string_body> res;
      res.version(req.version());
      res.result(static_cast<unsigned>(reply.status));
      if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
      for (const auto& [name, value] : reply.headers) res.set(name, value);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    std::lock_guard<std::mutex> lock(mutex);
    // The socket closes when this thread lets go of it, after it left the list the destructor
    // shuts down: the destructor never touches a closed descriptor another socket now holds.
    open_sockets.erase(std::remove_if(open_sockets.begin(), open_sockets.end(),
                                      [&](const auto& s) { return s.get() == &socket; }),
                       open_sockets.end());
  }
};

HttpTestServer::HttpTestServer() : HttpTestServer(test_routes()) {}

HttpTestServer::HttpTestServer(Handler handler, uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

HttpTestServer::~HttpTestServer() {
  std::vector<std::thread> sessions;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    // shutdown() wakes a thread blocked in accept(), read() or write(); close() would race.
    ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
    beast::error_code ignored;
    for (const auto& socket : impl_->open_sockets)
      socket->shutdown(tcp::socket::shutdown_both, ignored);
  }
  impl_->changed.notify_all();
  impl_->accept_thread.join();
  {
    // No session starts once stopping is set, so the list is complete.
    std::lock_guard<std::mutex> lock(impl_->mutex);
    sessions.swap(impl_->sessions);
  }
  for (std::thread& t : sessions) t.join();
}

uint16_t HttpTestServer::port() const {
  return impl_->port;
}

std::string HttpTestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + path;
}

void HttpTestServer::set_handler(Handler handler) {
  std::lock_guard<std::mutex> serial(impl_->handler_mutex);
  impl_->handler = std::move(handler);
}

std::vector<SeenRequest> HttpTestServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen;
}

std::size_t HttpTestServer::count() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen.size();
}

SeenRequest HttpTestServer::last_request() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen.empty() ? SeenRequest{} : impl_->seen.back();
}

void HttpTestServer::clear() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->seen.clear();
}

int HttpTestServer::connections() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->connections;
}

bool HttpTestServer::wait_until(const std::function<bool(const std::vector<SeenRequest>&)>& done,
                                std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return done(impl_->seen); });
}

bool HttpTestServer::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  return wait_until([n](const std::vector<SeenRequest>& seen) { return seen.size() >= n; },
                    timeout);
}

}  // namespace vigil::testing
