// Who may call the alerting API: bearer tokens with roles (read < operate < admin) from the
// config. Reads may be open (api.open_reads); anything that changes state needs a token whose
// role allows it.
//
// Tokens are compared in constant time, and a refusal never says which tokens exist.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"

#include <string>

namespace vigil::core {

enum class Role { none = 0, read = 1, operate = 2, admin = 3 };
const char* role_name(Role role);

struct Caller {
  Role role = Role::none;
  std::string name;  // the token's name, for the history ("ack by alice via token ops")
};

// Thread-safety: immutable after construction; authorize() may run on any handler thread.
class ApiAuth {
 public:
  explicit ApiAuth(config::ApiConfig config) : config_(std::move(config)) {}
  // True when the request may proceed with `needed`; otherwise sets 401 (no or unknown token) or
  // 403 (a token whose role is too low) on `response` with a JSON error, and returns false.
  bool authorize(const http::Request& request, Role needed, http::Response& response,
                 Caller& caller) const;

 private:
  config::ApiConfig config_;
};

}  // namespace vigil::core
