// Building the Events API v2 bodies of a notification, and the record of settled events; see
// events.hpp.
#include "events.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace vigil::notifier_events {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

const json& null_json() {
  static const json null;
  return null;
}

// obj[key] when obj is an object holding it, null otherwise: payloads are read, never trusted.
const json& field(const json& obj, const char* key) {
  if (!obj.is_object()) return null_json();
  auto it = obj.find(key);
  return it == obj.end() ? null_json() : *it;
}

std::string text_field(const json& obj, const char* key) {
  const json& v = field(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool is_firing(const json& alert) {
  return text_field(alert, "status") != "resolved";
}

// Larger is more severe; unknown names rank below info.
int severity_rank(const std::string& severity) {
  if (severity == "critical") return 4;
  if (severity == "error") return 3;
  if (severity == "warning") return 2;
  if (severity == "info") return 1;
  return 0;
}

// Alertmanager writes "0001-01-01T00:00:00Z" for a time that is not set.
bool is_set_time(const std::string& rfc3339) {
  return !rfc3339.empty() && rfc3339.rfind("0001-", 0) != 0;
}

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool is_utf8_lead(char c) {
  return (static_cast<unsigned char>(c) & 0xC0u) != 0x80u;
}

// Bytes of the first `chars` characters of `text`, never splitting a UTF-8 sequence.
std::size_t prefix_bytes(const std::string& text, std::size_t chars) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!is_utf8_lead(text[i])) continue;
    if (seen == chars) return i;
    ++seen;
  }
  return text.size();
}

