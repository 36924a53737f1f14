// notifier_sms against real servers on loopback: the exact request each recipient gets (form or
// JSON, field names, extra fields, basic auth), the default message and its resolved and ACK
// variants, the user's template, the length limit counted in characters, and delivery: a retry
// texts only the recipients who do not have the message yet, permanent only when every missing
// recipient failed for good, 429's Retry-After, timeouts, a gateway that is down and an untrusted
// certificate.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "delivered_recipients.hpp"
#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "sms_message.hpp"
#include "support/test_servers.hpp"
#include "vigil_plugin_http/client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

using nlohmann::json;
using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::HttpTestServer;
using vigil::testing::OptionMap;
using vigil::testing::plugin;
using vigil::testing::refused_start;
using vigil::testing::Reply;
using vigil::testing::SeenRequest;

namespace {

using Form = std::vector<std::pair<std::string, std::string>>;

// Where the plugin posts in these tests, as on Twilio's Messages API.
const std::string kMessages = "/2010-04-01/Accounts/AC0001/Messages.json";

// "a=1&b=x+y" as (name, value) pairs in order, '+' and %XX decoded.
Form parse_form(const std::string& body) {
  auto decode = [](const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out += ' ';
      } else if (text[i] == '%' && i + 2 < text.size()) {
        out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  };
  Form out;
  size_t start = 0;
  while (start <= body.size() && !body.empty()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    out.emplace_back(decode(pair.substr(0, eq)),
                     eq == std::string::npos ? "" : decode(pair.substr(eq + 1)));
    start = end + 1;
  }
  return out;
}

// Whom a request texts: the value of `to_field` in its body, a form or JSON.
std::string recipient_of(const SeenRequest& r, const std::string& to_field = "To") {
  if (r.header("content-type").find("json") != std::string::npos) {
    const json body = r.json();
    if (body.is_object() && body.contains(to_field) && body[to_field].is_string())
      return body[to_field];
    return "";
  }
  for (const auto& [name, value] : parse_form(r.body))
    if (name == to_field) return value;
  return "";
}

// How the gateway refuses one recipient: this status, with Retry-After when it is not empty.
struct Refusal {
  int status = 0;
  std::string retry_after{};
};

// An SMS gateway in the manner of Twilio's Messages API: 201 with a message resource for each
// recipient, or for one in `refusals` its status and {"code": <status>, "message": "refused by
// the test"}, so that one recipient can fail while another succeeds behind the one URL the
// plugin posts to. `to_field` names the recipient in request bodies.
vigil::testing::Handler sms_gateway(std::map<std::string, Refusal> refusals = {},
                                    std::string to_field = "To") {
  return [refusals = std::move(refusals), to_field = std::move(to_field),
          queued = 0](const SeenRequest& request) mutable {
    const std::string recipient = recipient_of(request, to_field);
    Reply reply;
    reply.content_type = "application/json";
    const auto refusal = refusals.find(recipient);
    if (refusal == refusals.end()) {
      reply.status = 201;
      reply.body =
          json{{"sid", "SM" + std::to_string(++queued)}, {"to", recipient}, {"status", "queued"}}
              .dump();
      return reply;
    }
    reply.status = refusal->second.status;
    if (!refusal->second.retry_after.empty())
      reply.headers["Retry-After"] = refusal->second.retry_after;
    reply.body = json{{"code", reply.status}, {"message", "refused by the test"}}.dump();
    return reply;
  };
}

// The recipients of the gateway's requests, in order.
std::vector<std::string> recipients(const HttpTestServer& gateway) {
  std::vector<std::string> out;
  for (const SeenRequest& r : gateway.requests()) out.push_back(recipient_of(r));
  return out;
}

json disk_alert(const std::string& mountpoint, const std::string& status = "firing") {
  return {{"status", status},
          {"labels",
           {{"alertname", "DiskFull"},
            {"instance", "web1"},
            {"severity", "critical"},
            {"mountpoint", mountpoint}}},
          {"annotations", {{"summary", mountpoint + " on web1 is 95% full"}}},
          {"startsAt", "2026-11-23T10:00:00.000Z"},
          {"endsAt", status == "resolved" ? "2026-11-23T10:20:00.000Z" : "0001-01-01T00:00:00Z"},
          {"generatorURL", ""},
          {"fingerprint", "9f2c1a7b3e4d5c6a"},
          {"value", 0.95}};
}

// The payload the host builds: common labels and annotations are what every alert shares.
json group_payload(const std::vector<json>& alerts, const std::string& status = "firing") {
  json common_labels = alerts[0]["labels"];
  json common_annotations = alerts[0]["annotations"];
  for (const json& a : alerts) {
    for (auto it = common_labels.begin(); it != common_labels.end();)
      it = a["labels"].value(it.key(), json()) == *it ? std::next(it) : common_labels.erase(it);
    for (auto it = common_annotations.begin(); it != common_annotations.end();)
      it = a["annotations"].value(it.key(), json()) == *it ? std::next(it)
                                                           : common_annotations.erase(it);
  }
  return {{"version", "4"},
          {"receiver", "pager"},
          {"status", status},
          {"alerts", alerts},
          {"groupLabels", {{"alertname", "DiskFull"}}},
          {"commonLabels", common_labels},
          {"commonAnnotations", common_annotations},
          {"externalURL", ""},
          {"groupKey", "0:{alertname=\"DiskFull\"}"},
          {"truncatedAlerts", 0},
          {"vigil",
           {{"escalation_step", -1},
            {"iteration", 0},
            {"policy", ""},
            {"idempotency_key", "5e1f-3-pager"},
            {"sequence", 3},
            {"group_id", "5e1f"},
            {"acknowledged", nullptr}}}};
}

Notification notification(const json& payload, const std::string& key = "5e1f-3-pager") {
  Notification n;
  n.idempotency_key = key;
  n.receiver = "pager";
  n.status = payload["status"];
  n.group_key = payload["groupKey"];
  n.payload_json = payload.dump();
  return n;
}

// Two mount points of web1 full: "[FIRING:2] DiskFull web1: / on web1 is 95% full".
Notification disk_full(const std::string& key = "5e1f-3-pager") {
  return notification(group_payload({disk_alert("/"), disk_alert("/var")}), key);
}

// The text the gateway got in its last request.
std::string sent_text(const HttpTestServer& gateway, const std::string& field = "Body") {
  REQUIRE_FALSE(gateway.requests().empty());
  for (const auto& [name, value] : parse_form(gateway.requests().back().body))
    if (name == field) return value;
  FAIL("no field " << field);
  return "";
}

// What one instance with these options texts for `n` to one recipient.
std::string text_for(const Notification& n, OptionMap options = {}) {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  options["url"] = gateway.url(kMessages);
  options["recipients"] = R"(["+15550001"])";
  auto inst = host.create(plugin(), options);
  REQUIRE(inst.notify(n).to_string() == "ok");
  return sent_text(gateway);
}

size_t chars(const std::string& s) {
  return vigil::notifier_sms::char_count(s);
}

}  // namespace

