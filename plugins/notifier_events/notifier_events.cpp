// notifier_events: each notification becomes PagerDuty Events API v2 events (trigger,
// acknowledge, resolve under a stable dedup_key) POSTed to the Events API or a tool that speaks
// it, so an incident opened by Vigil is acknowledged and resolved there when it is in Vigil.
//
// The host does retries, backoff and fallback; this plugin says how one attempt went, with the
// judgement every HTTP notifier shares (2xx delivered; 408, 429, 5xx and network errors
// retryable; other answers and an untrusted certificate permanent). With several events per
// notification (per_alert) it remembers which were settled, so a retry sends only the rest.
// It must never log or quote the routing key, never follow a redirect, and never do network I/O
// or start a thread in configure() (`vigil check-config` creates every instance).
#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "events.hpp"
#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/request_options.hpp"

namespace vigil::notifier_events {

namespace {

constexpr const char* kPagerDutyUrl = "https://events.pagerduty.com/v2/enqueue";
// Notifications whose settled events are remembered while the host retries them.
constexpr std::size_t kRememberedNotifications = 1024;
// Failures quoted in one answer; the rest are counted.
constexpr std::size_t kQuotedFailures = 3;

// The host part of an http(s) URL, lower-cased, without user info or port.
std::string url_host(const std::string& url) {
  std::size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  if (std::size_t at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  if (std::size_t colon = authority.find(':'); colon != std::string::npos)
    authority = authority.substr(0, colon);
  std::transform(authority.begin(), authority.end(), authority.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return authority;
}

bool is_pagerduty(const std::string& url) {
  const std::string host = url_host(url);
  return host == "events.pagerduty.com" || host == "events.eu.pagerduty.com";
}

std::string local_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

// Compiles a template option; on error, the message names the option and each error's line and
// column, which is what `vigil check-config` prints.
std::optional<Status> compile_option(const Config& config, const char* option, Template& out) {
  std::vector<TemplateError> errors;
  std::optional<Template> compiled = Template::compile(config.string(option), errors);
  if (compiled) {
    out = std::move(*compiled);
    return std::nullopt;
  }
  std::string message = "option \"" + std::string(option) + "\": ";
  for (std::size_t i = 0; i < errors.size(); ++i)
    message += (i > 0 ? "; " : "") + errors[i].to_string();
  return Status::invalid_argument(message);
}

}  // namespace

// One instance per configured "notifier_events" entry.
// Thread-safety: the host delivers one notification at a time per instance; nothing else runs.
class EventsNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    request_.method = "POST";
    request_.url = config.string("url");
    if (request_.url.rfind("http://", 0) != 0 && request_.url.rfind("https://", 0) != 0)
      return Status::invalid_argument(
          "option \"url\": found \"" + plugin_http::redact_url(request_.url) +
          "\", expected an http:// or https:// URL such as " + kPagerDutyUrl);
    if (Status s = read_routing_key(config); !s.is_ok()) return s;
    plugin_http::read_request_options(config, request_);
    request_.accept_gzip = false;
    request_.max_body_bytes = 64 << 10;
    request_.user_agent = "vigil-notifier-events";
    request_.headers = {{"Content-Type", "application/json"}};
    const auto headers = nlohmann::json::parse(config.json("headers"), nullptr, false);
    if (!headers.is_object())
      return Status::invalid_argument(
          "option \"headers\": expected an object of header names to values, such as "
          "{\"X-Team\": \"ops\"}");
    for (const auto& [name, value] : headers.items()) {
      if (!value.is_string())
        return Status::invalid_argument("option \"headers\": \"" + name +
                                        "\" has a value that is not a string");
      request_.headers.emplace_back(name, value.get<std::string>());
    }

    settings_.per_alert = config.boolean("per_alert");
    for (auto [option, target] :
         {std::pair<const char*, Template*>{"dedup_key", &settings_.dedup_key},
          {"alert_dedup_key", &settings_.alert_dedup_key},
          {"summary", &settings_.summary},
          {"source", &settings_.source},
          {"component", &settings_.component},
          {"group", &settings_.group},
          {"class", &settings_.event_class}})
      if (auto refused = compile_option(config, option, *target)) return *refused;
    if (Status s = read_severity(config); !s.is_ok()) return s;
    settings_.hostname = local_hostname();
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    std::vector<Event> events;
    std::string error;
    // The same payload builds the same way on every retry: permanent, so the fallback gets it.
    if (!build_events(settings_, n, events, error)) return Status::permanent(error);
    if (events.empty()) return Status::ok();  // per_alert and a notification without alerts

    // One event needs no record: a retry sends it again anyway.
    const bool remember = events.size() > 1;
    const auto* earlier = remember ? settled_.find(n.idempotency_key) : nullptr;
    std::vector<std::string> retryable, permanent;
    std::chrono::milliseconds retry_after{0};
    std::size_t delivered = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const Event& event = events[i];
      const std::string what = event.action + " " + event.dedup_key + ": ";
      if (earlier != nullptr) {
        if (auto it = earlier->find(i); it != earlier->end()) {
          if (it->second.delivered)
            ++delivered;
          else
            permanent.push_back(it->second.message);
          continue;
        }
      }
      plugin_http::Request request = request_;
      request.body = event.body;
      const auto judgement = plugin_http::judge_delivery(
          "POST " + plugin_http::redact_url(request.url), client_.perform(request));
      switch (judgement.verdict) {
        case plugin_http::Verdict::delivered:
          ++delivered;
          if (remember) settled_.settle(n.idempotency_key, i, {true, {}});
          break;
        case plugin_http::Verdict::retryable:
          retryable.push_back(what + judgement.message);
          retry_after = std::max(retry_after, judgement.retry_after);
          break;
        case plugin_http::Verdict::permanent:
          permanent.push_back(what + judgement.message);
          if (remember) settled_.settle(n.idempotency_key, i, {false, what + judgement.message});
          break;
      }
      earlier = remember ? settled_.find(n.idempotency_key) : nullptr;
    }
    if (retryable.empty()) settled_.forget(n.idempotency_key);
    if (retryable.empty() && permanent.empty()) return Status::ok();
    if (!retryable.empty())
      return Status::retryable(summary(events.size(), delivered, retryable, permanent),
                               retry_after);
    return Status::permanent(summary(events.size(), delivered, retryable, permanent));
  }

