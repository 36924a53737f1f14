// notifier_events against real servers on loopback: the bodies it sends (trigger with its
// payload, links and details; acknowledge and resolve with only what the API needs), per-alert
// events and their retries, templates and their errors, the routing key's sources, and how each
// kind of answer becomes delivered, retryable or permanent.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <unistd.h>

#include "events.hpp"
#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using json = nlohmann::json;
using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::plugin;
using vigil::testing::refused_start;
using vigil::testing::Reply;
using vigil::testing::SeenRequest;

namespace {

const std::string kKey = "R0UT1NGKEY0123456789abcdefABCDEF";  // 32 characters, as PagerDuty's
const std::string kGroupId = "5e1f0a9b8c7d6e5f";
const std::string kVigilUrl = "http://vigil.example:9180/";

json alert(const std::string& fingerprint, json labels, json annotations,
           const std::string& status = "firing", json acknowledged = nullptr) {
  return {{"status", status},
          {"labels", std::move(labels)},
          {"annotations", std::move(annotations)},
          {"startsAt", "2026-11-23T10:00:00.000Z"},
          {"endsAt", status == "resolved" ? "2026-11-23T10:30:00.000Z" : "0001-01-01T00:00:00Z"},
          {"generatorURL", kVigilUrl + "graph?alert=" + fingerprint},
          {"fingerprint", fingerprint},
          {"value", 0.95},
          {"acknowledged", std::move(acknowledged)}};
}

json ack() {
  return {{"author", "alice"}, {"comment", "on it"}, {"at", "2026-11-23T10:05:00.000Z"}};
}

// A notification as the host's alert engine writes it: Alertmanager's webhook v4 plus "vigil".
Notification notification(const std::string& status, const json& alerts, const json& common_labels,
                          const json& common_annotations, json acknowledged = nullptr,
                          const std::string& key = "5e1f-3-pd") {
  json payload = {{"version", "4"},
                  {"receiver", "pd"},
                  {"status", status},
                  {"alerts", alerts},
                  {"groupLabels", {{"alertname", common_labels.value("alertname", "")}}},
                  {"commonLabels", common_labels},
                  {"commonAnnotations", common_annotations},
                  {"externalURL", kVigilUrl},
                  {"groupKey", "0:{alertname=\"DiskFull\"}"},
                  {"truncatedAlerts", 0},
                  {"vigil",
                   {{"escalation_step", 0},
                    {"iteration", 0},
                    {"policy", ""},
                    {"idempotency_key", key},
                    {"sequence", 3},
                    {"group_id", kGroupId},
                    {"acknowledged", std::move(acknowledged)}}}};
  Notification n;
  n.idempotency_key = key;
  n.receiver = "pd";
  n.status = status;
  n.group_key = "0:{alertname=\"DiskFull\"}";
  n.escalation_step = 0;
  n.attempt = 1;
  n.payload_json = payload.dump();
  return n;
}

const json kDiskLabels = {
    {"alertname", "DiskFull"}, {"instance", "web1"}, {"severity", "critical"}, {"mountpoint", "/"}};
const json kDiskAnnotations = {{"summary", "/ on web1 is 95% full"},
                               {"description", "the root file system fills up"}};

// The example of the README: one alert, DiskFull on web1, firing; `acked` as Vigil sends it
// once the group is acknowledged.
Notification disk_full(const std::string& status = "firing", bool acked = false) {
  json acknowledged = acked ? ack() : json(nullptr);
  json a = alert("9f2c1a7b3e4d5c6a", kDiskLabels, kDiskAnnotations, status, acknowledged);
  return notification(status, json::array({a}), kDiskLabels, kDiskAnnotations, acknowledged);
}

// Where PagerDuty takes events.
const std::string kEnqueue = "/v2/enqueue";

// An Events API v2 receiver's answers: 202 as PagerDuty gives, or, for an event whose dedup_key
// is in `refusals`, that status (400 with PagerDuty's "invalid event" body, anything else with
// a short text), so a test can fail one event of several.
vigil::testing::Handler events_api(std::map<std::string, unsigned> refusals = {}) {
  return [refusals](const SeenRequest& request) {
    const json event = request.json();
    const std::string key =
        event.is_object() && event.contains("dedup_key") && event["dedup_key"].is_string()
            ? event["dedup_key"].get<std::string>()
            : std::string();
    const auto refusal = refusals.find(key);
    Reply reply;
    reply.status = refusal == refusals.end() ? 202 : static_cast<int>(refusal->second);
    reply.content_type = "application/json";
    if (reply.status == 202) {
      reply.body =
          json{{"status", "success"}, {"message", "Event processed"}, {"dedup_key", key}}.dump();
    } else if (reply.status == 400) {
      reply.body = json{{"status", "invalid event"},
                        {"message", "Event object is invalid"},
                        {"errors", {"'payload.summary' is missing or blank"}}}
                       .dump();
    } else {
      reply.content_type = "text/plain";
      reply.body = "status " + std::to_string(reply.status);
    }
    return reply;
  };
}

// Every event the receiver got, refused ones included, in arrival order (a body that is not
// JSON as a discarded value).
std::vector<json> events_of(const HttpTestServer& receiver) {
  std::vector<json> out;
  for (const SeenRequest& r : receiver.requests()) out.push_back(r.json());
  return out;
}

json body_of(const HttpTestServer& server) {
  json body = json::parse(server.last_request().body, nullptr, false);
  REQUIRE(body.is_object());
  return body;
}

std::string local_hostname() {
  char name[256] = {};
  REQUIRE(::gethostname(name, sizeof name - 1) == 0);
  return name;
}

}  // namespace