TEST_CASE("the plugin describes itself as a notifier with the options its README lists") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "notifier_sms");
  REQUIRE(d->notifier != nullptr);
  std::vector<std::string> names;
  for (const auto& [name, value] : vigil::testing::option_defaults(d)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"url",
                                          "format",
                                          "recipients",
                                          "from",
                                          "message",
                                          "to_field",
                                          "from_field",
                                          "body_field",
                                          "fields",
                                          "headers",
                                          "basic_auth_user",
                                          "basic_auth_password",
                                          "basic_auth_password_file",
                                          "max_length",
                                          "timeout",
                                          "connect_timeout",
                                          "ca_file",
                                          "client_cert",
                                          "client_key",
                                          "insecure_skip_verify",
                                          "proxy"});
}

TEST_CASE("each recipient gets one Twilio-style form POST with basic auth") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", gateway.url(kMessages)},
                                     {"recipients", R"(["+15550001", "+15550002"])"},
                                     {"from", "+15550000"},
                                     {"basic_auth_user", "AC0001"},
                                     {"basic_auth_password", "t0ken"},
                                     {"fields", R"({"StatusCallback": "https://x.example/cb"})"}});
  REQUIRE(inst.notify(disk_full()).to_string() == "ok");
  auto requests = gateway.requests();
  REQUIRE(requests.size() == 2);
  for (const auto& r : requests) {
    CHECK(r.method == "POST");
    CHECK(r.target == "/2010-04-01/Accounts/AC0001/Messages.json");
    CHECK(r.headers.at("content-type") == "application/x-www-form-urlencoded");
    CHECK(r.headers.at("authorization") == "Basic QUMwMDAxOnQwa2Vu");  // AC0001:t0ken
  }
  // Exactly what the README shows.
  CHECK(requests[0].body ==
        "To=%2B15550001&From=%2B15550000&Body=%5BFIRING%3A2%5D+DiskFull+web1%3A+%2F+on+web1+is+"
        "95%25+full&StatusCallback=https%3A%2F%2Fx.example%2Fcb");
  CHECK(parse_form(requests[1].body) ==
        Form{{"To", "+15550002"},
             {"From", "+15550000"},
             {"Body", "[FIRING:2] DiskFull web1: / on web1 is 95% full"},
             {"StatusCallback", "https://x.example/cb"}});
  CHECK(requests[0].headers.at("idempotency-key") == "5e1f-3-pager:+15550001");
  CHECK(requests[1].headers.at("idempotency-key") == "5e1f-3-pager:+15550002");
}

