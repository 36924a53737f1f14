// See daemon.hpp. The main thread owns the lifecycle: it waits for signals, runs housekeeping
// between them, and is the only thread that creates, reloads or destroys instances.
#include "core/daemon.hpp"

#include "core/alerting.hpp"
#include "http/server.hpp"
#include "loader/instance.hpp"
#include "rules/rule_set.hpp"
#include "scheduler/scheduler.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <set>

namespace vigil::core {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

http::Options http_options(const config::HttpConfig& cfg) {
  http::Options options;
  options.address = cfg.address;
  options.port = cfg.port;
  options.threads = cfg.threads;
  options.max_concurrent_expensive = cfg.max_concurrent_requests;
  options.max_body_bytes = cfg.max_body_bytes;
  return options;
}

bool same_listener(const config::HttpConfig& a, const config::HttpConfig& b) {
  return a.address == b.address && a.port == b.port;
}

bool same_limits(const config::HttpConfig& a, const config::HttpConfig& b) {
  return a.threads == b.threads && a.max_concurrent_requests == b.max_concurrent_requests &&
         a.max_body_bytes == b.max_body_bytes;
}

void log_notes(const std::vector<loader::ScanNote>& notes) {
  for (const auto& note : notes) {
    if (note.kind == loader::ScanNote::Kind::refused)
      log::host()->error("{}", note.message);
    else
      log::host()->warn("{}", note.message);
  }
}

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// Remembers a call's last failure so a collector failing every run logs once per new message.
struct FailureLog {
  std::string last;
  uint64_t repeats = 0;
  void report(const loader::Instance& instance, const char* call, const loader::CallResult& r) {
    if (r.ok()) {
      if (!last.empty()) instance.logger()->info("{} succeeded again", call);
      last.clear();
      repeats = 0;
      return;
    }
    std::string message =
        std::string(loader::status_name(r.status)) + (r.message.empty() ? "" : ": " + r.message);
    if (message != last) {
      instance.logger()->error("{} failed: {}", call, message);
      last = std::move(message);
      repeats = 0;
    } else if (++repeats % 100 == 0) {
      instance.logger()->error("{} failed {} more times: {}", call, repeats, last);
    }
  }
};

}  // namespace

Daemon::Daemon(std::filesystem::path config_file, Overrides overrides)
    : config_file_(std::move(config_file)), overrides_(std::move(overrides)) {}

Daemon::~Daemon() = default;

int Daemon::run() {
  // Signals are taken synchronously by the main thread; every thread started later inherits
  // the mask, so no handler ever runs inside a plugin call.
  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto plan = make_plan(config_file_, overrides_);
  if (auto error = log::setup(plan.config.log); !error.empty())
    log::host()->error("{}: {}", config_file_.string(), error);
  log_notes(plan.notes);
  if (!plan.errors.empty()) {
    for (const auto& error : plan.errors)
      log::host()->error("{}", config::describe(error, config_file_.string()));
    log::host()->error("{}: {} error(s); not starting (run `vigil check-config -c {}`)",
                       config_file_.string(), plan.errors.size(), config_file_.string());
    return 1;
  }
  store_ = std::make_unique<store::Store>();
  self_ = std::make_unique<SelfMetrics>(*store_);
  if (!apply(std::move(plan), true)) return 1;
  if (config_.alerting.enabled) {
    std::string error;
    if (!start_alerting(error)) {
      log::host()->error("{}: {}", config_file_.string(), error);
      shutdown();
      return 1;
    }
  }
  log::host()->info("vigil {} running: {} instance(s), http://{}:{}/ (SIGHUP reloads {})",
                    VIGIL_VERSION, instances_.size(), http_config_.address, http_->port(),
                    config_file_.string());

  auto last_refresh = Clock::now();
  auto last_gc = Clock::now();
  for (;;) {
    // Signals end the wait at once; the timeout only paces housekeeping, so it can be long and
    // an idle agent stays asleep.
    timespec wait{5, 0};
    int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      log::host()->info("{} received; stopping (deadline {})", sig == SIGINT ? "SIGINT" : "SIGTERM",
                        config::format_duration(config_.shutdown_timeout));
      break;
    }
    if (sig == SIGHUP) reload();
    const auto now = Clock::now();
    if (now - last_refresh >= std::chrono::seconds(5)) {
      self_->refresh(http_->requests_total(), http_->rejected_busy_total());
      refresh_alerting_metrics();
      last_refresh = now;
    }
    if (now - last_gc >= std::chrono::minutes(1)) {
      const int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      if (auto dropped = store_->collect_garbage(now_ms, 10 * 60 * 1000))
        log::host()->debug("dropped {} long-stale series", dropped);
      last_gc = now;
    }
  }
  shutdown();
  log::host()->info("stopped");
  spdlog::shutdown();
  return 0;
}

