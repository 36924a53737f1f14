// The alert engine's state machine, routing, grouping and escalation (see engine.hpp).
//
// One call = one Step: everything it changes is collected and committed once, so the journal
// sees a state change and the notifications it causes as one transaction. The engine keeps
// running on a failed commit: memory is ahead, and the next commit carries the same rows again
// (alerts and groups are upserts).
#include "alerts/engine.hpp"

#include "alerts/template.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <ctime>
#include <functional>

namespace vigil::alerts {

namespace {

using nlohmann::json;

std::string rfc3339(int64_t ms) {
  if (ms <= 0) return "0001-01-01T00:00:00Z";
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

bool active(State s) {
  return s == State::pending || s == State::firing;
}

int severity_rank(const std::string& s) {
  if (s == "critical" || s == "page") return 3;
  if (s == "error") return 2;
  if (s == "warning") return 1;
  return 0;
}

}  // namespace

struct Engine::Step {
  Batch batch;
  std::set<std::string> touched_alerts, touched_groups, touched_silences;
};

// ---- validation and configuration ------------------------------------------------------------

std::vector<std::string> Engine::validate(const Routing& routing,
                                          const std::set<std::string>& receivers) {
  std::vector<std::string> errors;
  auto check_receiver = [&](const std::string& name, const std::string& where) {
    if (!name.empty() && !receivers.count(name)) {
      std::string known;
      for (const auto& r : receivers) known += (known.empty() ? "" : ", ") + r;
      errors.push_back(where + ": receiver \"" + name +
                       "\" is not a notifier instance in the config, expected one of: " +
                       (known.empty() ? "(none configured)" : known));
    }
  };
  std::function<void(const Route&, const std::string&)> walk = [&](const Route& r,
                                                                   const std::string& where) {
    check_receiver(r.receiver, where);
    if (!r.policy.empty() && !routing.policies.count(r.policy))
      errors.push_back(where + ": policy \"" + r.policy + "\" is not declared");
    for (const auto& w : r.active_windows)
      if (!routing.windows.count(w))
        errors.push_back(where + ": time window \"" + w + "\" is not declared");
    for (const auto& w : r.mute_windows)
      if (!routing.windows.count(w))
        errors.push_back(where + ": time window \"" + w + "\" is not declared");
    for (size_t i = 0; i < r.routes.size(); ++i)
      walk(r.routes[i], where + ".routes[" + std::to_string(i) + "]");
  };
  if (routing.root.receiver.empty() && routing.root.policy.empty())
    errors.push_back("route: the top route has no receiver, expected a default receiver");
  walk(routing.root, "route");
  for (const auto& [name, policy] : routing.policies) {
    std::string where = policy.file + ":" + std::to_string(policy.line) + ": policy " + name;
    for (size_t i = 0; i < policy.steps.size(); ++i)
      for (const auto& r : policy.steps[i].receivers)
        check_receiver(r, where + " step " + std::to_string(i));
    if (policy.resolve_receivers)
      for (const auto& r : *policy.resolve_receivers) check_receiver(r, where + " on_resolve");
  }
  for (const auto& [name, window] : routing.windows) {
    LocalTime t;
    std::string error;
    if (!local_time(0, window.time_zone, t, error))
      errors.push_back("time window " + name + ": " + error);
  }
  return errors;
}

void Engine::restore(const Snapshot& snapshot) {
  for (const auto& a : snapshot.alerts) alerts_[a.fingerprint] = a;
  for (const auto& s : snapshot.silences) {
    silences_[s.id] = s;
    ++silence_counter_;
  }
  for (const auto& g : snapshot.groups) groups_[g.key] = g;
}

void Engine::set_rules(const std::vector<RuleSpec>& rules, int64_t now_ms) {
  std::map<std::string, RuleSpec> next;
  for (const auto& r : rules) next[r.name] = r;
  Step step;
  for (auto& [fp, alert] : alerts_) {
    if (!next.count(alert.rule) && active(alert.state)) {
      alert.ack.reset();
      change_state(alert, alert.state == State::firing ? State::resolved : State::inactive, now_ms,
                   "rule removed", step);
      route(alert, now_ms, step);
    }
  }
  rules_ = std::move(next);
  commit(step);
}

void Engine::set_routing(Routing routing) {
  routing_ = std::move(routing);
  has_routing_ = true;
  routes_by_path_.clear();
  std::function<void(const Route&, const std::string&)> index = [&](const Route& r,
                                                                    const std::string& path) {
    routes_by_path_[path] = &r;
    for (size_t i = 0; i < r.routes.size(); ++i) index(r.routes[i], path + "." + std::to_string(i));
  };
  index(routing_.root, "0");
}

// ---- evaluations ------------------------------------------------------------------------------

Labels Engine::identity(const RuleSpec& rule, const Labels& instance_labels) const {
  Labels labels;
  for (const auto& [k, v] : rule.labels)
    if (!v.empty()) labels[k] = v;
  for (const auto& [k, v] : instance_labels)
    if (!v.empty()) labels[k] = v;
  if (!rule.severity.empty()) labels["severity"] = rule.severity;
  labels["alertname"] = rule.name;
  return labels;
}

void Engine::change_state(Alert& alert, State to, int64_t now_ms, const std::string& detail,
                          Step& step) {
  if (alert.state == to) return;
  const State from = alert.state;
  alert.state = to;
  if (to == State::pending) alert.active_since_ms = now_ms;
  if (to == State::firing) {
    alert.fired_at_ms = now_ms;
    if (from != State::pending) alert.active_since_ms = now_ms;
  }
  if (to == State::resolved) alert.resolved_at_ms = now_ms;
  if (to == State::resolved || to == State::inactive) {
    if (alert.ack && !alert.ack->sticky) {
      // An ack covers one episode; a sticky one ends with the alert too.
    }
    alert.ack.reset();
  }
  // Flap detection counts the changes that matter to a person: into and out of firing.
  auto rule = rules_.find(alert.rule);
  if (rule != rules_.end() && rule->second.flap.changes > 0 &&
      (to == State::firing || from == State::firing)) {
    auto& changes = alert.recent_changes_ms;
    changes.push_back(now_ms);
    const int64_t window = rule->second.flap.window_ms;
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [&](int64_t t) { return t <= now_ms - window; }),
                  changes.end());
    if (!alert.flapping && static_cast<int>(changes.size()) >= rule->second.flap.changes) {
      alert.flapping = true;
      step.batch.transitions.push_back({alert.fingerprint, now_ms, "", "+flapping",
                                        std::to_string(changes.size()) + " changes within " +
                                            std::to_string(window / 1000) + "s"});
    }
  }
  step.batch.transitions.push_back(
      {alert.fingerprint, now_ms, to_string(from), to_string(to), detail});
  ++counters_.transitions;
  step.touched_alerts.insert(alert.fingerprint);
}

