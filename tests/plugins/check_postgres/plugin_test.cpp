// The built check_postgres.so, loaded with dlopen and run through the SDK's fake host against
// real PostgreSQL 15 servers started by the tests (pg_server.hpp): the statuses, messages and
// series a user would see when the server is fine, busy, failing, slow, restarted or gone.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "pg_server.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

using Catch::Contains;
using vigil::testing::FakeHost;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::run_check;
using vigil::testing::SecretFile;
namespace pg = vigil::testing::pg;

namespace {

// One server per test process (ctest runs each test case in its own process); nullptr when
// PostgreSQL is not installed.
pg::Server* server() {
  static std::string why;
  static std::unique_ptr<pg::Server> s = pg::Server::start(why);
  if (!s) WARN("skipped: " << why);
  return s.get();
}

}  // namespace

TEST_CASE("the plugin describes itself as a health check with its options and defaults") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "check_postgres");
  REQUIRE(d->health_check != nullptr);
  CHECK(d->collector == nullptr);
  CHECK(option_defaults(d) ==
        OptionDefaults{{"conninfo", "host=127.0.0.1 port=5432 dbname=postgres"},
                       {"password_file", "<none>"},
                       {"query", "SELECT 1"},
                       {"timeout", "<none>"},
                       {"connections_warning", "80"},
                       {"connections_critical", "90"}});
}

TEST_CASE("options that cannot work are refused at start, naming the option") {
  FakeHost host;
  SECTION("a conninfo libpq cannot parse") {
    auto inst = host.try_create(plugin(), {{"conninfo", "host=127.0.0.1 colour=blue"}});
    REQUIRE_FALSE(inst);
    CHECK_THAT(inst.status().message(), Contains("option \"conninfo\"") && Contains("colour") &&
                                            Contains("expected a libpq connection string"));
  }
  SECTION("a password_file that does not exist") {
    auto inst = host.try_create(plugin(), {{"password_file", "/nonexistent/vigil/pgpass"}});
    REQUIRE_FALSE(inst);
    CHECK_THAT(inst.status().message(),
               Contains("/nonexistent/vigil/pgpass") && Contains("No such file"));
  }
  SECTION("a password both in conninfo and in password_file") {
    SecretFile secret("pw\n");
    auto inst = host.try_create(
        plugin(), {{"conninfo", "host=127.0.0.1 password=inline"}, {"password_file", secret.path}});
    REQUIRE_FALSE(inst);
    CHECK_THAT(inst.status().message(), Contains("both give a password"));
    CHECK_THAT(inst.status().message(), !Contains("inline"));
  }
  SECTION("a warning threshold above the critical one") {
    auto inst =
        host.try_create(plugin(), {{"connections_warning", "95"}, {"connections_critical", "90"}});
    REQUIRE_FALSE(inst);
    CHECK_THAT(inst.status().message(),
               Contains("connections_warning") && Contains("connections_critical"));
  }
  SECTION("an empty query") {
    auto inst = host.try_create(plugin(), {{"query", "  "}});
    REQUIRE_FALSE(inst);
    CHECK_THAT(inst.status().message(), Contains("option \"query\" is empty"));
  }
}

TEST_CASE("start-up warnings: a timeout the host would cut short, a readable password file") {
  FakeHost host;
  vigil::testing::InstanceSettings settings;
  settings.timeout = std::chrono::seconds(2);
  SECTION("an explicit timeout at or above the instance's timeout") {
    auto inst = host.create(plugin(), {{"timeout", "2s"}}, settings);
    CHECK(host.logged("option \"timeout\" (2s) is not below the instance's timeout (2s)"));
  }
  SECTION("no timeout option: it stays inside the instance's, without a warning") {
    auto inst = host.create(plugin(), {}, settings);
    CHECK_FALSE(host.logged("timeout"));
  }
  SECTION("a password file others can read") {
    SecretFile secret("pw\n");
    REQUIRE(::chmod(secret.path.c_str(), 0644) == 0);
    auto inst = host.create(plugin(), {{"password_file", secret.path}}, settings);
    CHECK(host.logged("password_file " + secret.path +
                      " has mode 0644, readable by group or others; chmod 600 it"));
  }
}

