// check_http: a health check that makes one HTTP(S) request per run and judges the answer:
// status code, an optional body pattern, and for HTTPS how long until the server's certificate
// expires. Also writes the status code, the duration and the certificate's expiry as metrics.
//
// Each run opens a fresh connection, so the duration covers what a new client pays (DNS,
// connect, TLS) and the certificate is read every time. It must never turn TLS verification off
// by itself, never block past its own timeout (kept below the host's, so the host never has to
// abandon it), and never put a URL's password into a message, a label or the log.
#include <vigil/sdk.hpp>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "http_check.hpp"
#include "vigil_plugin_http/client.hpp"

namespace vigil::check_http {
namespace {

constexpr const char* kStatusCode = "vigil_http_check_status_code";
constexpr const char* kDuration = "vigil_http_check_duration_seconds";
constexpr const char* kCertExpiry = "vigil_http_check_cert_expiry_seconds";

// An HTTP method is a token: letters, digits and a few symbols, never a space or line break.
bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

}  // namespace

// One instance per configured "check_http" entry.
// Thread-safety: only check() touches the client and handles, and the host never runs two
// check() of one instance at once.
class HttpCheck final : public HealthCheck {
 public:
  Status configure(const Config& cfg) override {
    request_.url = cfg.string("url");
    if (!plugin_http::has_http_scheme(request_.url))
      return Status::invalid_argument("option \"url\": found \"" +
                                      plugin_http::redact_url(request_.url) +
                                      "\", expected an http:// or https:// URL");
    request_.method = cfg.string("method");
    if (!is_token(request_.method))
      return Status::invalid_argument("option \"method\": found \"" + request_.method +
                                      "\", expected an HTTP method such as GET, HEAD or POST");
    std::string error;
    if (!parse_headers(cfg.json("headers"), request_.headers, error))
      return Status::invalid_argument("option \"headers\": " + error);
    request_.body = cfg.string("body");
    if (!StatusMatcher::parse(cfg.json("expected_status"), expect_.status, error))
      return Status::invalid_argument("option \"expected_status\": " + error);
    if (std::string pattern = cfg.string("body_pattern"); !pattern.empty()) {
      expect_.body_pattern = plugin_pattern::Pattern::compile(pattern, error);
      if (!expect_.body_pattern)
        return Status::invalid_argument("option \"body_pattern\": /" + pattern +
                                        "/ is not a POSIX extended regular expression: " + error);
      if (request_.method == "HEAD")
        return Status::invalid_argument(
            "option \"body_pattern\" is set but method is HEAD, whose answer has no body; use "
            "GET, or drop body_pattern");
    }

    // The request's own timeout stays below the host's per-call timeout, so a slow server is
    // reported by this check ("timed out after ...") rather than abandoned by the host.
    const std::chrono::milliseconds host_timeout = cfg.timeout();
    if (cfg.is_set("timeout")) {
      request_.timeout = cfg.duration("timeout");
      if (host_timeout.count() > 0 && request_.timeout >= host_timeout)
        host().warn("option \"timeout\" (" + std::to_string(request_.timeout.count()) +
                    " ms) is not below the instance's timeout (" +
                    std::to_string(host_timeout.count()) +
                    " ms): the host gives up first and reports the check as timed out; lower "
                    "\"timeout\" or raise the instance's \"timeout\"");
    } else {
      request_.timeout =
          host_timeout.count() > 0 ? host_timeout * 9 / 10 : std::chrono::milliseconds(10000);
    }
    request_.connect_timeout =
        cfg.is_set("connect_timeout") ? cfg.duration("connect_timeout") : request_.timeout;
    if (request_.timeout.count() <= 0)
      return Status::invalid_argument(
          "option \"timeout\": found 0, expected a positive duration such as \"5s\"");

    request_.follow_redirects = cfg.boolean("follow_redirects");
    request_.insecure_skip_verify = cfg.boolean("insecure_skip_verify");
    request_.proxy = cfg.string("proxy");
    for (const char* option : {"ca_file", "client_cert", "client_key"}) {
      std::string path = cfg.string(option);
      if (!path.empty() && ::access(path.c_str(), R_OK) != 0)
        return Status::invalid_argument("option \"" + std::string(option) + "\": " + path +
                                        " cannot be read: " + std::strerror(errno));
    }
    request_.ca_file = cfg.string("ca_file");
    request_.client_cert = cfg.string("client_cert");
    request_.client_key = cfg.string("client_key");
    if (!request_.client_key.empty() && request_.client_cert.empty())
      return Status::invalid_argument(
          "option \"client_key\" is set without \"client_cert\"; give both, or neither");
    const int64_t max_body = cfg.integer("max_body_bytes");
    if (max_body < 0)
      return Status::invalid_argument("option \"max_body_bytes\": found " +
                                      std::to_string(max_body) + ", expected 0 (no limit) or more");
    request_.max_body_bytes = static_cast<std::size_t>(max_body);
    request_.fresh_connection = true;
    request_.accept_gzip = true;

    expect_.cert_warning_days = cfg.integer("cert_warning_days");
    expect_.cert_critical_days = cfg.integer("cert_critical_days");
    if (expect_.cert_critical_days < 0 || expect_.cert_warning_days < expect_.cert_critical_days)
      return Status::invalid_argument(
          "options \"cert_warning_days\" (" + std::to_string(expect_.cert_warning_days) +
          ") and \"cert_critical_days\" (" + std::to_string(expect_.cert_critical_days) +
          "): expected 0 <= cert_critical_days <= cert_warning_days");

    if (request_.insecure_skip_verify)
      host().warn("insecure_skip_verify is set: " + plugin_http::redact_url(request_.url) +
                  " is checked without verifying its certificate");

    const std::string url_label = plugin_http::redact_url(request_.url);
    const Labels labels = {{"check", std::string(cfg.instance_name())}, {"url", url_label}};
    Host& h = host();
    h.describe(kStatusCode, MetricType::gauge,
               "HTTP status code of the last check's response; 0 when no response came.");
    h.describe(kDuration, MetricType::gauge,
               "Seconds the last check took: resolve, connect, TLS, request and whole response.",
               "seconds");
    h.describe(kCertExpiry, MetricType::gauge,
               "Unix time at which the first-expiring certificate the server presented expires.",
               "seconds");
    status_code_ = h.gauge(kStatusCode, labels);
    duration_ = h.gauge(kDuration, labels);
    cert_expiry_ = h.gauge(kCertExpiry, labels);
    return Status::ok();
  }

