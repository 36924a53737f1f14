// notifier_email, the built plugin through the SDK's fake host, against a real SMTP server on
// loopback (aiosmtpd): what a mail reader gets (envelope, headers, both parts decoded, ids that
// survive retries and thread a group), STARTTLS with a login, implicit TLS, a client
// certificate, and how each kind of answer becomes delivered, retryable or permanent — a wrong
// password, a refused recipient, 451 and 554 after the data, a server that is down or stalls,
// an untrusted certificate, a server without STARTTLS — then templates and bad options.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"
#include "loopback.hpp"
#include "samples.hpp"
#include "smtp_test_server.hpp"
#include "support/test_servers.hpp"

using vigil::testing::FakeHost;
using vigil::testing::OptionMap;
using vigil::testing::plugin;
using vigil::testing::SmtpServerOptions;
using vigil::testing::SmtpTestServer;
namespace sample = vigil::testing::email;

namespace {

constexpr int64_t kNow = 1795428005000;  // Mon, 23 Nov 2026 10:00:05 +0000

OptionMap plain_options(const SmtpTestServer& server) {
  return {{"smarthost", server.smarthost()},
          {"tls", "none"},
          {"from", "Vigil <vigil@example.com>"},
          {"to", R"(["ops@example.com"])"},
          {"hello", "vigil.test"}};
}

OptionMap with(OptionMap options, const OptionMap& more) {
  for (const auto& [name, value] : more) options[name] = value;
  return options;
}

// The first decoded value of a header in a recorded message ("" when absent).
std::string header(const nlohmann::json& message, const std::string& name) {
  const auto& headers = message["message"]["headers"];
  if (!headers.contains(name)) return "";
  return headers[name][0].get<std::string>();
}

// The decoded content of the part of that type, with LF line endings.
std::string part(const nlohmann::json& message, const std::string& type) {
  for (const auto& p : message["message"]["parts"]) {
    if (p["content_type"] != type) continue;
    std::string text = p["content"].get<std::string>(), out;
    for (size_t i = 0; i < text.size(); ++i)
      if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out += text[i];
    return out;
  }
  FAIL("no " << type << " part in " << message.dump(2));
  return "";
}

bool contains(const std::string& text, const std::string& piece) {
  return text.find(piece) != std::string::npos;
}

// What every message the plugin writes must be, whatever its content.
void check_well_formed(const nlohmann::json& message) {
  const auto& m = message["message"];
  INFO(m["raw_headers"].get<std::string>());
  CHECK(m["defects"].empty());
  CHECK(m["longest_line"].get<int>() <= 998);
  CHECK_FALSE(m["bare_line_feed"].get<bool>());
  CHECK(m["ascii_only"].get<bool>());
}

}  // namespace

TEST_CASE("the plugin describes itself as a notifier with the options its README lists") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "notifier_email");
  REQUIRE(d->notifier != nullptr);
  std::vector<std::string> names;
  for (const auto& [name, value] : vigil::testing::option_defaults(d)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"smarthost", "tls", "from", "to", "cc", "username",
                                          "password", "password_file", "hello", "subject", "text",
                                          "html", "headers", "timeout", "connect_timeout",
                                          "ca_file", "client_cert", "client_key",
                                          "insecure_skip_verify"});
}

