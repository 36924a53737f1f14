// See capture_server.hpp.
#include "capture_server.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string CapturedRequest::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

nlohmann::json CapturedRequest::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

CaptureServer::CaptureServer(uint16_t port) : acceptor_(io_) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

CaptureServer::~CaptureServer() {
  boost::system::error_code ec;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // A blocked accept() wakes on shutdown(), not on close().
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    for (auto& socket : sockets_) socket->shutdown(tcp::socket::shutdown_both, ec);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  acceptor_.close(ec);
  for (auto& t : connections_)
    if (t.joinable()) t.join();
}

uint16_t CaptureServer::free_port() {
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint().port();
}

std::string CaptureServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void CaptureServer::set_reply(Reply reply) {
  std::lock_guard lock(mutex_);
  default_reply_ = std::move(reply);
}

void CaptureServer::queue_replies(std::vector<Reply> replies) {
  std::lock_guard lock(mutex_);
  queued_.insert(queued_.end(), replies.begin(), replies.end());
}

std::vector<CapturedRequest> CaptureServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t CaptureServer::count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

bool CaptureServer::wait_until(const std::function<bool(const std::vector<CapturedRequest>&)>& done,
                               std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done(requests())) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done(requests());
}

bool CaptureServer::wait_for_count(size_t n, std::chrono::milliseconds timeout) const {
  return wait_until([n](const auto& seen) { return seen.size() >= n; }, timeout);
}

void CaptureServer::accept_loop() {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(io_);
    boost::system::error_code ec;
    acceptor_.accept(*socket, ec);
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (ec) continue;  // a connection reset before it was accepted; keep serving
    sockets_.push_back(socket);
    connections_.emplace_back([this, socket] { serve(socket); });
  }
}

Reply CaptureServer::next_reply() {
  std::lock_guard lock(mutex_);
  if (queued_.empty()) return default_reply_;
  Reply reply = std::move(queued_.front());
  queued_.pop_front();
  return reply;
}

bool CaptureServer::pause(std::chrono::milliseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  while (!stopping_) {
    if (std::chrono::steady_clock::now() >= until) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

void CaptureServer::serve(const std::shared_ptr<tcp::socket>& socket) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(*socket, buffer, request, ec);
    if (ec) return;
    CapturedRequest seen;
    seen.arrived = std::chrono::steady_clock::now();
    seen.arrived_wall = std::chrono::system_clock::now();
    seen.method = std::string(request.method_string());
    seen.target = std::string(request.target());
    seen.body = request.body();
    for (const auto& field : request)
      seen.headers[lower(std::string(field.name_string()))] = std::string(field.value());
    // The answer is chosen, and the request recorded, before any delay: the arrival is what a
    // test compares, whatever the receiver then does.
    const Reply reply = next_reply();
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(seen));
    }
    if (reply.hang) {
      pause(std::chrono::hours(24));
      return;
    }
    if (reply.delay.count() > 0 && !pause(reply.delay)) return;
    http::response<http::string_body> response{static_cast<http::status>(reply.status),
                                               request.version()};
    response.set(http::field::content_type, "text/plain");
    if (!reply.retry_after.empty()) response.set(http::field::retry_after, reply.retry_after);
    response.body() = "status " + std::to_string(reply.status);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    http::write(*socket, response, ec);
    if (ec || !request.keep_alive()) return;
  }
}

}  // namespace vigil::testing
