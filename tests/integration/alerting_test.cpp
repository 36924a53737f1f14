// Alerting through the real binary: a Lua rule over a real collector fires, the notification
// reaches a real notifier plugin, the API and the CLI acknowledge and silence, and kill -9 loses
// nothing: the due notification goes out once after the restart, the ack stays, a pending `for`
// timer keeps its start and an escalation resumes at its step. SIGHUP applies a whole new config
// (notifiers, routes, tokens) or none of it; every operator command and API filter is used as a
// person would; an endless loop and a memory bomb in a rule fail only that rule.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using vigil::testing::http_request;
using vigil::testing::make_temp_dir;
using vigil::testing::run_command;
using vigil::testing::VigilProcess;

namespace {

const std::string kToken = "integration-operator-token-0123";

struct AlertingSetup {
  std::filesystem::path dir = make_temp_dir("vigil-alerting");
  std::filesystem::path textfiles = dir / "textfiles";
  std::filesystem::path out = dir / "out";
  std::filesystem::path rules = dir / "rules.lua";

  AlertingSetup() { std::filesystem::create_directories(textfiles); }
  ~AlertingSetup() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  void set(const std::string& text) {
    // Written beside and renamed, like the textfile collector expects.
    std::ofstream(textfiles / "signal.prom.tmp") << text;
    std::filesystem::rename(textfiles / "signal.prom.tmp", textfiles / "signal.prom");
  }

  json config(const std::string& rules_text) const {
    std::ofstream(rules) << rules_text;
    return json{{"plugin_dirs", {VIGIL_PLUGIN_DIR}},
                {"scheduler", {{"interval", "200ms"}, {"timeout", "1s"}}},
                {"shutdown_timeout", "3s"},
                {"instances",
                 {{{"plugin", "collector_textfile"},
                   {"name", "signals"},
                   {"options", {{"directory", textfiles.string()}}}},
                  {{"plugin", "notifier_log"},
                   {"name", "log"},
                   {"options", {{"path", (out / "notifications.log").string()}}},
                   {"delivery", {{"backoff_min", "100ms"}, {"backoff_max", "300ms"}}}}}},
                {"alerting",
                 {{"rules", {rules.string()}},
                  {"data_dir", (dir / "state").string()},
                  {"evaluation_interval", "200ms"}}},
                {"api", {{"tokens", {{{"name", "ops"}, {"role", "operate"}, {"token", kToken}}}}}}};
  }

  // The JSON lines notifier_log wrote to out/`file`.
  std::vector<json> notifications(const std::string& file = "notifications.log") const {
    std::vector<json> out_lines;
    std::ifstream in(out / file);
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out_lines.push_back(j);
    }
    return out_lines;
  }

  // Waits until a notification with this status mentioning `alertname` was written.
  bool wait_for_notification(const std::string& alertname, const std::string& status,
                             std::chrono::milliseconds timeout = 15s,
                             const std::string& file = "notifications.log") const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& n : notifications(file))
        if (n.value("status", "") == status &&
            n["payload"]["commonLabels"].value("alertname", "") == alertname)
          return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
};

json get_json(uint16_t port, const std::string& path) {
  auto reply = http_request(port, "GET", path);
  INFO(path << ": " << reply.body);
  REQUIRE(reply.status == 200);
  return json::parse(reply.body);
}

vigil::testing::HttpReply post(uint16_t port, const std::string& path, const json& body,
                               bool with_token = true) {
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  if (with_token) headers.emplace_back("Authorization", "Bearer " + kToken);
  return http_request(port, "POST", path, headers, 10s, body.dump());
}

// The alert with this alertname from GET /api/v1/alerts, waiting until it is in `state`.
json wait_for_alert(uint16_t port, const std::string& alertname, const std::string& state,
                    std::chrono::milliseconds timeout = 15s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto reply = http_request(port, "GET", "/api/v1/alerts");
    auto j = json::parse(reply.body, nullptr, false);
    if (!j.is_discarded())
      for (const auto& a : j.value("alerts", json::array()))
        if (a["labels"].value("alertname", "") == alertname && a.value("state", "") == state)
          return a;
    std::this_thread::sleep_for(100ms);
  }
  return nullptr;
}

}  // namespace

