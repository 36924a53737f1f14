// The SMTP transfer over libcurl and its judgement (see smtp.hpp).
//
// libcurl reports an SMTP refusal as a generic error ("RCPT failed: 550" is CURLE_SEND_ERROR,
// a refused end of data is CURLE_WEIRD_SERVER_REPLY or CURLE_RECV_ERROR), so the judgement reads
// the server's own reply code; the reply's text comes from libcurl's debug callback, which also
// sees our commands: of those only the verb is kept (and the address of MAIL FROM and RCPT TO),
// never the AUTH exchange's credentials.
#include "smtp.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>

namespace vigil::notifier_email {
namespace {

constexpr size_t kMaxReply = 400;

// One curl_global_init per process is enough; never cleaned up, because another plugin in the
// same process may still use libcurl.
void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string_view strip_line_end(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// What the debug callback keeps of the dialogue.
struct Transcript {
  std::string partial;  // the lines so far of a multi-line reply
  std::string reply;    // the last complete reply
  std::string command;  // the last command, reduced to what is safe to show
  // libcurl says QUIT after a failure too; the answer to QUIT ("221 Bye") must not hide the
  // answer that failed the transfer.
  bool quitting = false;
};

void on_reply_line(Transcript& t, std::string_view line) {
  line = strip_line_end(line);
  if (line.empty() || t.quitting) return;
  if (!t.partial.empty()) t.partial += " / ";
  t.partial.append(line.data(), std::min(line.size(), kMaxReply));
  if (t.partial.size() > kMaxReply) t.partial.resize(kMaxReply);
  // "250-SIZE" continues a reply, "250 OK" ends it.
  if (line.size() < 4 || line[3] != '-') {
    t.reply = std::move(t.partial);
    t.partial.clear();
  }
}

void on_command_line(Transcript& t, std::string_view line) {
  line = strip_line_end(line);
  if (t.quitting) return;
  if (line == "QUIT") {
    t.quitting = true;
    return;
  }
  if (starts_with(line, "MAIL FROM:") || starts_with(line, "RCPT TO:")) {
    t.command = std::string(line.substr(0, std::min(line.size(), kMaxReply)));
    return;
  }
  // Lines that are not a known verb are AUTH's continuation (base64 user name and password):
  // they are never kept.
  static const char* const kVerbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH",
                                       "DATA", "RSET", "NOOP",     "VRFY"};
  std::string_view verb = line.substr(0, line.find(' '));
  for (const char* known : kVerbs)
    if (verb == known) t.command = known;
}

int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* user) noexcept {
  auto* t = static_cast<Transcript*>(user);
  try {
    std::string_view text(data, size);
    if (type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT) {
      while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end == std::string_view::npos ? text.size() : end);
        if (type == CURLINFO_HEADER_IN)
          on_reply_line(*t, line);
        else
          on_command_line(*t, line);
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
      }
    }
  } catch (...) {
    // Out of memory while keeping a transcript: the transfer goes on without it.
  }
  return 0;
}

struct Upload {
  const std::string* data = nullptr;
  size_t offset = 0;
};

