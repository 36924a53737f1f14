// The built check_redis.so, loaded with dlopen and run through the SDK's fake host against real
// redis-server processes the tests start (redis_server.hpp): what a user sees for a healthy
// master, a full one, a protected one, a replica and its lost master, a restart, a port where
// nothing listens, and peers that are not Redis or do not answer.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "redis_server.hpp"
#include "tcp_test_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using Catch::Contains;
using vigil::testing::banner;
using vigil::testing::FakeHost;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::run_check;
using vigil::testing::SecretFile;
using vigil::testing::TcpTestServer;
namespace rd = vigil::testing::redis;

namespace {

// Runs the check until its result contains `text` (a replica syncing, a master noticing its
// replica), generously bounded; returns the last result.
std::string check_until(vigil::testing::FakeInstance& inst, const std::string& text) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string result = run_check(inst);
  while (result.find(text) == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    result = run_check(inst);
  }
  return result;
}

std::unique_ptr<rd::Server> start_server(const std::vector<std::string>& extra = {}, int port = 0) {
  std::string why;
  std::unique_ptr<rd::Server> s = rd::Server::start(extra, why, port);
  if (!s) WARN("skipped: " << why);
  return s;
}

// The installed server's version as INFO reports it ("7.0.15"), from `redis-server --version`.
std::string installed_version() {
  std::string out;
  if (FILE* p = ::popen((std::string(rd::kServer) + " --version").c_str(), "r")) {
    char line[256] = {0};
    if (std::fgets(line, sizeof line, p) != nullptr) out = line;
    ::pclose(p);
  }
  std::size_t v = out.find("v=");
  REQUIRE(v != std::string::npos);
  return out.substr(v + 2, out.find(' ', v) - v - 2);
}

}  // namespace

TEST_CASE("the plugin describes itself as a health check with its options and defaults") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "check_redis");
  REQUIRE(d->health_check != nullptr);
  CHECK(d->collector == nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"address", "127.0.0.1:6379"},
                                             {"username", "<none>"},
                                             {"password", "<none>"},
                                             {"password_file", "<none>"},
                                             {"timeout", "<none>"},
                                             {"memory_warning", "80"},
                                             {"memory_critical", "90"},
                                             {"role", "<none>"}});
}

TEST_CASE("options that cannot work are refused at start, naming the option") {
  FakeHost host;
  auto refused = [&](const vigil::testing::OptionMap& options) {
    auto inst = host.try_create(plugin(), options);
    REQUIRE_FALSE(inst);
    return inst.status().message();
  };
  CHECK_THAT(refused({{"address", "127.0.0.1:99999"}}),
             Contains("option \"address\"") && Contains("from 1 to 65535"));
  CHECK_THAT(refused({{"role", "primary"}}),
             Contains("option \"role\" is \"primary\"") && Contains("\"master\", \"slave\""));
  CHECK_THAT(refused({{"password", "a"}, {"password_file", "/etc/hostname"}}),
             Contains("\"password\" and \"password_file\" are both set"));
  CHECK_THAT(refused({{"username", "alice"}}), Contains("\"username\" is set without"));
  CHECK_THAT(refused({{"password_file", "/nonexistent/vigil/redis_pw"}}),
             Contains("/nonexistent/vigil/redis_pw") && Contains("No such file"));
  CHECK_THAT(refused({{"memory_warning", "95"}, {"memory_critical", "90"}}),
             Contains("memory_warning") && Contains("memory_critical"));
  CHECK_THAT(refused({{"timeout", "0s"}}), Contains("option \"timeout\""));
}

TEST_CASE("a port where nothing listens is critical with the system's reason and redis_up 0") {
  FakeHost host;
  const std::string address = "127.0.0.1:" + std::to_string(vigil::testing::free_port());
  auto inst = host.create(plugin(), {{"address", address}});
  CHECK(run_check(inst) == "critical: cannot connect to " + address + ": Connection refused");
  CHECK(host.value("redis_up") == 0);
  CHECK_FALSE(host.has("redis_connected_clients"));
}