TEST_CASE("alerting: a Lua rule fires, notifier_log gets it, the API and CLI ack and silence") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9, recover_below = 0.5,
           severity = "critical", annotations = { summary = "signal at {{value | percent}}" } }
    route { receiver = "log", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )"));
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(setup.wait_for_notification("SignalHigh", "firing"));
  auto alert = wait_for_alert(port, "SignalHigh", "firing");
  REQUIRE(alert.is_object());
  CHECK(alert["annotations"]["summary"] == "signal at 95%");
  const std::string fp = alert["fingerprint"];
  auto n = setup.notifications().front();
  CHECK(n["receiver"] == "log");
  CHECK(n["payload"]["version"] == "4");
  CHECK(n["payload"]["alerts"][0]["fingerprint"] == fp);
  CHECK_FALSE(n.value("idempotency_key", "").empty());

  // Changing state needs a token with the operate role.
  auto refused = post(port, "/api/v1/alerts/ack", {{"fingerprint", fp}}, false);
  CHECK(refused.status == 401);
  auto acked = post(port, "/api/v1/alerts/ack",
                    {{"fingerprint", fp}, {"author", "alice"}, {"comment", "looking"}});
  INFO(acked.body);
  CHECK(acked.status == 200);
  auto now = get_json(port, "/api/v1/alerts");
  CHECK(now["alerts"][0]["acknowledged"]["author"] == "alice (token ops)");
  auto missing = post(port, "/api/v1/alerts/ack", {{"fingerprint", "0000000000000000"}});
  CHECK(missing.status == 404);
  CHECK(missing.body.find("no pending or firing alert with fingerprint") != std::string::npos);

  auto history = get_json(port, "/api/v1/alerts/history?fingerprint=" + fp);
  std::vector<std::string> steps;
  for (const auto& t : history["history"]) steps.push_back(t["to"]);
  CHECK(steps == std::vector<std::string>{"pending", "firing", "+acknowledged"});

  // Silences: create, list, expire; a bad matcher is refused with the reason.
  auto bad = post(port, "/api/v1/silences", {{"matchers", {"alertname>x"}}, {"duration", "1h"}});
  CHECK(bad.status == 400);
  CHECK(bad.body.find("expected one of = != =~ !~") != std::string::npos);
  auto created = post(
      port, "/api/v1/silences",
      {{"matchers", {"alertname=\"SignalHigh\""}}, {"duration", "1h"}, {"comment", "maintenance"}});
  REQUIRE(created.status == 200);
  const std::string id = json::parse(created.body)["id"];
  auto silences = get_json(port, "/api/v1/silences");
  REQUIRE(silences["silences"].size() == 1);
  CHECK(silences["silences"][0]["state"] == "active");
  CHECK(post(port, "/api/v1/silences/expire", {{"id", id}}).status == 200);
  CHECK(get_json(port, "/api/v1/silences")["silences"].empty());

  // The CLI against the running host.
  const std::string url = " --url http://127.0.0.1:" + std::to_string(port);
  auto listed = run_command(std::string(VIGIL_BIN) + " alerts" + url);
  CHECK(listed.exit_code == 0);
  CHECK(listed.output.find("SignalHigh") != std::string::npos);
  CHECK(listed.output.find("ack") != std::string::npos);
  auto unack = run_command("VIGIL_TOKEN=" + kToken + " " + VIGIL_BIN + " unack " + fp + url);
  CHECK(unack.exit_code == 0);
  auto denied = run_command(std::string(VIGIL_BIN) + " ack " + fp + url);
  CHECK(denied.exit_code == 1);
  CHECK(denied.output.find("HTTP 401") != std::string::npos);

  // Recovery: below the recovery level the alert resolves and the receiver hears it.
  setup.set("signal_level 0.2\n");
  CHECK(setup.wait_for_notification("SignalHigh", "resolved"));
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE(
    "alerting: after kill -9 nothing due is lost, acks stay, pending timers keep their start") {
  AlertingSetup setup;
  setup.set("signal_a 1\nsignal_b 1\n");
  const std::string rules = R"(
    rule { name = "SlowA", expr = "signal_a", above = 0.5, ["for"] = "3s" }
    rule { name = "FastB", expr = "signal_b", above = 0.5 }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" } }
  )";
  json pending_a, firing_b;
  {
    // The notifier's folder does not exist yet: every delivery fails and is retried.
    VigilProcess first(setup.config(rules));
    const uint16_t port = first.port();
    REQUIRE(port != 0);
    firing_b = wait_for_alert(port, "FastB", "firing");
    REQUIRE(firing_b.is_object());
    REQUIRE(first.wait_for_log("failed (attempt", 10s));
    pending_a = wait_for_alert(port, "SlowA", "pending");
    REQUIRE(pending_a.is_object());
    auto acked = post(port, "/api/v1/alerts/ack",
                      {{"fingerprint", firing_b["fingerprint"]}, {"author", "bob"}});
    REQUIRE(acked.status == 200);
    first.signal(SIGKILL);
    CHECK(first.stop(SIGKILL, 5s).has_value());
  }
  std::filesystem::create_directories(setup.out);
  VigilProcess second(setup.config(rules));
  const uint16_t port = second.port();
  REQUIRE(port != 0);
  // The notification that was due before the kill is delivered now, exactly once.
  REQUIRE(setup.wait_for_notification("FastB", "firing"));
  auto a = wait_for_alert(port, "SlowA", "firing");
  REQUIRE(a.is_object());
  // SlowA's `for` counted from its start before the kill, not from the restart.
  CHECK(a["active_since"] == pending_a["active_since"]);
  auto b = wait_for_alert(port, "FastB", "firing");
  REQUIRE(b.is_object());
  CHECK(b["acknowledged"]["author"] == "bob (token ops)");
  std::this_thread::sleep_for(1s);  // time for any duplicate to show up
  // Two notifications were due for FastB (it fired, then bob acknowledged it), and each went
  // out exactly once, in order.
  std::vector<json> fast_b;
  std::map<std::string, int> per_key;
  for (const auto& n : setup.notifications()) {
    ++per_key[n.value("idempotency_key", "")];
    if (n["payload"]["commonLabels"].value("alertname", "") == "FastB" && n["status"] == "firing")
      fast_b.push_back(n);
  }
  for (const auto& [key, count] : per_key) CHECK(count == 1);
  REQUIRE(fast_b.size() == 2);
  CHECK(fast_b[0]["payload"]["vigil"]["acknowledged"].is_null());
  CHECK(fast_b[1]["payload"]["vigil"]["acknowledged"]["author"] == "bob (token ops)");
  CHECK(second.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: a reload with a broken rule file keeps the running rules and their alerts") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  const std::string good = R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "log", group_wait = "0s" }
  )";
  VigilProcess vigil(setup.config(good));
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  auto before = wait_for_alert(port, "SignalHigh", "firing");
  REQUIRE(before.is_object());

  std::ofstream(setup.rules) << "rule { name = \"SignalHigh\", expr = \"signal_level\",\n"
                                "       above = \"high\" }\n";
  vigil.signal(SIGHUP);
  REQUIRE(vigil.wait_for_log("rules reload rejected", 10s));
  CHECK(vigil.log().find(setup.rules.string() + ":1: rule SignalHigh: above: found \"high\"") !=
        std::string::npos);
  // Reloading through the API needs the admin role; the test's token only operates.
  auto refused = post(port, "/api/v1/rules/reload", json::object());
  CHECK(refused.status == 403);
  auto still = wait_for_alert(port, "SignalHigh", "firing", 2s);
  REQUIRE(still.is_object());
  CHECK(still["active_since"] == before["active_since"]);

  std::ofstream(setup.rules)
      << good << "rule { name = \"SignalLow\", expr = \"signal_level\", below = 0.1 }\n";
  vigil.signal(SIGHUP);
  REQUIRE(vigil.wait_for_log("alerting: reloaded 2 rules", 10s));
  auto after = wait_for_alert(port, "SignalHigh", "firing", 2s);
  REQUIRE(after.is_object());
  CHECK(after["active_since"] == before["active_since"]);  // the state carried over
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: check-config finds a notifier's template error with its line and column") {
  AlertingSetup setup;
  json cfg = setup.config(R"(
    rule { name = "Never", expr = "signal_level", above = 2 }
    route { receiver = "log" }
  )");
  cfg["instances"][1]["options"]["template"] = "{{ commonLabels.alertname }}\n{{ value | percnt }}";
  const auto file = setup.dir / "vigil.json";
  std::ofstream(file) << cfg.dump(2);
  auto result = run_command(std::string(VIGIL_BIN) + " check-config -c " + file.string());
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(result.output.find(file.string() + ": instances[1].options: ") != std::string::npos);
  CHECK(result.output.find("option \"template\": line 2, column 12: unknown function \"percnt\"") !=
        std::string::npos);
  // Checking created nothing a running notifier would (its log file).
  CHECK_FALSE(std::filesystem::exists(setup.out / "notifications.log"));

  cfg["instances"][1]["options"]["template"] = "{{ commonLabels.alertname }} {{ status }}";
  std::ofstream(file) << cfg.dump(2);
  auto ok = run_command(std::string(VIGIL_BIN) + " check-config -c " + file.string());
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
}

