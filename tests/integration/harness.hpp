// Drives the real `vigil` binary for integration tests: writes a config into a temporary
// directory, starts `vigil run` on an ephemeral loopback port, reads its log, talks HTTP to it,
// and stops it with a signal. Nothing here is a stand-in: the process, the plugins and the
// sockets are the ones a user gets.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// One GET (or other method) over a fresh connection; status 0 when the connection failed.
HttpReply http_request(uint16_t port, const std::string& method, const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       const std::string& body = "");

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a command through /bin/sh and returns its exit code and output.
CommandResult run_command(const std::string& command);

std::filesystem::path make_temp_dir(const std::string& prefix);

// A `vigil run` process. The destructor kills it if a test left it running.
class VigilProcess {
 public:
  // `config` gets "http": {"port": 0} unless it sets one. Extra arguments follow `run -c FILE`.
  explicit VigilProcess(nlohmann::json config, std::vector<std::string> extra_args = {});
  ~VigilProcess();
  VigilProcess(const VigilProcess&) = delete;
  VigilProcess& operator=(const VigilProcess&) = delete;

  // Waits for the "running" line and returns the bound port (0 when it never came up).
  uint16_t port();
  bool running();
  int pid() const { return pid_; }
  std::string log() const;
  // Waits until the log contains `text`.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout);
  // Waits until GET path answers with `status`.
  bool wait_for_status(const std::string& path, int status, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Sends `sig` and waits for the exit; returns the exit code, or nullopt on timeout.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  // Adds "http": {"port": 0} unless the config sets a port, like the constructor.
  void rewrite_config(nlohmann::json config);
  const std::filesystem::path& config_path() const { return config_path_; }

 private:
  std::filesystem::path dir_, config_path_, log_path_;
  int pid_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_code_;
};

// The value of one sample line `name{labels} value` in an exposition, or nullopt.
std::optional<double> sample_value(const std::string& exposition, const std::string& series);

}  // namespace vigil::testing