TEST_CASE("the json format sends an object with the configured field names and extra fields") {
  HttpTestServer gateway(sms_gateway({}, "to"));
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", gateway.url("/v1/sms")},
                                     {"format", "json"},
                                     {"recipients", R"(["+15550001"])"},
                                     {"from", "Vigil"},
                                     {"to_field", "to"},
                                     {"from_field", "sender"},
                                     {"body_field", "text"},
                                     {"fields", R"({"priority": 1, "tags": ["ops"]})"},
                                     {"headers", R"({"X-Api-Key": "k3y"})"}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  auto r = gateway.requests().at(0);
  CHECK(r.target == "/v1/sms");
  CHECK(r.headers.at("content-type") == "application/json");
  CHECK(r.headers.at("x-api-key") == "k3y");
  CHECK(r.headers.count("authorization") == 0);
  CHECK(r.body == R"({"to":"+15550001","sender":"Vigil","text":"[FIRING:2] DiskFull web1: / on )"
                  R"(web1 is 95% full","priority":1,"tags":["ops"]})");
}

TEST_CASE("without a sender no sender field is sent") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", gateway.url(kMessages)},
                                     {"recipients", R"(["+15550001"])"},
                                     {"fields", R"({"MessagingServiceSid": "MG01"})"}});
  REQUIRE(inst.notify(disk_full()).is_ok());
  CHECK(parse_form(gateway.requests().at(0).body) ==
        Form{{"To", "+15550001"},
             {"Body", "[FIRING:2] DiskFull web1: / on web1 is 95% full"},
             {"MessagingServiceSid", "MG01"}});
}

