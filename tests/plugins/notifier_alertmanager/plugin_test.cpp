// notifier_alertmanager, the built plugin through the SDK's fake host, against real Alertmanagers
// (prometheus-alertmanager started by the test, routing to a capturing webhook receiver) and a
// capturing stand-in for the API where a test needs to count posts or choose the answer: what
// Alertmanager receives and routes, the re-sends with endsAt moved ahead, the retention of
// resolved alerts, one Alertmanager down (then up), all down, a 400, Retry-After, credentials,
// metrics, a prompt destructor, and the options table against the README.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <dirent.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "alertmanager_server.hpp"
#include "alerts.hpp"
#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "support/http_test_server.hpp"

using nlohmann::json;
using vigil::Notification;
using vigil::notifier_alertmanager::rfc3339_ms;
using vigil::testing::always;
using vigil::testing::ClosedPort;
using vigil::testing::count_logs;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::plugin;
using vigil::testing::Reply;
using vigil::testing::SeenRequest;
using vigil::testing::am::Alertmanager;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSent = "vigil_notifier_alertmanager_alerts_sent_total";
constexpr const char* kErrors = "vigil_notifier_alertmanager_alerts_errors_total";
constexpr const char* kRemembered = "vigil_notifier_alertmanager_alerts_remembered";

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-23T16:15:35.820Z" (Alertmanager's form, fraction optional) as ms since the epoch.
int64_t parse_time(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  REQUIRE(rest != nullptr);
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (*rest == '.') {
    int64_t scale = 100;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) ms += (*rest - '0') * scale;
  }
  return ms;
}

// One alert of a webhook v4 payload as Vigil writes it.
json vigil_alert(const std::string& alertname, const std::string& instance, bool resolved,
                 int64_t starts_ms) {
  return {{"status", resolved ? "resolved" : "firing"},
          {"labels", {{"alertname", alertname}, {"instance", instance}, {"severity", "critical"}}},
          {"annotations", {{"summary", alertname + " on " + instance}}},
          {"startsAt", rfc3339_ms(starts_ms)},
          {"endsAt", resolved ? rfc3339_ms(wall_ms()) : "0001-01-01T00:00:00Z"},
          {"generatorURL", "http://vigil.example:9180/"},
          {"fingerprint", alertname + "/" + instance},
          {"value", 0.95}};
}

Notification notification(const std::string& group_key, const json& alerts) {
  bool firing = false;
  for (const auto& a : alerts) firing |= a["status"] == "firing";
  Notification n;
  n.idempotency_key = group_key + "-1-am";
  n.receiver = "am";
  n.status = firing ? "firing" : "resolved";
  n.group_key = group_key;
  n.escalation_step = -1;
  n.attempt = 1;
  n.payload_json = json{{"version", "4"},
                        {"receiver", "am"},
                        {"status", n.status},
                        {"alerts", alerts},
                        {"groupLabels", json::object()},
                        {"commonLabels", json::object()},
                        {"commonAnnotations", json::object()},
                        {"externalURL", "http://vigil.example:9180/"},
                        {"groupKey", group_key},
                        {"truncatedAlerts", 0},
                        {"vigil", {{"escalation_step", -1}, {"sequence", 1}}}}
                       .dump();
  return n;
}

// Polls `done` every 20 ms for at most `timeout`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// What the capturing servers answer (Alertmanager's webhook receiver, and the stand-ins for its
// API): JSON, `status` with `body`, and Retry-After when `retry_after` is set.
Reply am_reply(int status = 200, const std::string& body = "",
               const std::string& retry_after = "") {
  Reply r;
  r.status = status;
  r.body = body;
  r.content_type = "application/json";
  if (!retry_after.empty()) r.headers["Retry-After"] = retry_after;
  return r;
}

// Alertmanager's webhook bodies the capturing server received, parsed.
std::vector<json> webhooks(const HttpTestServer& hook) {
  std::vector<json> out;
  for (const auto& r : hook.requests()) out.push_back(json::parse(r.body));
  return out;
}

