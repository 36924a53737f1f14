// The client side of the alerting API, for `vigil alerts`, `vigil ack`, `vigil silence` and
// friends: one synchronous HTTP/1.1 request to a running host on Boost.Beast.
//
// Kept tiny on purpose: the CLI makes one request per run, so no pooling, no redirects, no TLS
// (the API listens on loopback by default; put a TLS proxy in front for anything else). It must
// never hang: every request has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace vigil::core {

struct ApiTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 9180;
  std::string token;  // sent as "Authorization: Bearer <token>" when not empty
  std::chrono::milliseconds timeout{10000};
};

// "http://host:port" (path ignored) into host and port; nullopt with `error` when malformed.
std::optional<ApiTarget> parse_api_url(const std::string& url, std::string& error);

struct ApiReply {
  int status = 0;
  std::string body;
};

// One request. False with `error` ("cannot connect to 127.0.0.1:9180: Connection refused") when
// no HTTP answer came back; any HTTP status is a reply.
bool api_request(const ApiTarget& target, const std::string& method, const std::string& path,
                 const std::string& body, ApiReply& reply, std::string& error);

}  // namespace vigil::core
