// Notifications through the real binary when receivers misbehave: `vigil run` with a textfile
// collector, Lua rules and the real notifier_webhook plugin POSTing to receivers this test
// serves on loopback (HttpTestServer). Each case is something a user of the notifiers relies
// on: a receiver that was down gets everything once it is back, and nothing twice; a 400 is not
// retried and goes to the fallback; a 429's Retry-After is waited for; a receiver slower than the
// timeout is retried with the same idempotency key; a hanging receiver does not delay another;
// an acknowledgement and the resolve reach the receiver.
// Every wait is a bounded poll, and the receivers and the process stop when a check fails.
#include "harness.hpp"
#include "loopback.hpp"
#include "support/http_test_server.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using vigil::testing::always;
using vigil::testing::http_request;
using vigil::testing::HttpTestServer;
using vigil::testing::make_temp_dir;
using vigil::testing::Reply;
using vigil::testing::sample_value;
using vigil::testing::SeenRequest;
using vigil::testing::VigilProcess;

namespace {

using Clock = std::chrono::steady_clock;

const std::string kToken = "integration-notifier-token-0123";

// The retry pace every webhook here uses: short, so a retried notification shows up within a
// fraction of a second.
const json kFastDelivery = {{"backoff_min", "100ms"}, {"backoff_max", "300ms"}, {"max_age", "1h"}};

struct NotifierSetup {
  std::filesystem::path dir = make_temp_dir("vigil-notifier");
  std::filesystem::path textfiles = dir / "textfiles";
  std::filesystem::path out = dir / "out";
  std::filesystem::path rules = dir / "rules.lua";

  NotifierSetup() {
    std::filesystem::create_directories(textfiles);
    std::filesystem::create_directories(out);
  }
  ~NotifierSetup() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void set(const std::string& text) const {
    // Written beside and renamed, like the textfile collector expects.
    std::ofstream(textfiles / "signal.prom.tmp") << text;
    std::filesystem::rename(textfiles / "signal.prom.tmp", textfiles / "signal.prom");
  }

  // The textfile collector plus `instances` (notifiers, an exporter), alerting on `rules_text`.
  json config(const std::string& rules_text, const std::vector<json>& instances) const {
    std::ofstream(rules) << rules_text;
    json all = json::array({{{"plugin", "collector_textfile"},
                             {"name", "signals"},
                             {"options", {{"directory", textfiles.string()}}}}});
    for (const auto& instance : instances) all.push_back(instance);
    return json{{"plugin_dirs", {VIGIL_PLUGIN_DIR}},
                {"scheduler", {{"interval", "200ms"}, {"timeout", "1s"}}},
                {"shutdown_timeout", "3s"},
                {"instances", all},
                {"alerting",
                 {{"rules", {rules.string()}},
                  {"data_dir", (dir / "state").string()},
                  {"evaluation_interval", "200ms"}}},
                {"api", {{"tokens", {{{"name", "ops"}, {"role", "operate"}, {"token", kToken}}}}}}};
  }

  // A notifier_log instance named "log" writing JSON lines into out/notifications.log.
  json log_notifier() const {
    return {{"plugin", "notifier_log"},
            {"name", "log"},
            {"options", {{"path", (out / "notifications.log").string()}}},
            {"delivery", kFastDelivery}};
  }

  std::vector<json> logged_notifications() const {
    std::vector<json> lines;
    std::ifstream in(out / "notifications.log");
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) lines.push_back(j);
    }
    return lines;
  }
};

// A notifier_webhook instance POSTing to `url`: `plugin_timeout` bounds one HTTP attempt,
// `instance_timeout` the host's wait for the call.
json webhook(const std::string& name, const std::string& url,
             const std::string& plugin_timeout = "2s", const std::string& instance_timeout = "3s",
             const std::string& fallback = "") {
  json delivery = kFastDelivery;
  if (!fallback.empty()) delivery["fallback"] = fallback;
  return {{"plugin", "notifier_webhook"},
          {"name", name},
          {"options", {{"url", url}, {"timeout", plugin_timeout}}},
          {"timeout", instance_timeout},
          {"delivery", delivery}};
}

// A receiver's answers: `first`, one request each in order, then 200 to every later one.
vigil::testing::Handler first_then_ok(std::vector<Reply> first) {
  return [first = std::move(first), next = size_t{0}](const SeenRequest&) mutable {
    return next < first.size() ? first[next++] : Reply{};
  };
}

std::string alertname(const SeenRequest& r) {
  auto body = r.json();
  if (body.is_discarded()) return "";
  return body["commonLabels"].value("alertname", "");
}

