// The running agent: one store, one HTTP server, and the instances of the applied config on a
// scheduler. `vigil run` builds one Daemon and calls run().
//
// The daemon owns every lifetime decision: instances are created on the main thread, stopped
// before their libraries can go, and a reload replaces them only after the new config checked
// out in full. It must never exit on a plugin's failure.
#pragma once

#include "core/plan.hpp"
#include "core/self_metrics.hpp"
#include "outbox/delivery.hpp"
#include "rules/data_source.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vigil::http {
class Server;
}
namespace vigil::scheduler {
class Scheduler;
}
namespace vigil::loader {
class Instance;
}

namespace vigil::core {

class AlertingService;

// The last result of one health check, for /api/v1/health and readiness. Kept per instance
// name so a reload does not forget since-when a check has been failing.
// Thread-safety: guarded by its own mutex (written by a worker, read by HTTP threads).
struct HealthState {
  mutable std::mutex mutex;
  bool ran = false;
  int status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
  std::chrono::system_clock::time_point since{}, last_run{}, last_success{};
  std::chrono::nanoseconds duration{0};
};

// One instance of the applied config, whether or not its plugin created it.
struct RunningInstance {
  PlannedInstance plan;
  std::shared_ptr<loader::Instance> instance;  // null when create() failed
  std::string failure;                         // why create() failed
  std::shared_ptr<InstanceMetrics> metrics;
  std::shared_ptr<HealthState> health;  // health checks only
  bool gates = true;                    // readiness waits until it started and ran once
  bool gates_health = false;            // readiness also needs its last health status ok or warning
  std::shared_ptr<std::atomic<bool>> ran_once = std::make_shared<std::atomic<bool>>(false);
  bool scheduled = false;
};

// Thread-safety: run() on the main thread; the HTTP handlers it mounts only read atomics and
// take `state_mutex_`.
class Daemon {
 public:
  Daemon(std::filesystem::path config_file, Overrides overrides);
  ~Daemon();
  // Runs until SIGINT or SIGTERM. Returns the process exit code.
  int run();

 private:
  bool apply(Plan plan, bool first);
  void start_instances(std::vector<RunningInstance>& runtime, const config::HostConfig& cfg);
  void stop_instances(std::chrono::milliseconds deadline);
  void mount_host_routes(http::Server& server);
  bool ready(std::string& report) const;
  std::string health_json() const;
  void reload();
  void shutdown();
  // Alerting: started after the instances (notifiers must exist), stopped before them.
  bool start_alerting(std::string& error);
  void apply_window_options();
  // The notifier instances among `instances`, as receivers delivering to them by name.
  std::map<std::string, outbox::ReceiverOptions> receivers(
      const std::vector<const PlannedInstance*>& instances);
  std::shared_ptr<loader::Instance> notifier(const std::string& name) const;
  std::vector<rules::HealthInfo> health_infos() const;
  void refresh_alerting_metrics();

  std::filesystem::path config_file_;
  Overrides overrides_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SelfMetrics> self_;
  std::unique_ptr<http::Server> http_;
  config::HttpConfig http_config_;
  config::HostConfig config_;
  std::vector<std::shared_ptr<loader::PluginLibrary>> libraries_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::vector<RunningInstance> instances_;
  std::map<std::string, std::shared_ptr<InstanceMetrics>> metrics_by_instance_;
  std::map<std::string, std::shared_ptr<HealthState>> health_by_instance_;
  mutable std::mutex state_mutex_;  // guards instances_ against the readiness handler
  std::unique_ptr<AlertingService> alerting_;
  struct AlertingSeries;
  std::unique_ptr<AlertingSeries> alerting_series_;
};

// Validates, prints every error, returns the exit code of `vigil check-config`.
int check_config(const std::filesystem::path& file, const Overrides& overrides);
// Prints what `vigil plugins` shows.
int list_plugins(const std::filesystem::path* file, const Overrides& overrides);

}  // namespace vigil::core