TEST_CASE("a trigger carries the routing key, the group's dedup_key and what a responder needs") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/202")},
                                     {"routing_key", kKey},
                                     {"headers", R"({"X-Team": "ops"})"}});
  REQUIRE(inst.notify(disk_full()).to_string() == "ok");
  auto seen = server.last_request();
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/status/202");
  CHECK(seen.headers["content-type"] == "application/json");
  CHECK(seen.headers["x-team"] == "ops");

  json body = body_of(server);
  CHECK(body["routing_key"] == kKey);
  CHECK(body["event_action"] == "trigger");
  CHECK(body["dedup_key"] == "vigil-" + kGroupId);
  const json& p = body["payload"];
  CHECK(p["summary"] == "/ on web1 is 95% full");
  CHECK(p["source"] == "web1");
  CHECK(p["severity"] == "critical");
  CHECK(p["timestamp"] == "2026-11-23T10:00:00.000Z");
  // Optional fields left empty are left out, as the API prefers.
  CHECK_FALSE(p.contains("component"));
  CHECK_FALSE(p.contains("group"));
  CHECK_FALSE(p.contains("class"));
  const json& details = p["custom_details"];
  CHECK(details["labels"] == kDiskLabels);
  CHECK(details["annotations"] == kDiskAnnotations);
  CHECK(details["firing"] == 1);
  CHECK(details["resolved"] == 0);
  REQUIRE(details["alerts"].size() == 1);
  CHECK(details["alerts"][0]["value"] == 0.95);
  CHECK(details["alerts"][0]["fingerprint"] == "9f2c1a7b3e4d5c6a");
  CHECK(details["escalation_step"] == 0);
  CHECK(details["group_key"] == "0:{alertname=\"DiskFull\"}");
  CHECK(details["group_id"] == kGroupId);
  CHECK(details["vigil_url"] == kVigilUrl);
  CHECK(body["links"] == json::array({{{"href", kVigilUrl}, {"text", "Vigil"}},
                                      {{"href", kVigilUrl + "graph?alert=9f2c1a7b3e4d5c6a"},
                                       {"text", "DiskFull source"}}}));
  CHECK(body["client"] == "Vigil");
  CHECK(body["client_url"] == kVigilUrl);
}

