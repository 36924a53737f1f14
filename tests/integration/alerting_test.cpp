// Alerting through the real binary: a Lua rule over a real collector fires, the notification
// reaches a real notifier plugin, the API and the CLI acknowledge and silence, and kill -9 loses
// nothing: the due notification goes out once after the restart, the ack stays, and a pending
// `for` timer keeps its start.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

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

  std::vector<json> notifications() const {
    std::vector<json> out_lines;
    std::ifstream in(out / "notifications.log");
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out_lines.push_back(j);
    }
    return out_lines;
  }

  // Waits until a notification with this status mentioning `alertname` was written.
  bool wait_for_notification(const std::string& alertname, const std::string& status,
                             std::chrono::milliseconds timeout = 15s) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& n : notifications())
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