TEST_CASE("a port where nothing listens is critical with libpq's reason and pg_up 0") {
  FakeHost host;
  int port = vigil::testing::free_port();
  auto inst = host.create(plugin(), {{"conninfo", "host=127.0.0.1 port=" + std::to_string(port) +
                                                      " user=vigil dbname=postgres"}});
  std::string result = run_check(inst);
  CHECK_THAT(result, Contains("critical: cannot connect to 127.0.0.1:" + std::to_string(port)) &&
                         Contains("Connection refused"));
  CHECK(host.value("pg_up") == 0);
  CHECK_FALSE(host.has("pg_settings_max_connections"));
  CHECK(host.series("pg_stat_activity_count").empty());
}

TEST_CASE("a healthy server is ok, with postgres_exporter's series and one kept connection") {
  pg::Server* s = server();
  if (s == nullptr) return;
  pg::Client admin(s->socket_conninfo());
  admin.wait_for_client_backends(1);
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"conninfo", s->socket_conninfo()}, {"query", "SELECT count(*) FROM pg_class"}});

  std::string result = run_check(inst);
  CHECK_THAT(result, Contains("ok: ") && Contains("(database postgres, user vigil)") &&
                         Contains("query ran in") && Contains("2 of 10 connections in use (20 %)"));
  CHECK(host.value("pg_up") == 1);
  CHECK(host.value("pg_settings_max_connections") == pg::kMaxConnections);
  CHECK(host.value("vigil_postgres_client_connections") == 2);
  CHECK(host.value("vigil_postgres_query_duration_seconds") >= 0);
  // The check's own connection is active while it counts; the test's admin connection is idle.
  CHECK(host.value("pg_stat_activity_count", {{"datname", "postgres"}, {"state", "active"}}) == 1);
  CHECK(host.value("pg_stat_activity_count", {{"datname", "postgres"}, {"state", "idle"}}) == 1);
  // Every state of every database that accepts connections, zeros included.
  CHECK(host.value("pg_stat_activity_count",
                   {{"datname", "template1"}, {"state", "idle in transaction"}}) == 0);
  CHECK(host.series("pg_stat_activity_count").size() == 2 * 6);
  CHECK_FALSE(host.has("pg_stat_activity_count", {{"datname", "template0"}, {"state", "idle"}}));
  REQUIRE(host.family("pg_up"));
  CHECK(host.family("pg_up")->type == vigil::MetricType::gauge);

  SECTION("later checks reuse the connection and show who holds it") {
    for (int i = 0; i < 3; ++i) CHECK_THAT(run_check(inst), Contains("ok: "));
    CHECK(admin.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigil'") ==
          "1");
  }

  SECTION("a new database gets its series, and a dropped one loses them") {
    admin.exec("CREATE DATABASE appdb");
    CHECK_THAT(run_check(inst), Contains("ok: "));
    CHECK(host.value("pg_stat_activity_count", {{"datname", "appdb"}, {"state", "idle"}}) == 0);
    CHECK(host.series("pg_stat_activity_count").size() == 3 * 6);
    admin.exec("DROP DATABASE appdb");
    CHECK_THAT(run_check(inst), Contains("ok: "));
    CHECK_FALSE(host.has("pg_stat_activity_count", {{"datname", "appdb"}, {"state", "idle"}}));
    CHECK(host.series("pg_stat_activity_count").size() == 2 * 6);
  }
}