void Engine::recover(Alert& alert, const RuleSpec& rule, int64_t now_ms, Step& step) {
  if (alert.state == State::pending) {
    change_state(alert, State::inactive, now_ms, "condition cleared before for", step);
  } else if (alert.state == State::firing) {
    if (rule.keep_firing_for_ms > 0 && now_ms - alert.last_seen_ms < rule.keep_firing_for_ms)
      return;  // keep firing for a while: a brief dip is not a recovery
    change_state(alert, State::resolved, now_ms, "recovered", step);
  }
}

void Engine::apply(const RuleEvaluation& evaluation, int64_t now_ms) {
  apply_all({evaluation}, now_ms);
}

void Engine::apply_all(const std::vector<RuleEvaluation>& evaluations, int64_t now_ms) {
  // One step for the whole round: one transaction, one routing pass.
  Step step;
  for (const auto& e : evaluations) apply_one(e, now_ms, step);
  refresh_flags(now_ms, step);
  for (const auto& fp : std::set<std::string>(step.touched_alerts)) {
    auto it = alerts_.find(fp);
    if (it != alerts_.end()) route(it->second, now_ms, step);
  }
  flush_groups(now_ms, step);
  commit(step);
}

void Engine::apply_one(const RuleEvaluation& evaluation, int64_t now_ms, Step& step) {
  auto rit = rules_.find(evaluation.rule);
  if (rit == rules_.end() || !evaluation.ok) return;  // a failed script changes nothing
  const RuleSpec& rule = rit->second;
  std::set<std::string> seen;
  for (const auto& instance : evaluation.instances) {
    Labels labels = identity(rule, instance.labels);
    const std::string fp = fingerprint(labels);
    if (!seen.insert(fp).second) continue;  // two instances with one identity: the first counts
    auto [it, created] = alerts_.try_emplace(fp);
    Alert& alert = it->second;
    if (created) {
      alert.fingerprint = fp;
      alert.rule = rule.name;
      alert.labels = labels;
    }
    alert.value = instance.value;
    alert.last_eval_ms = now_ms;
    const bool was_active = active(alert.state);
    if (!was_active) {
      if (!instance.enter) {
        if (created) alerts_.erase(it);  // never active: nothing to remember
        continue;
      }
      alert.last_seen_ms = now_ms;
      alert.annotations = render_annotations(rule.annotations, alert, external_url_);
      change_state(alert, State::pending, now_ms, "value " + format_value(instance.value), step);
    } else if (instance.stay) {
      alert.last_seen_ms = now_ms;
    } else {
      recover(alert, rule, now_ms, step);
      continue;
    }
    if (alert.state == State::pending && now_ms - alert.active_since_ms >= rule.for_ms) {
      alert.annotations = render_annotations(rule.annotations, alert, external_url_);
      change_state(alert, State::firing, now_ms, "value " + format_value(instance.value), step);
    }
    step.touched_alerts.insert(fp);
  }
  for (auto& [fp, alert] : alerts_) {
    if (alert.rule != rule.name || seen.count(fp) || !active(alert.state)) continue;
    alert.last_eval_ms = now_ms;
    recover(alert, rule, now_ms, step);  // not yielded at all: no data means recovered
  }
}