TEST_CASE("a notification reaches every recipient as a text and HTML mail a reader can use") {
  SmtpTestServer server({});
  FakeHost host;
  host.set_now_ms(kNow);
  auto inst = host.create(
      plugin(),
      with(plain_options(server),
           {{"to", R"(["ops@example.com", "Ops Team <team@example.com>"])"},
            {"cc", R"(["\"Smith, John\" <john@example.com>"])"},
            {"headers", R"({"X-Team": "{{commonLabels.severity}}-ops", "X-Empty": ""})"}}));
  const auto payload = sample::firing_payload(3);
  const auto status = inst.notify(sample::notification(payload, 1));
  REQUIRE(status.to_string() == "ok");

  auto messages = server.messages();
  REQUIRE(messages.size() == 1);
  const auto& m = messages[0];
  check_well_formed(m);
  CHECK(m["mail_from"] == "vigil@example.com");
  CHECK(m["rcpt_tos"] ==
        nlohmann::json({"ops@example.com", "team@example.com", "john@example.com"}));
  CHECK(m["ehlo"] == "vigil.test");
  CHECK(m["tls"] == false);
  CHECK(header(m, "from") == "Vigil <vigil@example.com>");
  CHECK(header(m, "to") == "ops@example.com, Ops Team <team@example.com>");
  CHECK(header(m, "cc") == "\"Smith, John\" <john@example.com>");
  CHECK(header(m, "subject") == "[FIRING:2] DiskFull");
  CHECK(header(m, "date") == "Mon, 23 Nov 2026 10:00:05 +0000");
  CHECK(header(m, "mime-version") == "1.0");
  CHECK(header(m, "auto-submitted") == "auto-generated");
  CHECK(header(m, "x-vigil-receiver") == "ops");
  CHECK(header(m, "x-vigil-status") == "firing");
  CHECK(header(m, "x-team") == "critical-ops");
  CHECK(header(m, "x-empty").empty());
  const std::string message_id = header(m, "message-id");
  CHECK(message_id.rfind("<vigil.", 0) == 0);
  CHECK(contains(message_id, "@example.com>"));
  const std::string thread = header(m, "references");
  CHECK(header(m, "in-reply-to") == thread);
  CHECK(thread != message_id);
  CHECK(m["message"]["content_type"] == "multipart/alternative");

  const std::string text = part(m, "text/plain");
  CHECK(contains(text, "2 firing: DiskFull\n"));
  CHECK(contains(text, "Escalation step 1 of policy \"oncall\"\n"));
  CHECK(contains(text, "Vigil: http://vigil.example:9180/\n"));
  CHECK(contains(text, "[FIRING] / on web1 is 95% full\n  Acknowledged by alice: on it\n"));
  CHECK(contains(text, "    instance = web1\n"));
  CHECK(contains(text, "    description = Only 2 GiB left.\n      Clean up /var/log.\n"));
  CHECK(contains(text, "[FIRING] / on web2 is 97% full\n  Started: 2026-11-23T10:01:00.000Z\n"));
  CHECK(contains(text, "  Source: http://vigil.example:9180/\n"));
  CHECK_FALSE(contains(text, "{{"));
  const std::string html = part(m, "text/html");
  CHECK(contains(html, "<title>[FIRING:2] DiskFull</title>"));
  CHECK(contains(html, "Acknowledged by <strong>alice</strong>: on it"));
  CHECK(contains(html, "<a href=\"http://vigil.example:9180/\">Open Vigil</a>"));
  CHECK(contains(html, "Escalation step 1 of policy &quot;oncall&quot;</p>"));
  CHECK(contains(html, "<td style=\"color:#666\">mountpoint</td><td>/</td>"));

  SECTION("a retry carries the same Message-ID, the group's next notification the same thread") {
    REQUIRE(inst.notify(sample::notification(payload, 2)).is_ok());
    const auto acked = sample::acknowledged_payload(4);
    REQUIRE(inst.notify(sample::notification(acked)).is_ok());
    const auto resolved = sample::resolved_payload(5);
    REQUIRE(inst.notify(sample::notification(resolved)).is_ok());
    messages = server.messages();
    REQUIRE(messages.size() == 4);
    CHECK(header(messages[1], "message-id") == message_id);
    CHECK(header(messages[2], "message-id") != message_id);
    CHECK(header(messages[3], "message-id") != header(messages[2], "message-id"));
    for (const auto& later : messages) CHECK(header(later, "references") == thread);
    CHECK(header(messages[2], "subject") == "[ACK:2] DiskFull");
    CHECK(contains(part(messages[2], "text/plain"), "Acknowledged by bob: freeing space\n"));
    CHECK(contains(part(messages[2], "text/html"),
                   "<p style=\"margin:0 0 12px;padding:8px;background:#fff3cd\">Acknowledged by "
                   "<strong>bob</strong>: freeing space</p>"));
    CHECK(header(messages[3], "subject") == "[RESOLVED] DiskFull");
    const std::string resolved_text = part(messages[3], "text/plain");
    CHECK(contains(resolved_text, "2 resolved: DiskFull\n"));
    CHECK(contains(resolved_text, "  Ended: 2026-11-23T10:30:00.000Z\n"));
    CHECK_FALSE(contains(resolved_text, "Escalation"));
  }
}