std::string trimmed(std::string text) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && space(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && space(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

// Invalid UTF-8 from a label becomes U+FFFD rather than an event that can never be sent.
std::string dump(const ordered_json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The action an alert (or, for a group, the notification) asks for.
std::string action_for(bool resolved, const json& acknowledged) {
  if (resolved) return "resolve";
  return acknowledged.is_object() ? "acknowledge" : "trigger";
}

// One alert as a group event's custom_details lists it.
ordered_json alert_details(const json& alert) {
  ordered_json out = ordered_json::object();
  out["status"] = text_field(alert, "status");
  out["labels"] = field(alert, "labels");
  out["annotations"] = field(alert, "annotations");
  out["value"] = field(alert, "value");
  out["starts_at"] = text_field(alert, "startsAt");
  out["fingerprint"] = text_field(alert, "fingerprint");
  return out;
}

// What a trigger event is about: one alert, or the alerts of a group.
struct Subject {
  std::vector<const json*> alerts;  // the alert, or every alert of the group
  bool group = false;
};

// Links in the order a responder wants them: Vigil itself, then where each alert came from.
ordered_json links_for(const json& payload, const Subject& subject) {
  ordered_json links = ordered_json::array();
  std::vector<std::string> seen;
  auto add = [&](const std::string& href, const std::string& text) {
    if (href.empty() || std::find(seen.begin(), seen.end(), href) != seen.end()) return;
    if (seen.size() >= 5) return;
    seen.push_back(href);
    links.push_back(ordered_json{{"href", href}, {"text", text}});
  };
  add(text_field(payload, "externalURL"), "Vigil");
  for (const json* alert : subject.alerts) {
    const std::string name = text_field(field(*alert, "labels"), "alertname");
    add(text_field(*alert, "generatorURL"), name.empty() ? "alert source" : name + " source");
  }
  return links;
}

std::string severity_for(const EventSettings& settings, const Subject& subject) {
  // A group is as severe as its most severe firing alert (all of them when none fires).
  bool any_firing = std::any_of(subject.alerts.begin(), subject.alerts.end(),
                                [](const json* a) { return is_firing(*a); });
  std::string best;
  for (const json* alert : subject.alerts) {
    if (any_firing && !is_firing(*alert)) continue;
    std::string s = map_severity(
        settings, text_field(field(*alert, "labels"), settings.severity_label.c_str()));
    if (severity_rank(s) > severity_rank(best)) best = s;
  }
  return best.empty() ? settings.default_severity : best;
}

std::string timestamp_for(const Subject& subject) {
  // The earliest start among the firing alerts (RFC 3339 UTC texts sort as times).
  std::string earliest;
  for (const json* alert : subject.alerts) {
    if (subject.group && !is_firing(*alert)) continue;
    std::string t = text_field(*alert, "startsAt");
    if (is_set_time(t) && (earliest.empty() || t < earliest)) earliest = t;
  }
  return earliest;
}

ordered_json details_for(const Notification& n, const json& payload, const json& context,
                         const Subject& subject) {
  ordered_json details = ordered_json::object();
  details["labels"] = field(context, "labels");
  details["annotations"] = field(context, "annotations");
  if (subject.group) {
    std::size_t firing = 0;
    for (const json* a : subject.alerts) firing += is_firing(*a) ? 1 : 0;
    details["firing"] = firing;
    details["resolved"] = subject.alerts.size() - firing;
    ordered_json listed = ordered_json::array();
    for (std::size_t i = 0; i < subject.alerts.size() && i < kMaxDetailedAlerts; ++i)
      listed.push_back(alert_details(*subject.alerts[i]));
    details["alerts"] = std::move(listed);
    if (subject.alerts.size() > kMaxDetailedAlerts)
      details["alerts_not_listed"] = subject.alerts.size() - kMaxDetailedAlerts;
  } else {
    const json& alert = *subject.alerts.front();
    details["value"] = field(alert, "value");
    details["status"] = text_field(alert, "status");
    details["starts_at"] = text_field(alert, "startsAt");
    details["fingerprint"] = text_field(alert, "fingerprint");
  }
  if (n.escalation_step >= 0)
    details["escalation_step"] = n.escalation_step;
  else
    details["escalation_step"] = nullptr;
  details["group_key"] = n.group_key;
  details["group_id"] = text_field(field(payload, "vigil"), "group_id");
  details["vigil_url"] = text_field(payload, "externalURL");
  if (!subject.group)
    details["generator_url"] = text_field(*subject.alerts.front(), "generatorURL");
  return details;
}

// The body of a trigger event: everything the incident tool shows.
ordered_json trigger_body(const EventSettings& settings, const Notification& n, const json& payload,
                          const json& context, const Subject& subject,
                          const std::string& dedup_key) {
  std::string summary = trimmed(settings.summary.render(context));
  if (summary.empty()) summary = n.group_key.empty() ? "Vigil alert" : n.group_key;
  std::string source = trimmed(settings.source.render(context));
  if (source.empty()) source = settings.hostname.empty() ? "vigil" : settings.hostname;

  ordered_json inner = ordered_json::object();
  inner["summary"] = fit_text(summary, kMaxSummary);
  inner["source"] = source;
  inner["severity"] = severity_for(settings, subject);
  if (std::string t = timestamp_for(subject); !t.empty()) inner["timestamp"] = t;
  if (std::string v = trimmed(settings.component.render(context)); !v.empty())
    inner["component"] = v;
  if (std::string v = trimmed(settings.group.render(context)); !v.empty()) inner["group"] = v;
  if (std::string v = trimmed(settings.event_class.render(context)); !v.empty()) inner["class"] = v;
  inner["custom_details"] = details_for(n, payload, context, subject);

  ordered_json body = ordered_json::object();
  body["routing_key"] = settings.routing_key;
  body["event_action"] = "trigger";
  body["dedup_key"] = dedup_key;
  body["payload"] = std::move(inner);
  body["links"] = links_for(payload, subject);
  body["client"] = "Vigil";
  if (std::string url = text_field(payload, "externalURL"); !url.empty()) body["client_url"] = url;
  return body;
}

// Acknowledge and resolve carry what the API needs to find the incident, and nothing more.
ordered_json follow_up_body(const EventSettings& settings, const std::string& action,
                            const std::string& dedup_key) {
  ordered_json body = ordered_json::object();
  body["routing_key"] = settings.routing_key;
  body["event_action"] = action;
  body["dedup_key"] = dedup_key;
  return body;
}

}  // namespace

bool is_severity(const std::string& name) {
  return severity_rank(name) > 0;
}

std::string map_severity(const EventSettings& settings, const std::string& label_value) {
  if (auto it = settings.severity_map.find(label_value); it != settings.severity_map.end())
    return it->second;
  std::string lower = label_value;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return is_severity(lower) ? lower : settings.default_severity;
}

std::string fit_dedup_key(const std::string& key) {
  if (key.size() <= kMaxDedupKey) return key;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a64(key)));
  // Cut at a character boundary, leaving room for "~" and the 16 digits.
  std::size_t keep = kMaxDedupKey - 17;
  while (keep > 0 && !is_utf8_lead(key[keep])) --keep;
  return key.substr(0, keep) + "~" + hash;
}

