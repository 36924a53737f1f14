// The alert engine: owns every alert's state, its flags, the notification groups and their
// escalation, and turns rule evaluations and the passing of time into one Batch per step.
//
// Deterministic: nothing here reads a clock or starts a thread; every call takes `now_ms`, so
// `vigil test-rules` drives exactly this code on a virtual clock. It never sends anything
// itself: notifications go into the Batch, and the journal (SQLite) commits them together with
// the state change that caused them.
#pragma once

#include "alerts/model.hpp"

#include <climits>
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
  uint64_t failed_evaluations = 0;  // RuleEvaluation with ok == false (state left unchanged)
};

// Semantics worth knowing (the rest follows model.hpp):
//  - A pending alert fires on the first tick or evaluation at active_since + for, provided its
//    condition held at its last evaluation; keep_firing_for counts from the last evaluation that
//    saw the condition.
//  - Flap detection counts the changes into and out of firing.
//  - Silenced and inhibited are decided while an alert is pending or firing and kept as they were
//    once it resolves, so an alert hidden while it fired is not announced when it resolves.
//  - An ack ends when the alert resolves. A plain ack also ends at any other state change (an ack
//    given while pending ends when it fires); a sticky ack survives them, and survives a resolve
//    that no receiver was told about yet (the alert re-fires within the group interval).
//  - Notification groups: group_wait from the group's first firing alert, then a decision every
//    group_interval: send when what the receiver would see changed (an alert joined, resolved,
//    was silenced ...), or after repeat_interval unchanged unless every alert is acknowledged.
//    Resolved alerts leave the group once reported.
//  - Escalation groups (a route with a policy) run the policy's steps instead of repeats, from
//    group_wait on; changes in between go to the receivers notified so far, at group_interval.
//    The chain pauses while every alert of the group is silenced, inhibited or flapping, stops
//    while all are acknowledged, and restarts from step 0 when that ends (an ack expires or is
//    withdrawn, or an alert without an ack joins). After `repeat` passes only changes and the
//    resolve are sent.
//  - A notification due inside a mute window (or outside every active window) waits for the
//    window to open.
//  - Inactive and resolved alerts that no group still reports are forgotten after 15 minutes.
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
  // Alerts are routed again with the new tree on the next step (set_rules, apply, tick ...);
  // groups whose route is gone are dropped.
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
  // Fills id (when empty) and created_ms. Refuses a silence that has already ended or whose
  // matchers would match every alert.
  std::string create_silence(Silence& silence, int64_t now_ms);
  std::string expire_silence(const std::string& id, const std::string& author, int64_t now_ms);

  std::vector<Alert> list_alerts(const AlertFilter& filter) const;
  const Alert* find_alert(const std::string& fingerprint) const;
  std::vector<Silence> list_silences(bool include_expired, int64_t now_ms) const;
  std::vector<Group> list_groups() const;
  // The key of the group whose notifications carry this vigil.group_id; "" when none does.
  std::string group_key_for_id(const std::string& group_id) const;
  std::vector<Transition> history(const std::string& fingerprint, size_t limit) {
    return journal_.history(fingerprint, limit);
  }
  const EngineCounters& counters() const { return counters_; }
  size_t count(State state) const;

 private:
  struct Step;     // the batch under construction
  struct Members;  // what a group holds right now, split by what may be notified

  void apply_one(const RuleEvaluation& evaluation, int64_t now_ms, Step& step);
  Labels identity(const RuleSpec& rule, const Labels& instance_labels) const;
  void change_state(Alert& alert, State to, int64_t now_ms, const std::string& detail, Step& step);
  void recover(Alert& alert, const RuleSpec& rule, int64_t now_ms, Step& step);
  void refresh_flags(int64_t now_ms, Step& step);
  void route(Alert& alert, int64_t now_ms, Step& step);
  void reroute_all(int64_t now_ms, Step& step);
  void flush_groups(int64_t now_ms, Step& step);
  void flush_plain(Group& group, const Route& route, const Members& members, int64_t now_ms,
                   Step& step, bool& finished);
  void flush_policy(Group& group, const Route& route, const Members& members, int64_t now_ms,
                    Step& step, bool& finished);
  bool run_escalation(Group& group, const Members& members, int64_t now_ms, Step& step);
  void drop_reported_resolved(Group& group, int64_t now_ms, Step& step);
  void forget_old_alerts(int64_t now_ms, Step& step);
  bool in_any_group(const std::string& fingerprint) const;
  // Flags every group holding one of these alerts: its acknowledgement may have changed.
  void mark_ack_changed(const std::vector<Alert*>& alerts);
  Members members_of(const Group& group) const;
  bool notifiable(const Alert& alert) const;
  bool muted(const Route& route, int64_t now_ms) const;
  int64_t unmuted_at(const Route& route, int64_t now_ms) const;
  int64_t inherited(const Group& group, std::optional<int64_t> Route::*member,
                    int64_t fallback) const;
  void notify(Group& group, const std::string& receiver, const std::string& status,
              int escalation_step, const Members& members, int64_t now_ms, Step& step);
  const Route* route_of(const Group& group) const;
  void begin(int64_t now_ms, Step& step);
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
  // Upserts of a failed commit: written again from the current state with the next commit.
  std::set<std::string> unsaved_alerts_, unsaved_groups_, unsaved_silences_;
  bool reroute_ = false;             // set_routing happened; route every alert on the next step
  int64_t last_now_ms_ = INT64_MIN;  // the latest step's time: deadlines before it are done
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