void Daemon::mount_host_routes(http::Server& server) {
  if (alerting_) alerting_->mount(server);
  std::string error;
  server.mount(
      "GET", "/health/live",
      [](const http::Request&, http::Response& response) { response.write("ok\n"); }, {}, error);
  server.mount(
      "GET", "/health/ready",
      [this](const http::Request&, http::Response& response) {
        std::string report;
        if (ready(report)) {
          response.write("ready\n");
        } else {
          response.set_status(503);
          response.write("not ready:\n" + report);
        }
      },
      {}, error);
  server.mount(
      "GET", "/api/v1/health",
      [this](const http::Request&, http::Response& response) {
        response.set_header("Content-Type", "application/json");
        response.write(health_json());
      },
      {}, error);
  server.mount(
      "GET", "/",
      [](const http::Request&, http::Response& response) {
        response.write("vigil " VIGIL_VERSION
                       "\n\n/health/live    the process is up\n/health/ready   every instance "
                       "started and ran once\n/api/v1/health  health checks as JSON\n/metrics      "
                       "  Prometheus exposition (when the "
                       "exporter_prometheus plugin is configured)\n");
      },
      {}, error);
}

bool Daemon::ready(std::string& report) const {
  std::lock_guard lock(state_mutex_);
  bool ok = true;
  for (const auto& ri : instances_) {
    if (!ri.gates) continue;
    const std::string who =
        "instance \"" + ri.plan.config.name + "\" (plugin " + ri.plan.library->name() + ")";
    if (!ri.instance) {
      report += who + ": failed to start: " + ri.failure + "\n";
      ok = false;
    } else if (ri.scheduled && !ri.ran_once->load()) {
      report += who + ": has not completed its first run\n";
      ok = false;
    } else if (ri.gates_health && ri.health) {
      std::lock_guard health_lock(ri.health->mutex);
      if (ri.health->status != VIGIL_HEALTH_OK && ri.health->status != VIGIL_HEALTH_WARNING) {
        report += who + ": health " + loader::health_status_name(ri.health->status) +
                  (ri.health->message.empty() ? "" : ": " + ri.health->message) + "\n";
        ok = false;
      }
    }
  }
  return ok;
}

namespace {

std::string iso8601(std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return {};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return out;
}

// Worst first: how bad a status is, for the overall status.
int severity(int status) {
  switch (status) {
    case VIGIL_HEALTH_OK:
      return 0;
    case VIGIL_HEALTH_WARNING:
      return 1;
    case VIGIL_HEALTH_UNKNOWN:
      return 2;
    default:
      return 3;
  }
}

// A check's share of the score: ok counts fully, warning half, unknown a quarter.
double points(int status) {
  switch (status) {
    case VIGIL_HEALTH_OK:
      return 100;
    case VIGIL_HEALTH_WARNING:
      return 50;
    case VIGIL_HEALTH_UNKNOWN:
      return 25;
    default:
      return 0;
  }
}

}  // namespace

