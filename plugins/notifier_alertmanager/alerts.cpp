// See alerts.hpp.
#include "alerts.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <unordered_set>

namespace vigil::notifier_alertmanager {

namespace {

// Alertmanager takes label and annotation values as strings only; Vigil writes strings, anything
// else is kept as its JSON text rather than refused.
nlohmann::json string_object(const nlohmann::json& in) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : in.items())
    out[name] = value.is_string() ? value.get<std::string>() : value.dump();
  return out;
}

std::string text_field(const nlohmann::json& alert, const char* name) {
  auto it = alert.find(name);
  return it != alert.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Go's zero time ("0001-01-01T00:00:00Z"), which webhook payloads use for "no end".
bool is_zero_time(const std::string& text) {
  return text.empty() || text.rfind("0001-01-01", 0) == 0;
}

}  // namespace

std::string rfc3339_ms(int64_t unix_ms) {
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const int millis = static_cast<int>(unix_ms - seconds * 1000);
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[96];  // room for any int the format could print
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return out;
}

bool read_alerts(const std::string& payload_json, const Shaping& shaping, int64_t now_unix_ms,
                 std::vector<Alert>& out, std::string& error) {
  out.clear();
  const auto payload = nlohmann::json::parse(payload_json, nullptr, false);
  if (payload.is_discarded() || !payload.is_object()) {
    error =
        "the notification's payload is not a JSON object; expected Alertmanager's webhook v4 "
        "payload";
    return false;
  }
  auto alerts = payload.find("alerts");
  if (alerts == payload.end() || !alerts->is_array()) {
    error =
        "the notification's payload has no \"alerts\" array; expected Alertmanager's webhook "
        "v4 payload";
    return false;
  }
  for (std::size_t i = 0; i < alerts->size(); ++i) {
    const auto& a = (*alerts)[i];
    const std::string where = "alerts[" + std::to_string(i) + "]";
    if (!a.is_object()) {
      error = "the notification's payload: " + where + " is not an object";
      return false;
    }
    auto labels = a.find("labels");
    if (labels == a.end() || !labels->is_object()) {
      error = "the notification's payload: " + where + " has no \"labels\" object";
      return false;
    }
    Alert alert;
    alert.labels = string_object(*labels);
    for (const auto& [name, value] : shaping.extra_labels.items())
      if (!alert.labels.contains(name)) alert.labels[name] = value;
    auto annotations = a.find("annotations");
    alert.annotations = annotations != a.end() && annotations->is_object()
                            ? string_object(*annotations)
                            : nlohmann::json::object();
    alert.starts_at = text_field(a, "startsAt");
    if (is_zero_time(alert.starts_at)) alert.starts_at.clear();
    alert.generator_url =
        shaping.generator_url.empty() ? text_field(a, "generatorURL") : shaping.generator_url;
    alert.resolved = text_field(a, "status") == "resolved";
    if (alert.resolved) {
      alert.ends_at = text_field(a, "endsAt");
      if (is_zero_time(alert.ends_at)) alert.ends_at = rfc3339_ms(now_unix_ms);
    }
    alert.key = text_field(a, "fingerprint");
    if (alert.key.empty()) alert.key = alert.labels.dump();
    out.push_back(std::move(alert));
  }
  return true;
}

std::string postable_body(const Alert* begin, const Alert* end, const std::string& firing_ends_at) {
  nlohmann::json body = nlohmann::json::array();
  for (const Alert* a = begin; a != end; ++a) {
    nlohmann::json p = {{"labels", a->labels}, {"annotations", a->annotations}};
    if (!a->starts_at.empty()) p["startsAt"] = a->starts_at;
    p["endsAt"] = a->resolved ? a->ends_at : firing_ends_at;
    if (!a->generator_url.empty()) p["generatorURL"] = a->generator_url;
    body.push_back(std::move(p));
  }
  return body.dump();
}

std::size_t AlertBook::record(const std::string& group_key, const std::vector<Alert>& alerts,
                              SteadyTime now) {
  std::unordered_set<std::string> listed;
  for (const Alert& alert : alerts) {
    listed.insert(alert.key);
    auto [it, inserted] = entries_.try_emplace(alert.key);
    Entry& e = it->second;
    const bool was_resolved = !inserted && e.alert.resolved;
    e.alert = alert;
    e.group_key = group_key;
    e.told = ++next_told_;
    if (alert.resolved && !was_resolved) e.resolved_since = now;
  }
  // A firing alert of this group that the group's newest notification no longer lists.
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Entry& e = it->second;
    if (e.group_key == group_key && !e.alert.resolved && listed.count(it->first) == 0)
      it = entries_.erase(it);
    else
      ++it;
  }
  return evict_over_capacity();
}

void AlertBook::forget(const std::vector<Alert>& alerts) {
  for (const Alert& alert : alerts) entries_.erase(alert.key);
}

std::size_t AlertBook::expire(SteadyTime now, std::chrono::milliseconds retention) {
  std::size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.alert.resolved && now - it->second.resolved_since >= retention) {
      it = entries_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

std::vector<Alert> AlertBook::snapshot() const {
  std::vector<const Entry*> order;
  order.reserve(entries_.size());
  for (const auto& [key, e] : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return a->told < b->told; });
  std::vector<Alert> out;
  out.reserve(order.size());
  for (const Entry* e : order) out.push_back(e->alert);
  return out;
}

std::size_t AlertBook::evict_over_capacity() {
  if (entries_.size() <= capacity_) return 0;
  // Resolved ones first, longest resolved first; then firing ones, told about longest ago.
  std::vector<std::pair<const std::string*, const Entry*>> order;
  order.reserve(entries_.size());
  for (const auto& [key, e] : entries_) order.emplace_back(&key, &e);
  std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
    const Entry& a = *x.second;
    const Entry& b = *y.second;
    if (a.alert.resolved != b.alert.resolved) return a.alert.resolved;
    if (a.alert.resolved && a.resolved_since != b.resolved_since)
      return a.resolved_since < b.resolved_since;
    return a.told < b.told;
  });
  const std::size_t excess = entries_.size() - capacity_;
  std::vector<std::string> victims;
  victims.reserve(excess);
  for (std::size_t i = 0; i < excess; ++i) victims.push_back(*order[i].first);
  for (const std::string& key : victims) entries_.erase(key);
  return excess;
}

}  // namespace vigil::notifier_alertmanager
