// Throwaway Alertmanager processes (Debian's prometheus-alertmanager) for notifier_alertmanager's
// tests: each on a loopback port with clustering off, its config and storage in a temporary
// directory, a route that sends every alert at once to one webhook receiver (the test's capturing
// server) with send_resolved, killed and removed by the destructor.
//
// The child is killed with the test too: it asks the kernel for SIGKILL when the thread that
// started it dies (PR_SET_PDEATHSIG), so a crashed or aborted test leaves no Alertmanager behind.
// This file must never signal a process it did not start.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

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
#include "vigil_plugin_http/client.hpp"

namespace vigil::testing::am {

inline constexpr const char* kBinary = "/usr/bin/prometheus-alertmanager";

// Thread-safety: one test thread uses it (the one that started it: the child dies with it).
class Alertmanager {
 public:
  // Starts Alertmanager on `port` (0: a free one) routing everything to `webhook_url`. nullptr
  // with `why` when it is not installed (the test then skips with a warning); one that is
  // installed but does not start fails the test with its log.
  static std::unique_ptr<Alertmanager> start(const std::string& webhook_url, std::string& why,
                                             int port = 0) {
    if (::access(kBinary, X_OK) != 0) {
      why = std::string("Alertmanager is not installed (no ") + kBinary +
            "; apt-get install prometheus-alertmanager)";
      return nullptr;
    }
    std::unique_ptr<Alertmanager> a(new Alertmanager);
    a->dir_.write("am.yml", config(webhook_url));
    for (int attempt = 0; attempt < 3; ++attempt) {
      a->port_ = port != 0 ? port : free_port();
      if (a->launch()) return a;
      if (port != 0) break;
    }
    FAIL("prometheus-alertmanager did not start on 127.0.0.1:" << a->port_ << ":\n" << a->log());
    return nullptr;
  }

  ~Alertmanager() { kill_now(); }
  Alertmanager(const Alertmanager&) = delete;
  Alertmanager& operator=(const Alertmanager&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // GET /api/v2/alerts: the active alerts Alertmanager holds.
  nlohmann::json alerts() const {
    plugin_http::Request r;
    r.url = url() + "/api/v2/alerts";
    r.timeout = std::chrono::seconds(5);
    auto result = plugin_http::fetch(r);
    INFO(result.error << " " << result.response.body);
    REQUIRE(result.ok());
    REQUIRE(result.response.status == 200);
    return nlohmann::json::parse(result.response.body);
  }

  // The active alert whose labels include `name`=`value`, or null.
  nlohmann::json alert_with(const std::string& name, const std::string& value) const {
    for (const auto& a : alerts())
      if (a["labels"].value(name, "") == value) return a;
    return nullptr;
  }

  std::string log() const {
    std::ifstream in(dir_.path() / "alertmanager.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  Alertmanager() = default;

  // Every alert its own group, notified at once; a change goes out within 100 ms.
  static std::string config(const std::string& webhook_url) {
    return "route:\n"
           "  receiver: capture\n"
           "  group_by: ['...']\n"
           "  group_wait: 0s\n"
           "  group_interval: 100ms\n"
           "  repeat_interval: 1h\n"
           "receivers:\n"
           "  - name: capture\n"
           "    webhook_configs:\n"
           "      - url: '" +
           webhook_url +
           "'\n"
           "        send_resolved: true\n";
  }

  bool launch() {
    const std::vector<std::string> argv{kBinary,
                                        "--config.file=" + dir_.file("am.yml"),
                                        "--storage.path=" + dir_.file("data"),
                                        "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                        "--cluster.listen-address=",
                                        "--log.level=debug"};
    std::vector<char*> args;
    for (const std::string& s : argv) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    const std::string log_path = dir_.file("alertmanager.log");
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(log_fd >= 0);
    REQUIRE(null_fd >= 0);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execv(kBinary, args.data());
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid_ < 0) return false;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;  // exited: most likely the port was taken
      }
      plugin_http::Request r;
      r.url = url() + "/-/ready";
      r.timeout = std::chrono::seconds(1);
      auto result = plugin_http::fetch(r);
      if (result.ok() && result.response.status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill_now();
    return false;
  }

  TempDir dir_{"vigil_alertmanager_test"};
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace vigil::testing::am