// Who acknowledged, from a payload's or the API's "acknowledged" object; "" when there is none.
std::string ack_author(const json& acknowledged) {
  return acknowledged.is_object() ? acknowledged.value("author", "") : "";
}

int attempt(const SeenRequest& r) {
  const auto value = r.header("x-vigil-attempt");
  return value.empty() ? 0 : std::stoi(value);
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// What the receiver saw, for the report of a failed check.
std::string describe(const std::vector<SeenRequest>& requests) {
  std::string text;
  for (const auto& r : requests)
    text += r.method + " " + r.target + " key=" + r.header("idempotency-key") +
            " attempt=" + r.header("x-vigil-attempt") + " " + r.body.substr(0, 300) + "\n";
  return text;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Polls the log until `what` appears at least `n` times.
bool wait_for_log_count(VigilProcess& vigil, const std::string& what, size_t n,
                        std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (occurrences(vigil.log(), what) >= n) return true;
    std::this_thread::sleep_for(20ms);
  }
  return occurrences(vigil.log(), what) >= n;
}

// Polls /metrics (the host refreshes its alerting self-metrics every 5 s) until `series` is at
// least `minimum`; returns the last value seen.
std::optional<double> wait_for_sample(VigilProcess& vigil, const std::string& series,
                                      double minimum, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  std::optional<double> value;
  while (Clock::now() < until) {
    value = sample_value(http_request(vigil.port(), "GET", "/metrics").body, series);
    if (value && *value >= minimum) return value;
    std::this_thread::sleep_for(200ms);
  }
  return value;
}

}  // namespace