// Whether one of Alertmanager's webhook calls reported `instance`'s alert with this status.
bool webhook_has(const HttpTestServer& hook, const std::string& instance,
                 const std::string& status) {
  for (const json& w : webhooks(hook))
    for (const auto& a : w["alerts"])
      if (a["labels"].value("instance", "") == instance && a["status"] == status) return true;
  return false;
}

// Posts (to a stand-in API) whose body has an alert with this instance label.
std::vector<SeenRequest> posts_with(const HttpTestServer& api, const std::string& instance) {
  std::vector<SeenRequest> out;
  for (const auto& r : api.requests()) {
    for (const auto& a : json::parse(r.body))
      if (a["labels"].value("instance", "") == instance) {
        out.push_back(r);
        break;
      }
  }
  return out;
}

std::string closed_url(const ClosedPort& p) {
  return "http://127.0.0.1:" + std::to_string(p.port);
}

std::unique_ptr<Alertmanager> start_alertmanager(const HttpTestServer& hook, int port = 0) {
  std::string why;
  auto am = Alertmanager::start(hook.url("/hook"), why, port);
  if (!am) WARN("skipped: " << why);
  return am;
}

std::size_t thread_count() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/task");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

}  // namespace

TEST_CASE("a firing alert reaches Alertmanager with endsAt ahead and is routed to its receiver") {
  HttpTestServer hook(always(am_reply()));
  auto am = start_alertmanager(hook);
  if (!am) return;
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"urls", json{am->url()}.dump()}, {"extra_labels", R"({"source": "vigil"})"}});
  const int64_t starts = wall_ms() - 600000;
  auto status = inst.notify(
      notification("g-disk", json::array({vigil_alert("DiskFull", "web1", false, starts)})));
  INFO(status.message());
  REQUIRE(status.is_ok());

  const json a = am->alert_with("instance", "web1");
  INFO(am->alerts().dump());
  REQUIRE(a.is_object());
  CHECK(a["labels"] == json({{"alertname", "DiskFull"},
                             {"instance", "web1"},
                             {"severity", "critical"},
                             {"source", "vigil"}}));
  CHECK(a["annotations"]["summary"] == "DiskFull on web1");
  CHECK(parse_time(a["startsAt"]) == starts);
  CHECK(a["generatorURL"] == "http://vigil.example:9180/");
  CHECK(a["status"]["state"] == "active");
  // Defaults: 4 x 1m ahead, as Prometheus sets it.
  const int64_t ahead = parse_time(a["endsAt"]) - wall_ms();
  CHECK(ahead > 230000);
  CHECK(ahead <= 240000);

  // Alertmanager routed it to the webhook receiver, labels intact.
  REQUIRE(hook.wait_until([](const auto& r) { return !r.empty(); }, 10s));
  const json w = webhooks(hook).front();
  CHECK(w["receiver"] == "capture");
  CHECK(w["status"] == "firing");
  REQUIRE(w["alerts"].size() == 1);
  CHECK(w["alerts"][0]["labels"] == a["labels"]);
}

TEST_CASE("a resolved notification makes Alertmanager send the resolved webhook") {
  HttpTestServer hook(always(am_reply()));
  auto am = start_alertmanager(hook);
  if (!am) return;
  FakeHost host;
  auto inst = host.create(plugin(), {{"urls", json{am->url()}.dump()}});
  const int64_t starts = wall_ms() - 60000;
  REQUIRE(inst.notify(notification("g-load",
                                   json::array({vigil_alert("HighLoad", "db1", false, starts)})))
              .is_ok());
  REQUIRE(eventually([&] { return webhook_has(hook, "db1", "firing"); }, 10s));

  REQUIRE(inst.notify(notification("g-load",
                                   json::array({vigil_alert("HighLoad", "db1", true, starts)})))
              .is_ok());
  REQUIRE(eventually([&] { return webhook_has(hook, "db1", "resolved"); }, 10s));
  const json last = webhooks(hook).back();
  CHECK(last["status"] == "resolved");
  CHECK(last["alerts"][0]["labels"]["alertname"] == "HighLoad");
  CHECK(am->alert_with("instance", "db1").is_null());  // no longer active
}