std::string Daemon::health_json() const {
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  int worst = VIGIL_HEALTH_OK;
  double total = 0;
  size_t counted = 0;
  std::lock_guard lock(state_mutex_);
  for (const auto& ri : instances_) {
    if (!ri.plan.checks) continue;
    nlohmann::ordered_json check = {{"name", ri.plan.config.name},
                                    {"plugin", ri.plan.library->name()},
                                    {"gates_readiness", ri.gates_health}};
    if (!ri.instance) {
      check["status"] = "unknown";
      check["message"] = "not started: " + ri.failure;
      worst = severity(worst) >= severity(VIGIL_HEALTH_UNKNOWN) ? worst : VIGIL_HEALTH_UNKNOWN;
      total += points(VIGIL_HEALTH_UNKNOWN);
      ++counted;
    } else {
      std::lock_guard health_lock(ri.health->mutex);
      const auto& h = *ri.health;
      if (!h.ran) {
        check["status"] = "pending";
        check["message"] = "has not run yet";
      } else {
        check["status"] = loader::health_status_name(h.status);
        check["message"] = h.message;
        check["since"] = iso8601(h.since);
        check["last_run"] = iso8601(h.last_run);
        check["duration_seconds"] = std::chrono::duration<double>(h.duration).count();
        check["last_success"] = h.last_success.time_since_epoch().count()
                                    ? nlohmann::ordered_json(iso8601(h.last_success))
                                    : nlohmann::ordered_json(nullptr);
        if (severity(h.status) > severity(worst)) worst = h.status;
        total += points(h.status);
        ++counted;
      }
    }
    checks.push_back(std::move(check));
  }
  nlohmann::ordered_json body = {
      {"status", loader::health_status_name(worst)},
      {"score", counted ? static_cast<int>(total / static_cast<double>(counted) + 0.5) : 100},
      {"checks", std::move(checks)}};
  return body.dump(2) + "\n";
}

bool Daemon::apply(Plan plan, bool first) {
  std::unique_ptr<http::Server> new_server;
  if (!first && same_listener(plan.config.http, http_config_) &&
      !same_limits(plan.config.http, http_config_)) {
    // Same address and port: a second server could not bind next to the running one, and
    // dropping the listener for a moment would refuse scrapes. Limits wait for a restart.
    log::host()->warn(
        "{}: http.threads, http.max_concurrent_requests and http.max_body_bytes "
        "changes take effect at the next restart",
        config_file_.string());
    plan.config.http = http_config_;
  }
  if (first || !same_listener(plan.config.http, http_config_)) {
    new_server = std::make_unique<http::Server>(http_options(plan.config.http));
    mount_host_routes(*new_server);
    std::string error;
    if (!new_server->start(error)) {
      log::host()->error("{}: http: {}", config_file_.string(), error);
      if (!first) log::host()->error("reload rejected; the running configuration stays");
      return false;
    }
  }
  if (!first) {
    if (auto error = log::setup(plan.config.log); !error.empty())
      log::host()->error("{}: {}", config_file_.string(), error);
    stop_instances(plan.config.shutdown_timeout);
  }
  if (new_server) {
    if (http_) http_->stop(milliseconds(1000));
    http_ = std::move(new_server);
    http_config_ = plan.config.http;
  }
  config_ = plan.config;
  // Only libraries with instances stay loaded; the others were scanned for their names and
  // go with the plan (a reload scans again).
  libraries_.clear();
  for (const auto& lib : plan.libraries)
    for (const auto& planned : plan.instances)
      if (planned.library == lib) {
        libraries_.push_back(lib);
        break;
      }

  std::vector<RunningInstance> runtime;
  for (auto& planned : plan.instances) {
    RunningInstance ri;
    ri.plan = std::move(planned);
    runtime.push_back(std::move(ri));
  }
  start_instances(runtime, config_);
  return true;
}

