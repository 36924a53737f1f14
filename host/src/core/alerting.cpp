// The daemon's alerting service (see alerting.hpp): the evaluation loop and the alerting API.
#include "core/alerting.hpp"

#include "http/server.hpp"
#include "log/logging.hpp"
#include "rules/rule_set.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <ctime>

namespace vigil::core {
namespace {

using nlohmann::json;

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

json time_json(int64_t ms) {
  if (ms <= 0) return nullptr;
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return std::string(buf);
}

json alert_json(const alerts::Alert& a) {
  json j = {{"fingerprint", a.fingerprint},
            {"rule", a.rule},
            {"labels", a.labels},
            {"annotations", a.annotations},
            {"value", std::isfinite(a.value) ? json(a.value) : json(nullptr)},
            {"state", alerts::to_string(a.state)},
            {"active_since", time_json(a.active_since_ms)},
            {"fired_at", time_json(a.fired_at_ms)},
            {"resolved_at", time_json(a.resolved_at_ms)},
            {"silenced", a.silenced},
            {"silenced_by", a.silenced_by},
            {"inhibited", a.inhibited},
            {"flapping", a.flapping},
            {"acknowledged", nullptr}};
  if (a.ack)
    j["acknowledged"] = {{"author", a.ack->author},
                         {"comment", a.ack->comment},
                         {"at", time_json(a.ack->at_ms)},
                         {"expires", time_json(a.ack->expires_ms)},
                         {"sticky", a.ack->sticky}};
  return j;
}

json silence_json(const alerts::Silence& s, int64_t now) {
  json matchers = json::array();
  for (const auto& m : s.matchers) matchers.push_back(m.to_string());
  return {{"id", s.id},
          {"matchers", matchers},
          {"starts", time_json(s.starts_ms)},
          {"ends", time_json(s.ends_ms)},
          {"author", s.author},
          {"comment", s.comment},
          {"end_on_resolve", s.end_on_resolve},
          // An expired silence may never have started (ended before its start).
          {"state", now >= s.ends_ms    ? "expired"
                    : now < s.starts_ms ? "pending"
                                        : "active"}};
}

void reply(http::Response& response, int status, const json& body) {
  response.set_status(status);
  response.set_header("Content-Type", "application/json");
  response.write(body.dump());
}

void error_reply(http::Response& response, int status, const std::string& message) {
  reply(response, status, json{{"error", message}});
}

// The request body as a JSON object, or a 400 naming what was wrong.
std::optional<json> body_object(const http::Request& request, http::Response& response) {
  json body = json::parse(request.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    error_reply(response, 400,
                "the request body is not a JSON object, expected one such as "
                "{\"fingerprint\": \"...\", \"comment\": \"...\"}");
    return std::nullopt;
  }
  return body;
}

std::optional<int64_t> duration_field(const json& body, const char* key, http::Response& response) {
  if (!body.contains(key)) return 0;
  auto d = config::parse_duration(body[key]);
  if (!d || d->count() <= 0) {
    error_reply(response, 400,
                std::string(key) + ": found " + config::describe_value(body[key]) +
                    ", expected a positive duration such as \"2h\"");
    return std::nullopt;
  }
  return d->count();
}

std::set<std::string> receiver_names(
    const std::map<std::string, outbox::ReceiverOptions>& receivers) {
  std::set<std::string> names;
  for (const auto& [name, options] : receivers) names.insert(name);
  return names;
}

// A silence from the config, its times left to the caller.
alerts::Silence config_silence(const config::SilenceConfig& sc) {
  alerts::Silence s;
  for (const auto& text : sc.matchers) {
    std::string why;  // the config's validation already refused a bad one
    if (auto m = alerts::parse_matcher(text, why)) s.matchers.push_back(*m);
  }
  s.author = sc.author;
  s.comment = sc.comment;
  s.end_on_resolve = sc.end_on_resolve;
  return s;
}

// What recognises a config silence in the database: its matchers, author and comment. An
// operator who expired it may have had " (expired by NAME)" added to the comment: still the
// same silence, and it must not come back.
std::string silence_key(const alerts::Silence& s) {
  std::string comment = s.comment;
  if (auto at = comment.rfind("(expired by "); at != std::string::npos && comment.back() == ')')
    comment.erase(at > 0 && comment[at - 1] == ' ' ? at - 1 : at);
  std::string key = s.author + "\n" + comment;
  for (const auto& m : s.matchers) key += "\n" + m.to_string();
  return key;
}

// The Lua rule set reading the daemon's store.
class StoreRules : public RuleRunner {
 public:
  StoreRules(std::unique_ptr<rules::RuleSet> set, const store::Store& store,
             rules::StoreSource::HealthFn health)
      : set_(std::move(set)), source_(store, std::move(health)) {}
  std::vector<alerts::RuleSpec> rules() const override { return set_->specs(); }
  alerts::Routing routing() const override { return set_->routing(); }
  int64_t next_due_ms() const override { return set_->next_due_ms(); }
  std::vector<alerts::RuleEvaluation> evaluate_due(int64_t now_ms) override {
    return set_->evaluate_due(now_ms, source_);
  }