TEST_CASE("acknowledge and resolve carry only the routing key, the action and the same dedup_key") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/202")}, {"routing_key", kKey}});
  const json expected_key = "vigil-" + kGroupId;

  REQUIRE(inst.notify(disk_full("firing", true)).is_ok());
  CHECK(body_of(server) ==
        json{{"routing_key", kKey}, {"event_action", "acknowledge"}, {"dedup_key", expected_key}});

  // The acknowledgement ended in Vigil (expired, taken back, or a new alert joined): the
  // incident is triggered again under the same key.
  REQUIRE(inst.notify(disk_full("firing", false)).is_ok());
  CHECK(body_of(server)["event_action"] == "trigger");
  CHECK(body_of(server)["dedup_key"] == expected_key);

  REQUIRE(inst.notify(disk_full("resolved")).is_ok());
  CHECK(body_of(server) ==
        json{{"routing_key", kKey}, {"event_action", "resolve"}, {"dedup_key", expected_key}});
}

TEST_CASE("the default summary and source fall back to alertname, instance and this host") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/202")}, {"routing_key", kKey}});
  json labels = {{"alertname", "DiskFull"}, {"instance", "web1"}};
  REQUIRE(inst.notify(notification("firing", json::array({alert("a1", labels, json::object())}),
                                   labels, json::object()))
              .is_ok());
  CHECK(body_of(server)["payload"]["summary"] == "DiskFull on web1");
  CHECK(body_of(server)["payload"]["source"] == "web1");

  // Two instances: no common instance label, so the summary is the alert name and the source
  // this machine.
  json common = {{"alertname", "DiskFull"}};
  json alerts = json::array({alert("a1", {{"alertname", "DiskFull"}, {"instance", "web1"}}, {}),
                             alert("a2", {{"alertname", "DiskFull"}, {"instance", "web2"}}, {})});
  REQUIRE(inst.notify(notification("firing", alerts, common, json::object())).is_ok());
  json body = body_of(server);
  CHECK(body["payload"]["summary"] == "DiskFull");
  CHECK(body["payload"]["source"] == local_hostname());
  CHECK(body["payload"]["custom_details"]["alerts"].size() == 2);
  CHECK(body["links"].size() == 3);
}

TEST_CASE("severity comes from the label through the mapping, unknown values take the default") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/202")},
                                     {"routing_key", kKey},
                                     {"severity_map", R"({"page": "critical", "ticket": "info"})"},
                                     {"default_severity", "warning"}});
  auto severity_of = [&](json labels) {
    REQUIRE(inst.notify(notification("firing", json::array({alert("a1", labels, {})}), labels,
                                     json::object()))
                .is_ok());
    return body_of(server)["payload"]["severity"].get<std::string>();
  };
  CHECK(severity_of({{"alertname", "X"}, {"severity", "page"}}) == "critical");
  CHECK(severity_of({{"alertname", "X"}, {"severity", "ticket"}}) == "info");
  CHECK(severity_of({{"alertname", "X"}, {"severity", "ERROR"}}) == "error");
  CHECK(severity_of({{"alertname", "X"}, {"severity", "info"}}) == "info");
  CHECK(severity_of({{"alertname", "X"}, {"severity", "sev1"}}) == "warning");
  CHECK(severity_of({{"alertname", "X"}}) == "warning");

  // A group is as severe as its most severe firing alert; a resolved one does not count.
  json alerts = json::array({alert("a1", {{"severity", "info"}}, {}),
                             alert("a2", {{"severity", "error"}}, {}),
                             alert("a3", {{"severity", "critical"}}, {}, "resolved")});
  REQUIRE(inst.notify(notification("firing", alerts, json::object(), json::object())).is_ok());
  CHECK(body_of(server)["payload"]["severity"] == "error");

  auto by_priority = host.create(
      plugin(),
      {{"url", server.url("/status/202")}, {"routing_key", kKey}, {"severity_label", "priority"}});
  json labels = {{"severity", "critical"}, {"priority", "warning"}};
  REQUIRE(by_priority
              .notify(notification("firing", json::array({alert("a1", labels, {})}), labels,
                                   json::object()))
              .is_ok());
  CHECK(body_of(server)["payload"]["severity"] == "warning");
}

