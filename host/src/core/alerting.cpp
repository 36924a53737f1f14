// The daemon's alerting service (see alerting.hpp): the evaluation loop and the alerting API.
#include "core/alerting.hpp"

#include "http/server.hpp"
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
          {"state", now < s.starts_ms ? "pending"
                    : now < s.ends_ms ? "active"
                                      : "expired"}};
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

bool AlertingService::start(const config::HostConfig& config, std::string& error) {
  config_ = config.alerting;
  auth_ = std::make_unique<ApiAuth>(config.api);
  const std::string file = (config_.data_dir / "vigil.db").string();
  db_ = outbox::Database::open(file, error);
  if (!db_) return false;
  std::vector<std::string> errors;
  runner_ = loader_(config_, errors);
  if (!runner_) {
    error = "alerting.rules: the rules did not load:";
    for (const auto& e : errors) error += "\n  " + e;
    return false;
  }
  std::set<std::string> names;
  for (const auto& [name, options] : receivers_) names.insert(name);
  auto routing = runner_->routing();
  auto problems = alerts::Engine::validate(routing, names);
  if (!problems.empty()) {
    error = "alerting routing:";
    for (const auto& p : problems) error += "\n  " + p;
    return false;
  }
  engine_ = std::make_unique<alerts::Engine>(*db_);
  engine_->set_external_url(config_.external_url);
  alerts::Snapshot snapshot;
  if (!db_->load(snapshot, error)) return false;
  engine_->restore(snapshot);
  const int64_t t = now();
  engine_->set_routing(std::move(routing));
  engine_->set_rules(runner_->rules(), t);
  // Silences from the config: created once, recognised again by matchers, author and comment.
  for (const auto& sc : config_.silences) {
    alerts::Silence s;
    for (const auto& text : sc.matchers) {
      std::string why;
      if (auto m = alerts::parse_matcher(text, why)) s.matchers.push_back(*m);
    }
    s.starts_ms = sc.starts_ms.value_or(t);
    s.ends_ms = sc.ends_ms ? *sc.ends_ms : s.starts_ms + sc.duration->count();
    s.author = sc.author;
    s.comment = sc.comment;
    s.end_on_resolve = sc.end_on_resolve;
    bool exists = false;
    for (const auto& have : engine_->list_silences(true, t)) {
      if (have.author != s.author || have.comment != s.comment ||
          have.matchers.size() != s.matchers.size())
        continue;
      bool same = true;
      for (size_t i = 0; i < s.matchers.size(); ++i)
        same = same && have.matchers[i].to_string() == s.matchers[i].to_string();
      exists = exists || same;
    }
    if (!exists && s.ends_ms > t) engine_->create_silence(s, t);
  }
  delivery_ = std::make_unique<outbox::Delivery>(*db_);
  delivery_->set_receivers(receivers_);
  delivery_->start();
  spdlog::info("alerting: {} rules, state in {} ({} alerts restored, {} notifications queued)",
               runner_->rules().size(), file, snapshot.alerts.size(), db_->depth());
  thread_ = std::thread([this] { loop(); });
  return true;
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
    delivery_->wake();
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

bool AlertingService::reload_rules(const config::AlertingConfig& config,
                                   std::vector<std::string>& errors) {
  auto next = loader_(config, errors);
  if (!next) return false;
  std::set<std::string> names;
  for (const auto& [name, options] : receivers_) names.insert(name);
  auto routing = next->routing();
  auto problems = alerts::Engine::validate(routing, names);
  if (!problems.empty()) {
    errors.insert(errors.end(), problems.begin(), problems.end());
    return false;
  }
  std::lock_guard lock(mutex_);
  if (!engine_) return false;
  runner_ = std::move(next);
  engine_->set_routing(std::move(routing));
  engine_->set_rules(runner_->rules(), now());
  config_.rules = config.rules;
  wake();
  spdlog::info("alerting: reloaded {} rules", runner_->rules().size());
  return true;
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

const outbox::DeliveryCounters* AlertingService::delivery_counters() const {
  return delivery_ ? &delivery_->counters() : nullptr;
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
          if (!auth_->authorize(request, role, response, caller)) return;
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
          delivery_->wake();
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
        delivery_->wake();
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
          if (!ms) return error_reply(response, 400, "starts: expected an RFC 3339 time");
          s.starts_ms = *ms;
        }
        if (body->contains("ends")) {
          auto ms = (*body)["ends"].is_string()
                        ? config::parse_rfc3339((*body)["ends"].get<std::string>())
                        : std::nullopt;
          if (!ms) return error_reply(response, 400, "ends: expected an RFC 3339 time");
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
        if (!reload_rules(config_, errors)) {
          json list = errors;
          return reply(response, 422,
                       json{{"error", "the rules did not load; the previous ones keep running"},
                            {"errors", list}});
        }
        reply(response, 200, json{{"message", "rules reloaded"}});
      });
}

}  // namespace vigil::core