TEST_CASE("a healthy master is ok, with redis_exporter's series and one kept connection") {
  auto server = start_server();
  if (!server) return;
  FakeHost host;
  auto inst = host.create(plugin(), {{"address", server->address()}, {"role", "master"}});

  std::string result = run_check(inst);
  CHECK_THAT(result, Contains("ok: " + server->address() + ": PONG in ") &&
                         Contains("; master, 1 clients, 0 replicas, memory ") &&
                         Contains("(no maxmemory)"));
  CHECK(host.value("redis_up") == 1);
  CHECK(host.value("redis_connected_clients") == 1);
  CHECK(host.value("redis_memory_used_bytes") > 100000);
  CHECK(host.value("redis_memory_max_bytes") == 0);
  CHECK(host.value("redis_connected_slaves") == 0);
  CHECK(host.value("redis_uptime_in_seconds") >= 0);
  CHECK(host.value("vigil_redis_ping_duration_seconds") >= 0);
  auto info = host.series("redis_instance_info");
  REQUIRE(info.size() == 1);
  CHECK(host.value("redis_instance_info", {{"redis_mode", "standalone"},
                                           {"redis_version", installed_version()},
                                           {"role", "master"}}) == 1);
  CHECK_FALSE(host.has("redis_master_link_up"));
  REQUIRE(host.family("redis_memory_used_bytes"));
  CHECK(host.family("redis_memory_used_bytes")->type == vigil::MetricType::gauge);

  SECTION("later checks reuse the connection") {
    for (int i = 0; i < 3; ++i) CHECK_THAT(run_check(inst), Contains("ok: "));
    CHECK(host.value("redis_connected_clients") == 1);
  }
  SECTION("the same server through its Unix socket") {
    FakeHost other;
    auto local = other.create(plugin(), {{"address", "unix:" + server->socket_path()}});
    CHECK_THAT(run_check(local), Contains("ok: " + server->socket_path() + ": PONG in "));
  }
}

TEST_CASE("used memory crossing 80 % of maxmemory warns and crossing 90 % is critical") {
  auto server = start_server();
  if (!server) return;
  FakeHost host;
  auto inst = host.create(plugin(), {{"address", server->address()}});
  // The first INFO and the first CONFIG SET grow used_memory by some KiB once; after them it
  // holds still, so a share computed from it stays that share.
  REQUIRE(rd::inline_commands(server->port(), {"CONFIG SET maxmemory 1000000000"}) == "+OK");
  REQUIRE_THAT(run_check(inst), Contains("ok: ") && Contains("of maxmemory 953.7 MiB"));
  // Sets maxmemory so that what the server uses now is `share` of it.
  auto use_share = [&](double share) {
    run_check(inst);
    double used = host.value("redis_memory_used_bytes");
    long long max = std::llround(used / share);
    REQUIRE(rd::inline_commands(server->port(), {"CONFIG SET maxmemory " + std::to_string(max)}) ==
            "+OK");
    return max;
  };

  long long max = use_share(0.85);
  CHECK_THAT(run_check(inst), Contains("warning: " + server->address() +
                                       ": memory at or above the warning threshold of 80 %; PONG "
                                       "in ") &&
                                  Contains(" of maxmemory "));
  CHECK(host.value("redis_memory_max_bytes") == max);

  use_share(0.95);
  CHECK_THAT(run_check(inst), Contains("critical: ") &&
                                  Contains("memory at or above the critical threshold of 90 %"));

  use_share(0.5);
  CHECK_THAT(run_check(inst), Contains("ok: "));

  SECTION("with thresholds of its own") {
    FakeHost other;
    auto strict = other.create(
        plugin(),
        {{"address", server->address()}, {"memory_warning", "40"}, {"memory_critical", "60"}});
    CHECK_THAT(run_check(strict), Contains("warning: ") && Contains("warning threshold of 40 %"));
  }
}

