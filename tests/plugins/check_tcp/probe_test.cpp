// check_tcp's probe against real listeners on loopback: connect, refused, banners that match or
// not, a request and its answer, a server that never answers, and the messages for each.
#include "tcp_probe.hpp"
#include "tcp_test_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace vigil::check_tcp;
using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using vigil::testing::ClosedPort;
using vigil::testing::TcpTestServer;

namespace {

ProbeOptions to(uint16_t port, const std::string& host = "127.0.0.1") {
  ProbeOptions o;
  o.host = host;
  o.port = port;
  o.timeout = std::chrono::milliseconds(3000);
  return o;
}

std::string local(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace

TEST_CASE("connecting to a listening port is enough without expect") {
  TcpTestServer server(vigil::testing::silent());
  ProbeOptions o = to(server.port());
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.address == local(server.port()));
  CHECK(r.connect_seconds > 0);
  CHECK(r.total_seconds >= r.connect_seconds);
  CHECK_THAT(describe(o, r), Matches("connected to 127\\.0\\.0\\.1:[0-9]+ in [0-9.]+ ms"));
}

TEST_CASE("a refused connection says so") {
  ClosedPort closed;
  ProbeOptions o = to(closed.port);
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::connect_failed);
  CHECK(r.error == "Connection refused");
  CHECK(describe(o, r) == "cannot connect to " + local(closed.port) + ": Connection refused");
}

TEST_CASE("a banner is matched by substring or by pattern") {
  TcpTestServer server(vigil::testing::banner("220 mail.test ESMTP ready\r\n", false));
  ProbeOptions o = to(server.port());
  o.expect = "ESMTP";
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::ok);
  CHECK_THAT(describe(o, r),
             Matches("connected to 127\\.0\\.0\\.1:[0-9]+ in [0-9.]+ ms, found \"ESMTP\" after "
                     "[0-9.]+ m?s"));

  std::string error;
  o.expect_pattern = vigil::plugin_pattern::Pattern::compile("^220 [a-z.]+ ESMTP", error);
  r = probe(o);
  CHECK(r.outcome == Outcome::ok);
  CHECK_THAT(describe(o, r), Contains("found a match for /^220 [a-z.]+ ESMTP/ after"));
}

TEST_CASE("a banner without the expected text is critical, showing what came") {
  TcpTestServer server(vigil::testing::banner("HTTP/1.1 400 Bad Request\r\n\r\n", true));
  ProbeOptions o = to(server.port());
  o.expect = "SSH-";
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::no_match);
  CHECK(r.closed_by_peer);
  CHECK_THAT(describe(o, r),
             Contains("but the server closed the connection without sending \"SSH-\"; got "
                      "\"HTTP/1.1 400 Bad Request\\r\\n\\r\\n\""));
}

TEST_CASE("send, then expect the answer") {
  TcpTestServer server(vigil::testing::reply_to("PING\r\n", "+PONG\r\n"));
  ProbeOptions o = to(server.port());
  o.send = "PING\r\n";
  o.expect = "+PONG";
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.received == "+PONG\r\n");
  CHECK(server.received() == "PING\r\n");
}

TEST_CASE("a server that accepts but never answers times out on expect") {
  SECTION("connection accepted by the program") {
    TcpTestServer server(vigil::testing::silent());
    ProbeOptions o = to(server.port());
    o.expect = "+OK";
    o.timeout = std::chrono::milliseconds(300);
    auto start = std::chrono::steady_clock::now();
    ProbeResult r = probe(o);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(r.outcome == Outcome::answer_timeout);
    CHECK_THAT(describe(o, r), Matches("connected to 127\\.0\\.0\\.1:[0-9]+ in [0-9.]+ ms, but "
                                       "\"\\+OK\" did not arrive within 300 ms; got nothing"));
  }
  SECTION("connection only in the kernel's backlog") {
    TcpTestServer server(nullptr, /*accept_connections=*/false);
    ProbeOptions o = to(server.port());
    o.send = "hello\n";
    o.expect = "hi";
    o.timeout = std::chrono::milliseconds(300);
    ProbeResult r = probe(o);
    CHECK(r.outcome == Outcome::answer_timeout);
  }
}

TEST_CASE("partial answers are shown when the expected text never comes") {
  TcpTestServer server(vigil::testing::banner("220 almost", false));
  ProbeOptions o = to(server.port());
  o.expect = "ready";
  o.timeout = std::chrono::milliseconds(300);
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::answer_timeout);
  CHECK_THAT(describe(o, r),
             Contains("\"ready\" did not arrive within 300 ms; got \"220 almost\""));
}

TEST_CASE("reading stops at max_read_bytes") {
  TcpTestServer server(vigil::testing::banner(std::string(10000, 'a'), false));
  ProbeOptions o = to(server.port());
  o.expect = "b";
  o.max_read_bytes = 100;
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::no_match);
  CHECK(r.received.size() == 100);
  CHECK_THAT(describe(o, r), Contains("but the first 100 bytes came without \"b\"; got \"aaaa") &&
                                 Contains("a...\""));
}

TEST_CASE("a host name is resolved and the address connected to is named") {
  TcpTestServer server(vigil::testing::silent());
  ProbeOptions o = to(server.port(), "localhost");
  ProbeResult r = probe(o);
  REQUIRE(r.outcome == Outcome::ok);  // even when localhost resolves to ::1 first
  CHECK(describe(o, r).find("connected to localhost:" + std::to_string(server.port()) + " (" +
                            local(server.port()) + ") in ") == 0);
}

TEST_CASE("a name that does not resolve is reported as such") {
  ProbeOptions o = to(80, "no-such-host.invalid");
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::resolve_failed);
  CHECK_THAT(describe(o, r), Contains("cannot resolve \"no-such-host.invalid\": "));
}

TEST_CASE("IPv6 loopback addresses are written in brackets") {
  TcpTestServer server(vigil::testing::silent(), true, /*ipv6=*/true);
  if (!server.bound()) {
    WARN("no IPv6 loopback on this machine; skipped");
    return;
  }
  ProbeOptions o = to(server.port(), "::1");
  ProbeResult r = probe(o);
  CHECK(r.outcome == Outcome::ok);
  CHECK(r.address == "[::1]:" + std::to_string(server.port()));
  CHECK_THAT(describe(o, r),
             Contains("connected to [::1]:" + std::to_string(server.port()) + " in"));
}

TEST_CASE("bytes are shown printable on one line") {
  CHECK(printable("+OK\r\n") == "+OK\\r\\n");
  CHECK(printable(std::string("\x00\x01\xff", 3)) == "\\x00\\x01\\xff");
  CHECK(printable("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(printable(std::string(100, 'z'), 10) == "zzzzzzzzzz...");
  CHECK(host_port("db", 5432) == "db:5432");
  CHECK(host_port("::1", 5432) == "[::1]:5432");
}