TEST_CASE("STARTTLS with a login, implicit TLS and a client certificate deliver") {
  vigil::testing::TempDir dir("vigil_email_tls");
  const auto server_cert = vigil::testing::make_certificate(dir, "server", 30);

  SECTION("STARTTLS on a server that demands it, logging in with a password file") {
    SmtpServerOptions o;
    o.mode = "starttls";
    o.cert = server_cert.cert;
    o.key = server_cert.key;
    o.auth = "alice:s3cret-pw";
    o.require_auth = true;
    SmtpTestServer server(o);
    vigil::testing::SecretFile secret("s3cret-pw\n");
    FakeHost host;
    auto inst =
        host.create(plugin(), with(plain_options(server), {{"tls", "starttls"},
                                                           {"ca_file", server_cert.cert},
                                                           {"username", "alice"},
                                                           {"password_file", secret.path}}));
    REQUIRE(inst.notify(sample::notification(sample::firing_payload())).to_string() == "ok");
    auto messages = server.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0]["tls"] == true);
    CHECK(messages[0]["auth_login"] == "alice");
    check_well_formed(messages[0]);
  }

  SECTION("implicit TLS (smtps) with a login") {
    SmtpServerOptions o;
    o.mode = "implicit";
    o.cert = server_cert.cert;
    o.key = server_cert.key;
    o.auth = "alice:s3cret-pw";
    SmtpTestServer server(o);
    FakeHost host;
    auto inst = host.create(plugin(), with(plain_options(server), {{"tls", "implicit"},
                                                                   {"ca_file", server_cert.cert},
                                                                   {"username", "alice"},
                                                                   {"password", "s3cret-pw"}}));
    REQUIRE(inst.notify(sample::notification(sample::firing_payload())).to_string() == "ok");
    auto messages = server.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0]["tls"] == true);
    CHECK(messages[0]["auth_login"] == "alice");
  }

  SECTION("implicit TLS to a server that demands a client certificate") {
    const auto client = vigil::testing::make_certificate(dir, "client", 30);
    SmtpServerOptions o;
    o.mode = "implicit";
    o.cert = server_cert.cert;
    o.key = server_cert.key;
    o.client_ca = client.cert;
    SmtpTestServer server(o);
    FakeHost host;
    auto inst = host.create(plugin(), with(plain_options(server), {{"tls", "implicit"},
                                                                   {"ca_file", server_cert.cert},
                                                                   {"client_cert", client.cert},
                                                                   {"client_key", client.key}}));
    REQUIRE(inst.notify(sample::notification(sample::firing_payload())).to_string() == "ok");
    auto messages = server.messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0]["client_certificate"] == true);
  }
}

