// See sms_gateway.hpp. Built like the shared HttpTestServer (Boost.Beast, a thread per
// connection, shutdown() to wake blocked threads at the end).
#include "sms_gateway.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <thread>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::vector<std::pair<std::string, std::string>> parse_form(const std::string& body) {
  auto decode = [](const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out += ' ';
      } else if (text[i] == '%' && i + 2 < text.size()) {
        out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    out.emplace_back(decode(pair.substr(0, eq)),
                     eq == std::string::npos ? "" : decode(pair.substr(eq + 1)));
    start = end + 1;
  }
  return out;
}

struct SmsGateway::Impl {
  std::string to_field;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  mutable std::mutex mutex;
  std::vector<std::thread> sessions;
  std::vector<int> open_fds;
  std::vector<GatewayRequest> seen;
  std::map<std::string, std::pair<int, std::string>> answers;  // recipient: status, Retry-After
  int counter = 0;

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

  std::string recipient_of(const GatewayRequest& r) const {
    auto type = r.headers.find("content-type");
    if (type != r.headers.end() && type->second.find("json") != std::string::npos) {
      auto body = nlohmann::json::parse(r.body, nullptr, false);
      if (body.is_object() && body.contains(to_field) && body[to_field].is_string())
        return body[to_field];
      return "";
    }
    for (const auto& [name, value] : parse_form(r.body))
      if (name == to_field) return value;
    return "";
  }

  void session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      GatewayRequest r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      r.body = req.body();
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers[name] = std::string(field.value());
      }
      r.recipient = recipient_of(r);
      http::response<http::string_body> res;
      res.version(req.version());
      res.set(http::field::content_type, "application/json");
      {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(r);
        auto answer = answers.find(r.recipient);
        if (answer == answers.end()) {
          res.result(201);
          res.body() = nlohmann::json{
              {"sid", "SM" + std::to_string(++counter)},
              {"to", r.recipient},
              {"status",
               "queued"}}.dump();
        } else {
          res.result(static_cast<unsigned>(answer->second.first));
          if (!answer->second.second.empty())
            res.set(http::field::retry_after, answer->second.second);
          res.body() =
              nlohmann::json{{"code", answer->second.first}, {"message", "refused by the test"}}
                  .dump();
        }
      }
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

SmsGateway::SmsGateway(std::string to_field) : impl_(std::make_unique<Impl>()) {
  impl_->to_field = std::move(to_field);
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

SmsGateway::~SmsGateway() {
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

std::string SmsGateway::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(impl_->acceptor.local_endpoint().port()) + path;
}

void SmsGateway::answer(const std::string& recipient, int status, const std::string& retry_after) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (status >= 200 && status < 300)
    impl_->answers.erase(recipient);
  else
    impl_->answers[recipient] = {status, retry_after};
}

std::vector<GatewayRequest> SmsGateway::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->seen;
}

std::vector<std::string> SmsGateway::recipients() const {
  std::vector<std::string> out;
  for (const GatewayRequest& r : requests()) out.push_back(r.recipient);
  return out;
}

void SmsGateway::clear() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->seen.clear();
}

}  // namespace vigil::testing