 private:
  Status read_routing_key(const Config& config) {
    settings_.routing_key = config.string("routing_key");
    const std::string file = config.string("routing_key_file");
    if (!file.empty()) {
      if (!settings_.routing_key.empty())
        return Status::invalid_argument(
            "options \"routing_key\" and \"routing_key_file\": both set, expected one");
      std::ifstream in(file);
      std::string line;
      if (!in || !std::getline(in, line))
        return Status::invalid_argument("option \"routing_key_file\": cannot read " + file +
                                        ", expected a file whose first line is the routing key");
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      if (line.empty())
        return Status::invalid_argument("option \"routing_key_file\": the first line of " + file +
                                        " is empty, expected the routing key");
      settings_.routing_key = line;
    }
    if (settings_.routing_key.empty())
      return Status::invalid_argument(
          "options \"routing_key\" and \"routing_key_file\": neither set, expected one (the "
          "integration key of the service that gets the events)");
    // A PagerDuty integration key has 32 characters; saying so now beats a 400 per event. The
    // message gives the length only: the key itself never reaches a log.
    if (is_pagerduty(request_.url) && settings_.routing_key.size() != 32)
      return Status::invalid_argument(
          "option \"" + std::string(file.empty() ? "routing_key" : "routing_key_file") +
          "\": " + std::to_string(settings_.routing_key.size()) +
          " characters, expected the 32-character integration key of a PagerDuty service "
          "(Events API v2)");
    return Status::ok();
  }

