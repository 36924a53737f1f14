// notifier_email's pieces on their own: the encodings a mail reader has to undo (quoted-printable,
// encoded-words, folding), mailboxes, ids, the composed message's structure, the templates'
// context, and the judgement of SMTP outcomes libcurl reports, including answers the test server
// cannot easily give (421 at the greeting, 454 to AUTH or STARTTLS).
#include <curl/curl.h>
#include <openssl/evp.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "message.hpp"
#include "mime.hpp"
#include "samples.hpp"
#include "smtp.hpp"

using namespace vigil::notifier_email;
namespace sample = vigil::testing::email;

namespace {

std::vector<std::string> crlf_split(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (true) {
    size_t end = text.find("\r\n", start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return lines;
}

// A reader's quoted-printable decoding (RFC 2045 6.7), written apart from the encoder.
std::string decode_qp(const std::string& encoded) {
  std::string out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '=') {
      out += encoded[i];
    } else if (encoded.compare(i + 1, 2, "\r\n") == 0) {
      i += 2;
    } else {
      out += static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

std::string decode_base64(const std::string& text) {
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  REQUIRE(n >= 0);
  size_t padding = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// The text of a header field made of "=?UTF-8?B?...?=" words.
std::string decode_encoded_words(const std::string& field) {
  std::string out;
  size_t at = 0;
  while ((at = field.find("=?UTF-8?B?", at)) != std::string::npos) {
    size_t end = field.find("?=", at + 10);
    REQUIRE(end != std::string::npos);
    out += decode_base64(field.substr(at + 10, end - at - 10));
    at = end + 2;
  }
  return out;
}

bool ascii_only(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) > 127) return false;
  return true;
}

}  // namespace

TEST_CASE("quoted-printable keeps lines short and every byte recoverable") {
  CHECK(quoted_printable("a=b") == "a=3Db");
  CHECK(quoted_printable("trailing \nnext\t") == "trailing=20\r\nnext=09");
  CHECK(quoted_printable("caf\xc3\xa9") == "caf=C3=A9");
  CHECK(quoted_printable("one\r\n.\r\n..two\r\n") == "one\r\n.\r\n..two\r\n");
  const std::string long_line = std::string(300, 'x') + " " + std::string(120, '=') +
                                "\xe6\x97\xa5\xe6\x9c\xac " + std::string(50, '.');
  const std::string encoded = quoted_printable(long_line + "\nsecond line\n");
  for (const std::string& line : crlf_split(encoded)) CHECK(line.size() <= 76);
  CHECK(ascii_only(encoded));
  CHECK(decode_qp(encoded) == long_line + "\r\nsecond line\r\n");
}

TEST_CASE("base64 bodies come in lines of 76 and text mostly outside ASCII prefers it") {
  const std::string text = std::string(100, 'a');
  const std::string encoded = base64_lines(text);
  for (const std::string& line : crlf_split(encoded)) CHECK(line.size() <= 76);
  std::string joined;
  for (const std::string& line : crlf_split(encoded)) joined += line;
  CHECK(decode_base64(joined) == text);
  CHECK_FALSE(prefers_base64("Disk full on web1\n"));
  CHECK(prefers_base64("\xe3\x83\x87\xe3\x82\xa3\xe3\x82\xb9\xe3\x82\xaf\xe3\x81\x8c"));
  CHECK(crlf_lines("a\nb\r\nc\rd") == "a\r\nb\r\nc\r\nd");
}

TEST_CASE("header fields are folded under 78 columns and never carry a line break of the text") {
  CHECK(unstructured_header("Subject", "[FIRING:2] DiskFull") ==
        "Subject: [FIRING:2] DiskFull\r\n");
  CHECK(unstructured_header("Subject", "a\r\nBcc: eve@example.com") ==
        "Subject: a Bcc: eve@example.com\r\n");

  std::string words;
  for (int i = 0; i < 40; ++i) words += "word" + std::to_string(i) + " ";
  const std::string folded = unstructured_header("Subject", words);
  std::vector<std::string> lines = crlf_split(folded);
  REQUIRE(lines.size() > 2);
  CHECK(lines.back().empty());
  lines.pop_back();
  std::string unfolded;
  for (const std::string& line : lines) {
    CHECK(line.size() <= 78);
    unfolded += line;
  }
  CHECK(unfolded == "Subject: " + words.substr(0, words.size() - 1));
}

TEST_CASE("text outside ASCII becomes encoded-words of at most 75 characters") {
  const std::string subject =
      "[FIRING:1] Disque plein \xc3\xa0 95 % sur serveur-\xc3\xa9t\xc3\xa9 " +
      std::string(20, 'x') + " \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
  const std::string field = unstructured_header("Subject", subject);
  CHECK(ascii_only(field));
  std::vector<std::string> lines = crlf_split(field);
  lines.pop_back();
  for (const std::string& line : lines) CHECK(line.size() <= 76);
  CHECK(field.rfind("Subject: =?UTF-8?B?", 0) == 0);
  CHECK(decode_encoded_words(field) == subject);
  // Something that looks like an encoded-word is encoded too, so a reader shows it as written.
  const std::string lookalike = unstructured_header("Subject", "=?UTF-8?B?aGk=?=");
  CHECK(lookalike.find("=?UTF-8?B?aGk=?=") == std::string::npos);
  CHECK(decode_encoded_words(lookalike) == "=?UTF-8?B?aGk=?=");
}

TEST_CASE("mailboxes are read from the options and written as RFC 5322 wants") {
  std::string error;
  auto plain = parse_mailbox(" ops@example.com ", error);
  REQUIRE(plain);
  CHECK(plain->address == "ops@example.com");
  CHECK(plain->display_name.empty());
  CHECK(plain->domain() == "example.com");
  auto named = parse_mailbox("\"Smith, John\" <john@example.com>", error);
  REQUIRE(named);
  CHECK(named->display_name == "Smith, John");
  auto accented = parse_mailbox("Zo\xc3\xab Ops <zoe@example.com>", error);
  REQUIRE(accented);
  CHECK(address_header("To", {*plain, *named, Mailbox{"Ops Team", "team@example.com"}}) ==
        "To: ops@example.com, \"Smith, John\" <john@example.com>, Ops Team\r\n"
        " <team@example.com>\r\n");
  const std::string encoded = address_header("From", {*accented});
  CHECK(encoded.rfind("From: =?UTF-8?B?", 0) == 0);
  CHECK(encoded.find(" <zoe@example.com>\r\n") != std::string::npos);
  CHECK(decode_encoded_words(encoded) == "Zo\xc3\xab Ops");

  for (const char* bad : {"", "ops", "@example.com", "ops@", "a@b@c", "ops team@example.com",
                          "Ops <ops@example.com", "caf\xc3\xa9@example.com", "a,b@example.com"}) {
    INFO(bad);
    CHECK_FALSE(parse_mailbox(bad, error));
    CHECK(error.find("expected") != std::string::npos);
  }
}

TEST_CASE("dates and ids") {
  CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(1795428005000) == "Mon, 23 Nov 2026 10:00:05 +0000");
  const std::string id = message_id("notification", "5e1f-3-ops", "example.com");
  CHECK(id == message_id("notification", "5e1f-3-ops", "example.com"));
  CHECK(id != message_id("notification", "5e1f-4-ops", "example.com"));
  CHECK(id != message_id("group", "5e1f-3-ops", "example.com"));
  CHECK(id.size() == std::string("<vigil.@example.com>").size() + 32);
  CHECK(id.rfind("<vigil.", 0) == 0);
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("the templates' context splits alerts by status and names the group and escalation") {
  const auto payload = sample::firing_payload();
  auto context = template_context(sample::notification(payload, 2), payload);
  CHECK(context["firing"].size() == 2);
  CHECK(context["resolved"].empty());
  CHECK(context["group_label_values"] == "DiskFull");
  CHECK(context["escalation"] ==
        nlohmann::json({{"step", 1}, {"policy", "oncall"}, {"iteration", 0}}));
  CHECK(context["attempt"] == 2);
  CHECK(context["externalURL"] == "http://vigil.example:9180/");
  CHECK(context["payload"] == payload);

  const auto resolved = sample::resolved_payload();
  context = template_context(sample::notification(resolved), resolved);
  CHECK(context["firing"].empty());
  CHECK(context["resolved"].size() == 2);
  CHECK(context["escalation"].is_null());
  CHECK(context["escalation_step"].is_null());
}

TEST_CASE("a composed message keeps its Message-ID across retries and threads by group") {
  MessageSpec spec;
  std::string error;
  spec.from = *parse_mailbox("Vigil <vigil@example.com>", error);
  spec.to = {*parse_mailbox("ops@example.com", error)};
  spec.subject = *vigil::Template::compile(kDefaultSubject, error);
  spec.text = vigil::Template::compile(kDefaultText, error);
  spec.html = vigil::Template::compile(kDefaultHtml, error);
  const auto first = sample::firing_payload(3);
  auto a = compose(spec, sample::notification(first, 1), first, 1795428005000);
  auto retry = compose(spec, sample::notification(first, 2), first, 1795428065000);
  const auto later = sample::acknowledged_payload(4);
  auto b = compose(spec, sample::notification(later), later, 1795428365000);
  CHECK(a.message_id == retry.message_id);
  CHECK(a.message_id != b.message_id);
  CHECK(a.thread_id == b.thread_id);
  CHECK(a.message_id.find("@example.com>") != std::string::npos);
  CHECK(a.subject == "[FIRING:2] DiskFull");
  CHECK(b.subject == "[ACK:2] DiskFull");
  CHECK(a.data.find("\r\nReferences: " + a.thread_id + "\r\n") != std::string::npos);
  CHECK(a.data.find("\r\nIn-Reply-To: " + a.thread_id + "\r\n") != std::string::npos);
  CHECK(a.data.find("\r\nContent-Type: multipart/alternative;\r\n boundary=\"=_vigil_") !=
        std::string::npos);
  CHECK(ascii_only(a.data));
  for (const std::string& line : crlf_split(a.data)) {
    CHECK(line.size() <= 78);
    CHECK(line.find('\n') == std::string::npos);
  }

  spec.html.reset();
  auto text_only = compose(spec, sample::notification(first), first, 0);
  CHECK(text_only.data.find("multipart") == std::string::npos);
  CHECK(text_only.data.find("Content-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Transfer-Encoding: quoted-printable\r\n\r\n") !=
        std::string::npos);
}

TEST_CASE("the built-in bodies name the escalation from step 1 on, with its repeat") {
  std::string error;
  auto text = vigil::Template::compile(kDefaultText, error);
  auto html = vigil::Template::compile(kDefaultHtml, error);
  REQUIRE(text);
  REQUIRE(html);
  auto render = [&](int step, int iteration) {
    auto payload = sample::firing_payload();
    payload["vigil"]["escalation_step"] = step;
    payload["vigil"]["iteration"] = iteration;
    auto context = template_context(sample::notification(payload), payload);
    return std::make_pair(text->render(context), html->render(context));
  };
  auto [first_text, first_html] = render(0, 0);
  CHECK(first_text.find("Escalation") == std::string::npos);
  CHECK(first_html.find("Escalation") == std::string::npos);
  auto [later_text, later_html] = render(2, 1);
  CHECK(later_text.find("\nEscalation step 2 of policy \"oncall\" (repeat 1)\n") !=
        std::string::npos);
  CHECK(later_html.find(">Escalation step 2 of policy &quot;oncall&quot; (repeat 1)</p>") !=
        std::string::npos);
  auto [none_text, none_html] = render(-1, 0);
  CHECK(none_text.find("Escalation") == std::string::npos);
}

TEST_CASE("SMTP outcomes map to delivered, retryable or permanent") {
  SmtpSettings s;
  s.host = "smtp.example.com";
  s.port = 587;
  s.username = "alice";
  auto judge_of = [&](CURLcode code, long reply_code, const std::string& reply,
                      const std::string& command = "") {
    TransferOutcome o;
    o.curl_code = code;
    o.curl_error = curl_easy_strerror(code);
    o.reply_code = reply_code;
    o.reply = reply;
    o.command = command;
    return judge(s, o);
  };
  CHECK(judge_of(CURLE_OK, 250, "250 OK").verdict == Verdict::delivered);
  auto greeting = judge_of(CURLE_WEIRD_SERVER_REPLY, 421, "421 4.3.2 Service shutting down");
  CHECK(greeting.verdict == Verdict::retryable);
  CHECK(greeting.message.find("421 4.3.2 Service shutting down") != std::string::npos);
  auto busy = judge_of(CURLE_SEND_ERROR, 450, "450 4.2.1 Mailbox busy", "RCPT TO:<b@x.org>");
  CHECK(busy.verdict == Verdict::retryable);
  CHECK(busy.message.find("RCPT TO:<b@x.org>") != std::string::npos);
  auto unknown = judge_of(CURLE_SEND_ERROR, 550, "550 5.1.1 no such user", "RCPT TO:<b@x.org>");
  CHECK(unknown.verdict == Verdict::permanent);
  CHECK(unknown.message.find("550 5.1.1 no such user") != std::string::npos);
  CHECK(judge_of(CURLE_RECV_ERROR, 554, "554 5.7.1 spam").verdict == Verdict::permanent);
  CHECK(judge_of(CURLE_RECV_ERROR, 452, "452 4.3.1 full").verdict == Verdict::retryable);
  // A connection lost after a successful reply is the network, not a refusal.
  CHECK(judge_of(CURLE_RECV_ERROR, 250, "250 OK").verdict == Verdict::retryable);
  CHECK(judge_of(CURLE_SEND_ERROR, 0, "").verdict == Verdict::retryable);
  auto login = judge_of(CURLE_LOGIN_DENIED, 535, "535 5.7.8 bad credentials");
  CHECK(login.verdict == Verdict::permanent);
  CHECK(login.message.find("\"alice\"") != std::string::npos);
  CHECK(judge_of(CURLE_LOGIN_DENIED, 454, "454 4.7.0 try later").verdict == Verdict::retryable);
  CHECK(judge_of(CURLE_USE_SSL_FAILED, 454, "454 TLS not available").verdict == Verdict::retryable);
  auto no_tls = judge_of(CURLE_USE_SSL_FAILED, 250, "250 HELP");
  CHECK(no_tls.verdict == Verdict::permanent);
  CHECK(no_tls.message.find("does not offer STARTTLS") != std::string::npos);
  auto cert = judge_of(CURLE_PEER_FAILED_VERIFICATION, 0, "");
  CHECK(cert.verdict == Verdict::permanent);
  CHECK(cert.message.find("not trusted") != std::string::npos);
  CHECK(cert.message.find("option ca_file") != std::string::npos);
  CHECK(judge_of(CURLE_COULDNT_CONNECT, 0, "").verdict == Verdict::retryable);
  CHECK(judge_of(CURLE_COULDNT_RESOLVE_HOST, 0, "").verdict == Verdict::retryable);
  CHECK(judge_of(CURLE_OPERATION_TIMEDOUT, 250, "250 OK").verdict == Verdict::retryable);
  CHECK(judge_of(CURLE_SSL_CACERT_BADFILE, 0, "").verdict == Verdict::permanent);
}
