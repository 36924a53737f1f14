// An HTTP server for notifier_alertmanager's tests that keeps every request it receives: the
// webhook receiver a real Alertmanager notifies (so a test sees what Alertmanager routed), and a
// stand-in Alertmanager API for what the plugin posts and how often (re-sends, retention,
// Retry-After, a slow answer).
//
// A test fixture (Boost.Beast on 127.0.0.1, a port the kernel picks): it must never listen beyond
// loopback, and never outlive the test that made it (the destructor stops every thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::testing {

struct CapturedRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::chrono::steady_clock::time_point at;
};

// Answers every request with the configured answer (200 and "" unless told otherwise).
// Thread-safety: the public functions may be called from any thread.
class CaptureServer {
 public:
  CaptureServer();
  ~CaptureServer();
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "") const;

  // The answer to every later request; `retry_after` is sent as Retry-After when not empty.
  void answer(int status, const std::string& body = "", const std::string& retry_after = "");
  // Waits this long before answering (a slow or hung Alertmanager).
  void delay(std::chrono::milliseconds d);

  std::vector<CapturedRequest> requests() const;
  // Waits until `done(requests())` holds, at most `timeout`; returns whether it did.
  bool wait_for(const std::function<bool(const std::vector<CapturedRequest>&)>& done,
                std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace vigil::testing
