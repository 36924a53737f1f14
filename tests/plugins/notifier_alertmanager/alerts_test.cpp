// notifier_alertmanager's model on its own, without a network: what it reads from a
// notification's payload, the PostableAlerts body it writes, and which alerts its book keeps
// re-sending (firing ones while their group lists them, resolved ones for the retention, the cap).
#include "alerts.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using nlohmann::json;
using vigil::notifier_alertmanager::Alert;
using vigil::notifier_alertmanager::AlertBook;
using vigil::notifier_alertmanager::postable_body;
using vigil::notifier_alertmanager::read_alerts;
using vigil::notifier_alertmanager::rfc3339_ms;
using vigil::notifier_alertmanager::Shaping;
using vigil::notifier_alertmanager::SteadyTime;

namespace {

const char* kPayload = R"({"version":"4","receiver":"am","status":"firing","alerts":[
  {"status":"firing","labels":{"alertname":"DiskFull","instance":"web1","severity":"critical"},
   "annotations":{"summary":"/ on web1 is 95% full"},"startsAt":"2026-11-23T10:00:00.000Z",
   "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://vigil.example:9180/",
   "fingerprint":"9f2c1a7b3e4d5c6a","value":0.95},
  {"status":"resolved","labels":{"alertname":"DiskFull","instance":"web2","source":"rules"},
   "annotations":{},"startsAt":"2026-11-23T09:00:00.000Z","endsAt":"2026-11-23T10:20:00.000Z",
   "generatorURL":"","fingerprint":"1a2b3c4d5e6f7a8b","value":0.5}],
  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"","groupKey":"g",
  "truncatedAlerts":0,"vigil":{"escalation_step":-1,"sequence":3}})";

Alert alert(const std::string& key, bool resolved) {
  Alert a;
  a.key = key;
  a.labels = {{"alertname", key}};
  a.annotations = json::object();
  a.resolved = resolved;
  if (resolved) a.ends_at = "2026-11-23T10:20:00.000Z";
  return a;
}

std::vector<std::string> keys(const AlertBook& book) {
  std::vector<std::string> out;
  for (const Alert& a : book.snapshot()) out.push_back(a.key);
  return out;
}

}  // namespace

TEST_CASE("a webhook v4 payload becomes Alertmanager's alerts, labels first") {
  Shaping shaping;
  shaping.extra_labels = {{"source", "vigil"}, {"fleet", "eu"}};
  std::vector<Alert> alerts;
  std::string error;
  REQUIRE(read_alerts(kPayload, shaping, 0, alerts, error));
  REQUIRE(alerts.size() == 2);
  CHECK(alerts[0].key == "9f2c1a7b3e4d5c6a");
  CHECK(alerts[0].labels == json({{"alertname", "DiskFull"},
                                  {"instance", "web1"},
                                  {"severity", "critical"},
                                  {"source", "vigil"},
                                  {"fleet", "eu"}}));
  CHECK(alerts[0].annotations == json({{"summary", "/ on web1 is 95% full"}}));
  CHECK(alerts[0].starts_at == "2026-11-23T10:00:00.000Z");
  CHECK_FALSE(alerts[0].resolved);
  CHECK(alerts[0].generator_url == "http://vigil.example:9180/");
  // The alert's own label wins over an extra label of the same name.
  CHECK(alerts[1].labels["source"] == "rules");
  CHECK(alerts[1].resolved);
  CHECK(alerts[1].ends_at == "2026-11-23T10:20:00.000Z");

  const json body = json::parse(
      postable_body(alerts.data(), alerts.data() + alerts.size(), "2026-11-23T10:04:00.000Z"));
  REQUIRE(body.size() == 2);
  CHECK(body[0] == json({{"labels", alerts[0].labels},
                         {"annotations", {{"summary", "/ on web1 is 95% full"}}},
                         {"startsAt", "2026-11-23T10:00:00.000Z"},
                         {"endsAt", "2026-11-23T10:04:00.000Z"},
                         {"generatorURL", "http://vigil.example:9180/"}}));
  // Resolved: its real end; an empty generatorURL is left out; never the value.
  CHECK(body[1]["endsAt"] == "2026-11-23T10:20:00.000Z");
  CHECK_FALSE(body[1].contains("generatorURL"));
  CHECK_FALSE(body[1].contains("value"));
  CHECK_FALSE(body[1].contains("fingerprint"));

  shaping.generator_url = "https://grafana.example/d/fleet";
  REQUIRE(read_alerts(kPayload, shaping, 0, alerts, error));
  CHECK(alerts[0].generator_url == "https://grafana.example/d/fleet");
  CHECK(alerts[1].generator_url == "https://grafana.example/d/fleet");
}