TEST_CASE("templates render the dedup_key, summary, source, component, group and class") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/202")},
                                     {"routing_key", kKey},
                                     {"dedup_key", "ops/{{ groupLabels.alertname | lower }}"},
                                     {"summary",
                                      "{{ labels.alertname }}: {{ alert.value | percent }} used on "
                                      "{{ labels.instance | upper }} ({{ status }})"},
                                     {"source", "{{ labels.instance }}.example.com"},
                                     {"component", "{{ labels.mountpoint }}"},
                                     {"group", "{{ labels.job | default \"disks\" }}"},
                                     {"class", "{{ event_action }}"}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  json body = body_of(server);
  CHECK(body["dedup_key"] == "ops/diskfull");
  CHECK(body["payload"]["summary"] == "DiskFull: 95% used on WEB1 (firing)");
  CHECK(body["payload"]["source"] == "web1.example.com");
  CHECK(body["payload"]["component"] == "/");
  CHECK(body["payload"]["group"] == "disks");
  CHECK(body["payload"]["class"] == "trigger");
  REQUIRE(inst.notify(disk_full("resolved")).is_ok());
  CHECK(body_of(server)["dedup_key"] == "ops/diskfull");

  // Past the API's limits: the summary is cut at 1024 characters, a dedup_key is shortened the
  // same way every time (so the resolve still finds the incident).
  const std::string long_text(1500, 'x');
  json annotations = {{"summary", long_text}, {"description", long_text}};
  json labels = {{"alertname", "Long"}};
  auto with_long = [&](const std::string& status) {
    return notification(status, json::array({alert("a1", labels, annotations, status)}), labels,
                        annotations);
  };
  auto long_keys = host.create(plugin(), {{"url", server.url("/status/202")},
                                          {"routing_key", kKey},
                                          {"dedup_key", "{{ commonAnnotations.description }}"}});
  REQUIRE(long_keys.notify(with_long("firing")).is_ok());
  body = body_of(server);
  const std::string summary = body["payload"]["summary"];
  CHECK(summary.size() == 1023 + 3);  // 1023 x and the three bytes of "…"
  CHECK(summary.substr(1023) == "\xE2\x80\xA6");
  const std::string key = body["dedup_key"];
  CHECK(key.size() == 255);
  REQUIRE(long_keys.notify(with_long("resolved")).is_ok());
  CHECK(body_of(server)["dedup_key"] == key);
}

TEST_CASE("a template error refuses the instance, naming the option, the line and the column") {
  auto summary =
      refused_start(plugin(), {{"routing_key", kKey}, {"summary", "{{ alert.value | percnt }}"}});
  CHECK(summary.find("option \"summary\": line 1, column") != std::string::npos);
  CHECK(summary.find("percnt") != std::string::npos);

  auto dedup = refused_start(
      plugin(), {{"routing_key", kKey}, {"dedup_key", "vigil-\n{{#if vigil.group_id}}x"}});
  CHECK(dedup.find("option \"dedup_key\": line 2, column") != std::string::npos);

  auto klass =
      refused_start(plugin(), {{"routing_key", kKey}, {"class", "{{ labels.job | truncate }}"}});
  CHECK(klass.find("option \"class\": line 1, column") != std::string::npos);
}