TEST_CASE("alerting: an incident tool acknowledges a group through /api/v1/events") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "log", group_wait = "0s", group_interval = "1h", group_by = { "alertname" } }
  )"));
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(setup.wait_for_notification("SignalHigh", "firing"));
  const std::string group_id = setup.notifications()[0]["payload"]["vigil"].value("group_id", "");
  REQUIRE(group_id.size() == 16);

  auto wrong = post(port, "/api/v1/events", {{"event_action", "resolve"}, {"dedup_key", "x"}});
  CHECK(wrong.status == 400);
  CHECK(wrong.body.find("expected \\\"acknowledge\\\" or \\\"unacknowledge\\\"") !=
        std::string::npos);
  auto unknown =
      post(port, "/api/v1/events", {{"event_action", "acknowledge"}, {"dedup_key", "vigil-0"}});
  CHECK(unknown.status == 404);
  CHECK(post(port, "/api/v1/events",
             {{"event_action", "acknowledge"}, {"dedup_key", "vigil-" + group_id}}, false)
            .status == 401);

  auto acked = post(
      port, "/api/v1/events",
      {{"event_action", "acknowledge"}, {"dedup_key", "vigil-" + group_id}, {"author", "carol"}});
  INFO(acked.body);
  REQUIRE(acked.status == 202);
  auto alert = wait_for_alert(port, "SignalHigh", "firing");
  REQUIRE(alert.is_object());
  CHECK(alert["acknowledged"]["author"] == "carol (token ops)");
  // The receiver hears of it at once, though the group interval is an hour.
  const auto until = std::chrono::steady_clock::now() + 10s;
  bool told = false;
  while (!told && std::chrono::steady_clock::now() < until) {
    for (const auto& n : setup.notifications())
      told = told || n["payload"]["vigil"]["acknowledged"].is_object();
    if (!told) std::this_thread::sleep_for(100ms);
  }
  CHECK(told);
}

// ---------------------------------------------------------------------------------------------
// Reload, the operator CLI, the HTTP API, escalation across kill -9, and the sandbox, all on the
// real binary.

