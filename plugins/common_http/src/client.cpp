// See client.hpp. The libcurl details live here: option setting, callbacks, mapping curl's codes
// to ErrorKind, and reading the certificate chain from CURLINFO_CERTINFO.
//
// Must never let an exception cross a curl callback (curl is C; unwinding through it is undefined),
// never keep a pointer into a Request after perform() returns, and never put a URL's password
// into an error message.
#include "vigil_plugin_http/client.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>

namespace vigil::plugin_http {
namespace {

// curl_global_init is thread-safe in the libcurl Debian 12 ships (it has the "threadsafe"
// feature), but one call is all that is needed. Never cleaned up: another plugin in the same
// process may be using libcurl, and the library counts its own users anyway.
void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// The request's own mistakes, found before curl is involved, so the message names the field.
std::string check_request(const Request& r) {
  if (r.url.empty()) return "the URL is empty; expected http://host[:port]/path or https://...";
  if (!has_http_scheme(r.url))
    return "unsupported URL \"" + redact_url(r.url) +
           "\"; expected one starting with http:// or https://";
  if (has_line_break(r.url) || r.url.find(' ') != std::string::npos)
    return "the URL contains a space or line break; percent-encode it (%20)";
  if (r.method.empty()) return "the method is empty; expected GET, POST, HEAD, ...";
  for (char c : r.method)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      return "method \"" + r.method +
             "\" is not an HTTP token; expected letters such as GET or POST";
  for (const auto& [name, value] : r.headers) {
    if (name.empty() || name.find_first_of(" \t:\r\n") != std::string::npos)
      return "header name \"" + name + "\" is empty or contains a space, ':' or line break";
    if (has_line_break(value))
      return "header \"" + name + "\" has a line break in its value; one line per header";
  }
  auto readable = [](const std::string& path, const char* what) -> std::string {
    if (path.empty() || ::access(path.c_str(), R_OK) == 0) return "";
    return std::string(what) + " " + path + " cannot be read: " + std::strerror(errno);
  };
  if (std::string e = readable(r.ca_file, "ca_file"); !e.empty()) return e;
  if (std::string e = readable(r.client_cert, "client_cert"); !e.empty()) return e;
  if (std::string e = readable(r.client_key, "client_key"); !e.empty()) return e;
  if (!r.client_key.empty() && r.client_cert.empty())
    return "client_key is set without client_cert; give both, or neither";
  return "";
}

ErrorKind kind_of(CURLcode code, std::string_view message) {
  switch (code) {
    case CURLE_OK:
      return ErrorKind::none;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:  // our own client certificate could not be used
      return ErrorKind::invalid_request;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return ErrorKind::resolve;
    case CURLE_COULDNT_CONNECT:
      return ErrorKind::connect;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorKind::timeout;
    case CURLE_PEER_FAILED_VERIFICATION:  // also CURLE_SSL_CACERT since curl 7.62
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return ErrorKind::tls_verify;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return ErrorKind::tls;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      // With TLS 1.3 a server refusing our client certificate says so in an alert after the
      // handshake, which curl reports as a read error from OpenSSL.
      return message.find("SSL") != std::string_view::npos ? ErrorKind::tls : ErrorKind::transfer;
    case CURLE_ABORTED_BY_CALLBACK:
      return ErrorKind::cancelled;
    case CURLE_FILESIZE_EXCEEDED:
      return ErrorKind::too_large;
    default:
      return ErrorKind::transfer;
  }
}

int month_index(std::string_view m) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

// Reads the digits at the front of `s` (at least one, at most `max_digits`) into `out`.
bool take_number(std::string_view& s, int max_digits, int& out) {
  int digits = 0;
  out = 0;
  while (!s.empty() && digits < max_digits && std::isdigit(static_cast<unsigned char>(s.front()))) {
    out = out * 10 + (s.front() - '0');
    s.remove_prefix(1);
    ++digits;
  }
  return digits > 0;
}

bool take_char(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

void skip_spaces(std::string_view& s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
}

}  // namespace

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::none:
      return "none";
    case ErrorKind::invalid_request:
      return "invalid_request";
    case ErrorKind::resolve:
      return "resolve";
    case ErrorKind::connect:
      return "connect";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::tls:
      return "tls";
    case ErrorKind::tls_verify:
      return "tls_verify";
    case ErrorKind::too_large:
      return "too_large";
    case ErrorKind::cancelled:
      return "cancelled";
    case ErrorKind::transfer:
      return "transfer";
  }
  return "unknown";
}

