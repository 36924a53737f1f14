// notifier_slack against real servers on loopback: the exact message it posts (header, colour bar
// by severity, the alerts and "and N more", the acknowledgement, the escalation step, the
// resolved message, links, the fallback text), Slack's limits, the user's templates and their
// mistakes, and how each kind of answer becomes delivered, retryable or permanent — without the
// webhook URL, a credential, ever showing in a message.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "slack_message.hpp"
#include "support/test_servers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

using nlohmann::json;
using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::plugin;
using vigil::testing::refused_start;

namespace {

json disk_alert(const std::string& instance, const std::string& severity,
                const std::string& status = "firing") {
  return {{"status", status},
          {"labels",
           {{"alertname", "DiskFull"},
            {"instance", instance},
            {"severity", severity},
            {"mountpoint", "/"}}},
          {"annotations",
           {{"summary", "/ on " + instance + " is 95% full"},
            {"description", "Free space is below 5%."}}},
          {"startsAt", "2026-11-23T10:00:00.000Z"},
          {"endsAt", status == "resolved" ? "2026-11-23T10:20:00.000Z" : "0001-01-01T00:00:00Z"},
          {"generatorURL", "http://vigil.example:9180/"},
          {"fingerprint", "9f2c1a7b3e4d5c6a"},
          {"value", 0.95}};
}

// The payload the host builds for a group of alerts: common labels and annotations are what
// every alert shares.
json group_payload(const std::vector<json>& alerts, const std::string& status = "firing") {
  json common_labels = alerts.empty() ? json::object() : alerts[0]["labels"];
  json common_annotations = alerts.empty() ? json::object() : alerts[0]["annotations"];
  for (const json& a : alerts) {
    for (const char* part : {"labels", "annotations"}) {
      json& common = std::string(part) == "labels" ? common_labels : common_annotations;
      json kept = json::object();
      for (auto it = common.begin(); it != common.end(); ++it)
        if (a[part].contains(it.key()) && a[part][it.key()] == *it) kept[it.key()] = *it;
      common = kept;
    }
  }
  return {{"version", "4"},
          {"receiver", "ops"},
          {"status", status},
          {"alerts", alerts},
          {"groupLabels", {{"alertname", "DiskFull"}}},
          {"commonLabels", common_labels},
          {"commonAnnotations", common_annotations},
          {"externalURL", "http://vigil.example:9180/"},
          {"groupKey", "0:{alertname=\"DiskFull\"}"},
          {"truncatedAlerts", 0},
          {"vigil",
           {{"escalation_step", 0},
            {"iteration", 0},
            {"policy", ""},
            {"idempotency_key", "5e1f-3-ops"},
            {"sequence", 3},
            {"group_id", "5e1f"},
            {"acknowledged", nullptr}}}};
}

Notification notification(const json& payload) {
  Notification n;
  n.idempotency_key = "5e1f-3-ops";
  n.receiver = "ops";
  n.status = payload["status"];
  n.group_key = payload["groupKey"];
  n.escalation_step = payload["vigil"]["escalation_step"];
  n.attempt = 1;
  n.payload_json = payload.dump();
  return n;
}

Notification disk_full() {
  return notification(group_payload({disk_alert("web1", "critical")}));
}

json acknowledged(json payload) {
  json ack = {{"author", "alice"}, {"comment", "on it"}, {"at", "2026-11-23T10:05:00.000Z"}};
  for (json& a : payload["alerts"]) a["acknowledged"] = ack;
  payload["vigil"]["acknowledged"] = ack;
  return payload;
}

// Sends `n` through an instance posting to the server's /status/200, returns what Slack got.
json post(const Notification& n, vigil::testing::OptionMap options = {}) {
  HttpTestServer server;
  FakeHost host;
  options["url"] = server.url("/status/200");
  auto inst = host.create(plugin(), options);
  REQUIRE(inst.notify(n).to_string() == "ok");
  return json::parse(server.last_request().body);
}

const json& attachment_blocks(const json& message) {
  return message.at("attachments").at(0).at("blocks");
}

std::vector<std::string> section_texts(const json& message) {
  std::vector<std::string> out;
  for (const json& b : attachment_blocks(message))
    out.push_back(b["type"] == "section" ? b["text"]["text"] : b["elements"][0]["text"]);
  return out;
}

std::string header(const json& message) {
  return message.at("blocks").at(0).at("text").at("text");
}

size_t chars(const std::string& s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++n;
  return n;
}

}  // namespace