void Daemon::start_instances(std::vector<RunningInstance>& runtime, const config::HostConfig& cfg) {
  auto task_metrics = std::make_shared<std::vector<std::shared_ptr<InstanceMetrics>>>();
  auto task_names = std::make_shared<std::vector<std::string>>();
  scheduler::Observer observer;
  SelfMetrics* self = self_.get();
  observer.on_timeout = [self, task_metrics, task_names](size_t task) {
    self->timed_out(*(*task_metrics)[task]);
  };
  observer.on_skipped = [self, task_metrics](size_t task) {
    self->skipped(*(*task_metrics)[task]);
  };
  auto scheduler = std::make_unique<scheduler::Scheduler>(cfg.scheduler.workers, observer);

  loader::Services services;
  services.store = store_.get();
  services.http = http_.get();
  services.on_request = [self](const std::string& path, std::chrono::nanoseconds duration) {
    self->request_served(path, duration);
  };

  for (auto& ri : runtime) {
    const auto& lib = *ri.plan.library;
    const auto& name = ri.plan.config.name;
    auto& metrics = metrics_by_instance_[name];
    if (!metrics) metrics = std::make_shared<InstanceMetrics>();
    ri.metrics = metrics;
    self_->bind(*metrics, lib.name(), name, ri.plan.checks);
    // Anything that feeds data gates readiness until its first run by default; a health check's
    // status gates it only when the config marks the instance.
    ri.gates = ri.plan.config.gates_readiness.value_or(ri.plan.collects || ri.plan.exports ||
                                                       !ri.plan.checks);
    ri.gates_health = ri.plan.checks && ri.plan.config.gates_readiness.value_or(false);
    if (ri.plan.checks) {
      auto& health = health_by_instance_[name];
      if (!health) health = std::make_shared<HealthState>();
      ri.health = health;
    }

    std::string error;
    ri.instance = loader::Instance::create(ri.plan.library, ri.plan.config, ri.plan.options,
                                           ri.plan.interval, ri.plan.timeout, services, error);
    if (!ri.instance) {
      ri.failure = error;
      log::for_instance(lib.name(), name)
          ->error("{}: not started: {}", ri.plan.config.json_path, error);
      store_->write(metrics->up, 0, 0);
      continue;
    }
    store_->write(metrics->up, 1, 0);
    std::string kinds;
    for (auto [on, kind] :
         {std::pair{ri.plan.collects, "collector"}, std::pair{ri.plan.checks, "health_check"},
          std::pair{ri.plan.exports, "exporter"}, std::pair{ri.plan.notifies, "notifier"}})
      if (on) kinds += (kinds.empty() ? "" : ", ") + std::string(kind);
    ri.instance->logger()->info("started ({}{})", kinds,
                                ri.plan.interval.count() > 0
                                    ? ", every " + config::format_duration(ri.plan.interval)
                                    : std::string());
    ri.scheduled = ri.plan.interval.count() > 0;
    if (!ri.scheduled) continue;

    const bool collects = ri.plan.collects;
    const bool checks = ri.plan.checks;
    const bool pushes = ri.plan.exports && lib.exporter().push;
    auto instance = ri.instance;
    auto ran_once = ri.ran_once;
    auto failures = std::make_shared<std::array<FailureLog, 3>>();
    auto health = ri.health;
    scheduler::TaskSpec spec;
    spec.name = lib.name() + ":" + name;
    spec.interval = ri.plan.interval;
    spec.timeout = ri.plan.timeout;
    spec.jitter = cfg.scheduler.jitter;
    spec.run = [instance, metrics, ran_once, failures, health, self, collects, checks, pushes] {
      if (collects) {
        auto r = instance->collect();
        self->call_finished(*metrics, r.duration, r.ok());
        (*failures)[0].report(*instance, "collect", r);
      }
      if (checks) {
        loader::HealthOutcome outcome;
        auto r = instance->check(outcome);
        self->call_finished(*metrics, r.duration, r.ok());
        self->health(*metrics, outcome.status, r.duration);
        (*failures)[1].report(*instance, "check", r);
        const auto now = std::chrono::system_clock::now();
        bool changed = false;
        {
          std::lock_guard lock(health->mutex);
          changed = !health->ran || health->status != outcome.status;
          if (changed) health->since = now;
          health->ran = true;
          health->status = outcome.status;
          health->message = outcome.message;
          health->duration = r.duration;
          health->last_run = now;
          if (outcome.status == VIGIL_HEALTH_OK) health->last_success = now;
        }
        // Logged when the status changes, never on every run.
        if (changed) {
          auto level =
              outcome.status == VIGIL_HEALTH_OK ? spdlog::level::info : spdlog::level::warn;
          instance->logger()->log(level, "health {}{}{}",
                                  loader::health_status_name(outcome.status),
                                  outcome.message.empty() ? "" : ": ", outcome.message);
        }
      }
      if (pushes) {
        auto r = instance->push();
        self->call_finished(*metrics, r.duration, r.ok());
        (*failures)[2].report(*instance, "push", r);
      }
      ran_once->store(true);
    };
    task_metrics->push_back(metrics);
    task_names->push_back(spec.name);
    scheduler->add(std::move(spec));
  }
  {
    std::lock_guard lock(state_mutex_);
    instances_ = std::move(runtime);
  }
  scheduler_ = std::move(scheduler);
  scheduler_->start();
}

