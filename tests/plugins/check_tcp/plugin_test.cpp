// The built check_tcp.so, loaded with dlopen and run through the SDK's fake host: against
// listeners started by the test and against a real redis-server (Debian's package) started in a
// temporary directory on a free loopback port (support/redis_server.hpp, as check_redis' tests).
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"
#include "redis_server.hpp"
#include "tcp_test_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;
using vigil::testing::ClosedPort;
using vigil::testing::FakeHost;
using vigil::testing::plugin;
using vigil::testing::TcpTestServer;

namespace {

std::string port_text(uint16_t port) {
  return std::to_string(port);
}

vigil::Labels labels_for(uint16_t port, const std::string& check = "test") {
  return {{"check", check}, {"target", "127.0.0.1:" + std::to_string(port)}};
}

}  // namespace

TEST_CASE("the plugin is a health check that needs host and port") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "check_tcp");
  CHECK(d->health_check != nullptr);
  CHECK(d->collector == nullptr);
  int required = 0;
  for (size_t i = 0; i < d->option_count; ++i) {
    std::string name = d->options[i].name;
    if (name == "host" || name == "port") required += d->options[i].required != 0;
  }
  CHECK(required == 2);
}

TEST_CASE("a listening port is ok, and the duration is written") {
  TcpTestServer server(vigil::testing::silent());
  FakeHost host;
  auto inst = host.create(plugin(), {{"host", "127.0.0.1"}, {"port", port_text(server.port())}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(inst.health().message, Matches("connected to 127\\.0\\.0\\.1:[0-9]+ in [0-9.]+ ms"));
  double seconds = host.value("vigil_tcp_check_duration_seconds", labels_for(server.port()));
  CHECK(seconds > 0);
  CHECK(seconds < 30);
}

TEST_CASE("a refused port is critical") {
  ClosedPort closed;
  FakeHost host;
  auto inst = host.create(plugin(), {{"host", "127.0.0.1"}, {"port", port_text(closed.port)}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK(inst.health().message ==
        "cannot connect to 127.0.0.1:" + port_text(closed.port) + ": Connection refused");
  CHECK(host.has("vigil_tcp_check_duration_seconds", labels_for(closed.port)));
}

TEST_CASE("send and expect, by substring and by pattern") {
  TcpTestServer server(vigil::testing::reply_to("PING\r\n", "+PONG\r\n"));
  FakeHost host;
  auto inst = host.create(plugin(),
                          {{"host", "127.0.0.1"},
                           {"port", port_text(server.port())},
                           {"send", "PING\r\n"},
                           {"expect", "+PONG"}},
                          {"sub"});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK_THAT(inst.health().message, Contains("found \"+PONG\" after"));

  auto re = host.create(plugin(),
                        {{"host", "127.0.0.1"},
                         {"port", port_text(server.port())},
                         {"send", "PING\r\n"},
                         {"expect", "^\\+P(O|I)NG\r\n"},
                         {"expect_regex", "true"}},
                        {"re"});
  REQUIRE(re.check().is_ok());
  INFO(re.health().message);
  CHECK(re.health().status == VIGIL_HEALTH_OK);
}

TEST_CASE("a port that accepts but never answers is critical when an answer is expected") {
  TcpTestServer server(vigil::testing::silent());
  FakeHost host;
  auto inst = host.create(plugin(), {{"host", "127.0.0.1"},
                                     {"port", port_text(server.port())},
                                     {"expect", "220"},
                                     {"timeout", "300ms"}});
  auto start = std::chrono::steady_clock::now();
  REQUIRE(inst.check().is_ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Contains("but \"220\" did not arrive within 300 ms"));
}

TEST_CASE("without a timeout option the probe ends before the instance's timeout") {
  TcpTestServer server(vigil::testing::silent());
  FakeHost host;
  vigil::testing::InstanceSettings settings("short");
  settings.timeout = std::chrono::milliseconds(1000);
  auto inst = host.create(
      plugin(), {{"host", "127.0.0.1"}, {"port", port_text(server.port())}, {"expect", "x"}},
      settings);
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Contains("did not arrive within 900 ms"));
}

TEST_CASE("a wrong banner is critical and shows what came") {
  TcpTestServer server(vigil::testing::banner("-ERR unknown\r\n", true));
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"host", "127.0.0.1"}, {"port", port_text(server.port())}, {"expect", "+OK"}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK_THAT(inst.health().message, Contains("got \"-ERR unknown\\r\\n\""));
}

TEST_CASE("options that cannot work are refused when the instance is created") {
  FakeHost host;
  auto refused = [&](vigil::testing::OptionMap options) {
    auto inst = host.try_create(plugin(), options);
    CHECK_FALSE(inst);
    return inst.status().message();
  };
  CHECK_THAT(refused({{"host", "127.0.0.1"}, {"port", "0"}}),
             Contains("option \"port\": found 0, expected a TCP port from 1 to 65535"));
  CHECK_THAT(refused({{"host", "127.0.0.1"}, {"port", "70000"}}), Contains("found 70000"));
  CHECK_THAT(refused({{"host", ""}, {"port", "22"}}), Contains("option \"host\": found \"\""));
  CHECK_THAT(refused({{"host", "h"}, {"port", "22"}, {"expect_regex", "true"}}),
             Contains("\"expect_regex\" is true but \"expect\" is empty"));
  CHECK_THAT(refused({{"host", "h"}, {"port", "22"}, {"expect", "(x"}, {"expect_regex", "true"}}),
             StartsWith("option \"expect\": /(x/ is not a POSIX extended regular expression"));
  CHECK_THAT(refused({{"host", "h"}}), Contains("port"));
}

TEST_CASE("a real redis-server answers PING with +PONG") {
  std::string why;
  auto redis = vigil::testing::redis::Server::start({}, why);
  if (!redis) FAIL(why);
  FakeHost host;
  auto ping = host.create(plugin(),
                          {{"host", "127.0.0.1"},
                           {"port", port_text(redis->port())},
                           {"send", "PING\r\n"},
                           {"expect", "+PONG"}},
                          {"redis_ping"});
  REQUIRE(ping.check().is_ok());
  INFO(ping.health().message);
  CHECK(ping.health().status == VIGIL_HEALTH_OK);
  CHECK(host.value("vigil_tcp_check_duration_seconds", labels_for(redis->port(), "redis_ping")) >
        0);

  SECTION("redis says nothing first, so expecting a banner times out") {
    auto banner = host.create(plugin(),
                              {{"host", "127.0.0.1"},
                               {"port", port_text(redis->port())},
                               {"expect", "+PONG"},
                               {"timeout", "300ms"}},
                              {"redis_banner"});
    REQUIRE(banner.check().is_ok());
    CHECK(banner.health().status == VIGIL_HEALTH_CRITICAL);
    CHECK_THAT(banner.health().message, Contains("got nothing"));
  }
  SECTION("a wrong command gets redis' error, which is not +PONG") {
    auto wrong = host.create(plugin(),
                             {{"host", "127.0.0.1"},
                              {"port", port_text(redis->port())},
                              {"send", "NOSUCHCOMMAND\r\n"},
                              {"expect", "+PONG"},
                              {"timeout", "500ms"}},
                             {"redis_wrong"});
    REQUIRE(wrong.check().is_ok());
    CHECK(wrong.health().status == VIGIL_HEALTH_CRITICAL);
    CHECK_THAT(wrong.health().message, Contains("got \"-ERR unknown command"));
  }
}