TEST_CASE("a failing query is critical with the server's message, and counts are still read") {
  pg::Server* s = server();
  if (s == nullptr) return;
  FakeHost host;
  SECTION("division by zero") {
    auto inst =
        host.create(plugin(), {{"conninfo", s->socket_conninfo()}, {"query", "SELECT 1/0"}});
    CHECK_THAT(run_check(inst), Contains("critical: query \"SELECT 1/0\" failed on ") &&
                                    Contains("division by zero (SQLSTATE 22012)"));
    CHECK(host.value("pg_up") == 1);
    CHECK(host.value("pg_settings_max_connections") == pg::kMaxConnections);
    CHECK_FALSE(host.has("vigil_postgres_query_duration_seconds"));
    // The connection survives a server-side error: the next check gives the same answer.
    CHECK_THAT(run_check(inst), Contains("division by zero"));
  }
  SECTION("a table that does not exist") {
    auto inst = host.create(
        plugin(), {{"conninfo", s->socket_conninfo()}, {"query", "SELECT * FROM no_such_table"}});
    CHECK_THAT(run_check(inst),
               Contains("critical: ") && Contains("relation \"no_such_table\" does not exist"));
  }
  SECTION("two statements at once are refused, as the README says") {
    auto inst = host.create(plugin(),
                            {{"conninfo", s->socket_conninfo()}, {"query", "SELECT 1; SELECT 2"}});
    CHECK_THAT(run_check(inst), Contains("critical: ") && Contains("multiple commands"));
  }
}

TEST_CASE("a query blocked past the timeout is critical, and the next check recovers") {
  pg::Server* s = server();
  if (s == nullptr) return;
  pg::Client admin(s->socket_conninfo());
  admin.exec("CREATE TABLE IF NOT EXISTS blocked (id int)");
  FakeHost host;
  auto inst = host.create(plugin(), {{"conninfo", s->socket_conninfo()},
                                     {"query", "SELECT count(*) FROM blocked"},
                                     {"timeout", "1s"}});
  CHECK_THAT(run_check(inst), Contains("ok: "));

  admin.exec("BEGIN");
  admin.exec("LOCK TABLE blocked IN ACCESS EXCLUSIVE MODE");
  auto start = std::chrono::steady_clock::now();
  std::string result = run_check(inst);
  auto took = std::chrono::steady_clock::now() - start;
  // The plugin's own deadline and the server's statement_timeout are both 1 s; either may win.
  CHECK_THAT(result, Contains("critical: query \"SELECT count(*) FROM blocked\" failed") &&
                         (Contains("did not finish within 1s") || Contains("statement timeout")));
  CHECK(took < std::chrono::seconds(10));  // bounded by the timeout, not by the lock
  admin.exec("ROLLBACK");

  CHECK_THAT(run_check(inst), Contains("ok: "));
}

TEST_CASE("connection usage crossing 80 % warns and crossing 90 % is critical") {
  pg::Server* s = server();
  if (s == nullptr) return;
  pg::Client admin(s->socket_conninfo());
  admin.wait_for_client_backends(1);
  FakeHost host;
  auto inst = host.create(plugin(), {{"conninfo", s->socket_conninfo()}});
  CHECK_THAT(run_check(inst), Contains("ok: ") && Contains("2 of 10 connections in use (20 %)"));

  std::vector<std::unique_ptr<pg::Client>> load;
  while (load.size() < 6) load.push_back(std::make_unique<pg::Client>(s->socket_conninfo()));
  CHECK_THAT(run_check(inst), Contains("warning: ") &&
                                  Contains("8 of 10 connections in use (80 %)") &&
                                  Contains("at or above the warning threshold of 80 %"));
  CHECK(host.value("vigil_postgres_client_connections") == 8);

  load.push_back(std::make_unique<pg::Client>(s->socket_conninfo()));
  CHECK_THAT(run_check(inst), Contains("critical: ") &&
                                  Contains("9 of 10 connections in use (90 %)") &&
                                  Contains("at or above the critical threshold of 90 %"));
  CHECK(host.value("pg_stat_activity_count", {{"datname", "postgres"}, {"state", "idle"}}) == 8);

  load.resize(3);
  admin.wait_for_client_backends(5);
  CHECK_THAT(run_check(inst), Contains("ok: ") && Contains("5 of 10 connections in use (50 %)"));

  SECTION("with thresholds of its own") {
    FakeHost other;
    auto strict = other.create(plugin(), {{"conninfo", s->socket_conninfo()},
                                          {"connections_warning", "40"},
                                          {"connections_critical", "70"}});
    CHECK_THAT(run_check(strict), Contains("warning: ") &&
                                      Contains("6 of 10 connections in use (60 %)") &&
                                      Contains("warning threshold of 40 %"));
  }
}