TEST_CASE("refusals are permanent with the server's answer, temporary answers retryable") {
  vigil::testing::TempDir dir("vigil_email_refusals");
  const auto server_cert = vigil::testing::make_certificate(dir, "server", 30);

  SECTION("a wrong password is permanent (535), and the password is never shown") {
    SmtpServerOptions o;
    o.mode = "starttls";
    o.cert = server_cert.cert;
    o.key = server_cert.key;
    o.auth = "alice:s3cret-pw";
    SmtpTestServer server(o);
    FakeHost host;
    auto inst = host.create(plugin(), with(plain_options(server), {{"tls", "starttls"},
                                                                   {"ca_file", server_cert.cert},
                                                                   {"username", "alice"},
                                                                   {"password", "wrong-pw-42"}}));
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "535 5.7.8 Authentication credentials invalid"));
    CHECK(contains(r.message(), "refused the login as \"alice\""));
    CHECK_FALSE(contains(r.message(), "wrong-pw-42"));
    for (const auto& line : host.logs()) CHECK_FALSE(contains(line.message, "wrong-pw-42"));
    CHECK(server.messages().empty());
  }

  SECTION("a refused recipient is permanent (550), and nobody gets the message") {
    SmtpServerOptions o;
    o.refuse = {"nobody@example.com"};
    SmtpTestServer server(o);
    FakeHost host;
    auto inst = host.create(
        plugin(), with(plain_options(server),
                       {{"to", R"(["ops@example.com"])"}, {"cc", R"(["nobody@example.com"])"}}));
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "RCPT TO:<nobody@example.com>"));
    CHECK(contains(r.message(), "550 5.1.1 <nobody@example.com>: Recipient address rejected"));
    CHECK(server.messages().empty());
  }

  SECTION("a server that wants a login the instance does not give is permanent (530)") {
    SmtpServerOptions o;
    o.mode = "starttls";
    o.cert = server_cert.cert;
    o.key = server_cert.key;
    o.auth = "alice:s3cret-pw";
    o.require_auth = true;
    SmtpTestServer server(o);
    FakeHost host;
    auto inst = host.create(plugin(), with(plain_options(server),
                                           {{"tls", "starttls"}, {"ca_file", server_cert.cert}}));
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "530"));
  }

  SECTION("451 after the data is retryable, 554 permanent") {
    SmtpServerOptions o;
    o.data_reply = "451 4.3.0 Greylisted, try again later";
    SmtpTestServer busy(o);
    FakeHost host;
    auto r = host.create(plugin(), plain_options(busy))
                 .notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_RETRYABLE);
    CHECK(contains(r.message(), "451 4.3.0 Greylisted, try again later"));
    o.data_reply = "554 5.7.1 Message rejected as spam";
    SmtpTestServer strict(o);
    r = host.create(plugin(), plain_options(strict))
            .notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "554 5.7.1 Message rejected as spam"));
  }
}

TEST_CASE("a server that is down or stalls is retryable, an untrusted one permanent") {
  FakeHost host;
  SECTION("nothing listens") {
    vigil::testing::ClosedPort closed;
    auto inst = host.create(plugin(), {{"smarthost", "127.0.0.1:" + std::to_string(closed.port)},
                                       {"tls", "none"},
                                       {"from", "vigil@example.com"},
                                       {"to", R"(["ops@example.com"])"}});
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_RETRYABLE);
    CHECK(contains(r.message(), "127.0.0.1:" + std::to_string(closed.port)));
  }

  SECTION("the server takes longer than the timeout to answer the data") {
    SmtpServerOptions o;
    o.stall_seconds = 10;
    SmtpTestServer server(o);
    auto inst = host.create(plugin(), with(plain_options(server), {{"timeout", "400ms"}}));
    const auto start = std::chrono::steady_clock::now();
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    CHECK(r.code() == VIGIL_ERR_RETRYABLE);
    CHECK(contains(r.message(), "no answer within 400ms (option timeout)"));
  }

  vigil::testing::TempDir dir("vigil_email_untrusted");
  const auto cert = vigil::testing::make_certificate(dir, "server", 30);

  SECTION("a certificate nobody vouches for") {
    SmtpServerOptions o;
    o.mode = "implicit";
    o.cert = cert.cert;
    o.key = cert.key;
    SmtpTestServer server(o);
    auto inst = host.create(plugin(), with(plain_options(server), {{"tls", "implicit"}}));
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "certificate is not trusted"));
    CHECK(contains(r.message(), "option ca_file"));
    CHECK(server.messages().empty());

    auto skipping = host.create(
        plugin(),
        with(plain_options(server), {{"tls", "implicit"}, {"insecure_skip_verify", "true"}}));
    CHECK(skipping.notify(sample::notification(sample::firing_payload())).is_ok());
  }

  SECTION("STARTTLS asked for, but the server does not offer it") {
    SmtpTestServer server({});
    auto inst = host.create(plugin(), with(plain_options(server), {{"tls", "starttls"}}));
    auto r = inst.notify(sample::notification(sample::firing_payload()));
    INFO(r.message());
    CHECK(r.code() == VIGIL_ERR_PERMANENT);
    CHECK(contains(r.message(), "does not offer STARTTLS"));
    CHECK(server.messages().empty());
  }
}

