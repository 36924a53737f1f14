// See events_server.hpp. One thread accepts, one thread serves each connection (curl keeps its
// connection open between events, and may open another).
#include "events_server.hpp"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct EventsServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  mutable std::mutex mutex;
  std::vector<std::thread> sessions;
  std::vector<int> open_fds;
  std::vector<nlohmann::json> events;
  std::map<std::string, unsigned> failures;

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
      http::response<http::string_body> res = handle(req);
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

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::content_type, "application/json");
    nlohmann::json event = nlohmann::json::parse(req.body(), nullptr, false);
    std::string key =
        event.is_object() && event.contains("dedup_key") && event["dedup_key"].is_string()
            ? event["dedup_key"].get<std::string>()
            : std::string();
    unsigned status = 202;
    {
      std::lock_guard<std::mutex> lock(mutex);
      events.push_back(event);
      if (auto it = failures.find(key); it != failures.end()) status = it->second;
    }
    res.result(status);
    if (status == 202) {
      res.body() =
          nlohmann::json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", key}}
              .dump();
    } else if (status == 400) {
      res.body() = nlohmann::json{{"status", "invalid event"},
                                  {"message", "Event object is invalid"},
                                  {"errors", {"'payload.summary' is missing or blank"}}}
                       .dump();
    } else {
      res.set(http::field::content_type, "text/plain");
      res.body() = "status " + std::to_string(status);
    }
    return res;
  }
};

EventsServer::EventsServer() : impl_(std::make_unique<Impl>()) {
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

EventsServer::~EventsServer() {
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

std::string EventsServer::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v2/enqueue";
}

void EventsServer::fail(const std::string& dedup_key, unsigned status) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->failures[dedup_key] = status;
}

void EventsServer::clear_failures() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->failures.clear();
}

std::vector<nlohmann::json> EventsServer::events() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->events;
}

void EventsServer::clear_events() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->events.clear();
}

}  // namespace vigil::testing