TEST_CASE("a restarted server is reconnected in the same check, a stopped one is critical") {
  pg::Server* s = server();
  if (s == nullptr) return;
  FakeHost host;
  auto inst = host.create(plugin(), {{"conninfo", s->socket_conninfo()}});
  CHECK_THAT(run_check(inst), Contains("ok: "));

  INFO(s->logs());
  REQUIRE(s->restart());
  CHECK_THAT(run_check(inst), Contains("ok: "));
  CHECK(host.logged("was lost"));
  CHECK(host.value("pg_up") == 1);

  REQUIRE(s->stop());
  CHECK_THAT(run_check(inst), Contains("critical: cannot connect to " + s->dir().string()) &&
                                  Contains(std::to_string(s->port())));
  CHECK(host.value("pg_up") == 0);

  REQUIRE(s->start_again());
  CHECK_THAT(run_check(inst), Contains("ok: "));
  CHECK(host.value("pg_up") == 1);
}

TEST_CASE("passwords come from password_file or PGPASSFILE and never show in messages or logs") {
  pg::Server* s = server();
  if (s == nullptr) return;
  // Keep root's own ~/.pgpass, if any, out of the test.
  ::setenv("PGPASSFILE", "/nonexistent/vigil/pgpass", 1);
  FakeHost host;

  SECTION("no password at all is critical with libpq's reason") {
    auto inst = host.create(plugin(), {{"conninfo", s->tcp_conninfo()}});
    CHECK_THAT(run_check(inst), Contains("critical: cannot connect to 127.0.0.1:") &&
                                    Contains("no password supplied"));
  }
  SECTION("a wrong password is critical with the server's reason, without the password") {
    SecretFile wrong("Wrong-Horse-Battery\n");
    auto inst =
        host.create(plugin(), {{"conninfo", s->tcp_conninfo()}, {"password_file", wrong.path}});
    std::string result = run_check(inst);
    CHECK_THAT(result, Contains("critical: ") &&
                           Contains("password authentication failed for user \"vigil\""));
    CHECK_THAT(result, !Contains("Wrong-Horse"));
    for (const auto& line : host.logs()) CHECK_THAT(line.message, !Contains("Wrong-Horse"));
  }
  SECTION("the right password in password_file") {
    SecretFile right(std::string(pg::kPassword) + "\n");
    auto inst =
        host.create(plugin(), {{"conninfo", s->tcp_conninfo()}, {"password_file", right.path}});
    std::string result = run_check(inst);
    CHECK_THAT(result, Contains("ok: 127.0.0.1:" + std::to_string(s->port())));
    CHECK_THAT(result, !Contains(pg::kPassword));
  }
  SECTION("the right password through libpq's PGPASSFILE") {
    SecretFile pgpass("127.0.0.1:" + std::to_string(s->port()) + ":*:vigil:" + pg::kPassword +
                      "\n");
    ::setenv("PGPASSFILE", pgpass.path.c_str(), 1);
    auto inst = host.create(plugin(), {{"conninfo", s->tcp_conninfo()}});
    CHECK_THAT(run_check(inst), Contains("ok: "));
  }
  ::unsetenv("PGPASSFILE");
}