TEST_CASE("the default message has firing, resolved and ACK variants") {
  CHECK(text_for(disk_full()) == "[FIRING:2] DiskFull web1: / on web1 is 95% full");
  CHECK(text_for(notification(group_payload({disk_alert("/")}))) ==
        "[FIRING:1] DiskFull web1: / on web1 is 95% full");
  CHECK(text_for(notification(group_payload({disk_alert("/", "resolved")}, "resolved"))) ==
        "[RESOLVED] DiskFull web1: / on web1 is 95% full");

  json acked = group_payload({disk_alert("/"), disk_alert("/var")});
  acked["vigil"]["acknowledged"] = {
      {"author", "alice"}, {"comment", "on it"}, {"at", "2026-11-23T10:05:00.000Z"}};
  CHECK(text_for(notification(acked)) == "[ACK] DiskFull web1 by alice: on it");
  acked["vigil"]["acknowledged"]["comment"] = "";
  CHECK(text_for(notification(acked)) == "[ACK] DiskFull web1 by alice");

  // Alerts of several hosts and no summary at all: the name alone, no dangling colon.
  json other = disk_alert("/");
  other["labels"]["instance"] = "web2";
  json bare = group_payload({disk_alert("/"), other});
  for (auto& a : bare["alerts"]) a["annotations"] = json::object();
  bare["commonAnnotations"] = json::object();
  CHECK(text_for(notification(bare)) == "[FIRING:2] DiskFull");
}

TEST_CASE("a message template of the user's renders the payload, and an empty one sends nothing") {
  const std::string tmpl =
      "{{ status | upper }} {{#each alerts}}{{ labels.mountpoint }} {{ value | percent }}"
      "{{#unless @last}}, {{/unless}}{{/each}} ({{ receiver }})";
  CHECK(text_for(disk_full(), {{"message", tmpl}}) == "FIRING / 95%, /var 95% (pager)");

  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"url", gateway.url(kMessages)},
                             {"recipients", R"(["+15550001"])"},
                             {"message", "{{#if status | eq \"firing\"}}{{ status }}{{/if}}"}});
  REQUIRE(
      inst.notify(notification(group_payload({disk_alert("/", "resolved")}, "resolved"))).is_ok());
  CHECK(gateway.requests().empty());
}

TEST_CASE("a long message is cut at max_length characters, not bytes, and ends in an ellipsis") {
  json alert = disk_alert("/");
  std::string summary;
  for (int i = 0; i < 100; ++i) summary += "é🔥";  // 2 and 4 bytes each
  alert["annotations"]["summary"] = summary;
  const std::string text = text_for(notification(group_payload({alert})));
  CHECK(chars(text) == 160);
  CHECK(text.substr(text.size() - 3) == "…");
  CHECK(text.rfind("[FIRING:1] DiskFull web1: é🔥é🔥", 0) == 0);
  CHECK(text.size() > 160);  // more bytes than characters

  const std::string short_text = text_for(disk_full(), {{"max_length", "20"}});
  CHECK(short_text == "[FIRING:2] DiskFull…");
  CHECK(text_for(disk_full(), {{"max_length", "47"}}) ==
        "[FIRING:2] DiskFull web1: / on web1 is 95% full");  // exactly fits: untouched
}

TEST_CASE("truncation keeps whole characters") {
  using vigil::notifier_sms::truncate_chars;
  CHECK(truncate_chars("abc", 3) == "abc");
  CHECK(truncate_chars("abcd", 3) == "ab…");
  CHECK(truncate_chars("🔥🔥🔥🔥", 3) == "🔥🔥…");
  CHECK(truncate_chars("abcd", 1) == "…");
}

TEST_CASE("a retry texts only the recipients who did not get the message") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst = host.create(plugin(), {{"url", gateway.url(kMessages)},
                                     {"recipients", R"(["+15550001", "+15550002", "+15550003"])"}});
  gateway.set_handler(sms_gateway({{"+15550002", {503}}}));
  auto first = inst.notify(disk_full());
  CHECK(first.code() == VIGIL_ERR_RETRYABLE);
  CHECK_THAT(first.message(),
             Catch::StartsWith("not delivered to +15550002 (delivered to 2 of 3 recipients). "
                               "+15550002 (will retry): POST " +
                               gateway.url(kMessages) + ": HTTP 503"));
  CHECK(recipients(gateway) == std::vector<std::string>{"+15550001", "+15550002", "+15550003"});

  // The host retries the same notification: only +15550002 is texted, and it gets through.
  gateway.clear();
  gateway.set_handler(sms_gateway());
  Notification retry = disk_full();
  retry.attempt = 2;
  CHECK(inst.notify(retry).to_string() == "ok");
  CHECK(recipients(gateway) == std::vector<std::string>{"+15550002"});

  // Asked again (the host gave up waiting on a call that then succeeded): nobody is texted twice.
  gateway.clear();
  CHECK(inst.notify(retry).is_ok());
  CHECK(recipients(gateway).empty());

  // Another notification goes to everyone.
  CHECK(inst.notify(disk_full("5e1f-4-pager")).is_ok());
  CHECK(recipients(gateway) == std::vector<std::string>{"+15550001", "+15550002", "+15550003"});
}