namespace {

const std::string kReadToken = "integration-reader-token-000001";
const std::string kAdminToken = "integration-admin-token-0000001";
const std::string kNewToken = "integration-new-operator-token-01";

vigil::testing::HttpReply request(uint16_t port, const std::string& method, const std::string& path,
                                  const std::string& token, const json& body = nullptr) {
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return http_request(port, method, path, headers, 10s, body.is_null() ? "" : body.dump());
}

json notifier(const std::string& name, const std::filesystem::path& file) {
  return {{"plugin", "notifier_log"},
          {"name", name},
          {"options", {{"path", file.string()}}},
          {"delivery", {{"backoff_min", "100ms"}, {"backoff_max", "300ms"}}}};
}

json tokens() {
  return {{{"name", "reader"}, {"role", "read"}, {"token", kReadToken}},
          {{"name", "ops"}, {"role", "operate"}, {"token", kToken}},
          {{"name", "admin"}, {"role", "admin"}, {"token", kAdminToken}}};
}

// `vigil ARGS --url ...` with VIGIL_TOKEN set when a token is given.
vigil::testing::CommandResult cli(uint16_t port, const std::string& args,
                                  const std::string& token = "") {
  std::string command = token.empty() ? "" : "VIGIL_TOKEN=" + token + " ";
  command += std::string(VIGIL_BIN) + " " + args +
             " --url http://127.0.0.1:" + std::to_string(port) + " 2>&1";
  return run_command(command);
}

// Milliseconds since the epoch of "2026-01-05T09:00:00.123Z".
int64_t parse_time(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string rfc3339_in(std::chrono::seconds from_now) {
  const std::time_t t =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The alerts of GET /api/v1/alerts`query` (reads with the reader token).
json alerts_where(uint16_t port, const std::string& query) {
  auto reply = request(port, "GET", "/api/v1/alerts" + query, kReadToken);
  INFO(query << ": " << reply.body);
  REQUIRE(reply.status == 200);
  return json::parse(reply.body)["alerts"];
}

// Waits until GET /api/v1/alerts (with the reader token) lists `count` alerts in `state`.
bool wait_for_count(uint16_t port, const std::string& state, size_t count,
                    std::chrono::milliseconds timeout = 20s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto reply = request(port, "GET", "/api/v1/alerts?state=" + state, kReadToken);
    auto j = json::parse(reply.body, nullptr, false);
    if (reply.status == 200 && j.is_object() && j["alerts"].size() == count) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

}  // namespace

TEST_CASE(
    "alerting: SIGHUP applies a new notifier with a route to it and new API tokens or nothing") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\nother_level 1\n");
  VigilProcess vigil(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" } }
  )"));
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(setup.wait_for_notification("SignalHigh", "firing"));

  // The new config: a second notifier, a route to it, other tokens and closed reads.
  const std::string routed = R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    rule { name = "OtherHigh", expr = "other_level", above = 0.5 }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" },
            routes = { { matchers = { 'alertname="OtherHigh"' }, receiver = "log2" } } }
  )";
  json next = setup.config(routed);
  next["instances"].push_back(notifier("log2", setup.out / "second.log"));
  next["api"] = {{"tokens", {{{"name", "new-ops"}, {"role", "operate"}, {"token", kNewToken}}}},
                 {"open_reads", false}};

  SECTION("a config routing to a receiver it lacks is rejected whole, naming the route") {
    json broken = next;
    broken["instances"].erase(broken["instances"].size() - 1);  // no log2
    vigil.rewrite_config(broken);
    vigil.signal(SIGHUP);
    REQUIRE(vigil.wait_for_log("rules reload rejected", 15s));
    CHECK(vigil.log().find("route.routes[0]: receiver \"log2\" is not a notifier instance in the "
                           "config, expected one of: log") != std::string::npos);
    CHECK(vigil.log().find("reloaded: ") == std::string::npos);  // nothing was replaced
    // The running tokens and open reads stay.
    CHECK(http_request(port, "GET", "/api/v1/alerts").status == 200);
    auto fp = wait_for_alert(port, "SignalHigh", "firing")["fingerprint"];
    CHECK(request(port, "POST", "/api/v1/alerts/ack", kToken, {{"fingerprint", fp}}).status == 200);
    CHECK(request(port, "POST", "/api/v1/alerts/unack", kNewToken, {{"fingerprint", fp}}).status ==
          401);
  }