void Daemon::stop_instances(milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  auto remaining = [&] {
    return std::max(milliseconds(0),
                    std::chrono::duration_cast<milliseconds>(until - Clock::now()));
  };
  if (scheduler_) {
    for (const auto& name : scheduler_->stop(deadline))
      log::host()->warn("{}: still running at the stop deadline; abandoned", name);
  }
  std::vector<RunningInstance> old;
  {
    std::lock_guard lock(state_mutex_);
    old.swap(instances_);
  }
  for (auto it = old.rbegin(); it != old.rend(); ++it) {
    auto& instance = it->instance;
    if (!instance) continue;
    if (it->plan.exports) {
      auto r = instance->flush(remaining());
      if (!r.ok()) instance->logger()->error("flush failed: {}", r.message);
    }
    if (!instance->shutdown(remaining())) {
      // A call is still inside the plugin: its library must stay loaded until the process
      // ends, so this reference is deliberately never released (a never-destroyed static, so
      // leak checkers see it as reachable, not lost).
      static auto* abandoned = new std::vector<std::shared_ptr<loader::Instance>>();
      abandoned->push_back(instance);
    }
  }
  // A hung worker thread may still hold a task; the scheduler detaches it, never joins it.
  scheduler_.reset();
}

void Daemon::reload() {
  log::host()->info("SIGHUP: reloading {}", config_file_.string());
  auto plan = make_plan(config_file_, overrides_, libraries_);
  log_notes(plan.notes);
  if (!plan.errors.empty()) {
    for (const auto& error : plan.errors)
      log::host()->error("{}", config::describe(error, config_file_.string()));
    log::host()->error("reload rejected: {} error(s); the running configuration stays",
                       plan.errors.size());
    return;
  }
  // The rules are loaded and their routing checked against the new config's notifier instances
  // before anything changes: a config whose rules fail is rejected whole, as one that fails to
  // parse is, and everything keeps running as it was.
  const auto& next = plan.config.alerting;
  const bool restart_alerting = next.enabled != (alerting_ != nullptr) ||
                                (alerting_ && next.data_dir != config_.alerting.data_dir);
  std::unique_ptr<AlertingService::Reload> alerting_reload;
  if (next.enabled) {
    std::vector<std::string> errors;
    std::vector<const PlannedInstance*> planned;
    for (const auto& instance : plan.instances) planned.push_back(&instance);
    auto next_receivers = receivers(planned);
    if (!restart_alerting) {
      alerting_reload = alerting_->prepare_reload(plan.config, std::move(next_receivers), errors);
    } else {
      std::set<std::string> names;
      for (const auto& [name, options] : next_receivers) names.insert(name);
      load_checked_rules(store_rule_loader(*store_, [this] { return health_infos(); }), next, names,
                         errors);
    }
    if (!errors.empty()) {
      for (const auto& e : errors) log::host()->error("{}", e);
      log::host()->error(
          "rules reload rejected: {} error(s); the running configuration and rules stay",
          errors.size());
      return;
    }
  }
  if (alerting_) alerting_->pause();
  const bool applied = apply(std::move(plan), false);
  if (alerting_) alerting_->resume_when_ready();
  if (!applied) return;
  log::host()->info("reloaded: {} instance(s)", instances_.size());
  if (alerting_reload) {
    apply_window_options();
    alerting_->apply_reload(std::move(alerting_reload));
  } else if (restart_alerting) {
    if (alerting_) {
      alerting_->unmount(*http_);
      alerting_->stop(config_.shutdown_timeout);
      alerting_.reset();
    }
    std::string error;
    if (config_.alerting.enabled && !start_alerting(error))
      log::host()->error("{}: alerting not started: {}", config_file_.string(), error);
  }
}

