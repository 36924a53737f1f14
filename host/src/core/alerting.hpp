// The alerting side of the daemon: rules on their intervals, the alert engine, its SQLite
// state, the outbox's delivery to notifier instances, and the HTTP API to look at and act on
// alerts (list, history, ack, silences, reload).
//
// One thread evaluates rules and runs the engine's timers; HTTP handlers take the same mutex for
// their operations, so the engine only ever sees one caller at a time. Delivery runs on its own
// threads and is woken after every commit. It must never block collection or the HTTP server on
// a rule, a notifier or the database.
#pragma once

#include "alerts/engine.hpp"
#include "config/config.hpp"
#include "core/api_auth.hpp"
#include "outbox/database.hpp"
#include "outbox/delivery.hpp"
#include "rules/data_source.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vigil::http {
class Server;
}
namespace vigil::store {
class Store;
}

namespace vigil::core {

// What the engine needs from the rule runtime, so the daemon and test-rules drive it alike.
// Thread-safety: used by the alerting thread only.
class RuleRunner {
 public:
  virtual ~RuleRunner() = default;
  virtual std::vector<alerts::RuleSpec> rules() const = 0;
  virtual alerts::Routing routing() const = 0;
  virtual int64_t next_due_ms() const = 0;  // INT64_MAX when no rule is loaded
  virtual std::vector<alerts::RuleEvaluation> evaluate_due(int64_t now_ms) = 0;
};

// Builds a runner from the config's rule files; false with every error (file:line: rule: ...).
using RuleLoader = std::function<std::unique_ptr<RuleRunner>(const config::AlertingConfig&,
                                                             std::vector<std::string>& errors)>;

// The loader the daemon uses: rule files through the Lua runtime, reading `store` and the health
// results `health` returns.
RuleLoader store_rule_loader(const store::Store& store, rules::StoreSource::HealthFn health);

struct AlertingCounters {
  std::atomic<uint64_t> evaluations{0}, evaluation_failures{0};
  std::atomic<int64_t> last_evaluation_us{0};
};

// Thread-safety: start/reload/stop from the main thread; handlers on HTTP threads.
class AlertingService {
 public:
  // `ready` tells when the collectors have run once: rules wait for it (at most `grace`), so a
  // restart does not read an empty store as "everything recovered".
  AlertingService(RuleLoader loader, std::map<std::string, outbox::ReceiverOptions> receivers,
                  std::function<bool()> ready = {},
                  std::chrono::milliseconds grace = std::chrono::seconds(60));
  ~AlertingService();

  // Opens the database, loads the rules, restores state, starts evaluating and delivering.
  bool start(const config::HostConfig& config, std::string& error);
  // New rules and routing, kept only when they all load; errors are reported, old rules stay.
  bool reload_rules(const config::AlertingConfig& config, std::vector<std::string>& errors);
  void stop(std::chrono::milliseconds deadline);
  // Around a config reload: collectors are recreated and their series start empty, so rules
  // pause, then wait for the new collectors' first run (as at start) before they go on.
  void pause();
  void resume_when_ready();
  void mount(http::Server& server);
  void unmount(http::Server& server);

  const AlertingCounters& counters() const { return counters_; }
  size_t outbox_depth();
  size_t alerts_in(alerts::State state);
  const outbox::DeliveryCounters* delivery_counters() const;

 private:
  void loop();
  void wake();
  int64_t now() const;

  RuleLoader loader_;
  std::map<std::string, outbox::ReceiverOptions> receivers_;
  std::function<bool()> ready_;
  std::chrono::milliseconds grace_;
  config::AlertingConfig config_;
  std::unique_ptr<ApiAuth> auth_;
  std::unique_ptr<outbox::Database> db_;
  std::unique_ptr<alerts::Engine> engine_;
  std::unique_ptr<outbox::Delivery> delivery_;
  std::unique_ptr<RuleRunner> runner_;
  std::mutex mutex_;  // guards engine_ and runner_
  std::condition_variable cv_;
  bool stopping_ = false, woken_ = false, paused_ = false, wait_ready_ = true;
  std::thread thread_;
  AlertingCounters counters_;
  std::vector<std::pair<std::string, std::string>> mounted_;
};

}  // namespace vigil::core