TEST_CASE("firing alerts are re-sent with endsAt moved ahead without a new notification") {
  HttpTestServer hook(always(am_reply()));
  auto am = start_alertmanager(hook);
  if (!am) return;
  FakeHost host;
  auto inst = host.create(
      plugin(),
      {{"urls", json{am->url()}.dump()}, {"resend_interval", "200ms"}, {"ends_at_factor", "20"}});
  REQUIRE(inst.notify(notification("g-mem", json::array({vigil_alert("MemoryLow", "app1", false,
                                                                     wall_ms())})))
              .is_ok());
  const json first = am->alert_with("instance", "app1");
  REQUIRE(first.is_object());
  const int64_t first_ends = parse_time(first["endsAt"]);
  CHECK(first_ends - wall_ms() > 3000);  // 20 x 200ms ahead
  CHECK(first_ends - wall_ms() <= 4000);
  int64_t later_ends = first_ends;
  CHECK(eventually(
      [&] {
        const json a = am->alert_with("instance", "app1");
        if (a.is_object()) later_ends = parse_time(a["endsAt"]);
        return later_ends >= first_ends + 300;
      },
      5s));
  // Still one firing webhook: Alertmanager saw the same alert again, not a new one.
  std::this_thread::sleep_for(300ms);
  int firing = 0;
  for (const json& w : webhooks(hook)) firing += w["status"] == "firing";
  CHECK(firing == 1);
}

TEST_CASE("resolved alerts are re-sent until resolved_retention has passed, firing ones go on") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  auto inst = host.create(plugin(), {{"urls", json{api.url()}.dump()},
                                     {"resend_interval", "100ms"},
                                     {"resolved_retention", "500ms"},
                                     {"ends_at_factor", "20"}});
  const auto told = std::chrono::steady_clock::now();
  REQUIRE(
      inst.notify(notification("g", json::array({vigil_alert("Down", "gone", true, wall_ms()),
                                                 vigil_alert("Down", "still", false, wall_ms())})))
          .is_ok());
  std::this_thread::sleep_for(1200ms);
  const auto resolved = posts_with(api, "gone");
  const auto firing = posts_with(api, "still");
  CHECK(resolved.size() >= 4);  // the notification and re-sends every 100 ms for 500 ms
  REQUIRE_FALSE(resolved.empty());
  CHECK(resolved.back().arrived - told < 800ms);
  CHECK(firing.size() > resolved.size());
  REQUIRE_FALSE(firing.empty());
  CHECK(std::chrono::steady_clock::now() - firing.back().arrived < 400ms);
  for (const auto& r : api.requests()) CHECK(r.target == "/api/v2/alerts");
  CHECK(host.value(kRemembered, {{"notifier", "test"}}) == 1);

  // In a re-send, the resolved alert keeps its own endsAt, the firing one gets a new one ahead.
  const json body = json::parse(resolved.back().body);
  for (const auto& a : body) {
    if (a["labels"]["instance"] == "gone")
      CHECK(parse_time(a["endsAt"]) <= wall_ms());
    else
      CHECK(parse_time(a["endsAt"]) > wall_ms());
  }
}