 private:
  std::unique_ptr<rules::RuleSet> set_;
  rules::StoreSource source_;
};

}  // namespace

RuleLoader store_rule_loader(const store::Store& store, rules::StoreSource::HealthFn health) {
  return [&store, health](const config::AlertingConfig& config,
                          std::vector<std::string>& errors) -> std::unique_ptr<RuleRunner> {
    rules::Limits limits;
    limits.instruction_budget = config.instruction_budget;
    limits.memory_limit_bytes = config.memory_limit_bytes;
    limits.script_dirs = config.script_dirs;
    limits.default_interval_ms = config.evaluation_interval.count();
    auto set = rules::RuleSet::load(config.rules, limits, errors);
    if (!set) return nullptr;
    return std::make_unique<StoreRules>(std::move(set), store, health);
  };
}

AlertingService::AlertingService(RuleLoader loader,
                                 std::map<std::string, outbox::ReceiverOptions> receivers,
                                 std::function<bool()> ready, std::chrono::milliseconds grace)
    : loader_(std::move(loader)),
      receivers_(std::move(receivers)),
      ready_(std::move(ready)),
      grace_(grace) {}

AlertingService::~AlertingService() {
  stop(std::chrono::milliseconds(0));
}

int64_t AlertingService::now() const {
  return wall_ms();
}

std::unique_ptr<RuleRunner> load_checked_rules(const RuleLoader& loader,
                                               const config::AlertingConfig& config,
                                               const std::set<std::string>& receivers,
                                               std::vector<std::string>& errors) {
  auto runner = loader(config, errors);
  if (!runner) return nullptr;
  auto problems = alerts::Engine::validate(runner->routing(), receivers);
  if (problems.empty()) return runner;
  errors.insert(errors.end(), problems.begin(), problems.end());
  return nullptr;
}

std::shared_ptr<const ApiAuth> AlertingService::auth() {
  std::lock_guard lock(auth_mutex_);
  return auth_;
}

bool AlertingService::start(const config::HostConfig& config, std::string& error) {
  config_ = config.alerting;
  auth_ = std::make_shared<const ApiAuth>(config.api);
  const std::string file = (config_.data_dir / "vigil.db").string();
  db_ = outbox::Database::open(file, error);
  if (!db_) return false;
  std::vector<std::string> errors;
  auto runner = load_checked_rules(loader_, config_, receiver_names(receivers_), errors);
  if (!runner) {
    error = "alerting.rules: the rules did not load:";
    for (const auto& e : errors) error += "\n  " + e;
    return false;
  }
  engine_ = std::make_unique<alerts::Engine>(*db_);
  engine_->set_external_url(config_.external_url);
  alerts::Snapshot snapshot;
  if (!db_->load(snapshot, error)) return false;
  engine_->restore(snapshot);
  const int64_t t = now();
  {
    std::lock_guard lock(mutex_);
    install_rules(std::move(runner), t);
    sync_config_silences(nullptr, config_.silences, t);
  }
  delivery_ = std::make_unique<outbox::Delivery>(*db_);
  delivery_->set_receivers(receivers_);
  delivery_->start();
  spdlog::info("alerting: {} rules, state in {} ({} alerts restored, {} notifications queued)",
               runner_->rules().size(), file, snapshot.alerts.size(), db_->depth());
  thread_ = std::thread([this] {
    vigil::log::name_this_thread("vigil-rules");
    loop();
  });
  return true;
}

void AlertingService::install_rules(std::unique_ptr<RuleRunner> runner, int64_t t) {
  runner_ = std::move(runner);
  engine_->set_routing(runner_->routing());
  engine_->set_rules(runner_->rules(), t);
}

void AlertingService::sync_config_silences(const std::vector<config::SilenceConfig>* previous,
                                           const std::vector<config::SilenceConfig>& wanted,
                                           int64_t t) {
  // The one still running first: an ended one of the same identity may be older.
  const auto have = engine_->list_silences(true, t);
  auto find = [&](const std::string& key) -> const alerts::Silence* {
    const alerts::Silence* found = nullptr;
    for (const auto& s : have)
      if (silence_key(s) == key && (!found || s.ends_ms > found->ends_ms)) found = &s;
    return found;
  };
  const std::string reason = "config reload";
  std::set<std::string> keys;
  for (const auto& sc : wanted) {
    alerts::Silence s = config_silence(sc);
    const std::string key = silence_key(s);
    keys.insert(key);
    const alerts::Silence* existing = find(key);
    s.starts_ms = sc.starts_ms.value_or(existing ? existing->starts_ms : t);
    s.ends_ms = sc.ends_ms ? *sc.ends_ms : s.starts_ms + sc.duration->count();
    if (existing) {
      // An ended one stays ended (it ran out, or an operator ended it). A running one whose
      // times changed in the config is replaced, at a reload only: a restart reads the same
      // config, and the times of one given as a `duration` count from its creation.
      const bool changed = existing->starts_ms != s.starts_ms || existing->ends_ms != s.ends_ms ||
                           existing->end_on_resolve != s.end_on_resolve;
      if (!previous || existing->ends_ms <= t || !changed) continue;
      engine_->expire_silence(existing->id, reason, t);
      spdlog::info("alerting: {}: silence {} replaced: its times changed in the config",
                   sc.json_path, existing->id);
    }
    if (s.ends_ms <= t) continue;
    if (auto error = engine_->create_silence(s, t); !error.empty())
      spdlog::error("alerting: {}: {}", sc.json_path, error);
  }
  if (!previous) return;
  for (const auto& sc : *previous) {
    const std::string key = silence_key(config_silence(sc));
    const alerts::Silence* s = keys.count(key) ? nullptr : find(key);
    if (!s || s->ends_ms <= t) continue;
    engine_->expire_silence(s->id, reason, t);
    spdlog::info("alerting: silence {} expired: it is no longer in the config", s->id);
  }
}

void AlertingService::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (paused_) {
      cv_.wait(lock, [&] { return stopping_ || !paused_; });
      continue;
    }
    if (wait_ready_) {
      // Until the collectors have written once, an empty store would read as "every alert
      // recovered" and undo what the database restored.
      const auto until = std::chrono::steady_clock::now() + grace_;
      while (!stopping_ && !paused_ && ready_ && !ready_() &&
             std::chrono::steady_clock::now() < until)
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_ || paused_; });
      wait_ready_ = false;
      continue;
    }
    const int64_t t = now();
    if (runner_->next_due_ms() <= t) {
      const auto began = std::chrono::steady_clock::now();
      auto evaluations = runner_->evaluate_due(t);
      for (const auto& e : evaluations) {
        ++counters_.evaluations;
        if (!e.ok) {
          ++counters_.evaluation_failures;
          spdlog::error("alerting: {}", e.error);
        }
      }
      engine_->apply_all(evaluations, t);
      counters_.last_evaluation_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count();
    }
    engine_->tick(t);
    if (delivery_) delivery_->wake();
    const int64_t next = std::min(runner_->next_due_ms(), engine_->next_deadline_ms());
    const int64_t wait = next == INT64_MAX ? 60'000 : std::max<int64_t>(1, next - now());
    cv_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait, 60'000)),
                 [&] { return stopping_ || woken_; });
    woken_ = false;
  }
}

