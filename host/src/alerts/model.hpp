// The alerting vocabulary every stage after the store shares: what a rule yields, what the alert
// engine owns, what it persists, and what it hands the outbox.
//
// rules/ (Lua) turns scripts into RuleSpec, Route, Policy and InhibitRule values and each
// evaluation into a RuleEvaluation; alerts/ (the engine) turns evaluations and time into state
// changes, one Batch per step; outbox/ writes a Batch to SQLite in one transaction and delivers
// its notifications. Plain values only: nothing here knows about Lua, SQLite or HTTP, and every
// time is a wall-clock millisecond count passed in by the caller, so `vigil test-rules` can drive
// the same code on a virtual clock.
#pragma once

#include "alerts/matcher.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::alerts {

using Labels = std::map<std::string, std::string>;  // sorted by name; empty values never stored
using Annotations = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------------------------
// Rules: what the Lua side declares and yields.

// Flap detection: an alert whose state changed at least `changes` times within `window_ms` is
// flagged flapping; while flapping, no new notification is sent for it (resolve included) until
// it has been stable for `window_ms`. changes == 0 turns it off.
struct FlapSpec {
  int changes = 0;
  int64_t window_ms = 0;
};

// Thread-safety: plain value.
struct RuleSpec {
  std::string name;  // alertname; unique across all loaded rule files
  std::string file;  // where it was declared, for messages
  int line = 0;
  std::string group;  // the rule group it belongs to ("" = the file's default group)
  int64_t interval_ms = 0;
  int64_t for_ms = 0;              // pending this long before firing
  int64_t keep_firing_for_ms = 0;  // keep firing this long after the condition stopped
  std::string severity;            // also added as the label "severity" when not empty
  Labels labels;                   // static labels added to every alert of the rule
  Annotations annotations;         // templates: {{labels.x}}, {{value}}, {{value | percent}} ...
  FlapSpec flap;
};

// One label set a rule looked at in one evaluation. Identity is the rule name plus `labels`
// (plus the rule's static labels); the value never is.
//  - `enter`: the firing condition holds (an inactive or resolved alert becomes pending).
//  - `stay`: for an alert already pending or firing, it does not recover yet. A rule without a
//    separate recovery condition sets stay == enter; hysteresis sets them from two thresholds.
// A pending or firing alert whose label set is not yielded at all has recovered (no data).
struct Instance {
  Labels labels;
  double value = 0;
  bool enter = true;
  bool stay = true;
};

struct RuleEvaluation {
  std::string rule;
  int64_t at_ms = 0;
  bool ok = true;     // false: the script failed; alerts of the rule keep their state unchanged
  std::string error;  // "rules/node.lua:12: rule HostHighCpu: attempt to index a nil value"
  std::vector<Instance> instances;
};

// ---------------------------------------------------------------------------------------------
// Routing, escalation, inhibition, silences: declared in Lua (silences also from the config,
// the CLI and the API).

// A weekly time window in a named time zone ("Europe/Berlin", "UTC", "" = the host's local).
// Each range is minutes since local midnight [start, end). Empty weekdays = every day.
struct TimeWindow {
  std::string name;
  std::vector<int> weekdays;                 // 0 = Sunday ... 6 = Saturday
  std::vector<std::pair<int, int>> minutes;  // empty = all day
  std::string time_zone;
};

struct Route {
  std::vector<Matcher> matchers;      // all must match; empty matches everything
  std::string receiver;               // a notifier instance name; inherited when empty
  std::string policy;                 // an escalation policy name; takes precedence over receiver
  std::vector<std::string> group_by;  // label names; {"..."} groups by all labels
  std::optional<int64_t> group_wait_ms, group_interval_ms, repeat_interval_ms;  // inherited
  std::vector<std::string> active_windows;  // notify only inside one of these (names)
  std::vector<std::string> mute_windows;    // never notify inside one of these
  bool continue_matching = false;           // also try the next sibling routes
  std::vector<Route> routes;                // children, first match wins
};

// What a policy step's condition sees. Returning false skips the step's notification (the chain
// still moves on).
struct StepContext {
  int64_t now_ms = 0;
  std::string severity;  // highest severity among the group's firing alerts
  int firing = 0;        // firing alerts in the group
  int iteration = 0;     // 0-based pass through the chain
  Labels group_labels;
};

// One step: notify `receivers` (when `condition` holds), then wait `wait_ms` before the next.
struct PolicyStep {
  std::vector<std::string> receivers;
  int64_t wait_ms = 0;
  std::function<bool(const StepContext&)> condition;  // empty = always
  std::string description;                            // for messages ("step 2 (notify pager)")
};

struct Policy {
  std::string name;
  std::string file;
  int line = 0;
  std::vector<PolicyStep> steps;
  int repeat = 1;  // passes through the chain in total
  // Receivers told when the group resolves: empty = every receiver notified so far.
  std::optional<std::vector<std::string>> resolve_receivers;
  bool notify_on_resolve = true;
};

// A firing alert matching `source` suppresses alerts matching `target` that have the same values
// for every label in `equal`. An alert never inhibits itself.
struct InhibitRule {
  std::vector<Matcher> source, target;
  std::vector<std::string> equal;
};

struct Silence {
  std::string id;  // assigned by the engine when empty
  std::vector<Matcher> matchers;
  int64_t starts_ms = 0, ends_ms = 0;
  std::string author, comment;
  bool end_on_resolve = false;  // expire it when every alert it silenced has resolved
  int64_t created_ms = 0;
};