TEST_CASE("a password-protected server: NOAUTH and wrong passwords are critical, never shown") {
  auto server =
      start_server({"--requirepass", "Redis-Test-Secret", "--user", "alice", "on", ">Alice-Secret",
                    "~*", "&*", "+@all", "--user", "pinger", "on", ">Pinger-Secret", "+ping"});
  if (!server) return;
  FakeHost host;

  SECTION("no password: PING answers NOAUTH") {
    auto inst = host.create(plugin(), {{"address", server->address()}});
    CHECK_THAT(run_check(inst), Contains("critical: PING to " + server->address() +
                                         " answered NOAUTH Authentication required., expected "
                                         "PONG; the server wants a password"));
    CHECK(host.value("redis_up") == 0);
  }
  SECTION("a wrong password") {
    auto inst = host.create(plugin(), {{"address", server->address()}, {"password", "Wrong-Pw-1"}});
    std::string result = run_check(inst);
    CHECK_THAT(result,
               Contains("critical: authenticating to " + server->address() + " failed: WRONGPASS"));
    CHECK_THAT(result, !Contains("Wrong-Pw-1"));
    for (const auto& line : host.logs()) CHECK_THAT(line.message, !Contains("Wrong-Pw-1"));
  }
  SECTION("the right password, inline or from password_file") {
    auto inline_pw =
        host.create(plugin(), {{"address", server->address()}, {"password", "Redis-Test-Secret"}});
    CHECK_THAT(run_check(inline_pw), Contains("ok: ") && !Contains("Redis-Test-Secret"));
    SecretFile file("Redis-Test-Secret\n");
    auto from_file =
        host.create(plugin(), {{"address", server->address()}, {"password_file", file.path}});
    CHECK_THAT(run_check(from_file), Contains("ok: "));
  }
  SECTION("an ACL user") {
    auto inst = host.create(
        plugin(),
        {{"address", server->address()}, {"username", "alice"}, {"password", "Alice-Secret"}});
    CHECK_THAT(run_check(inst), Contains("ok: "));
    auto wrong = host.create(
        plugin(),
        {{"address", server->address()}, {"username", "alice"}, {"password", "Not-Alice"}});
    CHECK_THAT(run_check(wrong), Contains("critical: authenticating to " + server->address() +
                                          " as user \"alice\" failed: WRONGPASS"));
  }
  SECTION("an ACL user allowed PING but not INFO: unknown, with what to grant") {
    auto inst = host.create(
        plugin(),
        {{"address", server->address()}, {"username", "pinger"}, {"password", "Pinger-Secret"}});
    CHECK_THAT(run_check(inst), Contains("unknown: " + server->address() + ": PONG in ") &&
                                    Contains("but INFO answered NOPERM") && Contains("ACL +info"));
    CHECK(host.value("redis_up") == 1);
  }
}