TEST_CASE("notifier: a receiver that was down gets every due notification once when it is back") {
  NotifierSetup setup;
  setup.set("signal_a 1\nsignal_b 0\n");
  // Nothing listens on the webhook's port yet: every attempt is refused and retried.
  const auto receiver_port = static_cast<uint16_t>(vigil::testing::free_port());
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver_port) + "/hook";
  VigilProcess vigil(setup.config(R"(
    rule { name = "FirstHigh", expr = "signal_a", above = 0.5 }
    rule { name = "SecondHigh", expr = "signal_b", above = 0.5 }
    route { receiver = "hook", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )",
                                  {webhook("hook", url)}));
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_log("to receiver hook failed (attempt 3:", 10s));
  // A second alert fires while the receiver is still down, and fails too.
  const size_t failed_first_attempts = occurrences(vigil.log(), "failed (attempt 1:");
  setup.set("signal_a 1\nsignal_b 1\n");
  REQUIRE(wait_for_log_count(vigil, "failed (attempt 1:", failed_first_attempts + 1, 10s));

  HttpTestServer receiver(always(Reply{}), receiver_port);
  auto both_arrived = [](const std::vector<SeenRequest>& seen) {
    bool first = false, second = false;
    for (const auto& r : seen) {
      first = first || alertname(r) == "FirstHigh";
      second = second || alertname(r) == "SecondHigh";
    }
    return first && second;
  };
  REQUIRE(receiver.wait_until(both_arrived, 5s));
  std::this_thread::sleep_for(1s);  // time for any duplicate to show up
  const auto seen = receiver.requests();
  INFO(describe(seen));
  // Every request was answered 200, so no idempotency key may arrive twice.
  std::map<std::string, int> per_key;
  for (const auto& r : seen) {
    CHECK(r.method == "POST");
    CHECK(r.target == "/hook");
    CHECK_FALSE(r.header("idempotency-key").empty());
    CHECK(r.json()["vigil"]["idempotency_key"] == r.header("idempotency-key"));
    CHECK(r.json()["status"] == "firing");
    ++per_key[r.header("idempotency-key")];
  }
  for (const auto& [key, count] : per_key) {
    INFO(key);
    CHECK(count == 1);
  }
  CHECK(per_key.size() == 2);
  // Both had been tried while the receiver was down: the delivered request says so.
  REQUIRE(seen.size() >= 2);
  CHECK(attempt(seen[0]) > 1);
  CHECK(attempt(seen[1]) > 1);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("notifier: a 400 is not retried and goes to the fallback receiver and the metrics") {
  NotifierSetup setup;
  setup.set("signal_level 0.95\n");
  HttpTestServer receiver(always(Reply{400}));
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "hook", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )",
                                  {webhook("hook", receiver.url("/hook"), "2s", "3s", "log"),
                                   setup.log_notifier(),
                                   {{"plugin", "exporter_prometheus"}, {"name", "prometheus"}}}));
  REQUIRE(vigil.port() != 0);
  REQUIRE(receiver.wait_for_requests(1, 10s));
  const std::string key = receiver.requests().front().header("idempotency-key");

  // The fallback notifier_log instance writes the same notification, under its own key.
  const auto until = Clock::now() + 10s;
  std::vector<json> logged;
  while (logged.empty() && Clock::now() < until) {
    logged = setup.logged_notifications();
    if (logged.empty()) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(logged.size() == 1);
  CHECK(logged[0]["receiver"] == "log");
  CHECK(logged[0]["status"] == "firing");
  CHECK(logged[0]["payload"]["commonLabels"]["alertname"] == "SignalHigh");
  CHECK(logged[0]["idempotency_key"] == key + "~log");
  CHECK(vigil.log().find("HTTP 400") != std::string::npos);
  CHECK(vigil.log().find("handing it to fallback log") != std::string::npos);

  // Counted: one notification given up on and handed to the fallback, one delivered (by it),
  // none retried. Waiting for the metrics also gives a retry time to show up.
  CHECK(wait_for_sample(vigil, "vigil_notifications_total{result=\"fallen_back\"}", 1, 11s) == 1);
  const std::string metrics = http_request(vigil.port(), "GET", "/metrics").body;
  CHECK(sample_value(metrics, "vigil_notifications_total{result=\"retried\"}") == 0);
  CHECK(sample_value(metrics, "vigil_notifications_total{result=\"delivered\"}") == 1);
  CHECK(sample_value(metrics, "vigil_notifications_total{result=\"failed\"}") == 0);
  CHECK(sample_value(metrics, "vigil_outbox_depth") == 0);
  // A client error does not change on a retry: the receiver was asked exactly once.
  INFO(describe(receiver.requests()));
  CHECK(receiver.count() == 1);
  CHECK(attempt(receiver.requests().front()) == 1);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("notifier: a 429 with Retry-After 2 is tried again no sooner than 2 s later") {
  NotifierSetup setup;
  setup.set("signal_level 0.95\n");
  Reply busy{429};
  busy.headers["Retry-After"] = "2";
  HttpTestServer receiver(first_then_ok({busy}));
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "hook", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )",
                                  {webhook("hook", receiver.url("/hook"))}));
  REQUIRE(vigil.port() != 0);
  REQUIRE(receiver.wait_for_requests(2, 10s));
  std::this_thread::sleep_for(1s);  // time for any further attempt to show up
  const auto seen = receiver.requests();
  INFO(describe(seen));
  REQUIRE(seen.size() == 2);  // the second was answered 200: delivered
  CHECK(seen[0].header("idempotency-key") == seen[1].header("idempotency-key"));
  CHECK(attempt(seen[0]) == 1);
  CHECK(attempt(seen[1]) == 2);
  // The host's own backoff here is 100-300 ms; the receiver asked for 2 s and got them.
  CHECK(seconds_between(seen[0].arrived, seen[1].arrived) >= 1.8);
  CHECK(vigil.log().find("Retry-After 2") != std::string::npos);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("notifier: a receiver slower than the timeout is retried with the same key") {
  NotifierSetup setup;
  setup.set("signal_level 0.95\n");
  // The first answer would come after 2.5 s, past the plugin's 1 s timeout; then it is fast.
  HttpTestServer receiver(first_then_ok({Reply::after(2500ms)}));
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "hook", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )",
                                  {webhook("hook", receiver.url("/hook"), "1s", "3s")}));
  REQUIRE(vigil.port() != 0);
  REQUIRE(receiver.wait_for_requests(2, 10s));
  REQUIRE(vigil.wait_for_log("to receiver hook failed (attempt 1:", 5s));
  std::this_thread::sleep_for(2s);  // past the slow answer: time for any further attempt
  const auto seen = receiver.requests();
  INFO(describe(seen));
  REQUIRE(seen.size() == 2);  // the retry was answered at once: delivered
  CHECK(seen[0].header("idempotency-key") == seen[1].header("idempotency-key"));
  CHECK(attempt(seen[0]) == 1);
  CHECK(attempt(seen[1]) == 2);
  // The retry came after the attempt gave up (1 s), not after the slow answer (2.5 s).
  const double gap = seconds_between(seen[0].arrived, seen[1].arrived);
  CHECK(gap >= 0.9);
  CHECK(gap < 2.4);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("notifier: a hanging receiver does not delay another receiver") {
  NotifierSetup setup;
  const int alerts = 4;
  auto signals = [&](int firing) {
    std::string text;
    for (int i = 1; i <= alerts; ++i)
      text += "fleet_signal{i=\"" + std::to_string(i) + "\"} " + (i <= firing ? "1" : "0") + "\n";
    setup.set(text);
  };
  signals(0);
  HttpTestServer fast(always(Reply{}));
  HttpTestServer hanging(always(Reply::never()));
  VigilProcess vigil(setup.config(R"(
    rule { name = "Fleet", expr = "fleet_signal", above = 0.5 }
    route { receiver = "fast", group_by = { "i" }, group_wait = "0s", group_interval = "1h",
            routes = { { matchers = { 'alertname="Fleet"' }, receiver = "fast", continue = true },
                       { matchers = { 'alertname="Fleet"' }, receiver = "hanging" } } }
  )",
                                  {webhook("fast", fast.url("/fast")),
                                   webhook("hanging", hanging.url("/hanging"), "60s", "60s")}));
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_status("/health/ready", 200, 10s));

  auto has_alert = [](const std::vector<SeenRequest>& seen, int i) {
    for (const auto& r : seen) {
      const auto body = r.json();
      if (body.is_discarded()) continue;
      for (const auto& a : body["alerts"])
        if (a["labels"].value("i", "") == std::to_string(i)) return true;
    }
    return false;
  };
  for (int k = 1; k <= alerts; ++k) {
    signals(k);
    // From the signal crossing the threshold: a collection, an evaluation, one POST.
    const auto changed = Clock::now();
    INFO("alert " << k);
    REQUIRE(fast.wait_until([&](const auto& seen) { return has_alert(seen, k); }, 5s));
    CHECK(seconds_between(changed, Clock::now()) < 2.0);
    if (k == 1) REQUIRE(hanging.wait_for_requests(1, 5s));
  }
  // The hanging receiver still holds its first request and has not answered it.
  INFO(describe(hanging.requests()));
  CHECK(hanging.count() == 1);
  CHECK(fast.count() == static_cast<size_t>(alerts));
  // Stopping abandons the hanging call at the shutdown timeout (3 s) instead of waiting out its
  // 60 s, and still exits cleanly.
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("notifier: an acknowledgement and the resolve reach the receiver") {
  NotifierSetup setup;
  setup.set("signal_level 0.95\n");
  HttpTestServer receiver(always(Reply{}));
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "hook", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )",
                                  {webhook("hook", receiver.url("/hook"))}));
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(receiver.wait_for_requests(1, 10s));
  const auto fired = receiver.requests().front().json();
  REQUIRE_FALSE(fired.is_discarded());
  CHECK(fired["status"] == "firing");
  CHECK(fired["vigil"]["acknowledged"].is_null());
  const std::string fingerprint = fired["alerts"][0]["fingerprint"];

  const auto ack_sent = Clock::now();
  auto acked = http_request(
      port, "POST", "/api/v1/alerts/ack",
      {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + kToken}}, 10s,
      json{{"fingerprint", fingerprint}, {"author", "alice"}, {"comment", "on it"}}.dump());
  INFO(acked.body);
  REQUIRE(acked.status == 200);
  REQUIRE(receiver.wait_for_requests(2, 5s));
  const auto second = receiver.requests()[1];
  INFO(describe(receiver.requests()));
  // Told at once, not at the next repeat: firing still, with who took it.
  CHECK(seconds_between(ack_sent, second.arrived) < 2.0);
  const auto told = second.json();
  CHECK(told["status"] == "firing");
  CHECK(ack_author(told["vigil"]["acknowledged"]).find("alice") != std::string::npos);
  CHECK(told["vigil"]["acknowledged"]["comment"] == "on it");
  CHECK(told["alerts"][0]["fingerprint"] == fingerprint);
  auto listed = json::parse(http_request(port, "GET", "/api/v1/alerts").body, nullptr, false);
  REQUIRE_FALSE(listed.is_discarded());
  REQUIRE(listed["alerts"].size() == 1);
  CHECK(ack_author(listed["alerts"][0]["acknowledged"]).find("alice") != std::string::npos);

  setup.set("signal_level 0.2\n");
  REQUIRE(receiver.wait_until(
      [](const auto& seen) { return seen.size() >= 3 && seen[2].json()["status"] == "resolved"; },
      10s));
  const auto seen = receiver.requests();
  CHECK(seen[2].json()["alerts"][0]["fingerprint"] == fingerprint);
  std::set<std::string> keys;
  for (const auto& r : seen) keys.insert(r.header("idempotency-key"));
  CHECK(keys.size() == seen.size());  // three notifications, three keys
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}