TEST_CASE("custom templates render, encode and survive SMTP's dot and line rules") {
  SmtpTestServer server({});
  FakeHost host;
  const std::string long_line(1500, 'x');
  auto inst = host.create(
      plugin(), with(plain_options(server),
                     {{"subject",
                       "{{status | upper}}: {{commonLabels.alertname}} \xc3\xa0 "
                       "{{alerts.0.labels.instance}} \xe2\x9c\x93"},
                      {"text", ".\n..{{alerts | count}} alerts\n.\nFrom here\n" + long_line +
                                   "\ntrailing space \n"},
                      {"html", "<p>{{#each alerts}}{{labels.instance | html}} {{/each}}</p>"}}));
  auto payload = sample::firing_payload();
  payload["alerts"][0]["labels"]["instance"] = "<script>alert(1)</script>";
  REQUIRE(inst.notify(sample::notification(payload)).is_ok());
  auto messages = server.messages();
  REQUIRE(messages.size() == 1);
  check_well_formed(messages[0]);
  CHECK(header(messages[0], "subject") ==
        "FIRING: DiskFull \xc3\xa0 <script>alert(1)</script> \xe2\x9c\x93");
  CHECK(contains(messages[0]["message"]["raw_headers"].get<std::string>(), "Subject: =?UTF-8?B?"));
  CHECK(part(messages[0], "text/plain") ==
        ".\n..2 alerts\n.\nFrom here\n" + long_line + "\ntrailing space \n");
  CHECK(part(messages[0], "text/html") == "<p>&lt;script&gt;alert(1)&lt;/script&gt; web2 </p>");

  SECTION("the built-in HTML escapes what the alerts carry") {
    auto builtin = host.create(plugin(), plain_options(server));
    REQUIRE(builtin.notify(sample::notification(payload)).is_ok());
    messages = server.messages();
    REQUIRE(messages.size() == 2);
    const std::string html = part(messages[1], "text/html");
    CHECK(contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    CHECK_FALSE(contains(html, "<script>"));
  }

  SECTION("text mostly outside ASCII goes as base64, and one part alone is not multipart") {
    const std::string japanese =
        "\xe3\x83\x87\xe3\x82\xa3\xe3\x82\xb9\xe3\x82\xaf\xe3\x81\x8c\xe3\x81\x84\xe3\x81\xa3"
        "\xe3\x81\xb1\xe3\x81\x84\xe3\x81\xa7\xe3\x81\x99\n";
    auto only_text =
        host.create(plugin(), with(plain_options(server), {{"text", japanese}, {"html", ""}}));
    REQUIRE(only_text.notify(sample::notification(payload)).is_ok());
    messages = server.messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[1]["message"]["content_type"] == "text/plain");
    CHECK(messages[1]["message"]["parts"][0]["transfer_encoding"] == "base64");
    CHECK(part(messages[1], "text/plain") == japanese);
  }
}

TEST_CASE("template mistakes are refused at configure with the option, line and column") {
  using vigil::testing::refused_start;
  const OptionMap base{{"smarthost", "127.0.0.1:25"},
                       {"tls", "none"},
                       {"from", "vigil@example.com"},
                       {"to", R"(["ops@example.com"])"}};
  const std::string subject =
      refused_start(plugin(), with(base, {{"subject", "{{value | percnt}}"}}));
  INFO(subject);
  CHECK(contains(subject,
                 "option \"subject\": line 1, column 11: unknown function \"percnt\" (did you mean "
                 "\"percent\"?)"));
  const std::string text =
      refused_start(plugin(), with(base, {{"text", "fine\n{{#each alerts}}\n{{/if}}"}}));
  INFO(text);
  CHECK(contains(text, "option \"text\": line 2, column 1: {{#each alerts}} is never closed"));
  CHECK(contains(text, "; line 3, column 1: {{/if}} does not match {{#each alerts}}"));
  const std::string html = refused_start(plugin(), with(base, {{"html", "<p>{{ }}</p>"}}));
  CHECK(contains(html, "option \"html\": line 1, column 4:"));
  const std::string headers =
      refused_start(plugin(), with(base, {{"headers", R"({"X-Team": "{{labels.x | nope}}"})"}}));
  CHECK(contains(headers, "option \"headers\": \"X-Team\": line 1, column 1"));
  CHECK(contains(headers, "\"nope\""));
}