TEST_CASE("permanent only when every recipient still missing the message failed for good") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", gateway.url(kMessages)}, {"recipients", R"(["+15550001", "+15550002"])"}});
  // +15550001 as Twilio's 21211, an invalid 'To' number.
  gateway.set_handler(sms_gateway({{"+15550001", {400}}, {"+15550002", {503}}}));
  auto mixed = inst.notify(disk_full());
  CHECK(mixed.code() == VIGIL_ERR_RETRYABLE);
  CHECK_THAT(mixed.message(),
             Catch::StartsWith("not delivered to +15550001, +15550002 (delivered to 0 of 2 "
                               "recipients). +15550001 (permanent): POST ") &&
                 Catch::Contains("HTTP 400 ({\"code\":400,\"message\":\"refused by the test\"})") &&
                 Catch::Contains(". +15550002 (will retry): POST "));

  gateway.set_handler(sms_gateway({{"+15550001", {400}}}));  // +15550002 goes through now
  gateway.clear();
  auto left = inst.notify(disk_full());
  CHECK(left.code() == VIGIL_ERR_PERMANENT);
  CHECK_THAT(left.message(),
             Catch::StartsWith("not delivered to +15550001 (delivered to 1 of 2 recipients). "
                               "+15550001 (permanent): POST ") &&
                 Catch::Contains("expected 2xx, and a client error will not change on a retry"));
  CHECK(recipients(gateway) == std::vector<std::string>{"+15550001", "+15550002"});
}

TEST_CASE("a gateway's 429 hands its Retry-After to the host, the longest of all recipients") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst = host.create(
      plugin(), {{"url", gateway.url(kMessages)}, {"recipients", R"(["+15550001", "+15550002"])"}});
  gateway.set_handler(sms_gateway({{"+15550001", {429, "30"}}, {"+15550002", {429, "120"}}}));
  auto r = inst.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.retry_after() == std::chrono::seconds(120));
  CHECK(r.message().find("HTTP 429") != std::string::npos);
  CHECK(r.message().find("Retry-After 120") != std::string::npos);
}