// ---- flags --------------------------------------------------------------------------------------

void Engine::refresh_flags(int64_t now_ms, Step& step) {
  // Silences that started or ended.
  for (auto& [fp, alert] : alerts_) {
    std::vector<std::string> by;
    if (active(alert.state)) {
      for (const auto& [id, s] : silences_)
        if (s.starts_ms <= now_ms && now_ms < s.ends_ms && matches_all(s.matchers, alert.labels))
          by.push_back(id);
    }
    const bool silenced = !by.empty();
    if (silenced != alert.silenced) {
      step.batch.transitions.push_back({fp, now_ms, "", silenced ? "+silenced" : "-silenced",
                                        silenced ? "silence " + by.front() : ""});
      step.touched_alerts.insert(fp);
    }
    alert.silenced = silenced;
    if (by != alert.silenced_by) step.touched_alerts.insert(fp);
    alert.silenced_by = std::move(by);
    // Acks that lapse restart escalation (run_escalation sees ack gone).
    if (alert.ack && alert.ack->expires_ms > 0 && now_ms >= alert.ack->expires_ms) {
      step.batch.transitions.push_back(
          {fp, now_ms, "", "-acknowledged", "ack by " + alert.ack->author + " expired"});
      alert.ack.reset();
      step.touched_alerts.insert(fp);
      for (auto& [key, group] : groups_) {
        if (std::find(group.fingerprints.begin(), group.fingerprints.end(), fp) !=
                group.fingerprints.end() &&
            group.escalation_stopped) {
          group.escalation_stopped = false;
          group.escalating = true;
          group.iteration = 0;
          group.step = 0;
          group.step_due_ms = now_ms;
          step.touched_groups.insert(key);
        }
      }
    }
    // Flapping ends after a whole window without a change.
    auto rule = rules_.find(alert.rule);
    if (alert.flapping && rule != rules_.end() &&
        (alert.recent_changes_ms.empty() ||
         now_ms - alert.recent_changes_ms.back() >= rule->second.flap.window_ms)) {
      alert.flapping = false;
      alert.recent_changes_ms.clear();
      step.batch.transitions.push_back({fp, now_ms, "", "-flapping", "stable"});
      step.touched_alerts.insert(fp);
    }
  }
  // Inhibition: a firing source suppresses matching targets that share the `equal` labels.
  for (auto& [fp, alert] : alerts_) {
    bool inhibited = false;
    if (active(alert.state)) {
      for (const auto& rule : routing_.inhibit) {
        if (!matches_all(rule.target, alert.labels)) continue;
        for (const auto& [sfp, source] : alerts_) {
          if (sfp == fp || source.state != State::firing) continue;
          if (!matches_all(rule.source, source.labels)) continue;
          bool same = true;
          for (const auto& name : rule.equal) {
            auto a = alert.labels.find(name);
            auto b = source.labels.find(name);
            if ((a == alert.labels.end()) != (b == source.labels.end()) ||
                (a != alert.labels.end() && a->second != b->second)) {
              same = false;
              break;
            }
          }
          if (same) {
            inhibited = true;
            break;
          }
        }
        if (inhibited) break;
      }
    }
    if (inhibited != alert.inhibited) {
      alert.inhibited = inhibited;
      step.batch.transitions.push_back(
          {fp, now_ms, "", inhibited ? "+inhibited" : "-inhibited", ""});
      step.touched_alerts.insert(fp);
    }
  }
  // Silences that end when what they silenced resolved.
  for (auto& [id, s] : silences_) {
    if (!s.end_on_resolve || now_ms >= s.ends_ms || s.starts_ms > now_ms) continue;
    bool any_matched = false, any_active = false;
    for (const auto& [fp, alert] : alerts_) {
      if (!matches_all(s.matchers, alert.labels)) continue;
      any_matched = true;
      if (active(alert.state)) any_active = true;
    }
    if (any_matched && !any_active) {
      s.ends_ms = now_ms;
      step.touched_silences.insert(id);
    }
  }
}