TEST_CASE("the plugin describes itself as a notifier with the options its README lists") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "notifier_slack");
  REQUIRE(d->notifier != nullptr);
  std::vector<std::string> names;
  for (const auto& [name, value] : vigil::testing::option_defaults(d)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"url", "channel", "username", "icon_emoji", "icon_url",
                                          "title", "text", "links", "colors", "max_alerts",
                                          "timeout", "connect_timeout", "ca_file", "client_cert",
                                          "client_key", "insecure_skip_verify", "proxy"});
}

TEST_CASE("a firing alert is POSTed as one JSON message: header, red bar, alert, link, fallback") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/200")}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  auto seen = server.last_request();
  CHECK(seen.method == "POST");
  CHECK(seen.target == "/status/200");
  CHECK(seen.headers["content-type"] == "application/json; charset=utf-8");
  // Exactly what the README shows.
  CHECK(json::parse(seen.body) == json::parse(R"({
    "text": "[FIRING:1] DiskFull on web1: / on web1 is 95% full\nFree space is below 5%.",
    "blocks": [{"type": "header",
                "text": {"type": "plain_text", "text": "[FIRING:1] DiskFull on web1", "emoji": true}}],
    "attachments": [{"color": "#E01E5A", "blocks": [
      {"type": "section", "text": {"type": "mrkdwn",
                                   "text": "/ on web1 is 95% full\nFree space is below 5%."}},
      {"type": "section", "text": {"type": "mrkdwn",
        "text": ":red_circle: *DiskFull*\n`instance=web1` `mountpoint=/` `severity=critical`"}},
      {"type": "context", "elements": [{"type": "mrkdwn",
                                        "text": "<http://vigil.example:9180/|Open Vigil>"}]}]}]})"));
}

