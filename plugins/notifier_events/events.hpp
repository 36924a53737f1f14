// The events of one notification, in the shape of PagerDuty's Events API v2: which action
// (trigger, acknowledge, resolve), under which dedup_key, and the JSON body to POST; and the
// record of which events of a notification already reached the receiver, so a retry sends only
// the rest.
//
// Nothing here does I/O. It must never put the routing key anywhere but the body it builds (no
// message, no error), and never let odd data in a payload throw: a payload that is not JSON is
// the one error, everything missing renders as empty.
#pragma once

#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace vigil::notifier_events {

// The longest dedup_key and summary the Events API v2 accepts.
inline constexpr std::size_t kMaxDedupKey = 255;
inline constexpr std::size_t kMaxSummary = 1024;
// The default templates, also the option table's defaults.
inline constexpr const char* kDefaultDedupKey = "vigil-{{ vigil.group_id }}";
inline constexpr const char* kDefaultAlertDedupKey = "vigil-{{ alert.fingerprint }}";
inline constexpr const char* kDefaultSummary =
    "{{#if annotations.summary}}{{ annotations.summary }}{{else}}"
    "{{ labels.alertname | default \"alert\" }}"
    "{{#if labels.instance}} on {{ labels.instance }}{{/if}}{{/if}}";
inline constexpr const char* kDefaultSource = "{{ labels.instance | default hostname }}";
// Alerts listed in a group event's custom_details; the rest are counted (the API takes 512 KB).
inline constexpr std::size_t kMaxDetailedAlerts = 20;

// "critical", "error", "warning", "info": the only severities the API takes.
bool is_severity(const std::string& name);

// What turns a notification into events; filled once by configure().
// Thread-safety: immutable after configure(); build_events() only reads it.
struct EventSettings {
  std::string routing_key;
  bool per_alert = false;
  Template dedup_key;        // rendered per group event
  Template alert_dedup_key;  // rendered per alert event (per_alert)
  Template summary, source, component, group, event_class;
  std::string severity_label = "severity";
  std::map<std::string, std::string> severity_map;  // label value -> severity
  std::string default_severity = "error";
  std::string hostname;  // this machine's name, in templates as {{ hostname }}
};

// One event to POST.
// Thread-safety: a value type.
struct Event {
  std::string action;     // "trigger", "acknowledge" or "resolve"
  std::string dedup_key;  // never empty, at most kMaxDedupKey bytes
  std::string body;       // the JSON text
};

// The events of `n`: one for the group, or one per alert with settings.per_alert. False, with
// `error` saying why, when the payload is not a JSON object or a dedup_key renders empty (both
// the same on every retry).
bool build_events(const EventSettings& settings, const Notification& n, std::vector<Event>& out,
                  std::string& error);

// The severity a label value maps to: severity_map first, then the four names themselves (case
// ignored), then default_severity.
std::string map_severity(const EventSettings& settings, const std::string& label_value);

// A rendered key of more than kMaxDedupKey bytes: its first bytes, "~", and 16 hex digits of a
// hash of the whole key, so the same key always shortens the same way and two long keys that
// share a prefix stay apart. Shorter keys are returned as they are.
std::string fit_dedup_key(const std::string& key);

// At most `max_chars` UTF-8 characters of `text`; a longer text ends in "…" within that count.
std::string fit_text(const std::string& text, std::size_t max_chars);

// Which events of recent notifications are settled (delivered, or refused for good), by
// idempotency key and event index, so a retry of the same notification skips them. Bounded: past
// `capacity` notifications the oldest are forgotten (their retry then re-sends every event,
// which the receiver's dedup_key makes harmless).
// Thread-safety: not thread-safe; the host calls notify() one at a time per instance.
class SettledEvents {
 public:
  struct Settled {
    bool delivered = false;
    std::string message;  // why it was refused, when not delivered
  };

  explicit SettledEvents(std::size_t capacity) : capacity_(capacity) {}

  // The settled events of that notification, or nullptr when none are recorded.
  const std::map<std::size_t, Settled>* find(const std::string& idempotency_key) const;
  void settle(const std::string& idempotency_key, std::size_t index, Settled settled);
  // Drops the notification: the host will not call again for it.
  void forget(const std::string& idempotency_key);
  std::size_t size() const { return by_key_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<std::string, std::map<std::size_t, Settled>> by_key_;
  std::deque<std::string> order_;  // the keys of by_key_, oldest first
};

}  // namespace vigil::notifier_events