TEST_CASE("bad options are refused when the instance is created, naming the option") {
  using vigil::testing::refused_start;
  const OptionMap base{{"smarthost", "127.0.0.1:25"},
                       {"tls", "none"},
                       {"from", "vigil@example.com"},
                       {"to", R"(["ops@example.com"])"}};
  auto refused = [&](const OptionMap& more) { return refused_start(plugin(), with(base, more)); };
  CHECK(contains(refused({{"smarthost", "smtp.example.com"}}),
                 "option \"smarthost\": found \"smtp.example.com\", expected host:port"));
  CHECK(contains(refused({{"smarthost", "smtp.example.com:99999"}}), "option \"smarthost\""));
  CHECK(contains(refused({{"smarthost", "::1:25"}}), "option \"smarthost\""));
  CHECK(contains(refused({{"tls", "ssl"}}),
                 "option \"tls\": found \"ssl\", expected \"starttls\", \"implicit\" or \"none\""));
  CHECK(contains(refused({{"from", "vigil"}}), "option \"from\" (item 1): found \"vigil\""));
  CHECK(contains(refused({{"to", "[]"}}), "option \"to\": found an empty list"));
  CHECK(contains(refused({{"to", R"(["ops@example.com", "not an address"])"}}),
                 "option \"to\" (item 2): found \"not an address\""));
  CHECK(contains(refused({{"cc", R"(["a@b@c"])"}}), "option \"cc\" (item 1)"));
  CHECK(contains(refused({{"username", "alice"}}), "set without password or password_file"));
  CHECK(contains(refused({{"password", "x"}}), "option \"username\": empty while a password"));
  CHECK(
      contains(refused({{"username", "a"}, {"password", "x"}, {"password_file", "/etc/hostname"}}),
               "both set, expected one"));
  CHECK(contains(refused({{"username", "a"}, {"password_file", "/nonexistent/pw"}}),
                 "option \"password_file\": cannot read /nonexistent/pw"));
  CHECK(contains(refused({{"ca_file", "/nonexistent/ca.pem"}}),
                 "option \"ca_file\": /nonexistent/ca.pem cannot be read"));
  CHECK(contains(refused({{"client_key", "/etc/hostname"}}), "set without client_cert"));
  CHECK(contains(refused({{"headers", "[1]"}}), "option \"headers\": expected an object"));
  CHECK(contains(refused({{"headers", R"({"Subject": "x"})"}}),
                 "option \"headers\": \"Subject\" is written by the plugin itself"));
  CHECK(contains(refused({{"headers", R"({"Bad Name": "x"})"}}), "is not a header name"));
  CHECK(contains(refused({{"headers", R"({"X-N": 1})"}}), "not a string"));
  CHECK(contains(refused({{"text", ""}, {"html", ""}}), "both empty"));
  CHECK(contains(refused({{"hello", "two words"}}), "option \"hello\""));
  CHECK(contains(refused({{"timeout", "0s"}}), "option \"timeout\""));

  FakeHost host;
  CHECK(host.try_create(plugin(), with(base, {{"smarthost", "[::1]:2525"}})).status().is_ok());
  auto warned = host.create(plugin(), with(base, {{"username", "a"}, {"password", "x"}}));
  CHECK(vigil::testing::count_logs(host, VIGIL_LOG_WARN, "crosses the network in clear") == 1);
}