TEST_CASE("a firing alert its group no longer lists is not re-sent") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"urls", json{api.url()}.dump()}, {"resend_interval", "100ms"}});
  REQUIRE(inst.notify(notification("g", json::array({vigil_alert("Hot", "a", false, wall_ms()),
                                                     vigil_alert("Hot", "b", false, wall_ms())})))
              .is_ok());
  // b was silenced in Vigil: the group's next notification lists a alone.
  REQUIRE(inst.notify(notification("g", json::array({vigil_alert("Hot", "a", false, wall_ms())})))
              .is_ok());
  const std::size_t before = posts_with(api, "b").size();
  std::this_thread::sleep_for(400ms);
  CHECK(posts_with(api, "b").size() == before);
  CHECK(posts_with(api, "a").size() >= 3);
}

TEST_CASE("two Alertmanagers, one down: delivered, and the down one gets the alert once it is up") {
  HttpTestServer hook(always(am_reply()));
  auto up = start_alertmanager(hook);
  if (!up) return;
  auto closed = std::make_unique<ClosedPort>();
  const int later_port = closed->port;
  FakeHost host;
  auto inst = host.create(plugin(), {{"urls", json{up->url(), closed_url(*closed)}.dump()},
                                     {"resend_interval", "200ms"},
                                     {"ends_at_factor", "20"}});
  auto status = inst.notify(
      notification("g-net", json::array({vigil_alert("LinkDown", "sw1", false, wall_ms())})));
  INFO(status.message());
  CHECK(status.is_ok());
  CHECK(up->alert_with("instance", "sw1").is_object());
  // The failure is logged with the Alertmanager that refused.
  CHECK(count_logs(host, VIGIL_LOG_WARN, "127.0.0.1:" + std::to_string(later_port)) == 1);
  CHECK(count_logs(host, VIGIL_LOG_WARN, "reached 1 of 2 Alertmanager(s)") == 1);

  closed.reset();  // the port is free again: the second Alertmanager starts on it
  auto late = start_alertmanager(hook, later_port);
  REQUIRE(late);
  CHECK(eventually([&] { return late->alert_with("instance", "sw1").is_object(); }, 5s));
  CHECK(eventually([&] { return count_logs(host, "accepts alerts again") == 1; }, 2s));

  const std::string down_url = "http://127.0.0.1:" + std::to_string(later_port) + "/api/v2/alerts";
  CHECK(host.value(kSent, {{"alertmanager", up->url() + "/api/v2/alerts"}, {"notifier", "test"}}) >=
        1);
  CHECK(host.value(kErrors,
                   {{"alertmanager", up->url() + "/api/v2/alerts"}, {"notifier", "test"}}) == 0);
  CHECK(host.value(kErrors, {{"alertmanager", down_url}, {"notifier", "test"}}) >= 1);
  CHECK(host.value(kSent, {{"alertmanager", down_url}, {"notifier", "test"}}) >
        host.value(kErrors, {{"alertmanager", down_url}, {"notifier", "test"}}));
}

TEST_CASE("every Alertmanager down is retryable, and their Retry-After is passed to the host") {
  FakeHost host;
  ClosedPort a, b;
  auto down = host.create(plugin(), {{"urls", json{closed_url(a), closed_url(b)}.dump()}});
  auto status =
      down.notify(notification("g", json::array({vigil_alert("X", "y", false, wall_ms())})));
  CHECK(status.code() == VIGIL_ERR_RETRYABLE);
  CHECK(status.message().find("reached 0 of 2") != std::string::npos);
  CHECK(status.message().find(std::to_string(a.port)) != std::string::npos);
  CHECK(status.message().find(std::to_string(b.port)) != std::string::npos);
  CHECK(status.retry_after().count() == 0);

  HttpTestServer busy(always(am_reply(429, "slow down", "30")));
  HttpTestServer unavailable(always(am_reply(503, "maintenance", "7")));
  auto both = host.create(plugin(), {{"urls", json{busy.url(), unavailable.url()}.dump()}});
  status = both.notify(notification("g", json::array({vigil_alert("X", "y", false, wall_ms())})));
  CHECK(status.code() == VIGIL_ERR_RETRYABLE);
  CHECK(status.message().find("HTTP 429") != std::string::npos);
  CHECK(status.message().find("HTTP 503") != std::string::npos);
  CHECK(status.retry_after() == 7s);  // the earliest either will take alerts again
}