  Status read_severity(const Config& config) {
    settings_.severity_label = config.string("severity_label");
    settings_.default_severity = config.string("default_severity");
    if (!is_severity(settings_.default_severity))
      return Status::invalid_argument("option \"default_severity\": found \"" +
                                      settings_.default_severity +
                                      "\", expected critical, error, warning or info");
    const auto map = nlohmann::json::parse(config.json("severity_map"), nullptr, false);
    if (!map.is_object())
      return Status::invalid_argument(
          "option \"severity_map\": expected an object of label values to severities, such as "
          "{\"page\": \"critical\", \"ticket\": \"warning\"}");
    for (const auto& [value, severity] : map.items()) {
      if (!severity.is_string() || !is_severity(severity.get<std::string>()))
        return Status::invalid_argument("option \"severity_map\": \"" + value + "\" maps to " +
                                        severity.dump() +
                                        ", expected \"critical\", \"error\", \"warning\" or "
                                        "\"info\"");
      settings_.severity_map[value] = severity.get<std::string>();
    }
    return Status::ok();
  }

  // One line for the host's log and the outbox's reason: how many events went, then the first
  // failures (retryable ones first: they say what the next attempt waits for).
  static std::string summary(std::size_t total, std::size_t delivered,
                             const std::vector<std::string>& retryable,
                             const std::vector<std::string>& permanent) {
    std::vector<std::string> failures = retryable;
    failures.insert(failures.end(), permanent.begin(), permanent.end());
    std::string out;
    if (total > 1)
      out = std::to_string(delivered) + " of " + std::to_string(total) + " events delivered, " +
            std::to_string(retryable.size()) + " to retry, " + std::to_string(permanent.size()) +
            " refused: ";
    for (std::size_t i = 0; i < failures.size() && i < kQuotedFailures; ++i)
      out += (i > 0 ? "; " : "") + failures[i];
    if (failures.size() > kQuotedFailures)
      out += "; and " + std::to_string(failures.size() - kQuotedFailures) + " more";
    return out;
  }

  EventSettings settings_;
  plugin_http::Client client_;
  plugin_http::Request request_;
  SettledEvents settled_{kRememberedNotifications};
};

}  // namespace vigil::notifier_events

VIGIL_PLUGIN(
    "notifier_events", "1.0.0",
    vigil::plugin_http::add_request_options(
        vigil::notifier<vigil::notifier_events::EventsNotifier>(
            "Sends PagerDuty Events API v2 events (trigger, acknowledge, resolve under a "
            "dedup_key) "
            "to PagerDuty or a tool that speaks the same API")
            .option("url", vigil::String, "https://events.pagerduty.com/v2/enqueue",
                    "the Events API v2 endpoint: PagerDuty's, or a compatible tool's http(s) URL")
            .option("routing_key", vigil::String, "",
                    "the integration (routing) key: 32 characters for PagerDuty; required unless "
                    "routing_key_file is set")
            .option("routing_key_file", vigil::String, "",
                    "file whose first line is the routing key (instead of routing_key)")
            .option("per_alert", vigil::Bool, "false",
                    "one event per alert (dedup_key from alert_dedup_key) instead of one per group")
            .option("dedup_key", vigil::String, vigil::notifier_events::kDefaultDedupKey,
                    "template: the dedup_key of a group's events (at most 255 characters)")
            .option("alert_dedup_key", vigil::String, vigil::notifier_events::kDefaultAlertDedupKey,
                    "template: the dedup_key of an alert's events, with per_alert")
            .option("summary", vigil::String, vigil::notifier_events::kDefaultSummary,
                    "template: the incident's title (at most 1024 characters)")
            .option("source", vigil::String, vigil::notifier_events::kDefaultSource,
                    "template: the affected system (empty: this host's name)")
            .option("component", vigil::String, "", "template: the affected component (optional)")
            .option("group", vigil::String, "", "template: the logical group (optional)")
            .option("class", vigil::String, "", "template: the class or type of event (optional)")
            .option("severity_label", vigil::String, "severity",
                    "the label whose value gives the event's severity")
            .option(
                "severity_map", vigil::Json, "{}",
                "label values to severities, such as {\"page\": \"critical\"}; critical, error, "
                "warning and info need no entry")
            .option("default_severity", vigil::String, "error",
                    "the severity of an alert whose label is missing or not mapped")
            .option("headers", vigil::Json, "{}",
                    "extra request headers, such as {\"X-Team\": \"ops\"}")));
