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

// Alertmanager's "no end yet" for a firing alert's endsAt.
constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

std::string rfc3339(int64_t ms) {
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

// Inactive and resolved alerts that no group reports any more stay listable this long.
constexpr int64_t kForgetAfterMs = 15 * 60'000;

struct Engine::Step {
  Batch batch;
  std::set<std::string> touched_alerts, touched_groups, touched_silences;
};

struct Engine::Members {
  std::vector<const Alert*> firing;      // every firing member, whatever its flags
  std::vector<const Alert*> resolved;    // resolved members not reported yet
  std::vector<const Alert*> notifiable;  // what a notification carries: firing then resolved
  size_t notifiable_firing = 0;
  bool all_acked = false;   // every notifiable firing alert is acknowledged (and there is one)
  std::string hash;         // what a receiver would see now
  std::string firing_hash;  // the same without the resolved alerts (after they are reported)
  bool flapping_resolved = false;  // a resolved member waits for its flapping to end
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
  // Nested routes are table entries without lines of their own: they are named by their path
  // from the declaration of the top route.
  const std::string root = routing.root_place.empty() ? "route" : routing.root_place + ": route";
  if (routing.root.receiver.empty() && routing.root.policy.empty())
    errors.push_back(root + ": the top route has no receiver, expected a default receiver");
  walk(routing.root, root);
  for (const auto& [name, policy] : routing.policies) {
    std::string where = policy.file + ":" + std::to_string(policy.line) + ": policy " + name;
    for (size_t i = 0; i < policy.steps.size(); ++i)
      for (const auto& r : policy.steps[i].receivers)
        check_receiver(r, where + " step " + std::to_string(i));
    if (policy.resolve_receivers)
      for (const auto& r : *policy.resolve_receivers) check_receiver(r, where + " on_resolve");
    if (policy.steps.empty())
      errors.push_back(where + ": has no steps, expected at least one step with receivers");
    if (policy.repeat < 1)
      errors.push_back(where + ": repeat is " + std::to_string(policy.repeat) +
                       ", expected 1 or more (passes through the steps in total)");
  }
  for (const auto& [name, window] : routing.windows) {
    LocalTime t;
    std::string error;
    if (!local_time(0, window.time_zone, t, error))
      errors.push_back("time window " + name + ": " + error);
    for (int day : window.weekdays)
      if (day < 0 || day > 6)
        errors.push_back("time window " + name + ": weekday " + std::to_string(day) +
                         ", expected 0 (Sunday) to 6 (Saturday)");
    for (const auto& [from, to] : window.minutes)
      if (from < 0 || to > 24 * 60 || from >= to)
        errors.push_back("time window " + name + ": minutes " + std::to_string(from) + "-" +
                         std::to_string(to) +
                         ", expected a range of minutes since midnight within 0-1440, start "
                         "before end");
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
  begin(now_ms, step);
  for (auto& [fp, alert] : alerts_) {
    if (!next.count(alert.rule) && active(alert.state)) {
      alert.ack.reset();
      change_state(alert, alert.state == State::firing ? State::resolved : State::inactive, now_ms,
                   "rule removed", step);
      route(alert, now_ms, step);
    }
  }
  rules_ = std::move(next);
  refresh_flags(now_ms, step);
  flush_groups(now_ms, step);
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
  reroute_ = true;
}

void Engine::begin(int64_t now_ms, Step& step) {
  last_now_ms_ = std::max(last_now_ms_, now_ms);
  if (reroute_ && has_routing_) {
    reroute_ = false;
    reroute_all(now_ms, step);
  }
}

void Engine::reroute_all(int64_t now_ms, Step& step) {
  // Forget where firing alerts were, route them again; resolved ones still to be reported stay.
  for (auto& [key, g] : groups_) {
    auto keep = [&](const std::string& fp) {
      auto it = alerts_.find(fp);
      return it != alerts_.end() && it->second.state == State::resolved;
    };
    const size_t before = g.fingerprints.size();
    g.fingerprints.erase(std::remove_if(g.fingerprints.begin(), g.fingerprints.end(),
                                        [&](const std::string& fp) { return !keep(fp); }),
                         g.fingerprints.end());
    if (g.fingerprints.size() != before) step.touched_groups.insert(key);
  }
  for (auto& [fp, alert] : alerts_)
    if (alert.state == State::firing) route(alert, now_ms, step);
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
  if (alert.ack) {
    // A plain ack covers the alert as it was; a sticky one lasts until a resolve someone is told
    // about (a resolved alert still in a group may come back before the group reports it).
    bool ends = !alert.ack->sticky || to == State::inactive;
    if (alert.ack->sticky && to == State::resolved) ends = !in_any_group(alert.fingerprint);
    if (ends) {
      step.batch.transitions.push_back(
          {alert.fingerprint, now_ms, "", "-acknowledged",
           "ack by " + alert.ack->author + " ended: " + to_string(from) + " -> " + to_string(to)});
      alert.ack.reset();
    }
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
  begin(now_ms, step);
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
  if (!evaluation.ok) ++counters_.failed_evaluations;
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
    // Flags are decided while an alert is active and kept once it resolves: an alert hidden while
    // it fired is not announced when it resolves.
    if (active(alert.state)) {
      std::vector<std::string> by;
      for (const auto& [id, s] : silences_)
        if (s.starts_ms <= now_ms && now_ms < s.ends_ms && matches_all(s.matchers, alert.labels))
          by.push_back(id);
      const bool silenced = !by.empty();
      if (silenced != alert.silenced) {
        step.batch.transitions.push_back(
            {fp, now_ms, "", silenced ? "+silenced" : "-silenced",
             silenced
                 ? "silence " + by.front()
                 : "silence " +
                       (alert.silenced_by.empty() ? std::string("") : alert.silenced_by.front()) +
                       " ended"});
        step.touched_alerts.insert(fp);
      }
      alert.silenced = silenced;
      if (by != alert.silenced_by) step.touched_alerts.insert(fp);
      alert.silenced_by = std::move(by);
    }
    // A lapsed ack: the group's escalation restarts from step 0 (flush_groups sees it gone).
    if (alert.ack && alert.ack->expires_ms > 0 && now_ms >= alert.ack->expires_ms) {
      step.batch.transitions.push_back(
          {fp, now_ms, "", "-acknowledged", "ack by " + alert.ack->author + " expired"});
      alert.ack.reset();
      step.touched_alerts.insert(fp);
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
    if (!active(alert.state)) continue;  // kept as it was, like silenced
    bool inhibited = false;
    {
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
    auto existing = groups_.find(key);
    if (existing == groups_.end() && alert.state != State::firing) continue;  // nothing to join
    auto [git, created] = groups_.try_emplace(key);
    Group& g = git->second;
    if (created) {
      g.key = key;
      g.group_labels = group_labels;
    }
    if (g.receiver != receiver || g.policy != policy) {  // new, or the route changed on reload
      g.receiver = receiver;
      g.policy = policy;
      step.touched_groups.insert(key);
    }
    if (std::find(g.fingerprints.begin(), g.fingerprints.end(), alert.fingerprint) ==
        g.fingerprints.end()) {
      if (alert.state != State::firing) continue;  // a resolve for a group it never joined
      g.fingerprints.push_back(alert.fingerprint);
    }
    if (created) {  // group_wait counts from the group's first alert
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

int64_t Engine::unmuted_at(const Route& route, int64_t now_ms) const {
  // Windows are whole local minutes and every zone's offset is whole minutes, so stepping minute
  // by minute finds the opening exactly, across a DST change too. A week and a day covers every
  // weekly window; a route muted all week is looked at again then.
  constexpr int64_t kMinute = 60'000, kLimit = 8 * 24 * 60;
  int64_t t = (now_ms / kMinute + 1) * kMinute;
  for (int64_t i = 0; i < kLimit; ++i, t += kMinute)
    if (!muted(route, t)) return t;
  return t;
}

int64_t Engine::inherited(const Group& group, std::optional<int64_t> Route::*member,
                          int64_t fallback) const {
  std::string path = group.key.substr(0, group.key.find(':'));
  for (;; path = path.substr(0, path.rfind('.'))) {
    auto it = routes_by_path_.find(path);
    if (it != routes_by_path_.end() && (it->second->*member).has_value())
      return *(it->second->*member);
    if (path.find('.') == std::string::npos) break;
  }
  return fallback;
}

bool Engine::in_any_group(const std::string& fingerprint) const {
  for (const auto& [k, g] : groups_)
    if (std::find(g.fingerprints.begin(), g.fingerprints.end(), fingerprint) !=
        g.fingerprints.end())
      return true;
  return false;
}

Engine::Members Engine::members_of(const Group& group) const {
  Members m;
  std::vector<const Alert*> resolved_notifiable;
  for (const auto& fp : group.fingerprints) {
    auto it = alerts_.find(fp);
    if (it == alerts_.end()) continue;
    const Alert& a = it->second;
    if (a.state == State::firing) {
      m.firing.push_back(&a);
      if (notifiable(a)) {
        m.notifiable.push_back(&a);
        m.hash += fp + "F,";
        m.firing_hash += fp + "F,";
      }
    } else if (a.state == State::resolved) {
      m.resolved.push_back(&a);
      if (a.flapping) m.flapping_resolved = true;
      if (notifiable(a)) {
        resolved_notifiable.push_back(&a);
        m.hash += fp + "R,";
      }
    }
  }
  m.notifiable_firing = m.notifiable.size();
  m.all_acked = m.notifiable_firing > 0;
  for (size_t i = 0; i < m.notifiable_firing; ++i)
    if (!m.notifiable[i]->ack) m.all_acked = false;
  // Acknowledging the whole group (or that ending) is news for the receivers told so far: an
  // incident tool acknowledges its incident, a chat message says who took it.
  if (m.all_acked) {
    m.hash += "A";
    m.firing_hash += "A";
  }
  m.notifiable.insert(m.notifiable.end(), resolved_notifiable.begin(), resolved_notifiable.end());
  return m;
}

void Engine::notify(Group& group, const std::string& receiver, const std::string& status,
                    int escalation_step, const Members& members, int64_t now_ms, Step& step) {
  ++group.sequence;
  Notification n;
  n.receiver = receiver;
  n.group_key = group.key;
  n.status = status;
  n.escalation_step = escalation_step;
  n.created_ms = now_ms;
  const std::string group_id = fingerprint({{"group", group.key}});
  n.idempotency_key = group_id + "-" + std::to_string(group.sequence) + "-" + receiver;

  json alerts = json::array();
  Labels common;
  Annotations common_annotations;
  const Alert* acked = nullptr;
  for (size_t i = 0; i < members.notifiable.size(); ++i) {
    const Alert& a = *members.notifiable[i];
    json entry = {{"status", a.state == State::firing ? "firing" : "resolved"},
                  {"labels", a.labels},
                  {"annotations", a.annotations},
                  {"startsAt", rfc3339(a.fired_at_ms)},
                  {"endsAt", a.state == State::resolved ? rfc3339(a.resolved_at_ms) : kZeroTime},
                  {"generatorURL", external_url_},
                  {"fingerprint", a.fingerprint},
                  {"value", a.value}};
    if (a.ack) {
      entry["acknowledged"] = {
          {"author", a.ack->author}, {"comment", a.ack->comment}, {"at", rfc3339(a.ack->at_ms)}};
      if (!acked || a.ack->at_ms > acked->ack->at_ms) acked = &a;
    }
    alerts.push_back(std::move(entry));
    if (i == 0) {
      common = a.labels;
      common_annotations = a.annotations;
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
  json vigil = {{"escalation_step", escalation_step},   {"group_id", group_id},
                {"iteration", group.iteration},         {"policy", group.policy},
                {"idempotency_key", n.idempotency_key}, {"sequence", group.sequence}};
  // The group counts as acknowledged when every firing alert it reports is; the latest ack speaks.
  vigil["acknowledged"] = acked && members.all_acked ? json{{"author", acked->ack->author},
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

void Engine::drop_reported_resolved(Group& g, int64_t now_ms, Step& step) {
  // Resolved alerts leave the group once reported (or once there is nothing to report: hidden
  // ones); a flapping one waits until its flapping ends and its resolve can be told.
  std::vector<std::string> dropped;
  g.fingerprints.erase(
      std::remove_if(g.fingerprints.begin(), g.fingerprints.end(),
                     [&](const std::string& fp) {
                       auto it = alerts_.find(fp);
                       if (it == alerts_.end()) return true;
                       if (it->second.state != State::resolved || it->second.flapping) return false;
                       dropped.push_back(fp);
                       return true;
                     }),
      g.fingerprints.end());
  if (dropped.empty()) return;
  step.touched_groups.insert(g.key);
  for (const auto& fp : dropped) {
    auto it = alerts_.find(fp);
    if (it == alerts_.end() || !it->second.ack || in_any_group(fp)) continue;
    step.batch.transitions.push_back(
        {fp, now_ms, "", "-acknowledged", "ack by " + it->second.ack->author + " ended: resolved"});
    it->second.ack.reset();
    step.touched_alerts.insert(fp);
  }
}

void Engine::flush_groups(int64_t now_ms, Step& step) {
  std::vector<std::string> finished;
  for (auto& [key, g] : groups_) {
    const Route* r = route_of(g);
    bool done = r == nullptr;  // its route is gone after a reload
    if (r) {
      const Members members = members_of(g);
      if (g.policy.empty())
        flush_plain(g, *r, members, now_ms, step, done);
      else
        flush_policy(g, *r, members, now_ms, step, done);
    }
    if (done) finished.push_back(key);
  }
  for (const auto& key : finished) {
    auto it = groups_.find(key);
    if (it == groups_.end()) continue;
    std::vector<std::string> fps = std::move(it->second.fingerprints);
    groups_.erase(it);
    step.batch.deleted_groups.push_back(key);
    step.touched_groups.erase(key);
    for (const auto& fp : fps) {
      auto a = alerts_.find(fp);
      if (a == alerts_.end() || active(a->second.state) || in_any_group(fp) || !a->second.ack)
        continue;
      step.batch.transitions.push_back({fp, now_ms, "", "-acknowledged",
                                        "ack by " + a->second.ack->author + " ended: resolved"});
      a->second.ack.reset();
      step.touched_alerts.insert(fp);
    }
  }
}

void Engine::flush_plain(Group& g, const Route& r, const Members& m, int64_t now_ms, Step& step,
                         bool& finished) {
  const bool ack_news = g.ack_changed && m.hash != g.last_notified_hash;
  g.ack_changed = false;
  if (now_ms < g.next_flush_ms && !ack_news) return;
  if (m.firing.empty() && m.resolved.empty()) {
    finished = true;
    return;
  }
  const int64_t group_interval =
      inherited(g, &Route::group_interval_ms, routing_.default_group_interval_ms);
  const int64_t repeat_interval =
      inherited(g, &Route::repeat_interval_ms, routing_.default_repeat_interval_ms);
  // Something new to say: a firing alert, or a resolve of a group the receiver has heard of.
  const bool changed =
      m.hash != g.last_notified_hash &&
      (m.notifiable_firing > 0 || (g.sequence > 0 && m.notifiable.size() > m.notifiable_firing));
  const bool repeat = m.notifiable_firing > 0 && !m.all_acked && g.sequence > 0 &&
                      now_ms - g.last_notified_ms >= repeat_interval;
  if (changed || repeat) {
    if (muted(r, now_ms)) {
      g.next_flush_ms = unmuted_at(r, now_ms);  // nothing can go out before it opens
      step.touched_groups.insert(g.key);
      return;
    }
    notify(g, g.receiver, m.notifiable_firing > 0 ? "firing" : "resolved", -1, m, now_ms, step);
    g.last_notified_hash = m.firing_hash;
  }
  drop_reported_resolved(g, now_ms, step);
  g.next_flush_ms = now_ms + group_interval;
  step.touched_groups.insert(g.key);
  if (m.firing.empty() && !m.flapping_resolved) finished = true;
}

void Engine::flush_policy(Group& g, const Route& r, const Members& m, int64_t now_ms, Step& step,
                          bool& finished) {
  const bool ack_news = g.ack_changed;  // only this flush may act on it
  g.ack_changed = false;
  auto pit = routing_.policies.find(g.policy);
  if (pit == routing_.policies.end()) {
    finished = true;  // validate() refuses this; a group of a policy removed by reload ends
    return;
  }
  const Policy& policy = pit->second;
  const bool started = g.escalating || g.iteration > 0 || g.step > 0 || g.sequence > 0;
  if (!started && now_ms < g.next_flush_ms) return;  // group wait
  const int64_t group_interval =
      inherited(g, &Route::group_interval_ms, routing_.default_group_interval_ms);

  if (m.firing.empty()) {
    // Every alert resolved: tell the resolve receivers (or everyone told so far), then end.
    const bool tell =
        policy.notify_on_resolve && g.sequence > 0 && m.notifiable.size() > m.notifiable_firing;
    if (tell) {
      if (now_ms < g.next_flush_ms) return;
      if (muted(r, now_ms)) {
        g.next_flush_ms = unmuted_at(r, now_ms);
        step.touched_groups.insert(g.key);
        return;
      }
      for (const auto& rcv : policy.resolve_receivers.value_or(g.notified_receivers))
        notify(g, rcv, "resolved", g.step, m, now_ms, step);
    }
    if (m.flapping_resolved && !tell) return;  // its resolve is told when the flapping ends
    finished = true;
    return;
  }
  if (m.notifiable_firing == 0) return;  // all hidden: the chain waits where it is
  // Acknowledged by all: stop. No longer (an ack ended, a new alert joined): start over.
  if (m.all_acked && !g.escalation_stopped) {
    g.escalation_stopped = true;
    step.touched_groups.insert(g.key);
  } else if (!m.all_acked && g.escalation_stopped) {
    g.escalation_stopped = false;
    g.escalating = true;
    g.iteration = 0;
    g.step = 0;
    g.step_due_ms = now_ms;
    step.touched_groups.insert(g.key);
  }
  if (!started) {
    g.escalating = true;
    g.step_due_ms = now_ms;
    step.touched_groups.insert(g.key);
  }
  const bool stepped = run_escalation(g, m, now_ms, step);
  if (stepped) {
    g.last_notified_hash = m.firing_hash;
    drop_reported_resolved(g, now_ms, step);
    return;
  }
  // Between steps: what changed goes to the receivers told so far, at most every group interval.
  if (m.hash == g.last_notified_hash || g.notified_receivers.empty()) return;
  const int64_t due = ack_news ? now_ms : g.last_notified_ms + group_interval;
  if (now_ms < due) {
    if (g.next_flush_ms != due) {
      g.next_flush_ms = due;
      step.touched_groups.insert(g.key);
    }
    return;
  }
  if (muted(r, now_ms)) {
    g.next_flush_ms = unmuted_at(r, now_ms);
    step.touched_groups.insert(g.key);
    return;
  }
  const int steps = static_cast<int>(policy.steps.size());
  const int last_step = g.step > 0 ? g.step - 1 : (g.iteration > 0 ? steps - 1 : 0);
  for (const auto& rcv : std::vector<std::string>(g.notified_receivers))
    notify(g, rcv, "firing", last_step, m, now_ms, step);
  g.last_notified_hash = m.firing_hash;
  drop_reported_resolved(g, now_ms, step);
}

bool Engine::run_escalation(Group& g, const Members& m, int64_t now_ms, Step& step) {
  auto pit = routing_.policies.find(g.policy);
  if (pit == routing_.policies.end() || pit->second.steps.empty()) return false;
  const Policy& policy = pit->second;
  const Route* r = route_of(g);
  bool notified = false;
  while (!g.escalation_stopped && g.escalating && g.step_due_ms <= now_ms) {
    if (g.iteration >= policy.repeat) {
      g.escalating = false;  // the chain has run its course
      step.touched_groups.insert(g.key);
      break;
    }
    if (r && muted(*r, now_ms)) {
      g.step_due_ms = unmuted_at(*r, now_ms);  // the step runs when the window opens
      step.touched_groups.insert(g.key);
      break;
    }
    const PolicyStep& s = policy.steps[static_cast<size_t>(g.step)];
    StepContext ctx;
    ctx.now_ms = now_ms;
    ctx.iteration = g.iteration;
    ctx.group_labels = g.group_labels;
    for (const Alert* a : m.firing) {
      ++ctx.firing;
      auto sev = a->labels.find("severity");
      if (sev != a->labels.end() && severity_rank(sev->second) >= severity_rank(ctx.severity))
        ctx.severity = sev->second;
    }
    bool run = true;
    if (s.condition) {
      try {
        run = s.condition(ctx);
      } catch (const std::exception& e) {
        spdlog::error("alerting: policy {} {}: the condition failed ({}); notifying anyway",
                      policy.name, s.description.empty() ? "step" : s.description, e.what());
        run = true;  // a broken condition must not swallow a page
      } catch (...) {
        run = true;
      }
    }
    if (run) {
      for (const auto& receiver : s.receivers)
        notify(g, receiver, "firing", g.step, m, now_ms, step);
      notified = notified || !s.receivers.empty();
    }
    // Waits add up from when each step was due, so a late tick does not stretch the chain.
    g.step_due_ms = s.wait_ms > 0 ? std::max(g.step_due_ms + s.wait_ms, now_ms) : now_ms;
    ++g.step;
    if (g.step >= static_cast<int>(policy.steps.size())) {
      g.step = 0;
      ++g.iteration;
    }
    step.touched_groups.insert(g.key);
  }
  return notified;
}

// ---- time
// ----------------------------------------------------------------------------------------

void Engine::tick(int64_t now_ms) {
  Step step;
  begin(now_ms, step);
  for (auto& [fp, alert] : alerts_) {
    auto rule = rules_.find(alert.rule);
    if (rule == rules_.end()) continue;
    const RuleSpec& spec = rule->second;
    // `for` runs out between evaluations: fire on time if the condition held when last looked at.
    if (alert.state == State::pending && alert.last_seen_ms >= alert.last_eval_ms &&
        now_ms - alert.active_since_ms >= spec.for_ms) {
      alert.annotations = render_annotations(spec.annotations, alert, external_url_);
      change_state(alert, State::firing, now_ms,
                   "pending for " + format_duration(spec.for_ms / 1e3), step);
      route(alert, now_ms, step);
    }
    // keep_firing_for runs out between evaluations too.
    if (alert.state == State::firing && spec.keep_firing_for_ms > 0 &&
        alert.last_eval_ms > alert.last_seen_ms &&
        now_ms - alert.last_seen_ms >= spec.keep_firing_for_ms) {
      change_state(alert, State::resolved, now_ms,
                   "recovered (kept firing " + format_duration(spec.keep_firing_for_ms / 1e3) + ")",
                   step);
      route(alert, now_ms, step);
    }
  }
  refresh_flags(now_ms, step);
  flush_groups(now_ms, step);
  forget_old_alerts(now_ms, step);
  commit(step);
}

void Engine::forget_old_alerts(int64_t now_ms, Step& step) {
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    const Alert& a = it->second;
    const int64_t since = std::max({a.resolved_at_ms, a.last_eval_ms, a.active_since_ms});
    if (active(a.state) || a.flapping || now_ms - since < kForgetAfterMs ||
        in_any_group(it->first)) {
      ++it;
      continue;
    }
    step.batch.deleted_alerts.push_back(it->first);
    step.touched_alerts.erase(it->first);
    it = alerts_.erase(it);
  }
}

int64_t Engine::next_deadline_ms() const {
  // Only what lies after the latest step: a deadline in the past would make the caller spin.
  int64_t next = INT64_MAX;
  auto consider = [&](int64_t t) {
    if (t > last_now_ms_ && t < next) next = t;
  };
  for (const auto& [key, g] : groups_) {
    consider(g.next_flush_ms);
    if (!g.policy.empty() && g.escalating && !g.escalation_stopped) {
      // A chain that waits for an alert to be notifiable again has no deadline of its own.
      const Members m = members_of(g);
      if (m.notifiable_firing > 0) next = std::min(next, std::max(g.step_due_ms, last_now_ms_ + 1));
    }
  }
  for (const auto& [fp, a] : alerts_) {
    if (a.ack && a.ack->expires_ms > 0) consider(a.ack->expires_ms);
    auto rule = rules_.find(a.rule);
    if (rule == rules_.end()) continue;
    const RuleSpec& spec = rule->second;
    if (a.state == State::pending && a.last_seen_ms >= a.last_eval_ms)
      consider(a.active_since_ms + spec.for_ms);
    if (a.state == State::firing && spec.keep_firing_for_ms > 0 && a.last_eval_ms > a.last_seen_ms)
      consider(a.last_seen_ms + spec.keep_firing_for_ms);
    if (a.flapping && !a.recent_changes_ms.empty())
      consider(a.recent_changes_ms.back() + spec.flap.window_ms);
  }
  for (const auto& [id, s] : silences_) {
    consider(s.starts_ms);
    consider(s.ends_ms);
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
  if (ack.expires_ms > 0 && ack.expires_ms <= now_ms)
    return "the ack would expire at " + rfc3339(ack.expires_ms) + ", which is not after now (" +
           rfc3339(now_ms) + ")";
  ack.at_ms = now_ms;
  Step step;
  begin(now_ms, step);
  for (Alert* a : chosen) {
    a->ack = ack;
    step.batch.transitions.push_back(
        {a->fingerprint, now_ms, "", "+acknowledged",
         "ack by " + ack.author + (ack.comment.empty() ? "" : ": " + ack.comment) +
             (ack.expires_ms ? " (expires " + rfc3339(ack.expires_ms) + ")" : "") +
             (ack.sticky ? " (sticky)" : "")});
    step.touched_alerts.insert(a->fingerprint);
  }
  mark_ack_changed(chosen);
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

void Engine::mark_ack_changed(const std::vector<Alert*>& alerts) {
  for (auto& [key, g] : groups_)
    for (const Alert* a : alerts)
      if (std::find(g.fingerprints.begin(), g.fingerprints.end(), a->fingerprint) !=
          g.fingerprints.end()) {
        g.ack_changed = true;
        break;
      }
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
  if (chosen.empty()) return "group \"" + target + "\" has no acknowledged alert";
  Step step;
  begin(now_ms, step);
  for (Alert* a : chosen) {
    a->ack.reset();
    step.batch.transitions.push_back(
        {a->fingerprint, now_ms, "", "-acknowledged", "unack by " + author});
    step.touched_alerts.insert(a->fingerprint);
  }
  mark_ack_changed(chosen);
  flush_groups(now_ms, step);
  commit(step);
  return "";
}

std::string Engine::create_silence(Silence& silence, int64_t now_ms) {
  if (silence.matchers.empty()) return "a silence needs at least one matcher";
  bool narrows = false;  // as in Alertmanager: a silence of everything is a mistake
  for (const auto& m : silence.matchers) narrows = narrows || !m.matches(std::string_view());
  if (!narrows)
    return "the silence's matchers all match an empty label, so it would silence every alert; "
           "expected at least one matcher such as alertname=\"...\"";
  if (silence.starts_ms == 0) silence.starts_ms = now_ms;
  if (silence.ends_ms <= silence.starts_ms)
    return "the silence ends (" + rfc3339(silence.ends_ms) + ") before it starts (" +
           rfc3339(silence.starts_ms) + ")";
  if (silence.ends_ms <= now_ms)
    return "the silence ends (" + rfc3339(silence.ends_ms) + ") before now (" + rfc3339(now_ms) +
           ")";
  if (silence.id.empty()) {
    std::string seed;
    for (const auto& m : silence.matchers) seed += m.to_string();
    silence.id = fingerprint(
        {{"s", seed + std::to_string(now_ms) + "#" + std::to_string(++silence_counter_)}});
  }
  silence.created_ms = now_ms;
  silences_[silence.id] = silence;
  Step step;
  begin(now_ms, step);
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
  begin(now_ms, step);
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

std::string Engine::group_key_for_id(const std::string& group_id) const {
  for (const auto& [key, g] : groups_)
    if (fingerprint({{"group", key}}) == group_id) return key;
  return "";
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
  step.touched_alerts.insert(unsaved_alerts_.begin(), unsaved_alerts_.end());
  step.touched_groups.insert(unsaved_groups_.begin(), unsaved_groups_.end());
  step.touched_silences.insert(unsaved_silences_.begin(), unsaved_silences_.end());
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
  // A row deleted and made again since (an alert that came back) is an upsert, not a delete.
  auto& da = step.batch.deleted_alerts;
  da.erase(std::remove_if(da.begin(), da.end(),
                          [&](const std::string& fp) { return alerts_.count(fp) > 0; }),
           da.end());
  auto& dg = step.batch.deleted_groups;
  dg.erase(std::remove_if(dg.begin(), dg.end(),
                          [&](const std::string& key) { return groups_.count(key) > 0; }),
           dg.end());
  unsaved_alerts_.clear();
  unsaved_groups_.clear();
  unsaved_silences_.clear();
  if (step.batch.empty()) return;
  std::string error;
  if (!journal_.commit(step.batch, error)) {
    ++counters_.commit_failures;
    unsaved_.notifications = std::move(step.batch.notifications);
    unsaved_.transitions = std::move(step.batch.transitions);
    unsaved_.deleted_alerts = std::move(step.batch.deleted_alerts);
    unsaved_.deleted_groups = std::move(step.batch.deleted_groups);
    unsaved_alerts_ = std::move(step.touched_alerts);
    unsaved_groups_ = std::move(step.touched_groups);
    unsaved_silences_ = std::move(step.touched_silences);
    spdlog::error(
        "alerting: cannot save alert state ({}); it stays in memory and is saved with "
        "the next change",
        error);
  }
}

}  // namespace vigil::alerts
