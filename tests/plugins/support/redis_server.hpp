// Throwaway redis-server processes for check_redis' and check_tcp's tests: each on a free loopback
// port with its working directory (and Unix socket, and log) in a temporary directory, no
// persistence, killed and removed by the destructor.
//
// The tests talk to the servers for set-up (CONFIG SET, ...) with inline commands over a plain
// socket, so nothing here shares code with the plugin under test. This file must never leave a
// server running when a test ends normally, and never signal a process it did not start.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "files.hpp"
#include "loopback.hpp"

extern char** environ;

namespace vigil::testing::redis {

inline constexpr const char* kServer = "/usr/bin/redis-server";

// Sends inline commands (one per line, as redis-cli would type them) and returns the first line
// of the last reply, or "" when the server did not answer within a few seconds.
inline std::string inline_commands(int port, const std::vector<std::string>& lines) {
  int fd = connect_loopback(port);
  if (fd < 0) return "";
  std::string last;
  for (const std::string& line : lines) {
    std::string out = line + "\r\n";
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      last.clear();
      break;
    }
    last.clear();
    char c = 0;
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) > 0 && ::recv(fd, &c, 1, 0) == 1) {
      if (c == '\n') break;
      if (c != '\r') last += c;
    }
  }
  ::close(fd);
  return last;
}

// Thread-safety: one test thread uses it.
class Server {
 public:
  // Starts redis-server with `extra` arguments (as on its command line: "--requirepass", "x"),
  // on `port` (0: a free one). nullptr with `why` when Redis is not installed (the test then
  // skips with a warning); a server that is installed but does not start fails the test.
  static std::unique_ptr<Server> start(const std::vector<std::string>& extra, std::string& why,
                                       int port = 0) {
    if (::access(kServer, X_OK) != 0) {
      why =
          std::string("Redis is not installed (no ") + kServer + "; apt-get install redis-server)";
      return nullptr;
    }
    std::unique_ptr<Server> s(new Server);
    for (int attempt = 0; attempt < 3; ++attempt) {
      s->port_ = port != 0 ? port : free_port();
      if (s->launch(extra)) return s;
      if (port != 0) break;
    }
    FAIL("redis-server did not start in " << s->dir_.path() << ":\n" << s->log());
    return nullptr;
  }

  ~Server() { kill_now(); }

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string socket_path() const { return dir_.file("redis.sock"); }
  std::string log() const {
    std::ifstream in(dir_.path() / "redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // SIGKILL: gone at once, as a crash would leave it.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  Server() = default;

  bool launch(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{kServer, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir",
                                  dir_.path().string(), "--logfile", dir_.file("redis.log"),
                                  "--unixsocket", socket_path(),
                                  // A replica syncs at once instead of after the default 5 s.
                                  "--repl-diskless-sync-delay", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, kServer, &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return false;
    }
    // Ready once it answers anything on its port (a password-protected one answers NOAUTH).
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;  // exited: most likely the port was taken
      }
      if (!inline_commands(port_, {"PING"}).empty()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill_now();
    return false;
  }

  TempDir dir_{"vigil_redis_test"};
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace vigil::testing::redis
