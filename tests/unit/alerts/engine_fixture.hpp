// What the alert engine's tests share: a journal that keeps every batch in memory and the state
// they add up to (a real Journal, as the SQLite one is, minus the disk), and short builders for
// rules, evaluations and routing. Never a stand-in for the engine itself.
#pragma once

#include "alerts/engine.hpp"

#include <map>
#include <string>
#include <vector>

namespace vigil::alerts::testing {

// Thread-safety: one test thread.
// Keeps every committed batch and the state they add up to, like the SQLite journal would.
class MemoryJournal : public Journal {
 public:
  bool commit(const Batch& batch, std::string& error) override {
    if (fail_commits > 0) {
      --fail_commits;
      error = "disk full (test)";
      return false;
    }
    batches.push_back(batch);
    for (const auto& a : batch.alerts) state.alerts[a.fingerprint] = a;
    for (const auto& fp : batch.deleted_alerts) state.alerts.erase(fp);
    for (const auto& g : batch.groups) state.groups[g.key] = g;
    for (const auto& k : batch.deleted_groups) state.groups.erase(k);
    for (const auto& s : batch.silences) state.silences[s.id] = s;
    for (const auto& t : batch.transitions) history_[t.fingerprint].push_back(t);
    for (const auto& n : batch.notifications) sent.push_back(n);
    return true;
  }
  bool load(Snapshot& out, std::string&) override {
    for (const auto& [k, a] : state.alerts) out.alerts.push_back(a);
    for (const auto& [k, g] : state.groups) out.groups.push_back(g);
    for (const auto& [k, s] : state.silences) out.silences.push_back(s);
    return true;
  }
  std::vector<Transition> history(const std::string& fp, size_t) override { return history_[fp]; }

  struct {
    std::map<std::string, Alert> alerts;
    std::map<std::string, Group> groups;
    std::map<std::string, Silence> silences;
  } state;
  int fail_commits = 0;  // refuse this many commits, like a full disk
  std::vector<Batch> batches;
  std::vector<Notification> sent;
  std::map<std::string, std::vector<Transition>> history_;
};

inline RuleSpec rule(const std::string& name, int64_t for_ms = 0) {
  RuleSpec r;
  r.name = name;
  r.for_ms = for_ms;
  r.severity = "warning";
  return r;
}

inline RuleEvaluation eval(const std::string& name, int64_t at, std::vector<Instance> instances) {
  RuleEvaluation e;
  e.rule = name;
  e.at_ms = at;
  e.instances = std::move(instances);
  return e;
}

inline Instance inst(double value, bool enter, bool stay, Labels labels = {{"instance", "db-1"}}) {
  return Instance{std::move(labels), value, enter, stay};
}

inline Routing simple_routing(int64_t group_wait = 0) {
  Routing r;
  r.root.receiver = "ops";
  r.root.group_by = {"alertname"};
  r.root.group_wait_ms = group_wait;
  r.root.group_interval_ms = 60'000;
  r.root.repeat_interval_ms = 3'600'000;
  return r;
}

inline Matcher m(const std::string& text) {
  std::string error;
  return *parse_matcher(text, error);
}

// simple_routing() that never notifies inside `window`, or with `active` only inside it.
inline Routing windowed_routing(TimeWindow window, bool active = false) {
  Routing r = simple_routing();
  (active ? r.root.active_windows : r.root.mute_windows) = {window.name};
  r.windows[window.name] = std::move(window);
  return r;
}

// Rules HostDown (critical) and HighLatency (warning); a firing critical alert inhibits the
// warnings with the same instance.
inline void host_down_inhibits_warnings(Engine& e) {
  auto critical = rule("HostDown");
  critical.severity = "critical";
  e.set_rules({critical, rule("HighLatency")}, 0);
  auto routing = simple_routing();
  routing.inhibit.push_back(
      {{m(R"(severity="critical")")}, {m(R"(severity="warning")")}, {"instance"}});
  e.set_routing(routing);
}

inline State state_of(const Engine& e) {
  auto alerts =
      e.list_alerts({{State::inactive, State::pending, State::firing, State::resolved}, {}});
  return alerts.empty() ? State::inactive : alerts[0].state;
}

}  // namespace vigil::alerts::testing