void Daemon::shutdown() {
  // Alerting first: its delivery threads call notifier instances.
  if (alerting_) alerting_->stop(config_.shutdown_timeout);
  stop_instances(config_.shutdown_timeout);
  if (http_) http_->stop(milliseconds(1000));
}

std::shared_ptr<loader::Instance> Daemon::notifier(const std::string& name) const {
  std::lock_guard lock(state_mutex_);
  for (const auto& ri : instances_)
    if (ri.plan.config.name == name && ri.plan.notifies) return ri.instance;
  return nullptr;
}

std::map<std::string, outbox::ReceiverOptions> Daemon::receivers(
    const std::vector<const PlannedInstance*>& instances) {
  std::map<std::string, outbox::ReceiverOptions> out;
  for (const auto* instance : instances) {
    const PlannedInstance& planned = *instance;
    if (!planned.notifies) continue;
    const auto& d = planned.config.delivery;
    outbox::ReceiverOptions o;
    o.fallback = d.fallback.value_or("");
    o.max_age_ms = d.max_age.count();
    o.backoff_min_ms = d.backoff_min.count();
    o.backoff_max_ms = d.backoff_max.count();
    o.backoff_factor = d.backoff_factor;
    // The instance's "timeout" bounds each call; past it the lane abandons the call (retryable)
    // and goes on with the next notification.
    if (planned.config.timeout) o.timeout_ms = planned.config.timeout->count();
    // Looked up at every call: a reload replaces the instance behind the name.
    o.deliver = [this, name = planned.config.name](const alerts::Notification& n, int attempt,
                                                   std::string& error, int64_t& retry_after_ms) {
      auto instance = notifier(name);
      if (!instance) {
        error = "notifier instance " + name + " is not running";
        return outbox::Outcome::retryable;
      }
      vigil_notification c{};
      c.size = sizeof c;
      c.idempotency_key = n.idempotency_key.c_str();
      c.receiver = n.receiver.c_str();
      c.status = n.status.c_str();
      c.group_key = n.group_key.c_str();
      c.escalation_step = n.escalation_step;
      c.attempt = attempt;
      c.payload_json = n.payload_json.c_str();
      c.retry_after_ms = &retry_after_ms;
      auto result = instance->notify(c);
      if (result.ok()) return outbox::Outcome::ok;
      error = std::string(loader::status_name(result.status)) +
              (result.message.empty() ? "" : ": " + result.message);
      return result.status == VIGIL_ERR_PERMANENT ? outbox::Outcome::permanent
                                                  : outbox::Outcome::retryable;
    };
    out[planned.config.name] = std::move(o);
  }
  return out;
}

std::vector<rules::HealthInfo> Daemon::health_infos() const {
  std::vector<rules::HealthInfo> out;
  std::lock_guard lock(state_mutex_);
  for (const auto& [name, state] : health_by_instance_) {
    std::lock_guard slock(state->mutex);
    if (!state->ran) continue;
    rules::HealthInfo h;
    h.check = name;
    h.status = state->status;
    h.since_ms = std::chrono::duration_cast<milliseconds>(state->since.time_since_epoch()).count();
    h.message = state->message;
    out.push_back(std::move(h));
  }
  return out;
}

void Daemon::apply_window_options() {
  store_->set_window_options({config_.alerting.window_retention.count(),
                              config_.alerting.window_max_samples,
                              config_.alerting.window_all_series});
}

bool Daemon::start_alerting(std::string& error) {
  apply_window_options();
  std::vector<const PlannedInstance*> planned;
  for (const auto& ri : instances_) planned.push_back(&ri.plan);
  alerting_ = std::make_unique<AlertingService>(
      store_rule_loader(*store_, [this] { return health_infos(); }), receivers(planned), [this] {
        std::string report;
        return ready(report);
      });
  if (!alerting_->start(config_, error)) {
    alerting_.reset();
    return false;
  }
  alerting_->mount(*http_);
  return true;
}

