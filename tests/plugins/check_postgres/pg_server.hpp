// A throwaway PostgreSQL server for check_postgres' tests: initdb into a temporary directory,
// started with pg_ctl on a free loopback port, its Unix socket in the same directory, stopped
// and removed by the destructor.
//
// initdb and the server refuse to run as root, so as root every server command runs as the
// "postgres" system user (runuser) in a directory that user owns. Local (socket) connections are
// trusted; TCP connections need the superuser "vigil"'s password (scram-sha-256), so password
// handling is tested against the real server. This file must never leave a server running or a
// directory behind when a test ends normally, and never touch a server it did not start.
#pragma once

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

extern char** environ;

namespace vigil::testing::pg {

namespace fs = std::filesystem;

inline constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
inline constexpr const char* kPassword = "tcp-only-Secret-42";
inline constexpr int kMaxConnections = 10;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (no shell) with stdout and stderr appended to `log`; returns the exit status, or -1
// when it could not be started or was killed.
inline int run(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Thread-safety: one test thread uses it.
class Server {
 public:
  // Starts a server, or returns nullptr with `why` when PostgreSQL 15 is not installed (the test
  // then skips with a warning). A server that is installed but does not start fails the test.
  static std::unique_ptr<Server> start(std::string& why) {
    if (::access((std::string(kBinDir) + "/initdb").c_str(), X_OK) != 0) {
      why = std::string("PostgreSQL 15 is not installed (no ") + kBinDir +
            "/initdb; apt-get install postgresql-15)";
      return nullptr;
    }
    std::unique_ptr<Server> s(new Server);
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        why = "running as root and there is no \"postgres\" user to run initdb as";
        return nullptr;
      }
      s->uid_ = pw->pw_uid;
      s->gid_ = pw->pw_gid;
      for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
        if (::access(p, X_OK) == 0) {
          s->runuser_ = p;
          break;
        }
      }
      if (s->runuser_.empty()) {
        why = "running as root and runuser (util-linux) is missing";
        return nullptr;
      }
    }
    s->init();
    for (int attempt = 0; attempt < 3; ++attempt) {
      s->port_ = free_port();
      if (s->pg_ctl({"start", "-w", "-t", "60", "-l", (s->dir_ / "server.log").string(), "-o",
                     s->server_options()}))
        return s;
    }
    FAIL("the PostgreSQL server in " << s->dir_ << " did not start:\n" << s->logs());
    return nullptr;
  }

  ~Server() {
    if (running_) pg_ctl({"stop", "-w", "-t", "60", "-m", "immediate"});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  const fs::path& dir() const { return dir_; }
  // Over the Unix socket in the temporary directory: trusted, no password.
  std::string socket_conninfo() const {
    return "host=" + dir_.string() + " port=" + std::to_string(port_) +
           " dbname=postgres user=vigil";
  }
  // Over TCP on 127.0.0.1: needs the password.
  std::string tcp_conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=vigil";
  }

  bool restart() {
    return pg_ctl({"restart", "-w", "-t", "60", "-m", "fast", "-o", server_options()});
  }
  bool stop() {
    bool ok = pg_ctl({"stop", "-w", "-t", "60", "-m", "fast"});
    if (ok) running_ = false;
    return ok;
  }
  bool start_again() {
    return pg_ctl(
        {"start", "-w", "-t", "60", "-l", (dir_ / "server.log").string(), "-o", server_options()});
  }

  // initdb's and pg_ctl's output and the server log, for failure messages.
  std::string logs() const {
    return read_text(dir_ / "commands.log") + "\n--- server.log ---\n" +
           read_text(dir_ / "server.log");
  }

 private:
  Server() = default;

  void init() {
    char tmpl[] = "/tmp/vigil_pg_test_XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    { std::ofstream(dir_ / "password") << kPassword << "\n"; }
    if (!runuser_.empty()) {
      REQUIRE(::chown(dir_.c_str(), uid_, gid_) == 0);
      REQUIRE(::chown((dir_ / "password").c_str(), uid_, gid_) == 0);
    }
    int rc = run(as_owner({std::string(kBinDir) + "/initdb", "-D", (dir_ / "data").string(), "-U",
                           "vigil", "--auth-local=trust", "--auth-host=scram-sha-256",
                           "--pwfile=" + (dir_ / "password").string(), "--no-sync", "-E", "UTF8",
                           "--locale=C"}),
                 dir_ / "commands.log");
    INFO(logs());
    REQUIRE(rc == 0);
  }

  // fsync off: the data is thrown away, and a slow disk must not slow the tests. Autovacuum
  // off: its workers would show up in pg_stat_activity's counts at random moments.
  std::string server_options() const {
    return "-p " + std::to_string(port_) + " -k " + dir_.string() +
           " -c listen_addresses=127.0.0.1 -c max_connections=" + std::to_string(kMaxConnections) +
           " -c fsync=off -c full_page_writes=off -c autovacuum=off";
  }

  bool pg_ctl(std::vector<std::string> args) {
    std::vector<std::string> argv{std::string(kBinDir) + "/pg_ctl", "-D", (dir_ / "data").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    bool ok = run(as_owner(argv), dir_ / "commands.log") == 0;
    if (ok && args[0] != "stop") running_ = true;
    return ok;
  }

  std::vector<std::string> as_owner(std::vector<std::string> argv) const {
    if (runuser_.empty()) return argv;
    std::vector<std::string> out{runuser_, "-u", "postgres", "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  fs::path dir_;
  int port_ = 0;
  bool running_ = false;
  std::string runuser_;  // empty when not root
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

// A test-side libpq connection, to make load on the server and to look at it.
// Thread-safety: one thread.
class Client {
 public:
  explicit Client(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    INFO("connecting with " << conninfo << ": " << PQerrorMessage(conn_));
    REQUIRE(PQstatus(conn_) == CONNECTION_OK);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() { PQfinish(conn_); }

  // Runs SQL that must succeed; returns the first column of the first row, or "".
  std::string exec(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    INFO(sql << ": " << PQresultErrorMessage(res));
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    std::string value = ok && PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0) : "";
    PQclear(res);
    REQUIRE(ok);
    return value;
  }

  // Client backends on the server, as the plugin counts them.
  long client_backends() {
    return std::stol(
        exec("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"));
  }

  // A backend exits a moment after its client hung up: waits (generously) until the server
  // counts `expected` client backends.
  void wait_for_client_backends(long expected) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    long now = client_backends();
    while (now != expected && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      now = client_backends();
    }
    REQUIRE(now == expected);
  }

 private:
  PGconn* conn_;
};

}  // namespace vigil::testing::pg
