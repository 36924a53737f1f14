// One synchronous HTTP request to a running vigil (see api_client.hpp).
#include "core/api_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace vigil::core {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

std::optional<ApiTarget> parse_api_url(const std::string& url, std::string& error) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.find("://") != std::string::npos) {
    error = "--url: found \"" + url + "\", expected http://HOST:PORT (the API speaks plain HTTP)";
    return std::nullopt;
  }
  rest = rest.substr(0, rest.find('/'));
  ApiTarget target;
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || rest.empty() || rest.back() == ']') {
    target.host = rest;
  } else {
    target.host = rest.substr(0, colon);
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long n = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || n < 1 || n > 65535) {
      error = "--url: found port \"" + port + "\" in \"" + url + "\", expected 1 to 65535";
      return std::nullopt;
    }
    target.port = static_cast<uint16_t>(n);
  }
  if (target.host.size() > 2 && target.host.front() == '[' && target.host.back() == ']')
    target.host = target.host.substr(1, target.host.size() - 2);
  if (target.host.empty()) {
    error = "--url: found \"" + url + "\", expected http://HOST:PORT";
    return std::nullopt;
  }
  return target;
}

bool api_request(const ApiTarget& target, const std::string& method, const std::string& path,
                 const std::string& body, ApiReply& reply, std::string& error) {
  const std::string where = target.host + ":" + std::to_string(target.port);
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(target.timeout);
    beast::error_code ec;
    auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
    if (ec) {
      error = "cannot resolve " + target.host + ": " + ec.message();
      return false;
    }
    stream.connect(endpoints, ec);
    if (ec) {
      error = "cannot connect to " + where + ": " + ec.message() +
              " (is vigil running there with alerting on? see --url)";
      return false;
    }
    http::request<http::string_body> request{http::string_to_verb(method), path, 11};
    request.set(http::field::host, target.host);
    request.set(http::field::user_agent, "vigil-cli/" VIGIL_VERSION);
    request.set(http::field::accept, "application/json");
    if (!target.token.empty()) request.set(http::field::authorization, "Bearer " + target.token);
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request, ec);
    if (ec) {
      error = "cannot send to " + where + ": " + ec.message();
      return false;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response, ec);
    if (ec) {
      error = "no answer from " + where + ": " + ec.message();
      return false;
    }
    reply.status = static_cast<int>(response.result_int());
    reply.body = std::move(response.body());
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return true;
  } catch (const std::exception& e) {
    error = "request to " + where + " failed: " + e.what();
    return false;
  }
}

}  // namespace vigil::core