std::string fit_text(const std::string& text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (char c : text) chars += is_utf8_lead(c) ? 1 : 0;
  if (chars <= max_chars || max_chars == 0) return text;
  return text.substr(0, prefix_bytes(text, max_chars - 1)) + "\xE2\x80\xA6";  // "…"
}

bool build_events(const EventSettings& settings, const Notification& n, std::vector<Event>& out,
                  std::string& error) {
  out.clear();
  json payload = json::parse(n.payload_json, nullptr, false);
  if (!payload.is_object()) {
    error = "the payload is not a JSON object (notification " + n.idempotency_key +
            "); expected Alertmanager's webhook payload as the host writes it";
    return false;
  }
  std::vector<const json*> alerts;
  if (const json& list = field(payload, "alerts"); list.is_array())
    for (const json& a : list)
      if (a.is_object()) alerts.push_back(&a);

  // The template context: the payload, plus what the event is about.
  json context = payload;
  context["hostname"] = settings.hostname;

  auto add = [&](const std::string& action, const Template& key_template, const Subject& subject,
                 const char* option, const char* default_text) {
    context["event_action"] = action;
    std::string key = trimmed(key_template.render(context));
    if (key.empty()) {
      error = "option \"" + std::string(option) +
              "\" rendered an empty dedup_key for notification " + n.idempotency_key +
              "; expected a template that gives a key for every notification, " +
              "such as the default \"" + default_text + "\"";
      return false;
    }
    key = fit_dedup_key(key);
    ordered_json body = action == "trigger"
                            ? trigger_body(settings, n, payload, context, subject, key)
                            : follow_up_body(settings, action, key);
    out.push_back(Event{action, key, dump(body)});
    return true;
  };

  if (!settings.per_alert) {
    Subject subject{alerts, true};
    context["alert"] = alerts.empty() ? json(nullptr) : *alerts.front();
    context["labels"] = field(payload, "commonLabels");
    context["annotations"] = field(payload, "commonAnnotations");
    const std::string action =
        action_for(n.status == "resolved", field(field(payload, "vigil"), "acknowledged"));
    return add(action, settings.dedup_key, subject, "dedup_key", kDefaultDedupKey);
  }
  for (const json* alert : alerts) {
    Subject subject{{alert}, false};
    context["alert"] = *alert;
    context["labels"] = field(*alert, "labels");
    context["annotations"] = field(*alert, "annotations");
    std::string status = text_field(*alert, "status");
    if (status.empty()) status = n.status;
    const std::string action = action_for(status == "resolved", field(*alert, "acknowledged"));
    if (!add(action, settings.alert_dedup_key, subject, "alert_dedup_key", kDefaultAlertDedupKey))
      return false;
  }
  return true;
}

const std::map<std::size_t, SettledEvents::Settled>* SettledEvents::find(
    const std::string& idempotency_key) const {
  auto it = by_key_.find(idempotency_key);
  return it == by_key_.end() ? nullptr : &it->second;
}

void SettledEvents::settle(const std::string& idempotency_key, std::size_t index, Settled settled) {
  auto [it, inserted] = by_key_.try_emplace(idempotency_key);
  it->second[index] = std::move(settled);
  if (!inserted) return;
  order_.push_back(idempotency_key);
  while (order_.size() > capacity_) {
    by_key_.erase(order_.front());
    order_.pop_front();
  }
}

void SettledEvents::forget(const std::string& idempotency_key) {
  if (by_key_.erase(idempotency_key) == 0) return;
  order_.erase(std::find(order_.begin(), order_.end(), idempotency_key));
}

}  // namespace vigil::notifier_events
