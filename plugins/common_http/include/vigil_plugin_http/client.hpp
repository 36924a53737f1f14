// An HTTP(S) client for plugins, over libcurl's easy interface: one request in, one response (or
// one clear error) out. check_http and collector_prometheus_scrape use it, so every plugin that
// speaks HTTP gets the same TLS defaults, timeouts, size limits and error texts.
//
// Secure unless told otherwise: certificates and host names are verified by default; only http
// and https URLs are accepted (a config can never make a plugin read file:// or talk gopher);
// a proxy is used only when one is given (or proxy_from_environment is set). It must never
// print or log a request's headers or body (they may hold credentials), never install signal
// handlers (CURLOPT_NOSIGNAL), and never block longer than the request's timeouts.
//
// This header is the stable interface other plugins build against: add fields at the end of the
// structs, never change the meaning of one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::plugin_http {

// Name/value pairs in the order sent or received. Names keep the case they were written with.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";  // any token; HEAD asks for no body
  std::string url;             // http:// or https:// only
  Headers headers;   // added to (or replacing) curl's own; "Name:" with no value removes one
  std::string body;  // sent when non-empty, or always for POST/PUT/PATCH

  // The total covers everything: resolve, connect, TLS, request, response; zero: no limit.
  // A zero connect_timeout means the total's (or curl's own 300 s when both are zero).
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{10000};

  // TLS. Verification of the peer's certificate and host name is ON unless insecure_skip_verify.
  bool insecure_skip_verify = false;
  std::string ca_file;      // PEM bundle to trust instead of the system's
  std::string client_cert;  // PEM client certificate, for servers that ask for one
  std::string client_key;   // PEM private key of client_cert (unencrypted)

  // "http://proxy:3128", "socks5://..."; empty: connect directly, unless proxy_from_environment,
  // which then follows http_proxy / https_proxy / no_proxy like curl's command line.
  std::string proxy;
  bool proxy_from_environment = false;

  bool accept_gzip = true;  // send Accept-Encoding: gzip and decode the answer transparently
  bool follow_redirects = false;
  long max_redirects = 10;
  // A (decoded) body larger than this fails the request with ErrorKind::too_large; 0: no limit.
  std::size_t max_body_bytes = 64u << 20;
  // A new connection for this request (and none kept after it): what a health check measures.
  // Otherwise connections are reused between requests of one Client; a reused HTTPS connection
  // reports no certificates (the handshake happened earlier).
  bool fresh_connection = false;
  std::string user_agent = "vigil";
  // When set and it becomes true, the transfer stops soon after with ErrorKind::cancelled.
  const std::atomic<bool>* cancel = nullptr;
};

// One certificate the server presented, as curl decoded it.
struct Certificate {
  std::string subject, issuer;
  int64_t not_before_unix = 0;  // seconds since the epoch, UTC; 0 when it could not be read
  int64_t not_after_unix = 0;
};

// Seconds from the start of the request to the end of each phase (curl's cumulative times).
struct Timing {
  double resolve_seconds = 0;
  double connect_seconds = 0;
  double tls_seconds = 0;         // end of the TLS handshake; 0 for plain http
  double first_byte_seconds = 0;  // first byte of the response
  double total_seconds = 0;
};

struct Response {
  long status = 0;           // the final response's status code (after redirects, if followed)
  std::string http_version;  // "1.0", "1.1", "2", "3"
  Headers headers;           // of the final response only
  std::string body;          // decoded when the server sent gzip
  Timing timing;
  std::string effective_url;   // the last URL requested, after redirects
  std::string remote_address;  // the peer's IP address
  // The chain the server sent, leaf first (not necessarily the chain that was verified). Empty
  // for plain http and for a reused connection.
  std::vector<Certificate> certificates;

  // The first header of that name, compared without case.
  std::optional<std::string> header(std::string_view name) const;
  // The leaf certificate, or nullptr.
  const Certificate* peer_certificate() const {
    return certificates.empty() ? nullptr : &certificates.front();
  }
  // The earliest notAfter of the presented chain (the certificate that expires first), or nullptr.
  const Certificate* earliest_expiring() const;
};

enum class ErrorKind {
  none,
  invalid_request,  // bad URL, scheme other than http/https, unreadable ca_file or client_cert
  resolve,          // the host name did not resolve
  connect,          // refused, unreachable, reset during connect
  timeout,          // connect_timeout or timeout elapsed
  tls,              // handshake failed (protocol, client certificate refused, ...)
  tls_verify,       // the server's certificate or host name was not trusted
  too_large,        // the body exceeded max_body_bytes
  cancelled,        // Request::cancel became true
  transfer,         // anything else: connection lost mid-response, bad HTTP, ...
};

// "timeout", "tls_verify", ...
const char* error_kind_name(ErrorKind kind);

// "Basic " + base64("user:password"): the Authorization header of HTTP basic authentication.
std::string basic_authorization(std::string_view user, std::string_view password);

struct Result {
  ErrorKind error_kind = ErrorKind::none;
  // One line a person can act on: "GET https://example.test/: <what curl said> (curl error 60)".
  std::string error;
  // Filled as far as the request got: on a timeout after the headers, status and headers are set.
  Response response;

  bool ok() const { return error_kind == ErrorKind::none; }
};

// One connection cache and one libcurl handle, reused across perform() calls.
// Thread-safety: not thread-safe; use one Client per thread (or per plugin instance, whose calls
// the host serialises). Distinct Clients may be used concurrently.
class Client {
 public:
  Client();
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Performs the request; never throws for a network or protocol failure (see Result), only
  // std::bad_alloc.
  Result perform(const Request& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// perform() on a Client of its own, for one-off requests.
Result fetch(const Request& request);

// True when `url` starts with http:// or https://, in any letter case: the URLs these plugins
// take. Says nothing of the rest of the URL (check_request() does, before a request).
bool has_http_scheme(std::string_view url);

// The URL with the password of its user info replaced by "***" ("https://u:***@host/"), for
// errors, logs and labels: they are shown to people who must not learn it from the config.
std::string redact_url(std::string_view url);

// Reads a time as libcurl's OpenSSL backend prints it in certificate info ("Jan  2 15:04:05 2030
// GMT", optionally with fractional seconds) into seconds since the epoch. False when it is not
// in that form.
bool parse_certificate_time(std::string_view text, int64_t& unix_seconds);

}  // namespace vigil::plugin_http
