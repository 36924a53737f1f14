// The alert engine: owns every alert's state, its flags, the notification groups and their
// escalation, and turns rule evaluations and the passing of time into one Batch per step.
//
// Deterministic: nothing here reads a clock or starts a thread; every call takes `now_ms`, so
// `vigil test-rules` drives exactly this code on a virtual clock. It never sends anything
// itself: notifications go into the Batch, and the journal (SQLite) commits them together with
// the state change that caused them.
#pragma once

#include "alerts/model.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace vigil::alerts {

struct AlertFilter {
  std::vector<State> states;  // empty: pending and firing
  std::vector<Matcher> matchers;
};

struct EngineCounters {
  uint64_t transitions = 0;
  uint64_t notifications = 0;
  uint64_t commit_failures = 0;
};

// Thread-safety: not thread-safe; one thread (or one mutex) at a time.
class Engine {
 public:
  explicit Engine(Journal& journal) : journal_(journal) {}

  // Every route and policy naming a receiver that is not in `receivers`, and every route naming
  // an unknown policy or time window, as one message each.
  static std::vector<std::string> validate(const Routing& routing,
                                           const std::set<std::string>& receivers);

  void restore(const Snapshot& snapshot);
  // Reload: alerts of rules that are gone resolve now; the others keep their state.
  void set_rules(const std::vector<RuleSpec>& rules, int64_t now_ms);
  void set_routing(Routing routing);
  void set_external_url(std::string url) { external_url_ = std::move(url); }

  void apply(const RuleEvaluation& evaluation, int64_t now_ms);
  // Several evaluations of one round (the rules due at `now_ms`) as one step and one commit.
  void apply_all(const std::vector<RuleEvaluation>& evaluations, int64_t now_ms);
  void tick(int64_t now_ms);
  // The next time tick() has something to do; INT64_MAX when nothing waits.
  int64_t next_deadline_ms() const;

  // Operations. They return "" on success, else a message naming what was wrong.
  std::string acknowledge(const std::string& target, bool is_group, Ack ack, int64_t now_ms);
  std::string unacknowledge(const std::string& target, bool is_group, const std::string& author,
                            int64_t now_ms);
  std::string create_silence(Silence& silence, int64_t now_ms);  // fills id
  std::string expire_silence(const std::string& id, const std::string& author, int64_t now_ms);

  std::vector<Alert> list_alerts(const AlertFilter& filter) const;
  const Alert* find_alert(const std::string& fingerprint) const;
  std::vector<Silence> list_silences(bool include_expired, int64_t now_ms) const;
  std::vector<Group> list_groups() const;
  std::vector<Transition> history(const std::string& fingerprint, size_t limit) {
    return journal_.history(fingerprint, limit);
  }
  const EngineCounters& counters() const { return counters_; }
  size_t count(State state) const;

 private:
  struct Step;  // the batch under construction

  void apply_one(const RuleEvaluation& evaluation, int64_t now_ms, Step& step);
  Labels identity(const RuleSpec& rule, const Labels& instance_labels) const;
  void change_state(Alert& alert, State to, int64_t now_ms, const std::string& detail, Step& step);
  void recover(Alert& alert, const RuleSpec& rule, int64_t now_ms, Step& step);
  void refresh_flags(int64_t now_ms, Step& step);
  void route(Alert& alert, int64_t now_ms, Step& step);
  void flush_groups(int64_t now_ms, Step& step);
  void run_escalation(Group& group, int64_t now_ms, Step& step);
  bool notifiable(const Alert& alert) const;
  bool muted(const Route& route, int64_t now_ms) const;
  void notify(Group& group, const std::string& receiver, const std::string& status,
              int escalation_step, int64_t now_ms, Step& step);
  const Route* route_of(const Group& group) const;
  void commit(Step& step);

  Journal& journal_;
  std::map<std::string, RuleSpec> rules_;
  Routing routing_;
  bool has_routing_ = false;
  std::string external_url_;
  std::map<std::string, Alert> alerts_;  // by fingerprint
  std::map<std::string, Silence> silences_;
  std::map<std::string, Group> groups_;
  // Route index path ("0.2") -> route, rebuilt by set_routing.
  std::map<std::string, const Route*> routes_by_path_;
  EngineCounters counters_;
  uint64_t silence_counter_ = 0;
  Batch unsaved_;  // rows of a failed commit that are not re-derived from state (notifications ...)
};

// Local wall-clock parts of `ms` in the time zone `zone` ("" = UTC is not assumed: the host's
// TZ environment or /etc/localtime; "UTC"; or an IANA name read from /usr/share/zoneinfo).
// False with `error` when the zone cannot be read.
struct LocalTime {
  int weekday = 0;  // 0 = Sunday
  int minute_of_day = 0;
};
bool local_time(int64_t ms, const std::string& zone, LocalTime& out, std::string& error);

}  // namespace vigil::alerts
