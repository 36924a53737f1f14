// Bearer-token checks for the alerting API (see api_auth.hpp).
#include "core/api_auth.hpp"

#include <nlohmann/json.hpp>

namespace vigil::core {
namespace {

Role parse_role(const std::string& text) {
  if (text == "admin") return Role::admin;
  if (text == "operate") return Role::operate;
  if (text == "read") return Role::read;
  return Role::none;
}

// Compares every byte whatever the first difference, so timing does not leak a prefix.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

void refuse(http::Response& response, int status, const std::string& message) {
  response.set_status(status);
  response.set_header("Content-Type", "application/json");
  if (status == 401) response.set_header("WWW-Authenticate", "Bearer realm=\"vigil\"");
  response.write(nlohmann::json{{"error", message}}.dump());
}

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::admin:
      return "admin";
    case Role::operate:
      return "operate";
    case Role::read:
      return "read";
    case Role::none:
      break;
  }
  return "none";
}

bool ApiAuth::authorize(const http::Request& request, Role needed, http::Response& response,
                        Caller& caller) const {
  caller = Caller{};
  const std::string* header = request.header("Authorization");
  if (header) {
    const std::string prefix = "Bearer ";
    if (header->compare(0, prefix.size(), prefix) != 0) {
      refuse(response, 401, "found an Authorization header that is not \"Bearer <token>\"");
      return false;
    }
    const std::string token = header->substr(prefix.size());
    const config::ApiToken* match = nullptr;
    for (const auto& t : config_.tokens) {
      if (same_secret(token, t.token)) match = &t;
    }
    if (!match) {
      refuse(response, 401, "unknown token, expected one listed in the config's api.tokens");
      return false;
    }
    caller.role = parse_role(match->role);
    caller.name = match->name;
  } else if (needed == Role::read && config_.open_reads) {
    caller.role = Role::read;
    return true;
  } else {
    refuse(response, 401,
           std::string("this needs a token with role ") + role_name(needed) +
               " or higher: send \"Authorization: Bearer <token>\" (vigil CLI: --token-file)");
    return false;
  }
  if (caller.role < needed) {
    refuse(response, 403,
           "token " + caller.name + " has role " + role_name(caller.role) + ", this needs " +
               role_name(needed) + " or higher");
    return false;
  }
  return true;
}

}  // namespace vigil::core