  SECTION("a valid one is applied in full: receiver, route, tokens, open_reads") {
    vigil.rewrite_config(next);
    // check-config agrees with what SIGHUP does.
    auto checked =
        run_command(std::string(VIGIL_BIN) + " check-config -c " + vigil.config_path().string());
    INFO(checked.output);
    REQUIRE(checked.exit_code == 0);
    vigil.signal(SIGHUP);
    REQUIRE(vigil.wait_for_log("alerting: reloaded 2 rules", 15s));
    CHECK(vigil.log().find("reload rejected") == std::string::npos);
    REQUIRE(setup.wait_for_notification("OtherHigh", "firing", 20s, "second.log"));
    for (const auto& n : setup.notifications("second.log")) CHECK(n["receiver"] == "log2");
    for (const auto& n : setup.notifications())
      CHECK(n["payload"]["commonLabels"]["alertname"] == "SignalHigh");

    CHECK(http_request(port, "GET", "/api/v1/alerts").status == 401);
    CHECK(request(port, "GET", "/api/v1/alerts", kNewToken).status == 200);
    auto alerts = json::parse(request(port, "GET", "/api/v1/alerts", kNewToken).body)["alerts"];
    REQUIRE_FALSE(alerts.empty());
    const std::string target = alerts[0]["fingerprint"];
    CHECK(request(port, "POST", "/api/v1/alerts/ack", kToken, {{"fingerprint", target}}).status ==
          401);
    auto acked = request(port, "POST", "/api/v1/alerts/ack", kNewToken, {{"fingerprint", target}});
    INFO(acked.body);
    CHECK(acked.status == 200);
  }
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: a receiver removed by SIGHUP hands what it still owes to its fallback") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  json cfg = setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "broken", group_wait = "0s", group_by = { "alertname" } }
  )");
  // Its folder never exists: every delivery fails and is retried, until max_age.
  json broken = notifier("broken", setup.dir / "missing" / "broken.log");
  broken["delivery"]["fallback"] = "log";
  broken["delivery"]["max_age"] = "6s";
  cfg["instances"].push_back(broken);
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_log("to receiver broken failed (attempt", 15s));

  vigil.rewrite_config(setup.config(R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" } }
  )"));
  vigil.signal(SIGHUP);
  REQUIRE(vigil.wait_for_log("alerting: reloaded 1 rules", 15s));
  CHECK(vigil.log().find("receiver broken is not in the config any more") != std::string::npos);
  // The notification queued for `broken` reaches its fallback once it is 6 s old.
  const auto until = std::chrono::steady_clock::now() + 30s;
  bool fell_back = false;
  while (!fell_back && std::chrono::steady_clock::now() < until) {
    for (const auto& n : setup.notifications()) {
      const std::string key = n.value("idempotency_key", "");
      fell_back = fell_back || (key.size() > 4 && key.substr(key.size() - 4) == "~log");
    }
    if (!fell_back) std::this_thread::sleep_for(200ms);
  }
  INFO(vigil.log());
  CHECK(fell_back);
  CHECK(vigil.log().find("handing it to fallback log") != std::string::npos);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: the operator CLI against the real host") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("disk_temp{instance=\"a\"} 90\ndisk_temp{instance=\"b\"} 95\nslow_level 1\n");
  json cfg = setup.config(R"(
    rule { name = "DiskHot", expr = "disk_temp", above = 80 }
    rule { name = "SlowBurn", expr = "slow_level", above = 0.5, ["for"] = "1h" }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" } }
  )");
  cfg["api"]["tokens"] = tokens();
  VigilProcess vigil(cfg);
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(wait_for_count(port, "firing", 2));
  REQUIRE(wait_for_count(port, "pending", 1));

  // alerts, with filters
  auto all = cli(port, "alerts");
  INFO(all.output);
  CHECK(all.exit_code == 0);
  CHECK(all.output.find("DiskHot") != std::string::npos);
  CHECK(all.output.find("SlowBurn") != std::string::npos);
  auto pending = cli(port, "alerts --state pending");
  CHECK(pending.output.find("SlowBurn") != std::string::npos);
  CHECK(pending.output.find("DiskHot") == std::string::npos);
  auto one = cli(port, "alerts --json --match '{instance=\"b\"}'");
  auto one_json = json::parse(one.output, nullptr, false);
  REQUIRE(one_json.is_object());
  REQUIRE(one_json["alerts"].size() == 1);
  CHECK(one_json["alerts"][0]["labels"]["instance"] == "b");
  const std::string fp_b = one_json["alerts"][0]["fingerprint"];
  CHECK(cli(port, "alerts --state sleeping")
            .output.find("expected pending, firing, resolved or "
                         "inactive") != std::string::npos);

  // groups gives the key `ack --group` takes
  auto groups = cli(port, "groups");
  INFO(groups.output);
  CHECK(groups.exit_code == 0);
  CHECK(groups.output.find("KEY") != std::string::npos);
  auto groups_json = json::parse(cli(port, "groups --json").output, nullptr, false);
  REQUIRE(groups_json.is_object());
  std::string key;
  for (const auto& g : groups_json["groups"])
    if (g["labels"].value("alertname", "") == "DiskHot") key = g["key"];
  REQUIRE_FALSE(key.empty());
  CHECK(groups.output.find(key) != std::string::npos);

  auto acked = cli(port, "ack --group '" + key + "' --expires 1h --comment 'fan swap'", kToken);
  INFO(acked.output);
  CHECK(acked.exit_code == 0);
  for (const auto& a : alerts_where(port, "?match=DiskHot")) {
    REQUIRE(a["acknowledged"].is_object());
    CHECK(a["acknowledged"]["comment"] == "fan swap");
    CHECK(a["acknowledged"]["expires"].is_string());
    CHECK(a["acknowledged"]["sticky"] == false);
  }
  CHECK(cli(port, "unack --group '" + key + "'", kToken).exit_code == 0);
  CHECK(alerts_where(port, "?match=DiskHot")[0]["acknowledged"].is_null());
  CHECK(cli(port, "ack " + fp_b + " --sticky", kToken).exit_code == 0);
  auto b = alerts_where(port, "?match=" + std::string("%7Binstance%3D%22b%22%7D"));
  REQUIRE(b.size() == 1);
  CHECK(b[0]["acknowledged"]["sticky"] == true);
  CHECK(cli(port, "ack " + fp_b + " --expires soon", kToken).output.find("expires: found") !=
        std::string::npos);

  // history
  auto history = cli(port, "history " + fp_b);
  INFO(history.output);
  CHECK(history.exit_code == 0);
  CHECK(history.output.find("pending -> firing") != std::string::npos);
  CHECK(history.output.find(" -> +acknowledged") != std::string::npos);

  // silences: one that starts in an hour, listed as pending, then expired
  auto bad_start =
      cli(port, "silence add 'alertname=\"DiskHot\"' --duration 1h --starts tomorrow", kToken);
  CHECK(bad_start.exit_code == 2);
  CHECK(bad_start.output.find("--starts: found \"tomorrow\", expected an RFC 3339 time") !=
        std::string::npos);
  const std::string starts = rfc3339_in(std::chrono::hours(1));
  auto added = cli(port,
                   "silence add 'alertname=\"DiskHot\"' --starts " + starts +
                       " --duration 2h --comment 'night work'",
                   kToken);
  INFO(added.output);
  REQUIRE(added.exit_code == 0);
  auto listed = json::parse(cli(port, "silence list --json").output, nullptr, false);
  REQUIRE(listed.is_object());
  REQUIRE(listed["silences"].size() == 1);
  const auto& silence = listed["silences"][0];
  CHECK(silence["state"] == "pending");
  CHECK(silence["starts"].get<std::string>().substr(0, 19) == starts.substr(0, 19));
  CHECK(parse_time(silence["ends"]) - parse_time(silence["starts"]) == 7'200'000);
  CHECK(cli(port, "silence list").output.find("night work") != std::string::npos);
  CHECK(alerts_where(port, "?match=DiskHot")[0]["silenced"] == false);  // not started yet
  const std::string id = silence["id"];
  CHECK(cli(port, "silence expire " + id, kToken).exit_code == 0);
  CHECK(cli(port, "silence list").output.find("no silences") != std::string::npos);
  auto expired = cli(port, "silence list --all");
  CHECK(expired.output.find(id) != std::string::npos);
  CHECK(expired.output.find("expired") != std::string::npos);

  // reload-rules needs the admin role
  auto refused = cli(port, "reload-rules", kToken);
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("HTTP 403") != std::string::npos);
  auto reloaded = cli(port, "reload-rules", kAdminToken);
  INFO(reloaded.output);
  CHECK(reloaded.exit_code == 0);
  CHECK(reloaded.output.find("rules reloaded") != std::string::npos);
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}