TEST_CASE("a 400 from Alertmanager is permanent with its reason, and that alert is not re-sent") {
  HttpTestServer hook(always(am_reply()));
  auto am = start_alertmanager(hook);
  if (!am) return;
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"urls", json{am->url()}.dump()}, {"resend_interval", "100ms"}});
  json bad = vigil_alert("Bad", "x", false, wall_ms());
  bad["labels"]["bad-name"] = "v";
  auto status = inst.notify(notification("g-bad", json::array({bad})));
  CHECK(status.code() == VIGIL_ERR_PERMANENT);
  CHECK(status.message().find("HTTP 400") != std::string::npos);
  CHECK(status.message().find("invalid label set") != std::string::npos);
  CHECK(status.message().find("bad-name") != std::string::npos);
  CHECK(host.value(kRemembered, {{"notifier", "test"}}) == 0);
  std::this_thread::sleep_for(350ms);
  const std::string url = am->url() + "/api/v2/alerts";
  CHECK(host.value(kSent, {{"alertmanager", url}, {"notifier", "test"}}) == 1);
  CHECK(host.value(kErrors, {{"alertmanager", url}, {"notifier", "test"}}) == 1);
}

TEST_CASE("basic auth and bearer tokens are sent, and secret files are read at every post") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  {
    auto inst = host.create(
        plugin(),
        {{"urls", json{api.url()}.dump()}, {"username", "vigil"}, {"password", "s3cret"}});
    REQUIRE(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
                .is_ok());
    const auto seen = api.requests().back();
    CHECK(seen.method == "POST");
    CHECK(seen.target == "/api/v2/alerts");
    CHECK(seen.headers.at("content-type") == "application/json");
    CHECK(seen.headers.at("authorization") == "Basic dmlnaWw6czNjcmV0");  // vigil:s3cret
  }
  vigil::testing::SecretFile token("first-token\n");
  auto inst = host.create(
      plugin(), {{"urls", json{api.url() + "/"}.dump()}, {"bearer_token_file", token.path}});
  REQUIRE(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
              .is_ok());
  CHECK(api.requests().back().headers.at("authorization") == "Bearer first-token");
  CHECK(api.requests().back().target == "/api/v2/alerts");  // the trailing slash is dropped
  std::ofstream(token.path, std::ios::trunc) << "rotated-token\n";
  REQUIRE(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
              .is_ok());
  CHECK(api.requests().back().headers.at("authorization") == "Bearer rotated-token");
}

TEST_CASE("a large group goes out in batches of 256 alerts") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  auto inst = host.create(plugin(), {{"urls", json{api.url()}.dump()}});
  json alerts = json::array();
  for (int i = 0; i < 300; ++i)
    alerts.push_back(vigil_alert("Many", "host" + std::to_string(i), false, wall_ms()));
  REQUIRE(inst.notify(notification("g", alerts)).is_ok());
  const auto seen = api.requests();
  REQUIRE(seen.size() == 2);
  CHECK(json::parse(seen[0].body).size() == 256);
  CHECK(json::parse(seen[1].body).size() == 44);
  CHECK(host.value(kSent, {{"alertmanager", api.url("/api/v2/alerts")}, {"notifier", "test"}}) ==
        300);
}

TEST_CASE("creating an instance starts no thread and sends nothing, the first notify does") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  const std::size_t before = thread_count();
  {
    auto idle =
        host.create(plugin(), {{"urls", json{api.url()}.dump()}, {"resend_interval", "50ms"}});
    std::this_thread::sleep_for(200ms);
    CHECK(thread_count() == before);
    CHECK(api.requests().empty());
  }
  // Nothing listens on these ports, so no server thread of the test's joins the count.
  ClosedPort a, b;
  auto inst = host.create(plugin(), {{"urls", json{closed_url(a), closed_url(b)}.dump()}});
  CHECK(thread_count() == before);
  CHECK(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
            .code() == VIGIL_ERR_RETRYABLE);
  CHECK(thread_count() == before + 2);  // one worker per Alertmanager
  inst = vigil::testing::FakeInstance();
  CHECK(thread_count() == before);
}

