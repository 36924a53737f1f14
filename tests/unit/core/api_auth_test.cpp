// Bearer tokens and roles on the alerting API: who gets in, and what a refusal says.
#include "core/api_auth.hpp"

#include <catch2/catch.hpp>

using vigil::core::ApiAuth;
using vigil::core::Caller;
using vigil::core::Role;

namespace {

vigil::config::ApiConfig config(bool open_reads) {
  vigil::config::ApiConfig c;
  c.open_reads = open_reads;
  c.tokens.push_back({"api.tokens[0]", "alice", "alice-secret-0123456789", "operate"});
  c.tokens.push_back({"api.tokens[1]", "viewer", "viewer-secret-0123456789", "read"});
  c.tokens.push_back({"api.tokens[2]", "root", "root-secret-0123456789ab", "admin"});
  return c;
}

vigil::http::Request with_token(const std::string& token) {
  return vigil::http::Request("POST", "/api/v1/alerts/ack", {{"Authorization", "Bearer " + token}});
}

}  // namespace

TEST_CASE("a token's role decides what it may do") {
  ApiAuth auth(config(false));
  Caller caller;
  vigil::http::Response r1, r2, r3, r4;
  CHECK(auth.authorize(with_token("alice-secret-0123456789"), Role::operate, r1, caller));
  CHECK(caller.name == "alice");
  CHECK_FALSE(auth.authorize(with_token("alice-secret-0123456789"), Role::admin, r2, caller));
  CHECK(r2.status() == 403);
  CHECK(r2.body() == R"({"error":"token alice has role operate, this needs admin or higher"})");
  CHECK(auth.authorize(with_token("root-secret-0123456789ab"), Role::admin, r3, caller));
  CHECK_FALSE(auth.authorize(with_token("viewer-secret-0123456789"), Role::operate, r4, caller));
  CHECK(r4.status() == 403);
}

TEST_CASE("no token: reads follow open_reads, changes are refused with 401") {
  vigil::http::Request bare("GET", "/api/v1/alerts");
  Caller caller;
  vigil::http::Response r1, r2, r3;
  CHECK(ApiAuth(config(true)).authorize(bare, Role::read, r1, caller));
  CHECK(caller.role == Role::read);
  CHECK_FALSE(ApiAuth(config(false)).authorize(bare, Role::read, r2, caller));
  CHECK(r2.status() == 401);
  CHECK(r2.header("WWW-Authenticate") != nullptr);
  CHECK_FALSE(ApiAuth(config(true)).authorize(bare, Role::operate, r3, caller));
  CHECK(r3.status() == 401);
  CHECK(r3.body().find("needs a token with role operate") != std::string::npos);
}

TEST_CASE("an unknown or malformed token is refused without naming any real token") {
  ApiAuth auth(config(true));
  Caller caller;
  vigil::http::Response r1, r2;
  CHECK_FALSE(auth.authorize(with_token("alice-secret-012345678"), Role::read, r1, caller));
  CHECK(r1.status() == 401);
  CHECK(r1.body().find("alice") == std::string::npos);
  vigil::http::Request basic("GET", "/api/v1/alerts", {{"Authorization", "Basic YWxpY2U6eA=="}});
  CHECK_FALSE(auth.authorize(basic, Role::read, r2, caller));
  CHECK(r2.status() == 401);
}