// Self-metrics of alerting, refreshed with the others.
struct Daemon::AlertingSeries {
  vigil_series_id evaluations = 0, failures = 0, duration = 0, depth = 0, delivered = 0,
                  retried = 0, failed = 0, fallen_back = 0, window_bytes = 0;
  std::map<alerts::State, vigil_series_id> by_state;
};

void Daemon::refresh_alerting_metrics() {
  if (!alerting_) return;
  std::string error;
  if (!alerting_series_) {
    auto family = [&](const char* name, vigil_metric_type type, const char* help) {
      vigil_family_desc d{};
      d.size = sizeof d;
      d.name = name;
      d.help = help;
      d.type = type;
      return store_->register_family(d, error);
    };
    auto series = [&](vigil_family_id f, store::Labels labels = {}) {
      return store_->register_series(f, std::move(labels), 0, 0, error);
    };
    auto s = std::make_unique<AlertingSeries>();
    s->evaluations = series(
        family("vigil_rule_evaluations_total", VIGIL_METRIC_COUNTER, "Rule evaluations run."));
    s->failures = series(family("vigil_rule_evaluation_failures_total", VIGIL_METRIC_COUNTER,
                                "Rule evaluations that failed with a script error."));
    s->duration = series(family("vigil_rule_evaluation_duration_seconds", VIGIL_METRIC_GAUGE,
                                "Time the last round of due rules took."));
    auto alerts = family("vigil_alerts", VIGIL_METRIC_GAUGE, "Alerts by state.");
    for (auto state : {alerts::State::pending, alerts::State::firing, alerts::State::resolved})
      s->by_state[state] = series(alerts, {{"state", alerts::to_string(state)}});
    s->depth = series(
        family("vigil_outbox_depth", VIGIL_METRIC_GAUGE, "Notifications waiting in the outbox."));
    auto deliveries = family("vigil_notifications_total", VIGIL_METRIC_COUNTER,
                             "Notification delivery attempts by result.");
    s->delivered = series(deliveries, {{"result", "delivered"}});
    s->retried = series(deliveries, {{"result", "retried"}});
    s->failed = series(deliveries, {{"result", "failed"}});
    s->fallen_back = series(deliveries, {{"result", "fallen_back"}});
    alerting_series_ = std::move(s);
  }
  auto& s = *alerting_series_;
  const auto& c = alerting_->counters();
  store_->write(s.evaluations, static_cast<double>(c.evaluations.load()), 0);
  store_->write(s.failures, static_cast<double>(c.evaluation_failures.load()), 0);
  store_->write(s.duration, static_cast<double>(c.last_evaluation_us.load()) / 1e6, 0);
  for (const auto& [state, id] : s.by_state)
    store_->write(id, static_cast<double>(alerting_->alerts_in(state)), 0);
  store_->write(s.depth, static_cast<double>(alerting_->outbox_depth()), 0);
  store_->write(s.window_bytes, static_cast<double>(store_->window_bytes()), 0);
  const auto d = alerting_->delivery_totals();
  store_->write(s.delivered, static_cast<double>(d.delivered), 0);
  store_->write(s.retried, static_cast<double>(d.retried), 0);
  store_->write(s.failed, static_cast<double>(d.failed), 0);
  store_->write(s.fallen_back, static_cast<double>(d.fallen_back), 0);
}