TEST_CASE("the colour bar follows the most severe firing alert, and green when resolved") {
  auto colour = [](const std::vector<json>& alerts, const std::string& status = "firing",
                   vigil::testing::OptionMap options = {}) {
    json sent = post(notification(group_payload(alerts, status)), options);
    return sent["attachments"][0]["color"].get<std::string>();
  };
  CHECK(colour({disk_alert("web1", "critical")}) == "#E01E5A");
  CHECK(colour({disk_alert("web1", "error")}) == "#E01E5A");
  CHECK(colour({disk_alert("web1", "warning")}) == "#ECB22E");
  CHECK(colour({disk_alert("web1", "info")}) == "#36C5F0");
  CHECK(colour({disk_alert("web1", "info"), disk_alert("web2", "warning")}) == "#ECB22E");
  CHECK(colour({disk_alert("web1", "Warning"), disk_alert("web2", "critical")}) == "#E01E5A");
  // A resolved alert in a firing group does not colour it.
  CHECK(colour({disk_alert("web1", "critical", "resolved"), disk_alert("web2", "info")}) ==
        "#36C5F0");
  CHECK(colour({disk_alert("web1", "whatever")}) == "#E01E5A");  // the "firing" colour
  CHECK(colour({disk_alert("web1", "critical", "resolved")}, "resolved") == "#2EB67D");

  // The user's colours are merged over the built-in ones; a severity of their own counts too.
  vigil::testing::OptionMap mine = {{"colors", R"({"Warning": "#FFA500", "page": "danger"})"}};
  CHECK(colour({disk_alert("web1", "warning")}, "firing", mine) == "#FFA500");
  CHECK(colour({disk_alert("web1", "page")}, "firing", mine) == "danger");
  CHECK(colour({disk_alert("web1", "critical")}, "firing", mine) == "#E01E5A");
  CHECK(colour({disk_alert("web1", "page"), disk_alert("web2", "info")}, "firing", mine) ==
        "#36C5F0");
}

TEST_CASE("each alert shows its own summary, labels, acknowledgement and source link") {
  json web2 = disk_alert("web2", "warning");
  web2["labels"]["note"] = "a<b & c>d";  // never Slack markup
  web2["generatorURL"] = "http://prometheus.example:9090/graph?g0.expr=x&g0.tab=1";
  web2["acknowledged"] = {{"author", "bob"}, {"comment", ""}, {"at", "2026-11-23T10:06:00Z"}};
  json sent = post(notification(group_payload({disk_alert("web1", "critical"), web2})));
  CHECK(header(sent) == "[FIRING:2] DiskFull");
  auto texts = section_texts(sent);
  REQUIRE(texts.size() == 4);
  CHECK(texts[0] == "Free space is below 5%.");  // the only common annotation
  CHECK(texts[1] ==
        ":red_circle: *DiskFull* — / on web1 is 95% full\n"
        "`instance=web1` `mountpoint=/` `severity=critical`");
  CHECK(texts[2] ==
        ":large_orange_circle: *DiskFull* — / on web2 is 95% full\n"
        "`instance=web2` `mountpoint=/` `note=a&lt;b &amp; c&gt;d` `severity=warning`\n"
        "Acknowledged by bob · "
        "<http://prometheus.example:9090/graph?g0.expr=x&amp;g0.tab=1|Source>");
  CHECK(texts[3] == "<http://vigil.example:9180/|Open Vigil>");
}

TEST_CASE("a group without a common alert name is named by its group label, else generically") {
  json other = disk_alert("web2", "critical");
  other["labels"]["alertname"] = "DiskSlow";
  json payload = group_payload({disk_alert("web1", "critical"), other});
  payload["groupLabels"] = {{"alertname", "Disk"}};
  CHECK(header(post(notification(payload))) == "[FIRING:2] Disk");
  payload["groupLabels"] = json::object();
  CHECK(header(post(notification(payload))) == "[FIRING:2] Vigil alerts");
}

TEST_CASE("an acknowledged group says who took it in the header, its own line and the fallback") {
  json sent = post(notification(acknowledged(group_payload({disk_alert("web1", "critical")}))));
  CHECK(header(sent) == "[ACK] DiskFull on web1");
  CHECK(sent["text"] == "[ACK] DiskFull on web1: / on web1 is 95% full\nFree space is below 5%.");
  auto texts = section_texts(sent);
  REQUIRE(texts.size() == 4);
  // The alert's own line does not repeat what the group's says.
  CHECK(texts[1] == ":red_circle: *DiskFull*\n`instance=web1` `mountpoint=/` `severity=critical`");
  CHECK(texts[2] == ":white_check_mark: Acknowledged by alice: on it");
}

TEST_CASE("a resolved notification is green and says resolved") {
  json sent =
      post(notification(group_payload({disk_alert("web1", "critical", "resolved")}, "resolved")));
  CHECK(header(sent) == "[RESOLVED] DiskFull on web1");
  CHECK(sent["text"] ==
        "[RESOLVED] DiskFull on web1: *Resolved.* / on web1 is 95% full\nFree space is below 5%.");
  CHECK(sent["attachments"][0]["color"] == "#2EB67D");
  auto texts = section_texts(sent);
  REQUIRE(texts.size() == 3);
  CHECK(texts[1] ==
        ":large_green_circle: *DiskFull*\n`instance=web1` `mountpoint=/` `severity=critical`");
}

TEST_CASE("an escalated notification names its step and policy, step 0 says nothing") {
  json payload = group_payload({disk_alert("web1", "critical")});
  payload["vigil"]["escalation_step"] = 2;
  payload["vigil"]["policy"] = "oncall";
  auto texts = section_texts(post(notification(payload)));
  REQUIRE(texts.size() == 4);
  CHECK(texts[2] == ":arrow_double_up: Escalation step 2 of policy oncall");

  for (const std::string& text : section_texts(post(disk_full())))
    CHECK(text.find("Escalation") == std::string::npos);
}

TEST_CASE("at most max_alerts alerts are listed, then and N more") {
  std::vector<json> alerts;
  for (int i = 0; i < 15; ++i) alerts.push_back(disk_alert("web" + std::to_string(i), "critical"));
  json sent = post(notification(group_payload(alerts)), {{"max_alerts", "3"}});
  CHECK(header(sent) == "[FIRING:15] DiskFull");
  auto texts = section_texts(sent);
  REQUIRE(texts.size() == 6);
  CHECK(texts[1].find("web0") != std::string::npos);
  CHECK(texts[3].find("web2") != std::string::npos);
  CHECK(texts[4] == "and 12 more");

  // The default lists ten.
  CHECK(section_texts(post(notification(group_payload(alerts))))[11] == "and 5 more");
}

TEST_CASE("Slack's limits hold: header 150 characters, sections 3000, at most 50 blocks") {
  json big = disk_alert("web1", "critical");
  std::string long_summary;
  for (int i = 0; i < 500; ++i) long_summary += "désolé ";  // 3500 characters, more bytes
  big["annotations"]["summary"] = long_summary;
  std::vector<json> alerts(60, big);
  json payload = acknowledged(group_payload(alerts));
  payload["commonLabels"]["alertname"] = std::string(200, 'A');
  payload["vigil"]["escalation_step"] = 1;
  json sent = post(notification(payload),
                   {{"max_alerts", "44"},
                    {"links", R"([{"text": "Runbook", "url": "https://runbooks.example/disk"}])"}});

  const std::string title = header(sent);
  CHECK(chars(title) == 150);
  CHECK(title.substr(title.size() - 3) == "…");
  size_t blocks = sent["blocks"].size() + attachment_blocks(sent).size();
  CHECK(blocks == 50);
  auto texts = section_texts(sent);
  CHECK(chars(texts[0]) == 3000);  // the summary
  CHECK(texts[0].substr(texts[0].size() - 3) == "…");
  CHECK(chars(sent["text"].get<std::string>()) == 3000);
  CHECK(texts[45] == "and 16 more");
  CHECK(texts[46] == ":white_check_mark: Acknowledged by alice: on it");
  CHECK(texts[47] == ":arrow_double_up: Escalation step 1");
  CHECK(texts[48] ==
        "<http://vigil.example:9180/|Open Vigil> · <https://runbooks.example/disk|Runbook>");
}

TEST_CASE("truncation never splits a character or an entity") {
  using vigil::notifier_slack::truncate_chars;
  CHECK(truncate_chars("short", 5) == "short");
  CHECK(truncate_chars("abcdef", 5) == "abcd…");
  CHECK(truncate_chars("ééééé", 4) == "ééé…");
  CHECK(truncate_chars("ab &amp; cd", 5, true) == "ab …");
  CHECK(truncate_chars("ab &amp; cd", 5, false) == "ab &…");
  CHECK(truncate_chars("ab &amp; cd", 10, true) == "ab &amp; …");
}

TEST_CASE("the user's templates, sender, channel and links shape the message") {
  json payload = group_payload({disk_alert("web1", "critical"), disk_alert("web2", "warning")});
  payload["commonAnnotations"]["runbook_url"] = "https://runbooks.example/disk";
  json sent =
      post(notification(payload),
           {{"channel", "#ops"},
            {"username", "Vigil"},
            {"icon_emoji", ":rotating_light:"},
            {"title", "{{ status | upper }}: {{ commonLabels.alertname }} ({{ alerts | count }})"},
            {"text",
             "{{#each alerts}}<https://hosts.example/{{ labels.instance }}|{{ labels.instance }}> "
             "{{ value | percent }}{{#unless @last}}, {{/unless}}{{/each}} "
             "{{ commonLabels.alertname | default \"x\" }}"},
            {"links", R"([{"text": "Runbook", "url": "{{ commonAnnotations.runbook_url }}"},
                     {"text": "Dashboard", "url": "{{ commonAnnotations.dashboard_url }}"}])"}});
  CHECK(sent["channel"] == "#ops");
  CHECK(sent["username"] == "Vigil");
  CHECK(sent["icon_emoji"] == ":rotating_light:");
  CHECK_FALSE(sent.contains("icon_url"));
  CHECK(header(sent) == "FIRING: DiskFull (2)");
  auto texts = section_texts(sent);
  // What the template writes is kept as mrkdwn (a link); the data it reads is escaped.
  CHECK(texts[0] ==
        "<https://hosts.example/web1|web1> 95%, <https://hosts.example/web2|web2> 95% DiskFull");
  CHECK(sent["text"] == "FIRING: DiskFull (2): " + texts[0]);
  // The dashboard annotation is missing: that link is left out, not sent empty.
  CHECK(texts.back() ==
        "<http://vigil.example:9180/|Open Vigil> · <https://runbooks.example/disk|Runbook>");
}

TEST_CASE("data that looks like Slack markup is shown as written") {
  json alert = disk_alert("web1", "critical");
  alert["annotations"]["summary"] = "load <2 & rising> <!channel>";
  json sent = post(notification(group_payload({alert})), {{"icon_url", "https://x.example/i.png"}});
  CHECK(header(sent) == "[FIRING:1] DiskFull on web1");
  CHECK(section_texts(sent)[0] ==
        "load &lt;2 &amp; rising&gt; &lt;!channel&gt;\n"
        "Free space is below 5%.");
  CHECK(sent["icon_url"] == "https://x.example/i.png");
}

TEST_CASE("a link that renders to something other than a URL is left out with a warning") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/200")},
                                     {"links", R"([{"text": "Runbook", "url": "see wiki"}])"}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  json sent = json::parse(server.last_request().body);
  CHECK(section_texts(sent).back() == "<http://vigil.example:9180/|Open Vigil>");
  CHECK(vigil::testing::count_logs(host, VIGIL_LOG_WARN,
                                   "link \"Runbook\" rendered \"see wiki\", which is not an "
                                   "http:// or https:// URL; left out") == 1);
}

TEST_CASE("Slack's answers map to delivered, retryable or permanent") {
  HttpTestServer server;
  FakeHost host;
  auto send = [&](const std::string& path, const std::string& timeout = "10s") {
    auto inst = host.create(plugin(), {{"url", server.url(path)}, {"timeout", timeout}});
    return inst.notify(disk_full());
  };
  CHECK(send("/status/200").is_ok());
  auto invalid = send("/status/400");  // invalid_payload
  CHECK(invalid.code() == VIGIL_ERR_PERMANENT);
  CHECK(invalid.message() ==
        "POST the Slack webhook: HTTP 400 (status 400); expected 2xx, and a client error will "
        "not change on a retry");
  CHECK(send("/status/403").code() == VIGIL_ERR_PERMANENT);  // action_prohibited
  CHECK(send("/status/404").code() == VIGIL_ERR_PERMANENT);  // channel_not_found
  CHECK(send("/status/410").code() == VIGIL_ERR_PERMANENT);  // channel_is_archived
  auto limited = send("/retry-after/30");
  CHECK(limited.code() == VIGIL_ERR_RETRYABLE);
  CHECK(limited.message().find("HTTP 429") != std::string::npos);
  CHECK(limited.retry_after() == std::chrono::seconds(30));
  auto failing = send("/status/503");
  CHECK(failing.code() == VIGIL_ERR_RETRYABLE);
  CHECK(failing.retry_after().count() == 0);
  auto redirect = send("/redirect");
  CHECK(redirect.code() == VIGIL_ERR_PERMANENT);
  CHECK(redirect.message().find("a redirect to") != std::string::npos);
  auto start = std::chrono::steady_clock::now();
  auto slow = send("/slow/3000", "300ms");
  CHECK(slow.code() == VIGIL_ERR_RETRYABLE);
  CHECK(slow.message().find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("a receiver that is down is retryable, an untrusted certificate permanent") {
  FakeHost host;
  vigil::testing::ClosedPort closed;
  auto down = host.create(plugin(), {{"url", "http://127.0.0.1:" + std::to_string(closed.port) +
                                                 "/services/T0/B0/s3cr3t"}});
  auto r = down.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK_THAT(r.message(), Catch::StartsWith("POST the Slack webhook: "));
  CHECK(r.message().find("s3cr3t") == std::string::npos);

  vigil::testing::TempDir dir("vigil_slack_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  vigil::testing::TlsTestServer tls(cert);
  auto untrusted = host.create(
      plugin(), {{"url", "https://localhost:" + std::to_string(tls.port()) + "/services/s3cr3t"}});
  auto refused = untrusted.notify(disk_full());
  CHECK(refused.code() == VIGIL_ERR_PERMANENT);
  CHECK(refused.message().find("not trusted") != std::string::npos);
  CHECK(refused.message().find("s3cr3t") == std::string::npos);
}

TEST_CASE("the webhook URL, a credential, never shows in a message or the log") {
  HttpTestServer server;
  FakeHost host;
  const std::string url = server.url("/services/T0/B0/s3cr3t");  // the test server answers 404
  auto inst = host.create(plugin(), {{"url", url}});
  auto r = inst.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_PERMANENT);
  CHECK_THAT(r.message(), Catch::StartsWith("POST the Slack webhook: HTTP 404"));
  CHECK(r.message().find("s3cr3t") == std::string::npos);
  for (const auto& line : host.logs()) CHECK(line.message.find("s3cr3t") == std::string::npos);
  CHECK(server.last_request().target == "/services/T0/B0/s3cr3t");

  std::string why = refused_start(plugin(), {{"url", "hooks.slack.com/services/T0/B0/s3cr3t"}});
  CHECK_THAT(why, Catch::StartsWith("option \"url\": expected the Slack webhook's https:// URL"));
  CHECK(why.find("s3cr3t") == std::string::npos);
}

TEST_CASE("template mistakes are refused at configure with the option, line and column") {
  const std::string url = "https://hooks.slack.invalid/services/T0/B0/x";
  CHECK_THAT(refused_start(plugin(), {{"url", url}, {"title", "{{ status | percnt }}"}}),
             Catch::StartsWith("option \"title\": line 1, column 13: unknown function \"percnt\" "
                               "(did you mean \"percent\"?)"));
  std::string why =
      refused_start(plugin(), {{"url", url}, {"text", "ok\n{{#each alerts}}{{ labels.x }"}});
  CHECK_THAT(why, Catch::StartsWith("option \"text\": line 2, column "));
  CHECK_THAT(refused_start(plugin(), {{"url", url}, {"links", R"([{"text": "a", "url": "https://a"},
                                          {"text": "b", "url": "{{#if x}}"}])"}}),
             Catch::StartsWith("option \"links[1].url\": line 1, column 1: {{#if x}} is never "
                               "closed"));
}

TEST_CASE("bad options are refused at configure with what was expected") {
  const std::string url = "https://hooks.slack.invalid/services/T0/B0/x";
  CHECK(refused_start(plugin(), {{"url", url}, {"max_alerts", "0"}}) ==
        "option \"max_alerts\": found 0, expected 1 to 44 (a Slack message holds at most 50 "
        "blocks)");
  CHECK(refused_start(plugin(), {{"url", url}, {"max_alerts", "45"}}).find("expected 1 to 44") !=
        std::string::npos);
  CHECK(refused_start(plugin(), {{"url", url}, {"colors", R"({"warning": "orange"})"}}) ==
        "option \"colors\": \"warning\": found \"orange\", expected a colour such as \"#E01E5A\" "
        "(or good, warning, danger)");
  CHECK(refused_start(plugin(), {{"url", url}, {"colors", "[]"}})
            .find("expected an object of severities to colours") != std::string::npos);
  CHECK(refused_start(plugin(), {{"url", url}, {"links", R"({"text": "a"})"}}) ==
        "option \"links\": expected an array of {\"text\": \"Runbook\", \"url\": \"{{ "
        "commonAnnotations.runbook_url }}\"}");
  CHECK(refused_start(plugin(), {{"url", url}, {"links", R"([{"text": "a"}])"}})
            .find("option \"links[0]\": found {\"text\":\"a\"}") != std::string::npos);
  CHECK(refused_start(plugin(),
                      {{"url", url}, {"icon_emoji", ":ghost:"}, {"icon_url", "https://x/i.png"}}) ==
        "options \"icon_emoji\" and \"icon_url\": both set, expected one");
  CHECK(refused_start(plugin(), {{"url", url}, {"icon_emoji", "ghost"}}) ==
        "option \"icon_emoji\": found \"ghost\", expected an emoji code such as "
        "\":rotating_light:\"");
}

TEST_CASE("a payload that is not JSON fails for good") {
  HttpTestServer server;
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", server.url("/status/200")}});
  Notification n = disk_full();
  n.payload_json = "{\"alerts\": [";
  auto r = inst.notify(n);
  CHECK(r.code() == VIGIL_ERR_PERMANENT);
  CHECK(r.message() == "the payload is not valid JSON (notification 5e1f-3-ops)");
  CHECK(server.last_request().method.empty());  // nothing was sent
}