  Status check(HealthResult& out) override {
    plugin_http::Result result = client_.perform(request_);
    const int64_t now = host().now_ms() / 1000;
    Verdict verdict = judge(result, expect_, now);
    out.status = verdict.status;
    out.message = std::move(verdict.message);

    bool written = status_code_.set(static_cast<double>(result.response.status));
    written &= duration_.set(result.response.timing.total_seconds);
    if (verdict.certificate != nullptr)
      written &= cert_expiry_.set(static_cast<double>(verdict.certificate->not_after_unix));
    // The check's verdict stands even when the host refused a sample; say so once.
    if (!written && !warned_write_) {
      host().warn("the host refused a sample of " + std::string(kStatusCode) +
                  " or its siblings; see the host's log for why");
      warned_write_ = true;
    }
    return Status::ok();
  }

 private:
  plugin_http::Client client_;
  plugin_http::Request request_;
  Expectations expect_;
  Gauge status_code_, duration_, cert_expiry_;
  bool warned_write_ = false;
};

}  // namespace vigil::check_http

VIGIL_PLUGIN(
    "check_http", "1.0.0",
    vigil::health_check<vigil::check_http::HttpCheck>(
        "HTTP(S) endpoint: status code, body pattern, response time and TLS certificate expiry")
        .required_option("url", vigil::String, "the URL to request, http:// or https://")
        .option("method", vigil::String, "GET", "HTTP method (GET, HEAD, POST, ...)")
        .option("headers", vigil::Json, nullptr,
                "request headers, a JSON object such as {\"Authorization\": \"Bearer ...\"}")
        .option("body", vigil::String, "", "request body, sent when non-empty")
        .option("expected_status", vigil::Json, nullptr,
                "status codes that count as up, such as [200, 204] or [\"2xx\"]; default: any "
                "2xx or 3xx")
        .option("body_pattern", vigil::String, "",
                "POSIX extended regular expression the body must match; empty: not checked")
        .option("timeout", vigil::Duration, nullptr,
                "limit for the whole request; default: 90% of the instance's timeout")
        .option("connect_timeout", vigil::Duration, nullptr,
                "limit for the TCP connect; default: the timeout")
        .option("follow_redirects", vigil::Bool, "false",
                "follow 3xx Location answers and judge the final response")
        .option("ca_file", vigil::String, "", "PEM bundle of CAs to trust instead of the system's")
        .option("client_cert", vigil::String, "", "PEM client certificate, for mutual TLS")
        .option("client_key", vigil::String, "", "PEM private key of client_cert (unencrypted)")
        .option("insecure_skip_verify", vigil::Bool, "false",
                "do not verify the server's certificate and host name (the expiry is still "
                "checked)")
        .option("proxy", vigil::String, "",
                "proxy URL such as http://proxy:3128; empty: connect directly (the environment's "
                "http_proxy is ignored)")
        .option("cert_warning_days", vigil::Int, "14",
                "warning when the certificate expires within this many days")
        .option("cert_critical_days", vigil::Int, "7",
                "critical when the certificate expires within this many days")
        .option("max_body_bytes", vigil::Int, "10485760",
                "critical when the response body is larger than this; 0: no limit"));