TEST_CASE("per_alert sends one event per alert, each by its own state") {
  HttpTestServer server(events_api());
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", server.url(kEnqueue)}, {"routing_key", kKey}, {"per_alert", "true"}});
  json web1 = {{"alertname", "DiskFull"}, {"instance", "web1"}, {"severity", "warning"}};
  json web2 = {{"alertname", "DiskFull"}, {"instance", "web2"}, {"severity", "critical"}};
  json web3 = {{"alertname", "DiskFull"}, {"instance", "web3"}};
  json alerts = json::array({alert("a1", web1, {{"summary", "web1 is full"}}),
                             alert("a2", web2, {{"summary", "web2 is full"}}, "resolved"),
                             alert("a3", web3, {{"summary", "web3 is full"}}, "firing", ack())});
  REQUIRE(inst.notify(notification("firing", alerts, {{"alertname", "DiskFull"}}, json::object()))
              .to_string() == "ok");
  auto events = events_of(server);
  REQUIRE(events.size() == 3);
  CHECK(events[0]["event_action"] == "trigger");
  CHECK(events[0]["dedup_key"] == "vigil-a1");
  CHECK(events[0]["payload"]["summary"] == "web1 is full");
  CHECK(events[0]["payload"]["source"] == "web1");
  CHECK(events[0]["payload"]["severity"] == "warning");
  CHECK(events[0]["payload"]["custom_details"]["labels"] == web1);
  CHECK(events[0]["payload"]["custom_details"]["value"] == 0.95);
  CHECK(events[0]["payload"]["custom_details"]["fingerprint"] == "a1");
  CHECK(events[1] ==
        json{{"routing_key", kKey}, {"event_action", "resolve"}, {"dedup_key", "vigil-a2"}});
  CHECK(events[2] ==
        json{{"routing_key", kKey}, {"event_action", "acknowledge"}, {"dedup_key", "vigil-a3"}});
}

TEST_CASE("a per_alert retry sends only the events that did not go through") {
  HttpTestServer server(events_api());
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", server.url(kEnqueue)}, {"routing_key", kKey}, {"per_alert", "true"}});
  json labels = {{"alertname", "DiskFull"}};
  json alerts =
      json::array({alert("a1", labels, {}), alert("a2", labels, {}), alert("a3", labels, {})});
  Notification n = notification("firing", alerts, labels, json::object());

  server.set_handler(events_api({{"vigil-a2", 503}}));
  auto first = inst.notify(n);
  CHECK(first.code() == VIGIL_ERR_RETRYABLE);
  CHECK(first.message().find("2 of 3 events delivered") != std::string::npos);
  CHECK(first.message().find("trigger vigil-a2: POST") != std::string::npos);
  CHECK(first.message().find("HTTP 503") != std::string::npos);
  CHECK(events_of(server).size() == 3);

  server.set_handler(events_api());
  server.clear();
  n.attempt = 2;
  REQUIRE(inst.notify(n).to_string() == "ok");
  auto resent = events_of(server);
  REQUIRE(resent.size() == 1);
  CHECK(resent[0]["dedup_key"] == "vigil-a2");

  // Another notification of the group (another idempotency key) sends all of its events.
  server.clear();
  REQUIRE(inst.notify(notification("firing", alerts, labels, json::object(), nullptr, "5e1f-4-pd"))
              .is_ok());
  CHECK(events_of(server).size() == 3);
}

TEST_CASE("per_alert is permanent only when every failure left is permanent") {
  HttpTestServer server(events_api());
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", server.url(kEnqueue)}, {"routing_key", kKey}, {"per_alert", "true"}});
  json labels = {{"alertname", "DiskFull"}};
  json alerts =
      json::array({alert("a1", labels, {}), alert("a2", labels, {}), alert("a3", labels, {})});
  Notification n = notification("firing", alerts, labels, json::object());

  server.set_handler(events_api({{"vigil-a1", 400}, {"vigil-a2", 503}}));
  auto first = inst.notify(n);
  CHECK(first.code() == VIGIL_ERR_RETRYABLE);
  CHECK(first.message().find("1 of 3 events delivered, 1 to retry, 1 refused") !=
        std::string::npos);

  // The receiver recovers; the refused event is not sent again (it would be refused again), and
  // with it refused the notification as a whole is permanent: the host's fallback gets it.
  server.set_handler(events_api());
  server.clear();
  n.attempt = 2;
  auto second = inst.notify(n);
  CHECK(second.code() == VIGIL_ERR_PERMANENT);
  CHECK(second.message().find("2 of 3 events delivered, 0 to retry, 1 refused") !=
        std::string::npos);
  CHECK(second.message().find("Event object is invalid") != std::string::npos);
  auto resent = events_of(server);
  REQUIRE(resent.size() == 1);
  CHECK(resent[0]["dedup_key"] == "vigil-a2");

  server.set_handler(events_api({{"vigil-a1", 400}, {"vigil-a2", 400}, {"vigil-a3", 400}}));
  auto refused = inst.notify(notification("firing", alerts, labels, json::object(), nullptr, "k2"));
  CHECK(refused.code() == VIGIL_ERR_PERMANENT);
  CHECK(refused.message().find("0 of 3 events delivered, 0 to retry, 3 refused") !=
        std::string::npos);
}