bool Engine::notifiable(const Alert& alert) const {
  return !alert.silenced && !alert.inhibited && !alert.flapping;
}

// ---- routing and groups
// ---------------------------------------------------------------------------

void Engine::route(Alert& alert, int64_t now_ms, Step& step) {
  if (!has_routing_ || alert.state == State::pending || alert.state == State::inactive) return;
  // Walk the tree: first matching child wins unless it says continue; no match = this node.
  std::vector<std::pair<std::string, const Route*>> matched;
  std::function<bool(const Route&, const std::string&)> walk = [&](const Route& r,
                                                                   const std::string& path) {
    if (!matches_all(r.matchers, alert.labels)) return false;
    bool child = false;
    for (size_t i = 0; i < r.routes.size(); ++i) {
      if (walk(r.routes[i], path + "." + std::to_string(i))) {
        child = true;
        if (!r.routes[i].continue_matching) break;
      }
    }
    if (!child) matched.emplace_back(path, &r);
    return true;
  };
  walk(routing_.root, "0");
  for (const auto& [path, r] : matched) {
    // Receiver, policy and group_by are inherited from the closest ancestor that sets them.
    std::string receiver, policy;
    std::vector<std::string> group_by;
    for (std::string p = path;; p = p.substr(0, p.rfind('.'))) {
      const Route* node = routes_by_path_.at(p);
      if (receiver.empty() && policy.empty()) {
        receiver = node->receiver;
        policy = node->policy;
      }
      if (group_by.empty()) group_by = node->group_by;
      if (p.find('.') == std::string::npos) break;
    }
    Labels group_labels;
    const bool all = group_by.size() == 1 && group_by[0] == "...";
    for (const auto& [k, v] : alert.labels)
      if (all || std::find(group_by.begin(), group_by.end(), k) != group_by.end())
        group_labels[k] = v;
    std::string key = path + ":{";
    for (const auto& [k, v] : group_labels) key += k + "=\"" + v + "\",";
    key += "}";
    auto [git, created] = groups_.try_emplace(key);
    Group& g = git->second;
    if (created) {
      g.key = key;
      g.receiver = receiver;
      g.policy = policy;
      g.group_labels = group_labels;
    }
    if (std::find(g.fingerprints.begin(), g.fingerprints.end(), alert.fingerprint) ==
        g.fingerprints.end()) {
      if (alert.state != State::firing) continue;  // a resolve for a group it never joined
      g.fingerprints.push_back(alert.fingerprint);
    }
    if (g.first_at_ms == 0 && alert.state == State::firing) {
      g.first_at_ms = now_ms;
      g.next_flush_ms = now_ms + r->group_wait_ms.value_or(routing_.default_group_wait_ms);
      // group_wait is inherited like the rest
      for (std::string p = path;; p = p.substr(0, p.rfind('.'))) {
        const Route* node = routes_by_path_.at(p);
        if (node->group_wait_ms) {
          g.next_flush_ms = now_ms + *node->group_wait_ms;
          break;
        }
        if (p.find('.') == std::string::npos) break;
      }
    }
    step.touched_groups.insert(key);
  }
}

const Route* Engine::route_of(const Group& group) const {
  auto it = routes_by_path_.find(group.key.substr(0, group.key.find(':')));
  return it == routes_by_path_.end() ? nullptr : it->second;
}

bool Engine::muted(const Route& route, int64_t now_ms) const {
  auto inside = [&](const std::string& name) {
    auto it = routing_.windows.find(name);
    if (it == routing_.windows.end()) return false;
    const TimeWindow& w = it->second;
    LocalTime t;
    std::string error;
    if (!local_time(now_ms, w.time_zone, t, error)) return false;
    if (!w.weekdays.empty() &&
        std::find(w.weekdays.begin(), w.weekdays.end(), t.weekday) == w.weekdays.end())
      return false;
    if (w.minutes.empty()) return true;
    for (const auto& [from, to] : w.minutes)
      if (t.minute_of_day >= from && t.minute_of_day < to) return true;
    return false;
  };
  for (const auto& w : route.mute_windows)
    if (inside(w)) return true;
  if (route.active_windows.empty()) return false;
  for (const auto& w : route.active_windows)
    if (inside(w)) return false;
  return true;
}

