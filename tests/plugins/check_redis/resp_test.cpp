// check_redis' protocol layer against fixed bytes: RESP2 replies whole, split and malformed,
// INFO text captured from a real Redis 7.0 master and replica (fixtures/), and the address forms
// the "address" option accepts.
#include "resp.hpp"
#include "redis_connection.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "files.hpp"

using namespace vigil::check_redis;
using Catch::Contains;
using vigil::testing::read_fixture;

namespace {

// INFO as the server sends it: CRLF line ends.
std::string with_crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

Reply parse_ok(const std::string& bytes, std::size_t expect_used) {
  Reply r;
  std::size_t used = 0;
  std::string error;
  INFO(error);
  REQUIRE(parse_reply(bytes, r, used, error) == ParseStatus::complete);
  CHECK(used == expect_used);
  return r;
}

std::string parse_error(const std::string& bytes) {
  Reply r;
  std::size_t used = 0;
  std::string error;
  REQUIRE(parse_reply(bytes, r, used, error) == ParseStatus::malformed);
  return error;
}

}  // namespace

TEST_CASE("commands are encoded as RESP arrays of bulk strings, binary-safe") {
  CHECK(encode_command({"PING"}) == "*1\r\n$4\r\nPING\r\n");
  CHECK(encode_command({"AUTH", "alice", "p w\r\n"}) ==
        "*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$5\r\np w\r\n\r\n");
}

TEST_CASE("each RESP2 reply type decodes, and says how many bytes it used") {
  Reply r = parse_ok("+PONG\r\n", 7);
  CHECK(r.type == Reply::Type::simple);
  CHECK(r.text == "PONG");

  r = parse_ok("-NOAUTH Authentication required.\r\n+extra", 34);
  CHECK(r.type == Reply::Type::error);
  CHECK(describe(r) == "NOAUTH Authentication required.");

  r = parse_ok(":-42\r\n", 6);
  CHECK(r.type == Reply::Type::integer);
  CHECK(r.integer == -42);

  r = parse_ok("$5\r\na\r\nbc\r\n", 11);
  CHECK(r.type == Reply::Type::bulk);
  CHECK(r.text == "a\r\nbc");

  CHECK(parse_ok("$-1\r\n", 5).type == Reply::Type::nil);
  CHECK(parse_ok("$0\r\n\r\n", 6).text.empty());

  r = parse_ok("*3\r\n:1\r\n$3\r\nfoo\r\n*1\r\n+x\r\n", 25);
  REQUIRE(r.type == Reply::Type::array);
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[1].text == "foo");
  CHECK(r.elements[2].elements[0].text == "x");
}

TEST_CASE("a reply cut anywhere is incomplete, never malformed") {
  const std::string whole = "*2\r\n$11\r\nhello world\r\n:7\r\n";
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    Reply r;
    std::size_t used = 0;
    std::string error;
    INFO("cut at " << cut);
    CHECK(parse_reply(whole.substr(0, cut), r, used, error) == ParseStatus::incomplete);
  }
  CHECK(parse_ok(whole, whole.size()).elements[0].text == "hello world");
}

TEST_CASE("bytes that are not RESP are refused with what was found and what was expected") {
  CHECK_THAT(parse_error("HTTP/1.1 400 Bad Request\r\n\r\n"),
             Contains("expected a Redis (RESP) reply starting with +, -, :, $ or *") &&
                 Contains("found \"HTTP/1.1 400 Bad Request\""));
  CHECK_THAT(parse_error("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), Contains("\"SSH-2.0-OpenSSH"));
  CHECK_THAT(parse_error(":12x\r\n"), Contains("expected an integer after ':'") && Contains("12x"));
  CHECK_THAT(parse_error("$abc\r\n"), Contains("expected a bulk string length"));
  CHECK_THAT(parse_error("$3\r\nabcd\r\n"), Contains("expected CRLF after a bulk string of 3"));
  CHECK_THAT(parse_error("*-2\r\n"), Contains("expected an array length"));
  // A peer claiming a huge bulk string is refused before anything is allocated for it.
  CHECK_THAT(parse_error("$99999999999\r\n"), Contains("from -1 to 67108864"));
  CHECK_THAT(parse_error("$" + std::string(80, '9')), Contains("expected a RESP length line"));
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "*1\r\n";
  CHECK_THAT(parse_error(deep + ":1\r\n"), Contains("nested deeper than 8"));
  // Control bytes are not copied into a message as they are.
  CHECK_THAT(parse_error(std::string("\x16\x03\x01\x02", 4)), Contains("found \"????\""));
}

TEST_CASE("INFO from a real master gives the fields the check reads") {
  for (const std::string& text :
       {read_fixture("info_master.txt"), with_crlf(read_fixture("info_master.txt"))}) {
    auto info = parse_info(text);
    CHECK(info.at("redis_version") == "7.0.15");
    CHECK(info.at("redis_mode") == "standalone");
    CHECK(info.at("role") == "master");
    CHECK(info.at("connected_clients") == "1");
    CHECK(info.at("used_memory") == "1013896");
    CHECK(info.at("maxmemory") == "0");
    CHECK(info.at("connected_slaves") == "1");
    // Values that hold ':' and ',' keep them whole.
    CHECK(info.at("slave0") == "ip=127.0.0.1,port=36380,state=online,offset=0,lag=1");
    CHECK(info.count("# Server") == 0);
    CHECK(info.count("master_link_status") == 0);
  }
}

TEST_CASE("INFO from a replica gives its master and the link's state") {
  auto up = parse_info(read_fixture("info_replica.txt"));
  CHECK(up.at("role") == "slave");
  CHECK(up.at("master_host") == "127.0.0.1");
  CHECK(up.at("master_port") == "36379");
  CHECK(up.at("master_link_status") == "up");

  auto down = parse_info(with_crlf(read_fixture("info_replica_down.txt")));
  CHECK(down.at("master_link_status") == "down");
  CHECK(down.at("master_link_down_since_seconds") == "0");
}

TEST_CASE("the address option takes host:port, [ipv6]:port, a bare host and socket paths") {
  Address a;
  std::string error;
  REQUIRE(parse_address("127.0.0.1:6380", a, error));
  CHECK_FALSE(a.unix_socket);
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == "6380");
  CHECK(a.text() == "127.0.0.1:6380");

  REQUIRE(parse_address("cache.internal", a, error));
  CHECK(a.text() == "cache.internal:6379");

  REQUIRE(parse_address("[::1]:7000", a, error));
  CHECK(a.host == "::1");
  CHECK(a.text() == "[::1]:7000");

  REQUIRE(parse_address("/run/redis/redis.sock", a, error));
  CHECK(a.unix_socket);
  CHECK(a.text() == "/run/redis/redis.sock");
  REQUIRE(parse_address("unix:/tmp/r.sock", a, error));
  CHECK(a.path == "/tmp/r.sock");

  CHECK_FALSE(parse_address("127.0.0.1:99999", a, error));
  CHECK_THAT(error, Contains("port \"99999\"") && Contains("from 1 to 65535"));
  CHECK_FALSE(parse_address("::1", a, error));
  CHECK_THAT(error, Contains("write it in brackets"));
  CHECK_FALSE(parse_address(":6379", a, error));
  CHECK_THAT(error, Contains("has no host") && Contains("expected \"host:port\""));
  CHECK_FALSE(parse_address("/" + std::string(200, 'x'), a, error));
  CHECK_THAT(error, Contains("longer than"));
}