TEST_CASE("answers: 400 permanent with its reason, 429 and 503 retryable, a slow receiver") {
  FakeHost host;
  HttpTestServer events(events_api({{"vigil-" + kGroupId, 400}}));
  auto pd = host.create(plugin(), {{"url", events.url(kEnqueue)}, {"routing_key", kKey}});
  auto bad = pd.notify(disk_full());
  CHECK(bad.code() == VIGIL_ERR_PERMANENT);
  CHECK(bad.message().find("trigger vigil-" + kGroupId + ": POST " + events.url(kEnqueue) +
                           ": HTTP 400") != std::string::npos);
  CHECK(bad.message().find("'payload.summary' is missing or blank") != std::string::npos);
  CHECK(bad.message().find(kKey) == std::string::npos);
  CHECK(vigil::testing::count_logs(host, kKey) == 0);

  HttpTestServer server;
  auto send = [&](const std::string& path, const std::string& timeout = "10s") {
    auto inst = host.create(
        plugin(), {{"url", server.url(path)}, {"routing_key", kKey}, {"timeout", timeout}});
    return inst.notify(disk_full());
  };
  CHECK(send("/status/202").is_ok());
  CHECK(send("/status/200").is_ok());
  auto busy = send("/retry-after/30");
  CHECK(busy.code() == VIGIL_ERR_RETRYABLE);
  CHECK(busy.message().find("HTTP 429") != std::string::npos);
  CHECK(busy.retry_after() == std::chrono::seconds(30));
  auto failing = send("/status/503");
  CHECK(failing.code() == VIGIL_ERR_RETRYABLE);
  CHECK(failing.retry_after().count() == 0);
  CHECK(send("/status/404").code() == VIGIL_ERR_PERMANENT);
  CHECK(send("/redirect").code() == VIGIL_ERR_PERMANENT);
  auto slow = send("/slow/3000", "300ms");
  CHECK(slow.code() == VIGIL_ERR_RETRYABLE);
  CHECK(slow.message().find("timed out") != std::string::npos);
}

TEST_CASE("a receiver that is down is retryable, and an untrusted certificate is permanent") {
  FakeHost host;
  vigil::testing::ClosedPort closed;
  auto down = host.create(
      plugin(), {{"url", "http://127.0.0.1:" + std::to_string(closed.port) + "/v2/enqueue"},
                 {"routing_key", kKey}});
  auto r = down.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.message().find("127.0.0.1") != std::string::npos);

  vigil::testing::TempDir dir("vigil_events_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  vigil::testing::TlsTestServer tls(cert);
  auto untrusted = host.create(
      plugin(), {{"url", "https://localhost:" + std::to_string(tls.port()) + "/v2/enqueue"},
                 {"routing_key", kKey}});
  auto refused = untrusted.notify(disk_full());
  CHECK(refused.code() == VIGIL_ERR_PERMANENT);
  CHECK(refused.message().find("not trusted") != std::string::npos);
}