void Engine::notify(Group& group, const std::string& receiver, const std::string& status,
                    int escalation_step, int64_t now_ms, Step& step) {
  ++group.sequence;
  Notification n;
  n.receiver = receiver;
  n.group_key = group.key;
  n.status = status;
  n.escalation_step = escalation_step;
  n.created_ms = now_ms;
  n.idempotency_key =
      fingerprint({{"group", group.key}}) + "-" + std::to_string(group.sequence) + "-" + receiver;

  json alerts = json::array();
  Labels common;
  bool first = true;
  Annotations common_annotations;
  const Alert* acked = nullptr;
  for (const auto& fp : group.fingerprints) {
    auto it = alerts_.find(fp);
    if (it == alerts_.end()) continue;
    const Alert& a = it->second;
    if (!notifiable(a) && a.state == State::firing) continue;
    if (a.state != State::firing && a.state != State::resolved) continue;
    json entry = {{"status", a.state == State::firing ? "firing" : "resolved"},
                  {"labels", a.labels},
                  {"annotations", a.annotations},
                  {"startsAt", rfc3339(a.fired_at_ms)},
                  {"endsAt", a.state == State::resolved ? rfc3339(a.resolved_at_ms) : rfc3339(0)},
                  {"generatorURL", external_url_},
                  {"fingerprint", a.fingerprint},
                  {"value", a.value}};
    if (a.ack) {
      entry["acknowledged"] = {
          {"author", a.ack->author}, {"comment", a.ack->comment}, {"at", rfc3339(a.ack->at_ms)}};
      acked = &a;
    }
    alerts.push_back(std::move(entry));
    if (first) {
      common = a.labels;
      common_annotations = a.annotations;
      first = false;
    } else {
      for (auto c = common.begin(); c != common.end();) {
        auto f = a.labels.find(c->first);
        c = (f == a.labels.end() || f->second != c->second) ? common.erase(c) : std::next(c);
      }
      for (auto c = common_annotations.begin(); c != common_annotations.end();) {
        auto f = a.annotations.find(c->first);
        c = (f == a.annotations.end() || f->second != c->second) ? common_annotations.erase(c)
                                                                 : std::next(c);
      }
    }
  }
  json payload = {{"version", "4"},
                  {"receiver", receiver},
                  {"status", status},
                  {"alerts", alerts},
                  {"groupLabels", group.group_labels},
                  {"commonLabels", common},
                  {"commonAnnotations", common_annotations},
                  {"externalURL", external_url_},
                  {"groupKey", group.key},
                  {"truncatedAlerts", 0}};
  json vigil = {{"escalation_step", escalation_step},
                {"iteration", group.iteration},
                {"policy", group.policy},
                {"idempotency_key", n.idempotency_key},
                {"sequence", group.sequence}};
  vigil["acknowledged"] = acked ? json{{"author", acked->ack->author},
                                       {"comment", acked->ack->comment},
                                       {"at", rfc3339(acked->ack->at_ms)}}
                                : json(nullptr);
  payload["vigil"] = std::move(vigil);
  n.payload_json = payload.dump();
  step.batch.notifications.push_back(std::move(n));
  ++counters_.notifications;
  group.last_notified_ms = now_ms;
  if (std::find(group.notified_receivers.begin(), group.notified_receivers.end(), receiver) ==
      group.notified_receivers.end())
    group.notified_receivers.push_back(receiver);
  step.touched_groups.insert(group.key);
}

