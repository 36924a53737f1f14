// Real servers on loopback for the HTTP client and check_http tests: HttpTestServer (see
// http_test_server.hpp), and HTTPS served by `openssl s_server` with certificates the test
// generates with `openssl req`. Everything binds 127.0.0.1 on a port the kernel picks and lives
// in a temporary directory removed afterwards.
//
// These are test fixtures: they must never listen beyond loopback, and never outlive the test
// that made them (destructors stop threads and kill child processes).
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <string>
#include <vector>

#include "files.hpp"  // TempDir
#include "http_test_server.hpp"

namespace vigil::testing {

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