TEST_CASE("routing_key_file gives the key, and a refusal never quotes a key") {
  HttpTestServer server;
  FakeHost host;
  vigil::testing::SecretFile file(kKey + "\n");
  auto inst =
      host.create(plugin(), {{"url", server.url("/status/202")}, {"routing_key_file", file.path}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  CHECK(body_of(server)["routing_key"] == kKey);

  CHECK(refused_start(plugin(), {{"routing_key", kKey}, {"routing_key_file", file.path}})
            .find("both set, expected one") != std::string::npos);
  CHECK(refused_start(plugin(), {}).find("neither set, expected one") != std::string::npos);
  vigil::testing::SecretFile empty("\n");
  CHECK(refused_start(plugin(), {{"routing_key_file", empty.path}}).find("is empty") !=
        std::string::npos);
  CHECK(refused_start(plugin(), {{"routing_key_file", "/nonexistent/vigil/key"}})
            .find("cannot read /nonexistent/vigil/key") != std::string::npos);

  // PagerDuty's keys have 32 characters; compatible tools take any.
  auto short_key = refused_start(plugin(), {{"routing_key", "not-a-pd-key"}});
  CHECK(short_key.find("12 characters, expected the 32-character integration key") !=
        std::string::npos);
  CHECK(short_key.find("not-a-pd-key") == std::string::npos);
  auto compatible =
      host.create(plugin(), {{"url", server.url("/status/202")}, {"routing_key", "not-a-pd-key"}});
  REQUIRE(compatible.notify(disk_full()).is_ok());
  CHECK(body_of(server)["routing_key"] == "not-a-pd-key");
}

TEST_CASE("bad options are refused when the instance is created, with what was expected") {
  CHECK(refused_start(plugin(), {{"url", "ftp://example.test/"}, {"routing_key", kKey}})
            .find("option \"url\": found \"ftp://example.test/\", expected an http:// or "
                  "https:// URL") != std::string::npos);
  CHECK(refused_start(plugin(), {{"routing_key", kKey}, {"headers", "[1, 2]"}})
            .find("option \"headers\": expected an object") != std::string::npos);
  CHECK(refused_start(plugin(), {{"routing_key", kKey}, {"severity_map", R"({"page": "sev1"})"}})
            .find("option \"severity_map\": \"page\" maps to \"sev1\", expected") !=
        std::string::npos);
  CHECK(refused_start(plugin(), {{"routing_key", kKey}, {"default_severity", "high"}})
            .find("option \"default_severity\": found \"high\", expected critical, error, "
                  "warning or info") != std::string::npos);
  CHECK(
      refused_start(plugin(), {{"routing_key", kKey}, {"per_alert", "maybe"}}).find("per_alert") !=
      std::string::npos);
}

TEST_CASE("a payload that is not JSON is permanent, and nothing is sent") {
  HttpTestServer server(events_api());
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url(kEnqueue)}, {"routing_key", kKey}});
  Notification n = disk_full();
  n.payload_json = "{not json";
  auto r = inst.notify(n);
  CHECK(r.code() == VIGIL_ERR_PERMANENT);
  CHECK(r.message().find("not a JSON object") != std::string::npos);
  CHECK(events_of(server).empty());
}

TEST_CASE("the settled-event record is bounded and forgets the oldest notification first") {
  vigil::notifier_events::SettledEvents settled(2);
  settled.settle("n1", 0, {true, {}});
  settled.settle("n2", 1, {false, "refused"});
  settled.settle("n2", 2, {true, {}});
  REQUIRE(settled.find("n1") != nullptr);
  REQUIRE(settled.find("n2") != nullptr);
  CHECK(settled.find("n2")->size() == 2);
  settled.settle("n3", 0, {true, {}});
  CHECK(settled.size() == 2);
  CHECK(settled.find("n1") == nullptr);
  settled.forget("n2");
  CHECK(settled.find("n2") == nullptr);
  settled.settle("n4", 0, {true, {}});
  CHECK(settled.find("n3") != nullptr);
  CHECK(settled.find("n4") != nullptr);
}

TEST_CASE("the README documents every option") {
  std::ifstream in(PLUGIN_README);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& [name, default_value] : vigil::testing::option_defaults(plugin())) {
    INFO("option " << name);
    CHECK(text.str().find("`" + name + "`") != std::string::npos);
  }
}