void Engine::flush_groups(int64_t now_ms, Step& step) {
  std::vector<std::string> finished;
  for (auto& [key, g] : groups_) {
    const Route* r = route_of(g);
    if (!r) {
      finished.push_back(key);
      continue;
    }
    // What the group holds now: firing alerts to tell about, resolved ones to report once.
    std::string hash;
    bool any_firing = false, all_acked = true, any_resolved = false;
    for (const auto& fp : g.fingerprints) {
      auto it = alerts_.find(fp);
      if (it == alerts_.end()) continue;
      const Alert& a = it->second;
      if (a.state == State::firing && notifiable(a)) {
        any_firing = true;
        if (!a.ack) all_acked = false;
        hash += fp + "F,";
      } else if (a.state == State::resolved) {
        any_resolved = true;
        hash += fp + "R,";
      }
    }
    if (!any_firing) all_acked = false;
    auto inherited = [&](auto member, int64_t fallback) {
      std::string path = key.substr(0, key.find(':'));
      for (;; path = path.substr(0, path.rfind('.'))) {
        const Route* node = routes_by_path_.at(path);
        if ((node->*member).has_value()) return *(node->*member);
        if (path.find('.') == std::string::npos) break;
      }
      return fallback;
    };
    const int64_t group_interval =
        inherited(&Route::group_interval_ms, routing_.default_group_interval_ms);
    const int64_t repeat_interval =
        inherited(&Route::repeat_interval_ms, routing_.default_repeat_interval_ms);

    if (!g.policy.empty()) {
      // Escalation groups: the chain runs from the first flush; resolve tells and ends it.
      if (now_ms < g.next_flush_ms) continue;
      if (!any_firing) {
        if (g.last_notified_ms > 0 && any_resolved && !muted(*r, now_ms)) {
          auto pit = routing_.policies.find(g.policy);
          if (pit != routing_.policies.end() && pit->second.notify_on_resolve) {
            auto receivers = pit->second.resolve_receivers.value_or(g.notified_receivers);
            for (const auto& rcv : receivers) notify(g, rcv, "resolved", g.step, now_ms, step);
          }
        }
        finished.push_back(key);
        continue;
      }
      if (all_acked && !g.escalation_stopped) {
        g.escalation_stopped = true;
        step.touched_groups.insert(key);
      } else if (!all_acked && g.escalation_stopped) {
        g.escalation_stopped = false;
        g.escalating = true;
        g.iteration = 0;
        g.step = 0;
        g.step_due_ms = now_ms;
        step.touched_groups.insert(key);
      }
      if (!g.escalating && !g.escalation_stopped && g.last_notified_ms == 0 && g.iteration == 0 &&
          g.step == 0) {
        g.escalating = true;
        g.step_due_ms = now_ms;
      }
      run_escalation(g, now_ms, step);
      continue;
    }

    if (now_ms < g.next_flush_ms) continue;
    if (!any_firing && !any_resolved) {
      finished.push_back(key);
      continue;
    }
    const bool changed = hash != g.last_notified_hash;
    const bool repeat = any_firing && !all_acked && g.last_notified_ms > 0 &&
                        now_ms - g.last_notified_ms >= repeat_interval;
    if ((changed || repeat) && !muted(*r, now_ms) && (any_firing || g.last_notified_ms > 0)) {
      notify(g, g.receiver, any_firing ? "firing" : "resolved", -1, now_ms, step);
      g.last_notified_hash = hash;
    }
    g.next_flush_ms = now_ms + group_interval;
    step.touched_groups.insert(key);
    if (!any_firing) finished.push_back(key);
  }
  for (const auto& key : finished) {
    auto it = groups_.find(key);
    if (it == groups_.end()) continue;
    // Resolved alerts that belonged only to this group can be forgotten.
    for (const auto& fp : it->second.fingerprints) {
      auto a = alerts_.find(fp);
      if (a != alerts_.end() && !active(a->second.state)) {
        bool elsewhere = false;
        for (const auto& [k, g] : groups_)
          if (k != key &&
              std::find(g.fingerprints.begin(), g.fingerprints.end(), fp) != g.fingerprints.end())
            elsewhere = true;
        if (!elsewhere) {
          step.batch.deleted_alerts.push_back(fp);
          step.touched_alerts.erase(fp);
          alerts_.erase(a);
        }
      }
    }
    groups_.erase(it);
    step.batch.deleted_groups.push_back(key);
    step.touched_groups.erase(key);
  }
}

void Engine::run_escalation(Group& g, int64_t now_ms, Step& step) {
  auto pit = routing_.policies.find(g.policy);
  if (pit == routing_.policies.end() || pit->second.steps.empty()) return;
  const Policy& policy = pit->second;
  const Route* r = route_of(g);
  while (!g.escalation_stopped && g.escalating && g.step_due_ms <= now_ms) {
    if (g.iteration >= policy.repeat) {
      g.escalating = false;  // the chain has run its course
      break;
    }
    if (r && muted(*r, now_ms)) break;  // resumes when the window opens (tick keeps checking)
    const PolicyStep& s = policy.steps[static_cast<size_t>(g.step)];
    StepContext ctx;
    ctx.now_ms = now_ms;
    ctx.iteration = g.iteration;
    ctx.group_labels = g.group_labels;
    for (const auto& fp : g.fingerprints) {
      auto it = alerts_.find(fp);
      if (it == alerts_.end() || it->second.state != State::firing) continue;
      ++ctx.firing;
      auto sev = it->second.labels.find("severity");
      if (sev != it->second.labels.end() &&
          severity_rank(sev->second) >= severity_rank(ctx.severity))
        ctx.severity = sev->second;
    }
    bool run = true;
    if (s.condition) {
      try {
        run = s.condition(ctx);
      } catch (...) {
        run = true;  // a broken condition must not swallow a page
      }
    }
    if (run)
      for (const auto& receiver : s.receivers) notify(g, receiver, "firing", g.step, now_ms, step);
    const int64_t due = g.step_due_ms + (s.wait_ms > 0 ? s.wait_ms : 0);
    g.step_due_ms = std::max(due, now_ms);
    if (s.wait_ms <= 0) g.step_due_ms = now_ms;
    ++g.step;
    if (g.step >= static_cast<int>(policy.steps.size())) {
      g.step = 0;
      ++g.iteration;
    }
    step.touched_groups.insert(g.key);
  }
}