bool has_http_scheme(std::string_view url) {
  return starts_with_nocase(url, "http://") || starts_with_nocase(url, "https://");
}

std::string redact_url(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  std::size_t start = scheme + 3;
  std::size_t end = url.find_first_of("/?#", start);
  std::string_view authority =
      url.substr(start, end == std::string_view::npos ? url.npos : end - start);
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::size_t colon = authority.find(':');
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  std::string out(url.substr(0, start + colon + 1));
  out += "***";
  out += url.substr(start + at);
  return out;
}

bool parse_certificate_time(std::string_view text, int64_t& unix_seconds) {
  // OpenSSL's ASN1_TIME_print: "%b %e %H:%M:%S[.fff] %Y GMT", the day padded with a space.
  std::string_view s = trim(text);
  if (s.size() < 3) return false;
  int month = month_index(s.substr(0, 3));
  if (month < 0) return false;
  s.remove_prefix(3);
  skip_spaces(s);
  int day = 0, hour = 0, minute = 0, second = 0, year = 0;
  if (!take_number(s, 2, day) || !take_char(s, ' ')) return false;
  if (!take_number(s, 2, hour) || !take_char(s, ':')) return false;
  if (!take_number(s, 2, minute) || !take_char(s, ':')) return false;
  if (!take_number(s, 2, second)) return false;
  if (take_char(s, '.')) {
    int fraction = 0;
    if (!take_number(s, 9, fraction)) return false;
  }
  if (!take_char(s, ' ') || !take_number(s, 4, year)) return false;
  skip_spaces(s);
  if (s != "GMT") return false;
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1) && !(year == 1969 && month == 11 && day == 31)) return false;
  unix_seconds = static_cast<int64_t>(t);
  return true;
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

const Certificate* Response::earliest_expiring() const {
  const Certificate* best = nullptr;
  for (const Certificate& c : certificates) {
    if (c.not_after_unix == 0) continue;
    if (best == nullptr || c.not_after_unix < best->not_after_unix) best = &c;
  }
  return best;
}

