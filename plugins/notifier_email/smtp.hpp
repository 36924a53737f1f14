// notifier_email's SMTP client: one message to a smarthost over libcurl's easy interface
// (smtp:// with STARTTLS, smtps://, or plain), and the judgement of how the attempt went —
// delivered, retryable or permanent — from libcurl's result and the server's last reply.
//
// It must never write the password, the AUTH exchange or the message into a message or a log
// (only server replies and the names of the commands they answered are kept), never send in
// clear when STARTTLS was asked for, and never report delivered unless the server accepted the
// message for every recipient.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace vigil::notifier_email {

enum class TlsMode {
  starttls,  // smtp://, then STARTTLS, which must succeed before anything else is sent
  implicit,  // smtps://: TLS from the first byte (port 465)
  none,      // smtp:// in clear (a relay on the same machine or network)
};

// Where and how to connect; fixed at configure().
// Thread-safety: a value type.
struct SmtpSettings {
  std::string host;  // a name, an IPv4 address or an IPv6 address without brackets
  int port = 0;
  TlsMode tls = TlsMode::starttls;
  std::string hello;  // the EHLO name
  std::string username, password;
  std::chrono::milliseconds timeout{30000}, connect_timeout{10000};
  std::string ca_file, client_cert, client_key;
  bool insecure_skip_verify = false;

  // "smtp.example.com:587", for messages.
  std::string where() const;
};

enum class Verdict { delivered, retryable, permanent };

// How one attempt went, with a message a person can act on.
// Thread-safety: a value type.
struct SendResult {
  Verdict verdict = Verdict::retryable;
  std::string message;
};

// What one libcurl transfer left behind, as judge() reads it.
// Thread-safety: a value type.
struct TransferOutcome {
  int curl_code = 0;       // CURLcode
  std::string curl_error;  // libcurl's error buffer ("RCPT failed: 550")
  long reply_code = 0;     // the server's last reply code (CURLINFO_RESPONSE_CODE)
  std::string reply;       // that reply's text, its lines joined by " / "
  std::string command;     // what it answered: "RCPT TO:<x@example.com>", "DATA", "AUTH", ...
};

// Sends `message` (CRLF line endings, not dot-stuffed: libcurl does that) from `envelope_from`
// to every address in `recipients`, through a fresh connection. Blocks up to settings.timeout.
TransferOutcome send_message(const SmtpSettings& settings, const std::string& envelope_from,
                             const std::vector<std::string>& recipients,
                             const std::string& message);

// delivered when libcurl finished without error (the server answered 250 to the end of the
// data after accepting every recipient). Retryable: any 4xx reply, network errors, timeouts,
// a failed TLS handshake. Permanent: any 5xx reply (550 unknown user, 554, 535 bad
// credentials), an untrusted certificate, a server that does not offer STARTTLS when tls is
// "starttls", files that cannot be used.
SendResult judge(const SmtpSettings& settings, const TransferOutcome& outcome);

}  // namespace vigil::notifier_email