// ---- time
// ----------------------------------------------------------------------------------------

void Engine::tick(int64_t now_ms) {
  Step step;
  // keep_firing_for runs out between evaluations too.
  for (auto& [fp, alert] : alerts_) {
    if (alert.state != State::firing) continue;
    auto rule = rules_.find(alert.rule);
    if (rule == rules_.end() || rule->second.keep_firing_for_ms <= 0) continue;
    if (alert.last_eval_ms > alert.last_seen_ms &&
        now_ms - alert.last_seen_ms >= rule->second.keep_firing_for_ms) {
      change_state(
          alert, State::resolved, now_ms,
          "recovered (kept firing " + std::to_string(rule->second.keep_firing_for_ms / 1000) + "s)",
          step);
      route(alert, now_ms, step);
    }
  }
  refresh_flags(now_ms, step);
  flush_groups(now_ms, step);
  commit(step);
}

int64_t Engine::next_deadline_ms() const {
  int64_t next = INT64_MAX;
  for (const auto& [key, g] : groups_) {
    if (g.policy.empty()) {
      if (g.next_flush_ms > 0) next = std::min(next, g.next_flush_ms);
    } else {
      if (!g.escalating && g.last_notified_ms == 0) next = std::min(next, g.next_flush_ms);
      if (!g.escalation_stopped && g.escalating) next = std::min(next, g.step_due_ms);
    }
  }
  for (const auto& [fp, a] : alerts_) {
    if (a.ack && a.ack->expires_ms > 0) next = std::min(next, a.ack->expires_ms);
    auto rule = rules_.find(a.rule);
    if (a.state == State::firing && rule != rules_.end() && rule->second.keep_firing_for_ms > 0 &&
        a.last_eval_ms > a.last_seen_ms)
      next = std::min(next, a.last_seen_ms + rule->second.keep_firing_for_ms);
    if (a.flapping && rule != rules_.end() && !a.recent_changes_ms.empty())
      next = std::min(next, a.recent_changes_ms.back() + rule->second.flap.window_ms);
  }
  for (const auto& [id, s] : silences_) {
    if (s.ends_ms > 0) {
      // Both edges change flags.
      next = std::min(next, s.ends_ms);
    }
  }
  return next;
}

// ---- operations -----------------------------------------------------------------------------