TEST_CASE("answers map to delivered, retryable or permanent") {
  vigil::testing::HttpTestServer server;
  FakeHost host;
  auto send = [&](const std::string& path, const std::string& timeout = "10s") {
    auto inst = host.create(
        plugin(),
        {{"url", server.url(path)}, {"recipients", R"(["+15550001"])"}, {"timeout", timeout}});
    return inst.notify(disk_full());
  };
  CHECK(send("/status/201").is_ok());
  auto bad = send("/status/400");
  CHECK(bad.code() == VIGIL_ERR_PERMANENT);
  CHECK(bad.message() ==
        "not delivered to +15550001 (delivered to 0 of 1 recipients). "
        "+15550001 (permanent): POST " +
            server.url("/status/400") +
            ": HTTP 400 (status 400); expected 2xx, and a client error will not "
            "change on a retry");
  CHECK(send("/status/401").code() == VIGIL_ERR_PERMANENT);
  auto busy = send("/retry-after/30");
  CHECK(busy.code() == VIGIL_ERR_RETRYABLE);
  CHECK(busy.retry_after() == std::chrono::seconds(30));
  auto failing = send("/status/503");
  CHECK(failing.code() == VIGIL_ERR_RETRYABLE);
  CHECK(failing.retry_after().count() == 0);
  CHECK(send("/redirect").code() == VIGIL_ERR_PERMANENT);
  auto start = std::chrono::steady_clock::now();
  auto slow = send("/slow/3000", "300ms");
  CHECK(slow.code() == VIGIL_ERR_RETRYABLE);
  CHECK(slow.message().find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("a gateway that is down is retryable, an untrusted certificate permanent") {
  FakeHost host;
  vigil::testing::ClosedPort closed;
  auto down =
      host.create(plugin(), {{"url", "http://127.0.0.1:" + std::to_string(closed.port) + "/sms"},
                             {"recipients", R"(["+15550001"])"}});
  auto r = down.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.message().find("+15550001 (will retry): POST http://127.0.0.1:") != std::string::npos);

  vigil::testing::TempDir dir("vigil_sms_tls");
  auto cert = vigil::testing::make_certificate(dir, "server", 30);
  vigil::testing::TlsTestServer tls(cert);
  auto untrusted =
      host.create(plugin(), {{"url", "https://localhost:" + std::to_string(tls.port()) + "/sms"},
                             {"recipients", R"(["+15550001"])"}});
  auto refused = untrusted.notify(disk_full());
  CHECK(refused.code() == VIGIL_ERR_PERMANENT);
  CHECK(refused.message().find("not trusted") != std::string::npos);
}

TEST_CASE("the password comes from a file's first line and shows in no message or log") {
  vigil::testing::SecretFile secret("s3cr3t-t0ken\nsecond line\n");
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  host.set_log_level(VIGIL_LOG_TRACE);
  auto inst = host.create(plugin(), {{"url", gateway.url(kMessages)},
                                     {"recipients", R"(["+15550001", "+15550002"])"},
                                     {"basic_auth_user", "AC0001"},
                                     {"basic_auth_password_file", secret.path}});
  gateway.set_handler(sms_gateway({{"+15550002", {500}}}));
  auto r = inst.notify(disk_full());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.message().find("s3cr3t") == std::string::npos);
  REQUIRE(inst.notify(disk_full()).code() == VIGIL_ERR_RETRYABLE);  // logs "already has"
  CHECK(gateway.requests().at(0).headers.at("authorization") ==
        vigil::plugin_http::basic_authorization("AC0001", "s3cr3t-t0ken"));
  CHECK_FALSE(host.logs().empty());
  for (const auto& line : host.logs()) {
    CHECK(line.message.find("s3cr3t") == std::string::npos);
    if (line.level >= VIGIL_LOG_INFO) CHECK(line.message.find("95% full") == std::string::npos);
  }
}

TEST_CASE("the record of served recipients is bounded, forgetting the oldest notification") {
  vigil::notifier_sms::DeliveredRecipients record(2);
  record.record("k1", "+1");
  record.record("k1", "+2");
  record.record("k2", "+1");
  CHECK(record.delivered("k1", "+2"));
  CHECK_FALSE(record.delivered("k2", "+2"));
  record.record("k3", "+1");
  CHECK(record.size() == 2);
  CHECK_FALSE(record.delivered("k1", "+1"));  // forgotten: a retry of k1 texts everyone again
  CHECK(record.delivered("k2", "+1"));
  CHECK(record.delivered("k3", "+1"));
}