// Everything the Lua side declares apart from the rules themselves. Receivers are notifier
// instance names; `known_receivers` lets the engine refuse a route to a receiver that does not
// exist, with the route's file and line.
struct Routing {
  Route root;  // receiver must be set (the default receiver)
  // Where the top route was declared ("rules/routing.lua:14"), for error messages; "" when it
  // was not declared in a file (built in code, or no route at all).
  std::string root_place;
  std::map<std::string, Policy> policies;
  std::vector<InhibitRule> inhibit;
  std::map<std::string, TimeWindow> windows;
  int64_t default_group_wait_ms = 30'000;
  int64_t default_group_interval_ms = 300'000;
  int64_t default_repeat_interval_ms = 4 * 3'600'000;
};

// ---------------------------------------------------------------------------------------------
// Alert state: owned by the engine, persisted by the journal.

enum class State { inactive, pending, firing, resolved };
const char* to_string(State state);  // "inactive", "pending", "firing", "resolved"

struct Ack {
  std::string author, comment;
  int64_t at_ms = 0;
  int64_t expires_ms = 0;  // 0 = never; when it passes, escalation restarts
  bool sticky = false;     // stays until the alert resolves, even if it re-fires
};

struct Alert {
  std::string fingerprint;  // stable hex hash of rule name + labels
  std::string rule;
  Labels labels;            // the full identity: alertname, rule labels, instance labels
  Annotations annotations;  // rendered
  double value = 0;
  State state = State::inactive;
  int64_t active_since_ms = 0;  // when it last became pending
  int64_t fired_at_ms = 0;      // when it last became firing
  int64_t resolved_at_ms = 0;
  int64_t last_seen_ms = 0;  // last evaluation that yielded it with stay/enter true
  int64_t last_eval_ms = 0;
  std::optional<Ack> ack;
  bool silenced = false, inhibited = false, flapping = false;
  std::vector<int64_t> recent_changes_ms;  // state changes inside the flap window
  std::vector<std::string> silenced_by;    // silence ids
};

// One recorded transition or flag change.
struct Transition {
  std::string fingerprint;
  int64_t at_ms = 0;
  std::string from, to;  // states, or "+acknowledged", "-silenced" ... for flags
  std::string detail;    // who / why ("ack by alice: on it", "silence 3f2a", "value 0.93")
};

// One notification group: the alerts a route groups together, and where its escalation is.
struct Group {
  std::string key;  // route path + group labels, stable across restarts
  std::string receiver, policy;
  Labels group_labels;
  std::vector<std::string> fingerprints;
  int64_t first_at_ms = 0;         // when the group got its first alert (group wait counts from it)
  int64_t last_notified_ms = 0;    // last notification of any kind
  int64_t next_flush_ms = 0;       // when the next group-wait/interval/repeat decision is due
  std::string last_notified_hash;  // what the last notification carried, to see changes
  // Escalation cursor (policy groups): which pass and step run next, and when.
  int iteration = 0;
  int step = 0;
  int64_t step_due_ms = 0;
  bool escalating = false;          // the chain runs (step_due_ms is meaningful)
  bool escalation_stopped = false;  // acknowledged
  std::vector<std::string> notified_receivers;
  int64_t sequence = 0;  // notifications made for this group, for idempotency keys
  // Not persisted: an operator's ack or unack just changed whether the whole group is
  // acknowledged, so the receivers told so far hear it at once, not after the group interval.
  bool ack_changed = false;
};

// A notification the engine decided to send. The outbox owns its delivery.
struct Notification {
  std::string idempotency_key;  // group key + sequence + receiver; the same for every retry
  std::string receiver;
  std::string group_key;
  std::string status;        // "firing" or "resolved"
  int escalation_step = -1;  // -1 without a policy
  int64_t created_ms = 0;
  std::string payload_json;  // alerts, labels, annotations, ack, step: what notifiers get
};

// Everything one engine step changed; the journal commits it in one transaction, so a state
// change and the notifications it causes are durable together or not at all.
struct Batch {
  std::vector<Alert> alerts;                // upserted
  std::vector<std::string> deleted_alerts;  // fingerprints
  std::vector<Transition> transitions;
  std::vector<Silence> silences;  // upserted
  std::vector<Group> groups;      // upserted
  std::vector<std::string> deleted_groups;
  std::vector<Notification> notifications;
  bool empty() const;
};

// What the journal hands back at start: the state the last committed batch left.
struct Snapshot {
  std::vector<Alert> alerts;
  std::vector<Silence> silences;
  std::vector<Group> groups;
};

// Where batches go. Thread-safety: commit() and load() are called from the engine's thread only.
class Journal {
 public:
  virtual ~Journal() = default;
  // All or nothing. On false the engine logs `error` and keeps running; the batch is retried
  // with the next one (state in memory is still ahead).
  virtual bool commit(const Batch& batch, std::string& error) = 0;
  virtual bool load(Snapshot& out, std::string& error) = 0;
  // Transitions of one alert, oldest first, at most `limit`.
  virtual std::vector<Transition> history(const std::string& fingerprint, size_t limit) = 0;
};

// Fingerprint of an alert identity: 16 hex digits, stable across versions and restarts.
std::string fingerprint(const Labels& labels);

}  // namespace vigil::alerts
