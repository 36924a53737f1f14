// A small Events API v2 receiver on loopback for notifier_events' tests: it keeps every event
// it was sent (the parsed JSON bodies, in order) and answers 202 as PagerDuty does, or the
// status a test chose for one dedup_key, so a test can fail one event of several.
//
// A test fixture: it must never listen beyond 127.0.0.1, and never outlive its test (the
// destructor stops every thread it started).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::testing {

// Thread-safety: the public functions may be called from any thread.
class EventsServer {
 public:
  EventsServer();
  ~EventsServer();
  EventsServer(const EventsServer&) = delete;
  EventsServer& operator=(const EventsServer&) = delete;

  // http://127.0.0.1:<port>/v2/enqueue
  std::string url() const;
  // Events whose dedup_key is `dedup_key` are answered with `status` (400 with PagerDuty's
  // "invalid event" body, anything else with a short text) until cleared.
  void fail(const std::string& dedup_key, unsigned status);
  void clear_failures();
  // Every event received so far, including the failed ones, in arrival order.
  std::vector<nlohmann::json> events() const;
  void clear_events();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::testing