TEST_CASE("form and basic auth encodings are the standard ones") {
  using vigil::notifier_sms::Fields;
  CHECK(vigil::notifier_sms::form_body(Fields{{"a b", "x&y=z"}, {"n", 3}, {"t", true}}) ==
        "a+b=x%26y%3Dz&n=3&t=true");
  CHECK(vigil::notifier_sms::form_body(Fields{{"Body", "é*-._~"}}) == "Body=%C3%A9*-._%7E");
  CHECK(vigil::plugin_http::basic_authorization("a", "") == "Basic YTo=");
  CHECK(vigil::plugin_http::basic_authorization("ab", "") == "Basic YWI6");
  CHECK(vigil::plugin_http::basic_authorization("Aladdin", "open sesame") ==
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_CASE("bad options are refused at configure with what was expected") {
  const OptionMap base = {{"url", "https://sms.example/send"}, {"recipients", R"(["+15550001"])"}};
  auto with = [&](OptionMap extra) {
    OptionMap options = base;
    for (auto& [k, v] : extra) options[k] = v;
    return refused_start(plugin(), options);
  };
  CHECK(with({{"url", "ftp://u:pw@sms.example/"}}) ==
        "option \"url\": found \"ftp://u:***@sms.example/\", expected the gateway's http:// or "
        "https:// URL");
  CHECK(with({{"format", "xml"}}) ==
        "option \"format\": found \"xml\", expected \"form\" or "
        "\"json\"");
  CHECK(with({{"recipients", "[]"}}) ==
        "option \"recipients\": empty, expected at least one number such as [\"+15550001\"]");
  CHECK(with({{"recipients", R"(["+1", "+1"])"}}) ==
        "option \"recipients\": \"+1\" is listed twice, expected each once");
  CHECK(with({{"fields", R"({"To": "+1"})"}})
            .find("\"To\" is the recipient, sender or message "
                  "field") != std::string::npos);
  CHECK(with({{"fields", R"({"tags": ["a"]})"}})
            .find("\"tags\" is array, expected a string, number or boolean") != std::string::npos);
  CHECK(with({{"body_field", ""}}) ==
        "option \"body_field\": empty, expected the name of the gateway's field");
  CHECK(with({{"to_field", "Body"}}).find("two name the same field \"Body\"") != std::string::npos);
  CHECK(with({{"max_length", "0"}}) ==
        "option \"max_length\": found 0, expected at least 1 (characters per message)");
  CHECK(with({{"basic_auth_password", "x"}})
            .find("\"basic_auth_password\" is set without \"basic_auth_user\"") !=
        std::string::npos);
  CHECK(with({{"basic_auth_password", "x"}, {"basic_auth_password_file", "/etc/hostname"}}) ==
        "options \"basic_auth_password\" and \"basic_auth_password_file\": both set, expected "
        "one");
  CHECK(with({{"basic_auth_user", "AC1"}, {"basic_auth_password_file", "/nonexistent/pw"}}) ==
        "option \"basic_auth_password_file\": cannot read a password from /nonexistent/pw, "
        "expected a file whose first line is it");
  CHECK(with({{"basic_auth_user", "AC1"}, {"headers", R"({"authorization": "Bearer x"})"}})
            .find("both set an Authorization header") != std::string::npos);
  CHECK(with({{"headers", "[]"}}).find("option \"headers\": expected an object") !=
        std::string::npos);
}

TEST_CASE("a template mistake is refused at configure with the option, line and column") {
  std::string why =
      refused_start(plugin(), {{"url", "https://sms.example/send"},
                               {"recipients", R"(["+15550001"])"},
                               {"message", "{{ status | percnt }}\n{{#each alerts}}"}});
  CHECK_THAT(why, Catch::StartsWith("option \"message\": line 1, column 13: unknown function "
                                    "\"percnt\" (did you mean \"percent\"?)"));
  CHECK_THAT(why, Catch::Contains("; line 2, column 1: {{#each alerts}} is never closed"));
}

TEST_CASE("a payload that is not JSON fails for good and texts nobody") {
  HttpTestServer gateway(sms_gateway());
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"url", gateway.url(kMessages)}, {"recipients", R"(["+15550001"])"}});
  Notification n = disk_full();
  n.payload_json = "{\"alerts\": [";
  auto r = inst.notify(n);
  CHECK(r.code() == VIGIL_ERR_PERMANENT);
  CHECK(r.message() == "the payload is not valid JSON (notification 5e1f-3-pager)");
  CHECK(gateway.requests().empty());
}