TEST_CASE("the destructor stops the re-sender promptly, also in the middle of a slow post") {
  HttpTestServer api(always(am_reply()));
  FakeHost host;
  {
    auto inst =
        host.create(plugin(), {{"urls", json{api.url()}.dump()}, {"resend_interval", "1h"}});
    REQUIRE(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
                .is_ok());
    const auto start = std::chrono::steady_clock::now();
    inst = vigil::testing::FakeInstance();
    CHECK(std::chrono::steady_clock::now() - start < 100ms);
  }
  auto inst =
      host.create(plugin(), {{"urls", json{api.url()}.dump()}, {"resend_interval", "100ms"}});
  REQUIRE(inst.notify(notification("g", json::array({vigil_alert("A", "b", false, wall_ms())})))
              .is_ok());
  Reply hung = am_reply();
  hung.delay = 30s;
  api.set_handler(always(hung));  // the next re-send hangs
  const std::size_t posts = api.requests().size();
  REQUIRE(api.wait_until([&](const auto& r) { return r.size() > posts; }, 2s));
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  inst = vigil::testing::FakeInstance();
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("destroyed in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
  // A post in flight is cancelled from curl's progress callback, which an idle transfer calls
  // about once a second.
  CHECK(took < 1500ms);
  CHECK(count_logs(host, VIGIL_LOG_WARN, "re-sending") == 0);  // a cancelled post is not news
}

TEST_CASE("bad options are refused when the instance is created, with what was expected") {
  using vigil::testing::refused_start;
  auto p = plugin();
  CHECK(refused_start(p, {{"urls", "[]"}}).find("expected at least one Alertmanager") !=
        std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["am1:9093"])"}}).find("expected an http:// or https://") !=
        std::string::npos);
  CHECK(
      refused_start(p, {{"urls", R"(["http://a:9093", "http://a:9093/"])"}}).find("listed twice") !=
      std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"ends_at_factor", "0.5"}})
            .find("expected at least 1") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"resend_interval", "0s"}})
            .find("expected a positive duration") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"max_alerts", "0"}}).find("max_alerts") !=
        std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"extra_labels", R"({"bad-name": "x"})"}})
            .find("is not a label name") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"extra_labels", R"(["x"])"}})
            .find("expected an object of label names") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"password", "x"}})
            .find("without \"username\"") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"}, {"username", "u"}, {"bearer_token", "t"}})
            .find("expected one") != std::string::npos);
  CHECK(refused_start(p, {{"urls", R"(["http://a"])"},
                          {"username", "u"},
                          {"password_file", "/nonexistent/vigil/pw"}})
            .find("cannot read /nonexistent/vigil/pw") != std::string::npos);
}

TEST_CASE("the README lists every option with its default, in order") {
  std::ifstream in(PLUGIN_README);
  REQUIRE(in.good());
  vigil::testing::OptionDefaults listed;
  std::string line;
  bool in_options = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_options = line == "## Options";
    if (!in_options || line.rfind("| `", 0) != 0) continue;
    // | `name` | type | default | description |
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    REQUIRE(cells.size() >= 3);
    auto strip = [](std::string s) {
      if (s.size() >= 2 && s.front() == '`' && s.back() == '`') s = s.substr(1, s.size() - 2);
      return s;
    };
    std::string value = strip(cells[2]);
    if (value == "(required)") value = "<none>";
    if (value == "\"\"") value = "";
    listed.emplace_back(strip(cells[0]), value);
  }
  CHECK(listed == vigil::testing::option_defaults(plugin()));
}
