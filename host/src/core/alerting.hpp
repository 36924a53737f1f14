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
#include <set>
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

// Loads the rules of `config` and checks that their routing names only `receivers`; null with
// every error (rule errors as file:line: rule: ..., routing errors with their route path).
std::unique_ptr<RuleRunner> load_checked_rules(const RuleLoader& loader,
                                               const config::AlertingConfig& config,
                                               const std::set<std::string>& receivers,
                                               std::vector<std::string>& errors);

// Delivery results since the service started, across the delivery workers a reload replaced.
struct DeliveryTotals {
  uint64_t delivered = 0, retried = 0, failed = 0, fallen_back = 0;
};

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
  // The rule files of the running config again, with the receivers as they are (the API's
  // reload); kept only when they all load and route; errors are reported, old rules stay.
  bool reload_rules(std::vector<std::string>& errors);

  // A SIGHUP in two halves, so a bad config changes nothing. prepare_reload() loads the new
  // config's rules and checks their routing against its notifier instances (`receivers`),
  // touching nothing that runs; null with every error. apply_reload() then puts all of it in
  // place: rules (alert state carries over), routing, receivers and their delivery settings,
  // API tokens, external URL and the config's silences.
  struct Reload {
    config::AlertingConfig config;
    config::ApiConfig api;
    std::map<std::string, outbox::ReceiverOptions> receivers;
    std::unique_ptr<RuleRunner> runner;
    std::chrono::milliseconds deadline{0};  // for calls in flight when the receivers change
  };
  std::unique_ptr<Reload> prepare_reload(const config::HostConfig& config,
                                         std::map<std::string, outbox::ReceiverOptions> receivers,
                                         std::vector<std::string>& errors);
  void apply_reload(std::unique_ptr<Reload> reload);
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
  DeliveryTotals delivery_totals();

 private:
  void loop();
  void wake();
  int64_t now() const;
  std::shared_ptr<const ApiAuth> auth();
  // With mutex_ held: the new rules and routing in place of the old.
  void install_rules(std::unique_ptr<RuleRunner> runner, int64_t t);
  // With mutex_ held: creates the config's silences that do not exist yet; at a reload also
  // replaces those whose times changed and expires those no longer in the config.
  void sync_config_silences(const std::vector<config::SilenceConfig>* previous,
                            const std::vector<config::SilenceConfig>& wanted, int64_t t);
  // Receivers removed by a reload, kept so what is queued for them is not dropped (see .cpp).
  void park_removed_receivers(std::map<std::string, outbox::ReceiverOptions>& next);
  void replace_delivery(std::map<std::string, outbox::ReceiverOptions> receivers,
                        std::chrono::milliseconds deadline);

  RuleLoader loader_;
  std::map<std::string, outbox::ReceiverOptions> receivers_;
  std::set<std::string> parked_;  // receivers_ kept only for what was queued before a reload
  std::function<bool()> ready_;
  std::chrono::milliseconds grace_;
  config::AlertingConfig config_;  // guarded by mutex_ once started
  std::mutex auth_mutex_;          // guards auth_ (the pointer; ApiAuth itself is immutable)
  std::shared_ptr<const ApiAuth> auth_;
  std::unique_ptr<outbox::Database> db_;
  std::unique_ptr<alerts::Engine> engine_;
  std::unique_ptr<outbox::Delivery> delivery_;  // null for a moment while a reload replaces it
  DeliveryTotals delivery_before_;              // what replaced delivery workers counted
  std::unique_ptr<RuleRunner> runner_;
  std::mutex mutex_;  // guards engine_, runner_, delivery_ and config_
  std::condition_variable cv_;
  bool stopping_ = false, woken_ = false, paused_ = false, wait_ready_ = true;
  std::thread thread_;
  AlertingCounters counters_;
  std::vector<std::pair<std::string, std::string>> mounted_;
};

}  // namespace vigil::core
