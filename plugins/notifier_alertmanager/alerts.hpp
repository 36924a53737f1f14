// notifier_alertmanager's model of alerts, without any network: reading a notification's payload
// (Alertmanager webhook v4 plus Vigil's fields) into the alerts Alertmanager's API v2 takes,
// writing them as a PostableAlerts body, and the book of alerts the notifier keeps re-sending
// with Prometheus' semantics (firing ones until they resolve or leave their group, resolved ones
// for a retention period, a cap on how many are kept).
//
// An alert's identity is its labels (the fingerprint Vigil derives from them), never its value
// or annotations. Nothing here may block, log, or keep a payload beyond the alerts it names.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace vigil::notifier_alertmanager {

using SteadyTime = std::chrono::steady_clock::time_point;

// One alert as Alertmanager's POST /api/v2/alerts takes it.
// Thread-safety: a plain value.
struct Alert {
  std::string key;             // the fingerprint, or the labels' JSON when there is none
  nlohmann::json labels;       // object of strings, extra labels applied
  nlohmann::json annotations;  // object of strings
  std::string starts_at;       // RFC 3339, as Vigil wrote it; empty: Alertmanager's "now"
  std::string ends_at;         // resolved alerts: when they resolved; firing: empty
  std::string generator_url;   // empty: left out
  bool resolved = false;
};

// What the notifier adds to every alert it reads.
struct Shaping {
  nlohmann::json extra_labels = nlohmann::json::object();  // set where the alert lacks the label
  std::string generator_url;                               // replaces the alert's when set
};

// Reads the alerts of a notification's payload_json. `now_unix_ms` stands in for the endsAt of a
// resolved alert that carries none. False with `error` (what was found, what was expected) when
// the payload is not webhook v4 JSON with an "alerts" array of objects with "labels".
bool read_alerts(const std::string& payload_json, const Shaping& shaping, int64_t now_unix_ms,
                 std::vector<Alert>& out, std::string& error);

// A PostableAlerts body for alerts [begin, end): firing ones get `firing_ends_at` as endsAt (the
// time after which Alertmanager resolves them on its own unless they are sent again), resolved
// ones their own endsAt.
std::string postable_body(const Alert* begin, const Alert* end, const std::string& firing_ends_at);

// "2026-11-23T10:00:00.000Z" for milliseconds since the epoch, UTC.
std::string rfc3339_ms(int64_t unix_ms);

// The alerts this notifier instance was told about and keeps re-sending, by key.
// Thread-safety: not thread-safe; the notifier guards it with its mutex.
class AlertBook {
 public:
  explicit AlertBook(std::size_t capacity) : capacity_(capacity) {}

  // A notification for `group_key` lists the group's current alerts: each is remembered (a
  // resolved one keeps the time it was first seen resolved, for the retention). Firing alerts
  // remembered for that group but no longer listed (silenced, inhibited, flapping or gone in
  // Vigil) are forgotten, so Alertmanager lets them expire at their endsAt. Over the capacity,
  // the longest-resolved alerts are dropped first, then the firing ones told about longest ago;
  // returns how many were dropped.
  std::size_t record(const std::string& group_key, const std::vector<Alert>& alerts,
                     SteadyTime now);

  // Forgets these alerts (a notification every Alertmanager refused: re-sending would only be
  // refused again).
  void forget(const std::vector<Alert>& alerts);

  // Forgets resolved alerts resolved for longer than `retention`; returns how many.
  std::size_t expire(SteadyTime now, std::chrono::milliseconds retention);

  // Every remembered alert, oldest told first (the order re-sends go out in).
  std::vector<Alert> snapshot() const;

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Alert alert;
    std::string group_key;
    SteadyTime resolved_since;  // when first seen resolved; meaningful only for resolved alerts
    uint64_t told = 0;          // when a notification last listed it, in listing order
  };
  std::size_t evict_over_capacity();

  std::size_t capacity_;
  uint64_t next_told_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace vigil::notifier_alertmanager
