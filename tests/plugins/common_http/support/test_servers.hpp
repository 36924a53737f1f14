// Real servers on loopback for the HTTP client and check_http tests: a small HTTP/1.1 server
// (Boost.Beast) with a handful of routes, and HTTPS served by `openssl s_server` with
// certificates the test generates with `openssl req`. Everything binds 127.0.0.1 on a port the
// kernel picks and lives in a temporary directory removed afterwards.
//
// These are test fixtures: they must never listen beyond loopback, and never outlive the test
// that made them (destructors stop threads and kill child processes).
#pragma once

#include <sys/types.h>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "files.hpp"  // TempDir

namespace vigil::testing {

// What the server last received, for tests that check what the client sent.
struct SeenRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
};

// Routes:
//   /ok                   200 "hello from the test server"
//   /status/<code>        that status, body "status <code>"
//   /slow/<ms>            waits <ms> milliseconds, then 200 "slow"
//   /retry-after/<s>      429 with Retry-After: <s>
//   /echo                 200, body "method=<m>\nbody=<b>\nx-test=<X-Test header>\n"
//   /redirect             302 to /ok
//   /big/<bytes>          200 with that many 'x'
//   /gzip                 200; gzip-encoded when the request accepts gzip
//   anything else         404
// Thread-safety: the public functions may be called from any thread.
class HttpTestServer {
 public:
  HttpTestServer();
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const;
  SeenRequest last_request() const;
  int connections() const { return connections_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
};

// Runs argv[0] with the arguments, waits, and returns its exit status (-1 when it could not be
// run); stdout and stderr go to `output`.
int run_program(const std::vector<std::string>& argv, std::string& output);

// A self-signed certificate for CN=localhost with subjectAltName localhost and 127.0.0.1, valid
// from now for `days` days: <dir>/<name>.pem and <dir>/<name>.key. REQUIREs that openssl works.
struct TestCertificate {
  std::string cert, key;
};
TestCertificate make_certificate(const TempDir& dir, const std::string& name, int days);

// `openssl s_server -www` on 127.0.0.1 and a free port, with that certificate; with
// `require_client_cert_from` set, only clients presenting a certificate signed by that PEM
// are let in. Answers every request with 200 and a text page. Killed by the destructor.
class TlsTestServer {
 public:
  explicit TlsTestServer(const TestCertificate& cert,
                         const std::string& require_client_cert_from = "");
  ~TlsTestServer();
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  uint16_t port() const { return port_; }
  // https://127.0.0.1:<port>/ or https://localhost:<port>/
  std::string url(const std::string& host = "127.0.0.1") const;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// Environment check for tests that need the openssl command.
bool have_openssl();

}  // namespace vigil::testing