void AlertingService::pause() {
  std::lock_guard lock(mutex_);
  paused_ = true;
}

void AlertingService::resume_when_ready() {
  {
    std::lock_guard lock(mutex_);
    paused_ = false;
    wait_ready_ = true;
  }
  cv_.notify_one();
}

void AlertingService::wake() {
  woken_ = true;
  cv_.notify_one();
}

bool AlertingService::reload_rules(std::vector<std::string>& errors) {
  config::AlertingConfig config;
  std::set<std::string> names;
  {
    std::lock_guard lock(mutex_);
    if (!engine_) return false;
    config = config_;
    names = receiver_names(receivers_);
  }
  auto next = load_checked_rules(loader_, config, names, errors);
  if (!next) return false;
  std::lock_guard lock(mutex_);
  install_rules(std::move(next), now());
  wake();
  spdlog::info("alerting: reloaded {} rules", runner_->rules().size());
  return true;
}

std::unique_ptr<AlertingService::Reload> AlertingService::prepare_reload(
    const config::HostConfig& config, std::map<std::string, outbox::ReceiverOptions> receivers,
    std::vector<std::string>& errors) {
  auto runner = load_checked_rules(loader_, config.alerting, receiver_names(receivers), errors);
  if (!runner) return nullptr;
  auto reload = std::make_unique<Reload>();
  reload->config = config.alerting;
  reload->api = config.api;
  reload->receivers = std::move(receivers);
  reload->runner = std::move(runner);
  reload->deadline = config.shutdown_timeout;
  return reload;
}

