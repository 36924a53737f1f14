// See test_servers.hpp.
#include "test_servers.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace vigil::testing {

namespace {

// In a forked child: stdin from /dev/null, stdout and stderr to `out_fd`, then argv[0] from
// PATH. Never returns (exit status 127 when the program cannot be run).
[[noreturn]] void exec_child(const std::vector<std::string>& argv, int out_fd) {
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  int null = ::open("/dev/null", O_RDONLY);
  ::dup2(null, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

}  // namespace

int run_program(const std::vector<std::string>& argv, std::string& output) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) exec_child(argv, pipe_fds[1]);
  ::close(pipe_fds[1]);
  output.clear();
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_openssl() {
  std::string out;
  return run_program({"openssl", "version"}, out) == 0;
}

TestCertificate make_certificate(const TempDir& dir, const std::string& name, int days) {
  TestCertificate c{dir.file(name + ".pem"), dir.file(name + ".key")};
  std::string out;
  // An EC key: generating it takes milliseconds, where RSA would take a noticeable while.
  int rc = run_program(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", c.key, "-out", c.cert, "-days", std::to_string(days), "-subj",
       "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
      out);
  INFO("openssl req: " << out);
  REQUIRE(rc == 0);
  return c;
}

TlsTestServer::TlsTestServer(const TestCertificate& cert,
                             const std::string& require_client_cert_from) {
  std::vector<std::string> argv = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                                   cert.cert, "-key",     cert.key,  "-www",        "-no_dhe"};
  if (!require_client_cert_from.empty()) {
    argv.insert(argv.end(), {"-Verify", "1", "-CAfile", require_client_cert_from});
  }
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) exec_child(argv, pipe_fds[1]);
  ::close(pipe_fds[1]);
  // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[1024];
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, n);
    std::size_t at = seen.find("ACCEPT 127.0.0.1:");
    if (at != std::string::npos && seen.find('\n', at) != std::string::npos)
      port_ = static_cast<uint16_t>(std::atoi(seen.c_str() + at + 17));
  }
  // Keep draining s_server's output so it never blocks on a full pipe; the reader ends when
  // s_server exits and closes its end.
  std::thread([fd = pipe_fds[0]] {
    char buf[1024];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    ::close(fd);
  }).detach();
  INFO("openssl s_server said: " << seen);
  REQUIRE(port_ != 0);
}

TlsTestServer::~TlsTestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string TlsTestServer::url(const std::string& host) const {
  return "https://" + host + ":" + std::to_string(port_) + "/";
}

}  // namespace vigil::testing