struct Client::Impl {
  CURL* easy = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};

  // What the callbacks write into during one perform().
  struct Transfer {
    Response* response = nullptr;
    std::size_t max_body = 0;
    bool too_large = false;
    const std::atomic<bool>* cancel = nullptr;
  };

  ~Impl() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  static size_t on_body(char* data, size_t size, size_t count, void* user) noexcept {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    std::string& body = t->response->body;
    if (t->max_body != 0 && body.size() + n > t->max_body) {
      t->too_large = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    try {
      body.append(data, n);
    } catch (...) {
      return 0;  // out of memory: fail this transfer, not the host
    }
    return n;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* user) noexcept {
    auto* t = static_cast<Transfer*>(user);
    size_t n = size * count;
    std::string_view line(data, n);
    try {
      if (starts_with_nocase(line, "HTTP/")) {
        // A new response starts (after a redirect or a 100 Continue): keep only the last one's.
        t->response->headers.clear();
      } else if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
        t->response->headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                          std::string(trim(line.substr(colon + 1))));
      }
    } catch (...) {
      return 0;
    }
    return n;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
    auto* t = static_cast<Transfer*>(user);
    return t->cancel != nullptr && t->cancel->load(std::memory_order_relaxed) ? 1 : 0;
  }

  // Options, in one place; returns the first one curl refused.
  CURLcode configure(const Request& r, Transfer& t, curl_slist* headers) {
    CURLcode c = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
      if (c == CURLE_OK) c = curl_easy_setopt(easy, option, value);
    };
    const long timeout_ms = static_cast<long>(r.timeout.count());
    const long connect_ms = static_cast<long>(r.connect_timeout.count());

    set(CURLOPT_ERRORBUFFER, errbuf);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_URL, r.url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(CURLOPT_FOLLOWLOCATION, r.follow_redirects ? 1L : 0L);
    set(CURLOPT_MAXREDIRS, r.max_redirects);
    set(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    // curl's own default is 300 s; "no limit" here means bounded by the total only.
    set(CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : timeout_ms > 0 ? timeout_ms : 0L);
    set(CURLOPT_USERAGENT, r.user_agent.c_str());
    set(CURLOPT_WRITEFUNCTION, &Impl::on_body);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
    set(CURLOPT_HEADERFUNCTION, &Impl::on_header);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
    if (r.cancel != nullptr) {
      set(CURLOPT_NOPROGRESS, 0L);
      set(CURLOPT_XFERINFOFUNCTION, &Impl::on_progress);
      set(CURLOPT_XFERINFODATA, static_cast<void*>(&t));
    }
    if (r.accept_gzip) set(CURLOPT_ACCEPT_ENCODING, "gzip");
    if (r.fresh_connection) {
      set(CURLOPT_FRESH_CONNECT, 1L);
      set(CURLOPT_FORBID_REUSE, 1L);
    }

    // Method and body. HEAD must be NOBODY or curl waits for a body that never comes.
    const bool sends_body =
        !r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
    if (r.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else if (sends_body) {
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      set(CURLOPT_POSTFIELDS, r.body.c_str());
      if (r.method != "POST") set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    } else if (r.method == "GET") {
      set(CURLOPT_HTTPGET, 1L);
    } else {
      set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    if (headers != nullptr) set(CURLOPT_HTTPHEADER, headers);

    // TLS: verified unless the caller opted out; the peer chain is kept for expiry checks.
    set(CURLOPT_SSL_VERIFYPEER, r.insecure_skip_verify ? 0L : 1L);
    set(CURLOPT_SSL_VERIFYHOST, r.insecure_skip_verify ? 0L : 2L);
    set(CURLOPT_CERTINFO, 1L);
    if (!r.ca_file.empty()) set(CURLOPT_CAINFO, r.ca_file.c_str());
    if (!r.client_cert.empty()) {
      set(CURLOPT_SSLCERT, r.client_cert.c_str());
      set(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (!r.client_key.empty()) {
      set(CURLOPT_SSLKEY, r.client_key.c_str());
      set(CURLOPT_SSLKEYTYPE, "PEM");
    }

    // An empty CURLOPT_PROXY disables curl's reading of http_proxy & co.: an agent's checks must
    // not change path because of the environment it was started from.
    if (!r.proxy.empty()) {
      set(CURLOPT_PROXY, r.proxy.c_str());
    } else if (!r.proxy_from_environment) {
      set(CURLOPT_PROXY, "");
    }
    return c;
  }

  void read_info(Response& response) {
    long code = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK) response.status = code;
    long version = 0;
    if (curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version) == CURLE_OK) {
      switch (version) {
        case CURL_HTTP_VERSION_1_0:
          response.http_version = "1.0";
          break;
        case CURL_HTTP_VERSION_1_1:
          response.http_version = "1.1";
          break;
        case CURL_HTTP_VERSION_2_0:
          response.http_version = "2";
          break;
        case CURL_HTTP_VERSION_3:
          response.http_version = "3";
          break;
        default:
          break;
      }
    }
    auto seconds = [this](CURLINFO info) {
      curl_off_t us = 0;
      return curl_easy_getinfo(easy, info, &us) == CURLE_OK ? static_cast<double>(us) / 1e6 : 0.0;
    };
    response.timing.resolve_seconds = seconds(CURLINFO_NAMELOOKUP_TIME_T);
    response.timing.connect_seconds = seconds(CURLINFO_CONNECT_TIME_T);
    response.timing.tls_seconds = seconds(CURLINFO_APPCONNECT_TIME_T);
    response.timing.first_byte_seconds = seconds(CURLINFO_STARTTRANSFER_TIME_T);
    response.timing.total_seconds = seconds(CURLINFO_TOTAL_TIME_T);
    char* text = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &text) == CURLE_OK && text != nullptr)
      response.effective_url = redact_url(text);
    text = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &text) == CURLE_OK && text != nullptr)
      response.remote_address = text;

    curl_certinfo* info = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &info) == CURLE_OK && info != nullptr) {
      for (int i = 0; i < info->num_of_certs; ++i) {
        Certificate cert;
        for (curl_slist* item = info->certinfo[i]; item != nullptr; item = item->next) {
          std::string_view entry(item->data);
          std::size_t colon = entry.find(':');
          if (colon == std::string_view::npos) continue;
          std::string_view key = entry.substr(0, colon), value = entry.substr(colon + 1);
          if (key == "Subject")
            cert.subject = std::string(trim(value));
          else if (key == "Issuer")
            cert.issuer = std::string(trim(value));
          else if (key == "Start date")
            parse_certificate_time(value, cert.not_before_unix);
          else if (key == "Expire date")
            parse_certificate_time(value, cert.not_after_unix);
        }
        response.certificates.push_back(std::move(cert));
      }
    }
  }
};