TEST_CASE(
    "alerting: the HTTP API filters and acks and reloads with closed reads and config silences") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("disk_temp{instance=\"a\"} 90\ndisk_temp{instance=\"b\"} 95\nslow_level 1\n");
  const std::string rules = R"(
    rule { name = "DiskHot", expr = "disk_temp", above = 80, severity = "critical" }
    rule { name = "SlowBurn", expr = "slow_level", above = 0.5, ["for"] = "1h" }
    route { receiver = "log", group_wait = "0s", group_by = { "alertname" } }
  )";
  json cfg = setup.config(rules);
  cfg["api"] = {{"tokens", tokens()}, {"open_reads", false}};
  cfg["alerting"]["silences"] = {
      {{"matchers", {"instance=\"a\""}}, {"duration", "1h"}, {"comment", "a is being replaced"}}};
  std::string silence_id;
  {
    VigilProcess vigil(cfg);
    const uint16_t port = vigil.port();
    REQUIRE(port != 0);
    REQUIRE(wait_for_count(port, "firing", 2));

    // Closed reads: no token, 401; any role reads.
    CHECK(http_request(port, "GET", "/api/v1/alerts").status == 401);
    CHECK(http_request(port, "GET", "/api/v1/silences").status == 401);
    CHECK(http_request(port, "GET", "/api/v1/alerts/groups").status == 401);
    CHECK(request(port, "GET", "/api/v1/alerts", "not-a-token-at-all-000").status == 401);
    CHECK(request(port, "GET", "/api/v1/alerts", kToken).status == 200);

    // Filters.
    CHECK(alerts_where(port, "").size() == 3);  // pending and firing
    auto pending = alerts_where(port, "?state=pending");
    REQUIRE(pending.size() == 1);
    CHECK(pending[0]["rule"] == "SlowBurn");
    CHECK(alerts_where(port, "?state=firing,pending").size() == 3);
    CHECK(alerts_where(port, "?state=resolved").empty());
    auto critical_b = alerts_where(
        port, "?state=firing&match=%7Bseverity%3D%22critical%22%2Cinstance%3D%22b%22%7D");
    REQUIRE(critical_b.size() == 1);
    CHECK(critical_b[0]["labels"]["instance"] == "b");
    CHECK(alerts_where(port, "?match=SlowBurn").size() == 1);  // a bare name is the alertname
    CHECK(alerts_where(port, "?match=%7Binstance%3D~%22a%7Cb%22%7D").size() == 2);
    auto bad_state = request(port, "GET", "/api/v1/alerts?state=sleeping", kReadToken);
    CHECK(bad_state.status == 400);
    CHECK(bad_state.body.find("state: found \\\"sleeping\\\"") != std::string::npos);
    auto bad_match = request(port, "GET", "/api/v1/alerts?match=%7Binstance%3E1%7D", kReadToken);
    CHECK(bad_match.status == 400);
    CHECK(bad_match.body.find("match: ") != std::string::npos);

    // The config's silence: created at start, silencing instance a.
    auto silences = json::parse(request(port, "GET", "/api/v1/silences", kReadToken).body);
    REQUIRE(silences["silences"].size() == 1);
    CHECK(silences["silences"][0]["author"] == "config");
    CHECK(silences["silences"][0]["comment"] == "a is being replaced");
    CHECK(silences["silences"][0]["state"] == "active");
    silence_id = silences["silences"][0]["id"];
    auto a = alerts_where(port, "?match=%7Binstance%3D%22a%22%7D");
    REQUIRE(a.size() == 1);
    CHECK(a[0]["silenced"] == true);
    CHECK(a[0]["silenced_by"] == json::array({silence_id}));

    // Groups, and acks by group with expiry, and by alert, sticky.
    auto groups = json::parse(request(port, "GET", "/api/v1/alerts/groups", kReadToken).body);
    json disk;
    for (const auto& g : groups["groups"])
      if (g["labels"] == json{{"alertname", "DiskHot"}}) disk = g;
    REQUIRE(disk.is_object());
    CHECK(disk["receiver"] == "log");
    CHECK(disk["alerts"].size() == 2);
    CHECK(disk["escalation"]["stopped"] == false);
    auto acked = request(port, "POST", "/api/v1/alerts/ack", kToken,
                         {{"group", disk["key"]}, {"expires", "30m"}, {"comment", "on it"}});
    INFO(acked.body);
    REQUIRE(acked.status == 200);
    for (const auto& alert : alerts_where(port, "?match=DiskHot")) {
      REQUIRE(alert["acknowledged"].is_object());
      CHECK(alert["acknowledged"]["author"] == "ops");
      const int64_t lasts =
          parse_time(alert["acknowledged"]["expires"]) - parse_time(alert["acknowledged"]["at"]);
      CHECK(lasts == 1'800'000);
    }
    CHECK(
        request(port, "POST", "/api/v1/alerts/ack", kReadToken, {{"group", disk["key"]}}).status ==
        403);
    CHECK(request(port, "POST", "/api/v1/alerts/ack", kToken, {{"group", "0:{nope}"}}).status ==
          404);
    auto bad_expiry = request(port, "POST", "/api/v1/alerts/ack", kToken,
                              {{"group", disk["key"]}, {"expires", "soon"}});
    CHECK(bad_expiry.status == 400);
    CHECK(bad_expiry.body.find("expires: found \\\"soon\\\"") != std::string::npos);
    REQUIRE(
        request(port, "POST", "/api/v1/alerts/unack", kToken, {{"group", disk["key"]}}).status ==
        200);
    const std::string fp_slow = pending[0]["fingerprint"];
    REQUIRE(request(port, "POST", "/api/v1/alerts/ack", kToken,
                    {{"fingerprint", fp_slow}, {"sticky", true}})
                .status == 200);
    auto slow = alerts_where(port, "?match=SlowBurn");
    CHECK(slow[0]["acknowledged"]["sticky"] == true);
    CHECK(slow[0]["acknowledged"]["expires"].is_null());
    for (const auto& alert : alerts_where(port, "?match=DiskHot"))
      CHECK(alert["acknowledged"].is_null());

    // Reload: 200 when the rules load, 422 with every error when they do not (old ones stay).
    CHECK(request(port, "POST", "/api/v1/rules/reload", kToken).status == 403);
    auto reloaded = request(port, "POST", "/api/v1/rules/reload", kAdminToken, json::object());
    CHECK(reloaded.status == 200);
    std::ofstream(setup.rules) << "rule { name = \"DiskHot\", expr = \"disk_temp\",\n"
                                  "       above = \"hot\" }\n";
    auto refused = request(port, "POST", "/api/v1/rules/reload", kAdminToken, json::object());
    INFO(refused.body);
    CHECK(refused.status == 422);
    auto body = json::parse(refused.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["error"] == "the rules did not load; the previous ones keep running");
    REQUIRE(body["errors"].size() == 1);
    CHECK(body["errors"][0].get<std::string>().find(setup.rules.string() +
                                                    ":1: rule DiskHot: above: found \"hot\"") == 0);
    CHECK(alerts_where(port, "?state=firing").size() == 2);
    std::ofstream(setup.rules) << rules;
    CHECK(vigil.stop(SIGTERM, 10s) == 0);
  }
  // Starts vigil again on the same state, and lists every silence once both alerts fire.
  auto restarted = [&](VigilProcess& process, uint16_t& port) {
    port = process.port();
    REQUIRE(port != 0);
    REQUIRE(wait_for_count(port, "firing", 2));
    auto reply = request(port, "GET", "/api/v1/silences?expired=true", kReadToken);
    return json::parse(reply.body)["silences"];
  };
  {
    // A restart finds the config's silence and does not make a second one.
    VigilProcess again(cfg);
    uint16_t port = 0;
    auto silences = restarted(again, port);
    REQUIRE(silences.size() == 1);
    CHECK(silences[0]["id"] == silence_id);
    // An operator ends it; the next start does not bring it back.
    REQUIRE(request(port, "POST", "/api/v1/silences/expire", kToken,
                    {{"id", silence_id}, {"author", "erin"}})
                .status == 200);
    CHECK(again.stop(SIGTERM, 10s) == 0);
  }
  VigilProcess third(cfg);
  uint16_t port = 0;
  auto silences = restarted(third, port);
  REQUIRE(silences.size() == 1);
  CHECK(silences[0]["state"] == "expired");
  CHECK(json::parse(request(port, "GET", "/api/v1/silences", kReadToken).body)["silences"].empty());
  CHECK(third.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: after kill -9 an escalation resumes at the step it had reached") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  const std::string rules = R"(
    rule { name = "SignalHigh", expr = "signal_level", above = 0.9 }
    policy "oncall" { steps = { notify { "log" }, wait "12s", notify { "log" }, wait "1h" } }
    route { receiver = "log", policy = "oncall", group_wait = "0s", group_by = { "alertname" } }
  )";
  json before;
  {
    VigilProcess first(setup.config(rules));
    const uint16_t port = first.port();
    REQUIRE(port != 0);
    REQUIRE(setup.wait_for_notification("SignalHigh", "firing"));
    auto groups = get_json(port, "/api/v1/alerts/groups")["groups"];
    REQUIRE(groups.size() == 1);
    before = groups[0]["escalation"];
    first.signal(SIGKILL);
    CHECK(first.stop(SIGKILL, 5s).has_value());
  }
  REQUIRE(before["step"] == 1);  // step 0 went out; step 1 is next, 12 s after it
  REQUIRE(before["next"].is_string());
  auto steps = [&] {
    std::vector<int> out;
    for (const auto& n : setup.notifications()) out.push_back(n.value("escalation_step", -1));
    return out;
  };
  if (steps() != std::vector<int>{0}) {
    WARN("the machine was too slow: step 1 went out before the kill; nothing to resume");
    return;
  }
  VigilProcess second(setup.config(rules));
  const uint16_t port = second.port();
  REQUIRE(port != 0);
  // The restored cursor is the one from before the kill, not a new chain.
  auto groups = get_json(port, "/api/v1/alerts/groups")["groups"];
  REQUIRE(groups.size() == 1);
  CHECK(groups[0]["escalation"] == before);
  const auto until = std::chrono::steady_clock::now() + 40s;
  while (steps().size() < 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(200ms);
  std::this_thread::sleep_for(1s);  // time for anything that should not be there
  REQUIRE(steps() == std::vector<int>{0, 1});
  // Step 1 went out when it was due, not earlier (and not from a restarted chain).
  const auto notes = setup.notifications();
  CHECK(parse_time(notes[1]["time"]) >= parse_time(before["next"]));
  CHECK(parse_time(notes[1]["time"]) - parse_time(notes[0]["time"]) >= 12'000 - 1'000);
  CHECK(second.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("alerting: an endless loop and a memory bomb fail their rules and the rest keeps going") {
  AlertingSetup setup;
  std::filesystem::create_directories(setup.out);
  setup.set("signal_level 0.95\n");
  json cfg = setup.config(R"(
    rule { name = "Spinner", interval = "1s", eval = function(q) while true do end end }
    rule { name = "Hog", interval = "1s", eval = function(q)
      local t = {}
      while true do t[#t + 1] = string.rep("x", 1 << 20) .. #t end
    end }
    rule { name = "SignalHigh",
           eval = function(q)
             local out = {}
             for _, s in ipairs(q.select("signal_level")) do
               out[#out + 1] = { labels = {}, value = s:last() }
             end
             return out
           end,
           when = function(v) return v > 0.9 end }
    route { receiver = "log", group_wait = "0s", group_interval = "1s", group_by = { "alertname" } }
  )");
  cfg["alerting"]["instruction_budget"] = 2'000'000;
  cfg["alerting"]["memory_limit_bytes"] = 16 << 20;
  VigilProcess vigil(cfg);
  const uint16_t port = vigil.port();
  REQUIRE(port != 0);
  REQUIRE(setup.wait_for_notification("SignalHigh", "firing", 20s));
  REQUIRE(vigil.wait_for_log("rule Spinner", 15s));
  REQUIRE(vigil.wait_for_log("rule Hog", 15s));
  const std::string log = vigil.log();
  CHECK(log.find(setup.rules.string() + ":2: rule Spinner: ") != std::string::npos);
  CHECK(log.find("instruction budget of 2000000 exceeded") != std::string::npos);
  CHECK(log.find(setup.rules.string() + ":3: rule Hog: ") != std::string::npos);
  CHECK(log.find("not enough memory") != std::string::npos);
  // The host keeps serving, and evaluating: the good rule resolves when its signal drops.
  CHECK(http_request(port, "GET", "/health/live").status == 200);
  // Each evaluation fails again (every second), never the process.
  auto count = [&](const std::string& text) {
    const std::string now = vigil.log();
    size_t n = 0;
    for (auto at = now.find(text); at != std::string::npos; at = now.find(text, at + 1)) ++n;
    return n;
  };
  const auto until = std::chrono::steady_clock::now() + 20s;
  while ((count("rule Spinner: ") < 3 || count("rule Hog: ") < 3) &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(200ms);
  CHECK(count("rule Spinner: ") >= 3);
  CHECK(count("rule Hog: ") >= 3);
  CHECK(count("rule SignalHigh: ") == 0);
  CHECK(wait_for_alert(port, "Spinner", "firing", 1s).is_null());
  setup.set("signal_level 0.2\n");
  CHECK(setup.wait_for_notification("SignalHigh", "resolved", 20s));
  CHECK(vigil.running());
  CHECK(vigil.stop(SIGTERM, 10s) == 0);
}