// libcurl bounds the transfer by CURLOPT_TIMEOUT_MS, but after a failure it says QUIT and
// waits for the answer without that bound (up to two minutes, for a server stuck in our DATA).
// This deadline, a little later than libcurl's own, ends that wait: the progress callback runs
// at least once a second while libcurl blocks.
using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kQuitGrace{100};

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
  return Clock::now() > *static_cast<const Clock::time_point*>(user) ? 1 : 0;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) noexcept {
  auto* up = static_cast<Upload*>(user);
  size_t n = std::min(size * count, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::string url_of(CURL* easy, const SmtpSettings& s) {
  std::string url = s.tls == TlsMode::implicit ? "smtps://" : "smtp://";
  if (s.host.find(':') != std::string::npos)
    url += "[" + s.host + "]";
  else
    url += s.host;
  url += ":" + std::to_string(s.port) + "/";
  // libcurl sends the URL's path as the EHLO name.
  if (char* escaped = curl_easy_escape(easy, s.hello.data(), static_cast<int>(s.hello.size()))) {
    url += escaped;
    curl_free(escaped);
  }
  return url;
}

std::string in_quotes(const std::string& text) {
  return "\"" + text + "\"";
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

}  // namespace

std::string SmtpSettings::where() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

TransferOutcome send_message(const SmtpSettings& s, const std::string& envelope_from,
                             const std::vector<std::string>& recipients,
                             const std::string& message) {
  TransferOutcome out;
  global_init_once();
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) {
    out.curl_code = CURLE_OUT_OF_MEMORY;
    out.curl_error = "libcurl could not create a handle";
    return out;
  }
  std::unique_ptr<curl_slist, ListDeleter> rcpt;
  for (const std::string& r : recipients) {
    curl_slist* next = curl_slist_append(rcpt.get(), ("<" + r + ">").c_str());
    if (next == nullptr) {
      out.curl_code = CURLE_OUT_OF_MEMORY;
      out.curl_error = "out of memory for the recipient list";
      return out;
    }
    rcpt.release();
    rcpt.reset(next);
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  Transcript transcript;
  Upload upload{&message, 0};
  const std::string url = url_of(easy.get(), s);
  const std::string from = "<" + envelope_from + ">";
  const long timeout_ms = static_cast<long>(s.timeout.count());
  const long connect_ms = static_cast<long>(s.connect_timeout.count());

  CURLcode c = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (c == CURLE_OK) c = curl_easy_setopt(easy.get(), option, value);
  };
  set(CURLOPT_ERRORBUFFER, errbuf);
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_URL, url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // An empty proxy keeps all_proxy & co. from the environment out of the mail's path.
  set(CURLOPT_PROXY, "");
  set(CURLOPT_USE_SSL,
      static_cast<long>(s.tls == TlsMode::none ? CURLUSESSL_NONE : CURLUSESSL_ALL));
  set(CURLOPT_MAIL_FROM, from.c_str());
  set(CURLOPT_MAIL_RCPT, rcpt.get());
  set(CURLOPT_UPLOAD, 1L);
  set(CURLOPT_READFUNCTION, &on_read);
  set(CURLOPT_READDATA, static_cast<void*>(&upload));
  set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  if (!s.username.empty()) {
    set(CURLOPT_USERNAME, s.username.c_str());
    set(CURLOPT_PASSWORD, s.password.c_str());
  }
  set(CURLOPT_SSL_VERIFYPEER, s.insecure_skip_verify ? 0L : 1L);
  set(CURLOPT_SSL_VERIFYHOST, s.insecure_skip_verify ? 0L : 2L);
  if (!s.ca_file.empty()) set(CURLOPT_CAINFO, s.ca_file.c_str());
  if (!s.client_cert.empty()) {
    set(CURLOPT_SSLCERT, s.client_cert.c_str());
    set(CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!s.client_key.empty()) {
    set(CURLOPT_SSLKEY, s.client_key.c_str());
    set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  set(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
  set(CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : timeout_ms > 0 ? timeout_ms : 0L);
  set(CURLOPT_FORBID_REUSE, 1L);
  const Clock::time_point deadline = Clock::now() + s.timeout + kQuitGrace;
  set(CURLOPT_NOPROGRESS, 0L);
  set(CURLOPT_XFERINFOFUNCTION, &on_progress);
  set(CURLOPT_XFERINFODATA, static_cast<const void*>(&deadline));
  set(CURLOPT_DEBUGFUNCTION, &on_debug);
  set(CURLOPT_DEBUGDATA, static_cast<void*>(&transcript));
  set(CURLOPT_VERBOSE, 1L);  // feeds on_debug; nothing is printed
  if (c == CURLE_OK) c = curl_easy_perform(easy.get());

  out.curl_code = static_cast<int>(c);
  if (c != CURLE_OK) {
    std::string error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    out.curl_error = error;
  }
  long code = 0;
  if (curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
    out.reply_code = code;
  out.reply = transcript.reply;
  out.command = transcript.command;
  return out;
}

SendResult judge(const SmtpSettings& s, const TransferOutcome& o) {
  const std::string where = s.where();
  const auto c = static_cast<CURLcode>(o.curl_code);
  if (c == CURLE_OK) return {Verdict::delivered, "accepted by " + where};
  const std::string curl_part = o.curl_error + " (curl error " + std::to_string(o.curl_code) + ")";
  const bool temporary_reply = o.reply_code >= 400 && o.reply_code < 500;
  const bool refusing_reply = o.reply_code >= 500 && o.reply_code < 600;
  const std::string answer = o.reply.empty() ? std::to_string(o.reply_code) : o.reply;
  auto answered = [&]() {
    return where + " answered " + (o.command.empty() ? "" : o.command + " with ") +
           in_quotes(answer);
  };

  switch (c) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ISSUER_ERROR:
      return {Verdict::permanent,
              where + ": the server's certificate is not trusted (" + curl_part +
                  "); expected a certificate for " + in_quotes(s.host) + " signed by a CA in " +
                  (s.ca_file.empty() ? "the system's store (option ca_file names another bundle)"
                                     : s.ca_file + " (option ca_file)")};
    case CURLE_USE_SSL_FAILED:
      if (temporary_reply)
        return {Verdict::retryable, answered() + "; STARTTLS is unavailable for now, retrying"};
      if (refusing_reply)
        return {Verdict::permanent,
                answered() + "; the server refuses STARTTLS, and tls \"starttls\" never sends " +
                    "in clear"};
      return {Verdict::permanent,
              where +
                  " does not offer STARTTLS, and tls \"starttls\" never sends in clear; expected "
                  "a server that offers it, or option tls \"implicit\" (TLS from the start, port "
                  "465) or \"none\" (a trusted relay)"};
    case CURLE_LOGIN_DENIED:
      if (temporary_reply)
        return {Verdict::retryable, where + " could not log in as " + in_quotes(s.username) +
                                        " for now: " + in_quotes(answer) + "; retrying"};
      if (refusing_reply)
        return {Verdict::permanent, where + " refused the login as " + in_quotes(s.username) +
                                        ": " + in_quotes(answer) +
                                        "; check options username and password (or password_file)"};
      return {Verdict::permanent, where + ": cannot log in as " + in_quotes(s.username) + ": " +
                                      curl_part +
                                      "; expected the server to offer a mechanism such as PLAIN "
                                      "or LOGIN (after STARTTLS)"};
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
      return {Verdict::permanent,
              where + ": " + curl_part +
                  "; check options smarthost, ca_file, client_cert and client_key"};
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_ABORTED_BY_CALLBACK:  // our own deadline, just after libcurl's
      return {Verdict::retryable,
              where + ": no answer within " + seconds_text(s.timeout) + " (option timeout) " +
                  (o.command.empty() ? "" : "after " + o.command + " ") + "(" + curl_part +
                  "); retrying (if the server had accepted the data, the retry carries the same "
                  "Message-ID)"};
    case CURLE_SSL_CONNECT_ERROR:
      return {Verdict::retryable,
              where + ": the TLS handshake failed: " + curl_part +
                  "; retrying (if it persists, check option tls: \"implicit\" for port 465, "
                  "\"starttls\" for 587 and 25, and client_cert)"};
    default:
      break;
  }
  // Everything else is either the server refusing something (a reply code of 4xx or 5xx) or
  // the connection failing (the last reply was a success, or there was none).
  if (temporary_reply)
    return {Verdict::retryable, answered() + "; a 4xx answer is temporary, retrying"};
  if (refusing_reply)
    return {Verdict::permanent,
            answered() + "; a 5xx answer is permanent, so the message was not sent to anyone"};
  return {Verdict::retryable, where + ": " + curl_part + "; retrying"};
}

}  // namespace vigil::notifier_email