Client::Client() : impl_(std::make_unique<Impl>()) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result Client::perform(const Request& request) {
  Result result;
  const std::string what = request.method + " " + redact_url(request.url) + ": ";
  if (std::string problem = check_request(request); !problem.empty()) {
    result.error_kind = ErrorKind::invalid_request;
    result.error = what + problem;
    return result;
  }
  if (!impl_) impl_ = std::make_unique<Impl>();  // a moved-from Client is usable again
  global_init_once();
  if (impl_->easy == nullptr) {
    impl_->easy = curl_easy_init();
    if (impl_->easy == nullptr) {
      result.error_kind = ErrorKind::transfer;
      result.error = what + "libcurl could not create a handle (out of memory?)";
      return result;
    }
  } else {
    curl_easy_reset(impl_->easy);  // keeps the connection and DNS caches
  }

  // "Expect: 100-continue" would add a round trip for large bodies; servers we watch answer
  // the body directly. "Name:" with no value tells curl to drop a header it would add.
  curl_slist* headers = nullptr;
  bool has_expect = false;
  bool failed = false;
  for (const auto& [name, value] : request.headers) {
    has_expect |= iequals(name, "Expect");
    std::string line = name + ":" + (value.empty() ? "" : " " + value);
    curl_slist* next = curl_slist_append(headers, line.c_str());
    if (next == nullptr)
      failed = true;
    else
      headers = next;
  }
  if (!has_expect && !failed) {
    curl_slist* next = curl_slist_append(headers, "Expect:");
    if (next == nullptr)
      failed = true;
    else
      headers = next;
  }
  if (failed) {
    curl_slist_free_all(headers);
    throw std::bad_alloc();
  }

  Impl::Transfer transfer;
  transfer.response = &result.response;
  transfer.max_body = request.max_body_bytes;
  transfer.cancel = request.cancel;
  impl_->errbuf[0] = '\0';
  CURLcode code = impl_->configure(request, transfer, headers);
  if (code == CURLE_OK) code = curl_easy_perform(impl_->easy);
  impl_->read_info(result.response);
  // The handle keeps pointers to our callbacks' data and the header list; drop them now.
  curl_easy_setopt(impl_->easy, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_slist_free_all(headers);

  if (code != CURLE_OK) {
    std::string message = impl_->errbuf[0] != '\0' ? impl_->errbuf : curl_easy_strerror(code);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    result.error_kind = kind_of(code, message);
    if (transfer.too_large) {
      result.error_kind = ErrorKind::too_large;
      message = "the response body exceeds max_body_bytes (" +
                std::to_string(request.max_body_bytes) + " bytes)";
    } else if (result.error_kind == ErrorKind::cancelled) {
      message = "cancelled";
    }
    result.error = what + message + " (curl error " + std::to_string(static_cast<int>(code)) + ")";
  }
  return result;
}

Result fetch(const Request& request) {
  Client client;
  return client.perform(request);
}

}  // namespace vigil::plugin_http