TEST_CASE("a replica: the expected role, its master link, and the master it loses") {
  auto master = start_server();
  if (!master) return;
  auto replica = start_server({"--replicaof", "127.0.0.1", std::to_string(master->port())});
  REQUIRE(replica);
  FakeHost host;
  auto as_replica = host.create(plugin(), {{"address", replica->address()}, {"role", "replica"}},
                                vigil::testing::InstanceSettings("replica"));
  std::string result = check_until(as_replica, "ok: ");
  CHECK_THAT(result, Contains("ok: " + replica->address()) && Contains("; slave, "));
  CHECK(host.value("redis_master_link_up") == 1);
  CHECK(host.value("redis_instance_info", {{"redis_mode", "standalone"},
                                           {"redis_version", installed_version()},
                                           {"role", "slave"}}) == 1);

  FakeHost master_host;
  auto on_master =
      master_host.create(plugin(), {{"address", master->address()}, {"role", "master"}});
  CHECK_THAT(check_until(on_master, "1 replicas"), Contains("ok: ") && Contains("1 replicas"));
  CHECK(master_host.value("redis_connected_slaves") == 1);

  SECTION("a replica where a master is expected is critical") {
    FakeHost other;
    auto wrong = other.create(plugin(), {{"address", replica->address()}, {"role", "master"}});
    CHECK_THAT(run_check(wrong), Contains("critical: " + replica->address() +
                                          ": role is slave, expected master (option \"role\")"));
  }
  SECTION("a master where a replica is expected is critical") {
    FakeHost other;
    auto wrong = other.create(plugin(), {{"address", master->address()}, {"role", "slave"}});
    CHECK_THAT(run_check(wrong),
               Contains("critical: ") && Contains("role is master, expected slave"));
  }
  SECTION("the master goes away: the replica's link is down, critical") {
    master->kill_now();
    result = check_until(as_replica, "critical: ");
    CHECK_THAT(result, Contains("critical: " + replica->address() + ": replica of 127.0.0.1:" +
                                std::to_string(master->port()) + " with master_link_status down"));
    CHECK(host.value("redis_master_link_up") == 0);
    CHECK(host.value("redis_up") == 1);
  }
}

TEST_CASE("a restarted server is reconnected in the same check, a killed one is critical") {
  auto server = start_server();
  if (!server) return;
  const int port = server->port();
  FakeHost host;
  auto inst = host.create(plugin(), {{"address", server->address()}});
  CHECK_THAT(run_check(inst), Contains("ok: "));

  server.reset();
  server = start_server({}, port);
  REQUIRE(server);
  CHECK_THAT(run_check(inst), Contains("ok: "));
  CHECK(host.logged("was lost"));

  server.reset();
  CHECK_THAT(run_check(inst), Contains("critical: cannot connect to 127.0.0.1:" +
                                       std::to_string(port) + ": Connection refused"));
  CHECK(host.value("redis_up") == 0);
}

TEST_CASE("a peer that is not Redis, or does not answer, is critical within the timeout") {
  FakeHost host;
  SECTION("an HTTP server") {
    // Answers every connection at once, without reading the PING, and closes it.
    TcpTestServer http(banner("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true));
    auto inst = host.create(plugin(), {{"address", http.address()}});
    CHECK_THAT(run_check(inst), Contains("critical: PING to " + http.address() + " failed: ") &&
                                    Contains("expected a Redis (RESP) reply") &&
                                    Contains("found \"HTTP/1.1 400 Bad Request\""));
    CHECK(host.value("redis_up") == 0);
  }
  SECTION("a listener that never answers, with no timeout option: 80 % of the instance's") {
    TcpTestServer silent(vigil::testing::silent(), /*accept_connections=*/false);
    vigil::testing::InstanceSettings settings;
    settings.timeout = std::chrono::seconds(1);
    auto inst = host.create(plugin(), {{"address", silent.address()}}, settings);
    CHECK(run_check(inst) == "critical: PING to " + silent.address() +
                                 " failed: no answer within 800ms (option \"timeout\")");
    CHECK_FALSE(host.logged("timeout"));
  }
  SECTION("an explicit timeout at or above the instance's is warned about at start") {
    vigil::testing::InstanceSettings settings;
    settings.timeout = std::chrono::seconds(2);
    auto inst = host.create(plugin(), {{"timeout", "5s"}}, settings);
    CHECK(host.logged("option \"timeout\" (5s) is not below the instance's timeout (2s)"));
  }
  SECTION("a listener that never answers") {
    TcpTestServer silent(vigil::testing::silent(), /*accept_connections=*/false);
    auto inst = host.create(plugin(), {{"address", silent.address()}, {"timeout", "300ms"}});
    auto start = std::chrono::steady_clock::now();
    CHECK(run_check(inst) == "critical: PING to " + silent.address() +
                                 " failed: no answer within 300ms (option \"timeout\")");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  }
}