namespace {

bool same_options(const outbox::ReceiverOptions& a, const outbox::ReceiverOptions& b) {
  return a.fallback == b.fallback && a.max_age_ms == b.max_age_ms &&
         a.backoff_min_ms == b.backoff_min_ms && a.backoff_max_ms == b.backoff_max_ms &&
         a.backoff_factor == b.backoff_factor && a.jitter == b.jitter &&
         a.timeout_ms == b.timeout_ms;
}

}  // namespace

// A receiver the new config no longer has keeps a lane with its last delivery settings, so what
// is queued for it (or queued later, such as a resolve to everyone a group told) is not dropped:
// each attempt fails as retryable, and at its max_age the notification goes to the receiver's
// fallback, or is marked failed, logged and counted: the outbox's rules for any receiver that
// cannot deliver. A later reload that brings the receiver back delivers what still waits. At
// the next start it is simply not configured, and the outbox marks its rows failed and says so.
void AlertingService::park_removed_receivers(std::map<std::string, outbox::ReceiverOptions>& next) {
  std::set<std::string> parked;
  for (const auto& [name, options] : receivers_) {
    if (next.count(name)) continue;
    outbox::ReceiverOptions kept = options;
    kept.deliver = [name](const alerts::Notification&, int, std::string& error, int64_t&) {
      error = "receiver " + name +
              " was removed from the config by a reload; the notification waits for its "
              "max_age, then goes to its fallback";
      return outbox::Outcome::retryable;
    };
    next[name] = std::move(kept);
    parked.insert(name);
  }
  for (const auto& name : parked)
    if (!parked_.count(name))
      spdlog::warn(
          "alerting: receiver {} is not in the config any more; its queued notifications wait "
          "for its max_age, then go to its fallback (or are marked failed)",
          name);
  parked_ = std::move(parked);
}