TEST_CASE("a resolved alert without an end gets the time it was read, and bad payloads are named") {
  std::vector<Alert> alerts;
  std::string error;
  REQUIRE(read_alerts(R"({"alerts":[{"status":"resolved","labels":{"a":"b"}}]})", Shaping{},
                      1795428000123, alerts, error));
  CHECK(alerts[0].ends_at == "2026-11-23T10:00:00.123Z");
  CHECK(alerts[0].key == R"({"a":"b"})");  // no fingerprint: the labels are the identity
  CHECK(rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");

  CHECK_FALSE(read_alerts("not json", Shaping{}, 0, alerts, error));
  CHECK(error.find("not a JSON object") != std::string::npos);
  CHECK_FALSE(read_alerts(R"({"version":"4"})", Shaping{}, 0, alerts, error));
  CHECK(error.find("no \"alerts\" array") != std::string::npos);
  CHECK_FALSE(read_alerts(R"({"alerts":[{"status":"firing"}]})", Shaping{}, 0, alerts, error));
  CHECK(error.find("alerts[0] has no \"labels\" object") != std::string::npos);
}

TEST_CASE(
    "the book keeps firing alerts while their group lists them and resolved ones for the "
    "retention") {
  AlertBook book(100);
  const SteadyTime t0{};
  using std::chrono::milliseconds;
  CHECK(book.record("g", {alert("a", false), alert("b", false)}, t0) == 0);
  CHECK(book.record("h", {alert("x", false)}, t0) == 0);
  CHECK(keys(book) == std::vector<std::string>{"a", "b", "x"});

  // The group's newest notification: a resolved, b left out (silenced in Vigil, say).
  book.record("g", {alert("a", true)}, t0 + milliseconds(100));
  CHECK(keys(book) == std::vector<std::string>{"x", "a"});
  REQUIRE(book.snapshot()[1].resolved);

  // Listed as resolved again later: the retention still counts from the first time.
  book.record("g", {alert("a", true)}, t0 + milliseconds(500));
  CHECK(book.expire(t0 + milliseconds(1099), milliseconds(1000)) == 0);
  CHECK(book.expire(t0 + milliseconds(1100), milliseconds(1000)) == 1);
  CHECK(keys(book) == std::vector<std::string>{"x"});

  // Firing again after it resolved: re-sent as firing, nothing expires it.
  book.record("g", {alert("a", true)}, t0 + milliseconds(1200));
  book.record("g", {alert("a", false)}, t0 + milliseconds(1300));
  CHECK(book.expire(t0 + milliseconds(999999), milliseconds(1000)) == 0);
  CHECK(book.size() == 2);

  book.forget({alert("x", false)});
  CHECK(keys(book) == std::vector<std::string>{"a"});
}

TEST_CASE("over max_alerts the longest-resolved alerts go first, then the oldest firing ones") {
  AlertBook book(3);
  const SteadyTime t0{};
  using std::chrono::milliseconds;
  book.record("g1", {alert("f1", false)}, t0);
  book.record("g2", {alert("r1", true)}, t0 + milliseconds(1));
  book.record("g3", {alert("r2", true)}, t0 + milliseconds(2));
  CHECK(book.record("g4", {alert("f2", false)}, t0 + milliseconds(3)) == 1);
  CHECK(keys(book) == std::vector<std::string>{"f1", "r2", "f2"});
  CHECK(book.record("g5", {alert("f3", false), alert("f4", false)}, t0 + milliseconds(4)) == 2);
  CHECK(keys(book) == std::vector<std::string>{"f2", "f3", "f4"});
}