std::string Engine::acknowledge(const std::string& target, bool is_group, Ack ack, int64_t now_ms) {
  std::vector<Alert*> chosen;
  if (is_group) {
    auto g = groups_.find(target);
    if (g == groups_.end()) return "no notification group \"" + target + "\"";
    for (const auto& fp : g->second.fingerprints) {
      auto a = alerts_.find(fp);
      if (a != alerts_.end() && active(a->second.state)) chosen.push_back(&a->second);
    }
  } else {
    auto a = alerts_.find(target);
    if (a == alerts_.end() || !active(a->second.state))
      return "no pending or firing alert with fingerprint \"" + target + "\"";
    chosen.push_back(&a->second);
  }
  if (chosen.empty()) return "group \"" + target + "\" has no pending or firing alert";
  ack.at_ms = now_ms;
  Step step;
  for (Alert* a : chosen) {
    a->ack = ack;
    step.batch.transitions.push_back(
        {a->fingerprint, now_ms, "", "+acknowledged",
         "ack by " + ack.author + (ack.comment.empty() ? "" : ": " + ack.comment) +
             (ack.expires_ms ? " (expires " + rfc3339(ack.expires_ms) + ")" : "") +
             (ack.sticky ? " (sticky)" : "")});
    step.touched_alerts.insert(a->fingerprint);
  }
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

std::string Engine::unacknowledge(const std::string& target, bool is_group,
                                  const std::string& author, int64_t now_ms) {
  std::vector<Alert*> chosen;
  if (is_group) {
    auto g = groups_.find(target);
    if (g == groups_.end()) return "no notification group \"" + target + "\"";
    for (const auto& fp : g->second.fingerprints) {
      auto a = alerts_.find(fp);
      if (a != alerts_.end() && a->second.ack) chosen.push_back(&a->second);
    }
  } else {
    auto a = alerts_.find(target);
    if (a == alerts_.end() || !a->second.ack)
      return "no acknowledged alert with fingerprint \"" + target + "\"";
    chosen.push_back(&a->second);
  }
  Step step;
  for (Alert* a : chosen) {
    a->ack.reset();
    step.batch.transitions.push_back(
        {a->fingerprint, now_ms, "", "-acknowledged", "unack by " + author});
    step.touched_alerts.insert(a->fingerprint);
  }
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

std::string Engine::create_silence(Silence& silence, int64_t now_ms) {
  if (silence.matchers.empty()) return "a silence needs at least one matcher";
  if (silence.starts_ms == 0) silence.starts_ms = now_ms;
  if (silence.ends_ms <= silence.starts_ms) return "the silence ends before it starts";
  if (silence.id.empty()) {
    std::string seed;
    for (const auto& m : silence.matchers) seed += m.to_string();
    silence.id = fingerprint(
        {{"s", seed + std::to_string(now_ms) + "#" + std::to_string(++silence_counter_)}});
  }
  silence.created_ms = now_ms;
  silences_[silence.id] = silence;
  Step step;
  step.touched_silences.insert(silence.id);
  refresh_flags(now_ms, step);
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

std::string Engine::expire_silence(const std::string& id, const std::string& author,
                                   int64_t now_ms) {
  auto it = silences_.find(id);
  if (it == silences_.end()) return "no silence with id \"" + id + "\"";
  if (it->second.ends_ms <= now_ms) return "silence \"" + id + "\" has already ended";
  it->second.ends_ms = now_ms;
  if (!author.empty())
    it->second.comment +=
        (it->second.comment.empty() ? "" : " ") + std::string("(expired by ") + author + ")";
  Step step;
  step.touched_silences.insert(id);
  refresh_flags(now_ms, step);
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

std::vector<Alert> Engine::list_alerts(const AlertFilter& filter) const {
  std::vector<Alert> out;
  for (const auto& [fp, a] : alerts_) {
    bool state_ok = filter.states.empty() ? active(a.state)
                                          : std::find(filter.states.begin(), filter.states.end(),
                                                      a.state) != filter.states.end();
    if (state_ok && matches_all(filter.matchers, a.labels)) out.push_back(a);
  }
  return out;
}

const Alert* Engine::find_alert(const std::string& fingerprint) const {
  auto it = alerts_.find(fingerprint);
  return it == alerts_.end() ? nullptr : &it->second;
}

std::vector<Silence> Engine::list_silences(bool include_expired, int64_t now_ms) const {
  std::vector<Silence> out;
  for (const auto& [id, s] : silences_)
    if (include_expired || s.ends_ms > now_ms) out.push_back(s);
  return out;
}

std::vector<Group> Engine::list_groups() const {
  std::vector<Group> out;
  for (const auto& [k, g] : groups_) out.push_back(g);
  return out;
}

size_t Engine::count(State state) const {
  size_t n = 0;
  for (const auto& [fp, a] : alerts_) n += a.state == state;
  return n;
}

void Engine::commit(Step& step) {
  for (const auto& fp : step.touched_alerts) {
    auto it = alerts_.find(fp);
    if (it != alerts_.end()) step.batch.alerts.push_back(it->second);
  }
  for (const auto& key : step.touched_groups) {
    auto it = groups_.find(key);
    if (it != groups_.end()) step.batch.groups.push_back(it->second);
  }
  for (const auto& id : step.touched_silences) {
    auto it = silences_.find(id);
    if (it != silences_.end()) step.batch.silences.push_back(it->second);
  }
  // What a failed commit could not save rides along with this one.
  for (auto& n : unsaved_.notifications) step.batch.notifications.push_back(std::move(n));
  for (auto& t : unsaved_.transitions) step.batch.transitions.push_back(std::move(t));
  for (auto& d : unsaved_.deleted_alerts) step.batch.deleted_alerts.push_back(std::move(d));
  for (auto& d : unsaved_.deleted_groups) step.batch.deleted_groups.push_back(std::move(d));
  unsaved_ = Batch{};
  if (step.batch.empty()) return;
  std::string error;
  if (!journal_.commit(step.batch, error)) {
    ++counters_.commit_failures;
    unsaved_.notifications = std::move(step.batch.notifications);
    unsaved_.transitions = std::move(step.batch.transitions);
    unsaved_.deleted_alerts = std::move(step.batch.deleted_alerts);
    unsaved_.deleted_groups = std::move(step.batch.deleted_groups);
    spdlog::error(
        "alerting: cannot save alert state ({}); it stays in memory and is saved with "
        "the next change",
        error);
  }
}

}  // namespace vigil::alerts