void AlertingService::replace_delivery(std::map<std::string, outbox::ReceiverOptions> receivers,
                                       std::chrono::milliseconds deadline) {
  // The old lanes stop first (calls in flight may finish until the deadline), so one row is
  // never in two lanes; what they left pending goes out from the new lanes at once.
  std::unique_ptr<outbox::Delivery> old;
  {
    std::lock_guard lock(mutex_);
    old = std::move(delivery_);
  }
  if (old) {
    old->stop(deadline);
    const auto& c = old->counters();
    delivery_before_.delivered += c.delivered;
    delivery_before_.retried += c.retried;
    delivery_before_.failed += c.failed;
    delivery_before_.fallen_back += c.fallen_back;
  }
  auto next = std::make_unique<outbox::Delivery>(*db_);
  next->set_receivers(receivers);
  next->start();
  std::lock_guard lock(mutex_);
  receivers_ = std::move(receivers);
  delivery_ = std::move(next);
}

void AlertingService::apply_reload(std::unique_ptr<Reload> reload) {
  auto receivers = std::move(reload->receivers);
  const auto parked_before = parked_;
  park_removed_receivers(receivers);
  bool same = receivers.size() == receivers_.size() && parked_ == parked_before;
  for (auto a = receivers.begin(), b = receivers_.begin(); same && a != receivers.end(); ++a, ++b)
    same = a->first == b->first && same_options(a->second, b->second);
  if (!same) replace_delivery(std::move(receivers), reload->deadline);
  {
    std::lock_guard lock(auth_mutex_);
    auth_ = std::make_shared<const ApiAuth>(reload->api);
  }
  std::lock_guard lock(mutex_);
  const int64_t t = now();
  install_rules(std::move(reload->runner), t);
  engine_->set_external_url(reload->config.external_url);
  sync_config_silences(&config_.silences, reload->config.silences, t);
  config_ = std::move(reload->config);
  wake();
  spdlog::info("alerting: reloaded {} rules, {} receivers{}", runner_->rules().size(),
               receivers_.size(), same ? "" : " (delivery settings applied)");
}

void AlertingService::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (delivery_) delivery_->stop(deadline);
}

size_t AlertingService::outbox_depth() {
  return db_ ? db_->depth() : 0;
}

size_t AlertingService::alerts_in(alerts::State state) {
  std::lock_guard lock(mutex_);
  return engine_ ? engine_->count(state) : 0;
}

DeliveryTotals AlertingService::delivery_totals() {
  std::lock_guard lock(mutex_);
  DeliveryTotals t = delivery_before_;
  if (delivery_) {
    const auto& c = delivery_->counters();
    t.delivered += c.delivered;
    t.retried += c.retried;
    t.failed += c.failed;
    t.fallen_back += c.fallen_back;
  }
  return t;
}

void AlertingService::unmount(http::Server& server) {
  for (const auto& [method, path] : mounted_) server.unmount(method, path);
  mounted_.clear();
}