int check_config(const std::filesystem::path& file, const Overrides& overrides) {
  auto plan = make_plan(file, overrides);
  for (const auto& note : plan.notes)
    std::cout << (note.kind == loader::ScanNote::Kind::refused ? "warning: " : "note: ")
              << note.message << "\n";
  for (const auto& error : plan.errors) std::cout << config::describe(error, file.string()) << "\n";
  size_t errors = plan.errors.size();
  size_t rule_count = 0;
  const auto& alerting = plan.config.alerting;
  if (alerting.enabled) {
    // The rules load exactly as `vigil run` would load them, and routing must name notifier
    // instances of this config.
    std::vector<std::string> rule_errors;
    rules::Limits limits;
    limits.instruction_budget = alerting.instruction_budget;
    limits.memory_limit_bytes = alerting.memory_limit_bytes;
    limits.script_dirs = alerting.script_dirs;
    limits.default_interval_ms = alerting.evaluation_interval.count();
    auto set = rules::RuleSet::load(alerting.rules, limits, rule_errors);
    if (set) {
      rule_count = set->specs().size();
      std::set<std::string> receivers;
      for (const auto& instance : plan.instances)
        if (instance.notifies) receivers.insert(instance.config.name);
      rule_errors = alerts::Engine::validate(set->routing(), receivers);
    }
    for (const auto& e : rule_errors) std::cout << e << "\n";
    errors += rule_errors.size();
    if (alerting.rules.empty()) {
      std::cout << file.string() << ": alerting.rules: empty, expected rule files or directories\n";
      ++errors;
    }
  }
  // Notifier instances are created and destroyed again: their configure() compiles templates
  // and reads secrets, so a template error is found now, not at 3 a.m. Nothing else runs them
  // here (a notifier's configure() does no I/O beyond reading files); other kinds are left
  // alone, since a collector's configure() may bind a port the running daemon holds.
  if (plan.errors.empty()) {
    store::Store scratch;
    loader::Services services;
    services.store = &scratch;
    for (const auto& instance : plan.instances) {
      if (!instance.notifies || instance.collects || instance.checks || instance.exports) continue;
      std::string error;
      auto created = loader::Instance::create(instance.library, instance.config, instance.options,
                                              instance.interval, instance.timeout, services, error);
      if (!created) {
        std::cout << file.string() << ": " << instance.config.json_path << ".options: " << error
                  << "\n";
        ++errors;
      }
    }
  }
  for (const auto& instance : plan.instances) {
    if (instance.config.has_delivery && !instance.notifies) {
      std::cout << file.string() << ": " << instance.config.json_path
                << ".delivery: found on an instance that is not a notifier, expected it only on "
                   "notifier instances\n";
      ++errors;
    }
  }
  if (errors) {
    std::cout << file.string() << ": " << errors << " error(s)\n";
    return 1;
  }
  std::cout << file.string() << ": OK (" << plan.instances.size() << " instance(s), "
            << plan.available.size() << " plugin(s) found"
            << (alerting.enabled ? ", " + std::to_string(rule_count) + " rule(s)" : "") << ")\n";
  return 0;
}

int list_plugins(const std::filesystem::path* file, const Overrides& overrides) {
  std::vector<std::filesystem::path> dirs = overrides.plugin_dirs;
  if (file) {
    auto loaded = config::load_file(*file);
    for (const auto& error : loaded.errors)
      std::cerr << config::describe(error, file->string()) << "\n";
    dirs.insert(dirs.end(), loaded.config.plugin_dirs.begin(), loaded.config.plugin_dirs.end());
  }
  if (dirs.empty()) dirs = default_plugin_dirs();
  auto scanned = scan_plugins(dirs);
  if (scanned.libraries.empty()) {
    std::cout << "no plugins found in:";
    for (const auto& dir : dirs) std::cout << " " << dir.string();
    std::cout << "\n";
  }
  for (const auto& lib : scanned.libraries) {
    std::cout << lib->name() << " " << lib->version() << " (" << lib->kinds() << ")\n"
              << "  " << lib->description() << "\n"
              << "  file: " << lib->path().string() << ", ABI "
              << loader::format_abi_version(lib->abi_version()) << "\n";
    if (lib->options().empty()) {
      std::cout << "  options: none\n";
    } else {
      std::cout << "  options:\n";
      size_t width = 0;
      for (const auto& opt : lib->options()) width = std::max(width, opt.name.size());
      for (const auto& opt : lib->options()) {
        std::string name = opt.name;
        name.resize(width, ' ');
        std::cout << "    " << name << "  " << config::option_type_name(opt.type);
        if (opt.required)
          std::cout << ", required";
        else if (opt.default_text)
          std::cout << ", default "
                    << (opt.default_text->empty() ? std::string("\"\"") : *opt.default_text);
        std::cout << "\n      " << opt.description << "\n";
      }
    }
    std::cout << "\n";
  }
  for (const auto& note : scanned.notes) std::cout << note.message << "\n";
  return 0;
}

}  // namespace vigil::core
