// A real SMTP server for notifier_email's tests: smtp_test_server.py (aiosmtpd) run by
// /usr/bin/python3 as a child process on 127.0.0.1 and a port the kernel picks, writing what it
// accepts into a temporary directory that the test reads back as JSON.
//
// A test fixture: it must never signal a process it did not start, and never leave the server
// running when the test ends (the destructor kills and reaps it; the script also exits when its
// standard input, held by this object, closes — so even a crashed test process leaves nothing).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "files.hpp"

extern char** environ;

namespace vigil::testing {

inline constexpr const char* kPython = "/usr/bin/python3";

// How the server behaves; the script's options of the same names.
struct SmtpServerOptions {
  std::string mode = "plain";       // "plain", "starttls" (required before mail) or "implicit"
  std::string cert, key;            // for starttls and implicit
  std::string client_ca;            // demand a client certificate signed by this PEM
  std::string auth;                 // "user:password" accepted by AUTH
  bool require_auth = false;        // 530 to mail before AUTH
  std::vector<std::string> refuse;  // recipients answered with 550
  std::string data_reply;           // the answer to the end of DATA instead of 250
  double stall_seconds = 0;         // wait this long before answering the end of DATA
};

// Thread-safety: one test thread uses it.
class SmtpTestServer {
 public:
  explicit SmtpTestServer(const SmtpServerOptions& o) {
    std::vector<std::string> argv{
        kPython, SMTP_TEST_SERVER_SCRIPT, "--dir", dir_.path().string(), "--mode", o.mode};
    auto add = [&](const char* flag, const std::string& value) {
      if (value.empty()) return;
      argv.push_back(flag);
      argv.push_back(value);
    };
    add("--cert", o.cert);
    add("--key", o.key);
    add("--client-ca", o.client_ca);
    add("--auth", o.auth);
    add("--data-reply", o.data_reply);
    if (o.stall_seconds > 0) add("--stall", std::to_string(o.stall_seconds));
    for (const std::string& r : o.refuse) add("--refuse", r);
    if (o.require_auth) argv.push_back("--require-auth");
    start(argv);
  }
  ~SmtpTestServer() { stop(); }
  SmtpTestServer(const SmtpTestServer&) = delete;
  SmtpTestServer& operator=(const SmtpTestServer&) = delete;

  int port() const { return port_; }
  // The plugin's "smarthost" option for this server.
  std::string smarthost() const { return "127.0.0.1:" + std::to_string(port_); }

  // Every message accepted so far, oldest first, as the script recorded it: mail_from,
  // rcpt_tos, ehlo, tls, client_certificate, auth_login, and message {content_type, headers
  // (lower-case name to decoded values), raw_headers, parts [{content_type, charset,
  // transfer_encoding, content}], defects, longest_line, bare_line_feed, ascii_only}.
  std::vector<nlohmann::json> messages() const {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path()))
      if (entry.path().extension() == ".json") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    std::vector<nlohmann::json> out;
    for (const std::string& f : files) out.push_back(nlohmann::json::parse(std::ifstream(f)));
    return out;
  }

  // What the script wrote to its standard error (aiosmtpd's warnings, a Python traceback).
  std::string log() const {
    std::ifstream in(dir_.file("server.log"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void start(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_child, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, dir_.file("server.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, kPython, &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_fd_ = to_child[1];
    if (rc != 0) {
      pid_ = -1;
      ::close(from_child[0]);
      FAIL("cannot run " << kPython << ": " << std::strerror(rc));
    }
    // The script prints its port once aiosmtpd answers on it.
    std::string line;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
      pollfd p{from_child[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[64];
      ssize_t n = ::read(from_child[0], buffer, sizeof buffer);
      if (n <= 0) break;  // exited: the log says why
      line.append(buffer, static_cast<size_t>(n));
    }
    ::close(from_child[0]);
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) {
      std::string why = log();
      stop();
      FAIL("the SMTP test server (" << SMTP_TEST_SERVER_SCRIPT << ", aiosmtpd under " << kPython
                                    << ") did not start:\n"
                                    << why);
    }
  }

  void stop() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  TempDir dir_{"vigil_smtp_test"};
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
};

}  // namespace vigil::testing