void AlertingService::mount(http::Server& server) {
  auto add = [&](const std::string& method, const std::string& path, Role role,
                 std::function<void(const http::Request&, http::Response&, const Caller&)> fn) {
    std::string error;
    bool ok = server.mount(
        method, path,
        [this, role, fn](const http::Request& request, http::Response& response) {
          Caller caller;
          if (!auth()->authorize(request, role, response, caller)) return;
          fn(request, response, caller);
        },
        {}, error);
    if (ok)
      mounted_.emplace_back(method, path);
    else
      spdlog::error("alerting: cannot mount {} {}: {}", method, path, error);
  };

  add("GET", "/api/v1/alerts", Role::read,
      [this](const http::Request& request, http::Response& response, const Caller&) {
        alerts::AlertFilter filter;
        if (auto states = request.query("state")) {
          std::string list(*states);
          size_t pos = 0;
          while (pos <= list.size()) {
            auto comma = list.find(',', pos);
            std::string s =
                list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            if (s == "pending")
              filter.states.push_back(alerts::State::pending);
            else if (s == "firing")
              filter.states.push_back(alerts::State::firing);
            else if (s == "resolved")
              filter.states.push_back(alerts::State::resolved);
            else if (s == "inactive")
              filter.states.push_back(alerts::State::inactive);
            else
              return error_reply(
                  response, 400,
                  "state: found \"" + s + "\", expected pending, firing, resolved or inactive");
            if (comma == std::string::npos) break;
            pos = comma + 1;
          }
        }
        if (request.query("inactive") == std::optional<std::string_view>("true"))
          filter.states = {alerts::State::inactive, alerts::State::pending, alerts::State::firing,
                           alerts::State::resolved};
        if (auto match = request.query("match")) {
          std::string error;
          auto selector = alerts::parse_selector(*match, error);
          if (!selector) return error_reply(response, 400, "match: " + error);
          filter.matchers = selector->matchers;
          if (!selector->name.empty()) {
            std::string why;
            filter.matchers.push_back(
                *alerts::parse_matcher("alertname=\"" + selector->name + "\"", why));
          }
        }
        json list = json::array();
        {
          std::lock_guard lock(mutex_);
          for (const auto& a : engine_->list_alerts(filter)) list.push_back(alert_json(a));
        }
        reply(response, 200, json{{"alerts", list}});
      });

  add("GET", "/api/v1/alerts/history", Role::read,
      [this](const http::Request& request, http::Response& response, const Caller&) {
        auto fp = request.query("fingerprint");
        if (!fp || fp->empty())
          return error_reply(response, 400, "fingerprint: missing, expected ?fingerprint=FP");
        size_t limit = 200;
        if (auto l = request.query("limit"))
          limit = std::strtoul(std::string(*l).c_str(), nullptr, 10);
        json list = json::array();
        std::vector<alerts::Transition> history;
        {
          std::lock_guard lock(mutex_);
          history = engine_->history(std::string(*fp), std::max<size_t>(1, limit));
        }
        for (const auto& t : history)
          list.push_back(
              {{"at", time_json(t.at_ms)}, {"from", t.from}, {"to", t.to}, {"detail", t.detail}});
        reply(response, 200, json{{"fingerprint", *fp}, {"history", list}});
      });

  add("GET", "/api/v1/alerts/groups", Role::read,
      [this](const http::Request&, http::Response& response, const Caller&) {
        json list = json::array();
        std::lock_guard lock(mutex_);
        for (const auto& g : engine_->list_groups())
          list.push_back({{"key", g.key},
                          {"receiver", g.receiver},
                          {"policy", g.policy},
                          {"labels", g.group_labels},
                          {"alerts", g.fingerprints},
                          {"escalation",
                           {{"iteration", g.iteration},
                            {"step", g.step},
                            {"next", time_json(g.escalating ? g.step_due_ms : 0)},
                            {"stopped", g.escalation_stopped}}}});
        reply(response, 200, json{{"groups", list}});
      });

  auto ack_handler = [this](bool ack) {
    return
        [this, ack](const http::Request& request, http::Response& response, const Caller& caller) {
          auto body = body_object(request, response);
          if (!body) return;
          const bool group = body->contains("group");
          const json target = group ? (*body)["group"] : body->value("fingerprint", json());
          if (!target.is_string() || target.get<std::string>().empty())
            return error_reply(response, 400,
                               "expected \"fingerprint\" (or \"group\") naming what to " +
                                   std::string(ack ? "acknowledge" : "un-acknowledge"));
          std::string author = body->value("author", caller.name.empty() ? "api" : caller.name);
          if (!caller.name.empty() && author != caller.name)
            author += " (token " + caller.name + ")";
          std::string result;
          const int64_t t = now();
          if (ack) {
            auto expires = duration_field(*body, "expires", response);
            if (!expires) return;
            alerts::Ack a;
            a.author = author;
            a.comment = body->value("comment", "");
            a.expires_ms = *expires ? t + *expires : 0;
            a.sticky = body->value("sticky", false);
            std::lock_guard lock(mutex_);
            result = engine_->acknowledge(target.get<std::string>(), group, a, t);
          } else {
            std::lock_guard lock(mutex_);
            result = engine_->unacknowledge(target.get<std::string>(), group, author, t);
          }
          if (!result.empty()) return error_reply(response, 404, result);
          {
            std::lock_guard lock(mutex_);
            wake();
          }
          reply(response, 200,
                json{{"message", std::string(ack ? "acknowledged " : "un-acknowledged ") +
                                     target.get<std::string>()}});
        };
  };
  add("POST", "/api/v1/alerts/ack", Role::operate, ack_handler(true));
  add("POST", "/api/v1/alerts/unack", Role::operate, ack_handler(false));

  // Acknowledgements coming back from an incident tool, in the Events API v2 shape
  // notifier_events sends: {"event_action": "acknowledge", "dedup_key": "vigil-<group_id>"}.
  // Firing and resolving stay with the rules: a tool cannot trigger or resolve a Vigil alert.
  add("POST", "/api/v1/events", Role::operate,
      [this](const http::Request& request, http::Response& response, const Caller& caller) {
        auto body = body_object(request, response);
        if (!body) return;
        const std::string action = body->value("event_action", "");
        if (action != "acknowledge" && action != "unacknowledge")
          return error_reply(response, 400,
                             "event_action: found \"" + action +
                                 "\", expected \"acknowledge\" or \"unacknowledge\" (alerts "
                                 "fire and resolve from their rules)");
        const json dedup = body->value("dedup_key", json());
        if (!dedup.is_string() || dedup.get<std::string>().empty())
          return error_reply(response, 400,
                             "dedup_key: expected the key notifier_events sent, such as "
                             "\"vigil-<group_id>\"");
        std::string id = dedup.get<std::string>();
        if (id.rfind("vigil-", 0) == 0) id.erase(0, 6);
        // Who: "author", else the event's payload.source or client, else the token's name.
        std::string author = body->value("author", "");
        if (author.empty() && body->contains("payload") && (*body)["payload"].is_object())
          author = (*body)["payload"].value("source", "");
        if (author.empty()) author = body->value("client", "");
        if (author.empty()) author = caller.name.empty() ? "events" : caller.name;
        if (!caller.name.empty() && author != caller.name) author += " (token " + caller.name + ")";
        const int64_t t = now();
        std::string result;
        {
          std::lock_guard lock(mutex_);
          const std::string key = engine_->group_key_for_id(id);
          if (key.empty()) {
            result = "no notification group with dedup_key \"" + dedup.get<std::string>() + "\"";
          } else if (action == "acknowledge") {
            alerts::Ack a;
            a.author = author;
            a.comment = body->value("comment", "acknowledged in the incident tool");
            result = engine_->acknowledge(key, true, a, t);
          } else {
            result = engine_->unacknowledge(key, true, author, t);
          }
        }
        if (!result.empty()) return error_reply(response, 404, result);
        {
          std::lock_guard lock(mutex_);
          wake();
        }
        reply(response, 202,
              json{{"status", "success"},
                   {"message", action + "d " + dedup.get<std::string>()},
                   {"dedup_key", dedup.get<std::string>()}});
      });

  add("GET", "/api/v1/silences", Role::read,
      [this](const http::Request& request, http::Response& response, const Caller&) {
        const bool expired = request.query("expired") == std::optional<std::string_view>("true");
        json list = json::array();
        const int64_t t = now();
        std::lock_guard lock(mutex_);
        for (const auto& s : engine_->list_silences(expired, t)) list.push_back(silence_json(s, t));
        reply(response, 200, json{{"silences", list}});
      });

  add("POST", "/api/v1/silences", Role::operate,
      [this](const http::Request& request, http::Response& response, const Caller& caller) {
        auto body = body_object(request, response);
        if (!body) return;
        alerts::Silence s;
        const json matchers = body->value("matchers", json());
        if (!matchers.is_array() || matchers.empty())
          return error_reply(response, 400,
                             "matchers: expected a non-empty array such as "
                             "[\"alertname=\\\"DiskFull\\\"\"]");
        for (size_t i = 0; i < matchers.size(); ++i) {
          std::string error;
          auto m = matchers[i].is_string()
                       ? alerts::parse_matcher(matchers[i].get<std::string>(), error)
                       : std::nullopt;
          if (!m)
            return error_reply(response, 400,
                               "matchers[" + std::to_string(i) +
                                   "]: " + (error.empty() ? "expected a string" : error));
          s.matchers.push_back(*m);
        }
        const int64_t t = now();
        s.starts_ms = t;
        if (body->contains("starts")) {
          auto ms = (*body)["starts"].is_string()
                        ? config::parse_rfc3339((*body)["starts"].get<std::string>())
                        : std::nullopt;
          if (!ms)
            return error_reply(response, 400,
                               "starts: found " + config::describe_value((*body)["starts"]) +
                                   ", expected an RFC 3339 time such as \"2026-01-10T22:00:00Z\"");
          s.starts_ms = *ms;
        }
        if (body->contains("ends")) {
          auto ms = (*body)["ends"].is_string()
                        ? config::parse_rfc3339((*body)["ends"].get<std::string>())
                        : std::nullopt;
          if (!ms)
            return error_reply(response, 400,
                               "ends: found " + config::describe_value((*body)["ends"]) +
                                   ", expected an RFC 3339 time such as \"2026-01-10T22:00:00Z\"");
          s.ends_ms = *ms;
        } else {
          auto d = duration_field(*body, "duration", response);
          if (!d) return;
          if (*d == 0) return error_reply(response, 400, "expected \"ends\" or \"duration\"");
          s.ends_ms = s.starts_ms + *d;
        }
        s.author = body->value("author", caller.name.empty() ? "api" : caller.name);
        s.comment = body->value("comment", "");
        s.end_on_resolve = body->value("end_on_resolve", false);
        std::string result;
        {
          std::lock_guard lock(mutex_);
          result = engine_->create_silence(s, t);
        }
        if (!result.empty()) return error_reply(response, 400, result);
        reply(response, 200, json{{"id", s.id}, {"message", "silence " + s.id + " created"}});
      });

  add("POST", "/api/v1/silences/expire", Role::operate,
      [this](const http::Request& request, http::Response& response, const Caller& caller) {
        auto body = body_object(request, response);
        if (!body) return;
        const json id = body->value("id", json());
        if (!id.is_string()) return error_reply(response, 400, "id: expected the silence's id");
        std::string result;
        {
          std::lock_guard lock(mutex_);
          result = engine_->expire_silence(id.get<std::string>(),
                                           body->value("author", caller.name), now());
          wake();
        }
        if (!result.empty()) return error_reply(response, 404, result);
        reply(response, 200, json{{"message", "silence " + id.get<std::string>() + " expired"}});
      });

  add("POST", "/api/v1/rules/reload", Role::admin,
      [this](const http::Request&, http::Response& response, const Caller&) {
        std::vector<std::string> errors;
        if (!reload_rules(errors)) {
          json list = errors;
          return reply(response, 422,
                       json{{"error", "the rules did not load; the previous ones keep running"},
                            {"errors", list}});
        }
        reply(response, 200, json{{"message", "rules reloaded"}});
      });
}

}  // namespace vigil::core
