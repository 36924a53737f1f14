// A webhook receiver on loopback for the integration tests: a small HTTP/1.1 server (Boost.Beast,
// synchronous, one thread per connection, keep-alive) that records every request it reads
// (method, target, headers, body, arrival time) and answers as the test programs it: a status
// code, an optional Retry-After, a delay before answering, or no answer at all (a receiver that
// hangs). It can bind a given port, so a test can start it late "on the same port" a notifier
// has been failing to reach.
//
// It is a test fixture: it must never listen beyond 127.0.0.1, and never outlive its owner (the
// destructor wakes every blocked thread, hanging ones included, and joins them).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vigil::testing {

// One request as the receiver read it. Thread-safety: plain value.
struct CapturedRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::chrono::steady_clock::time_point arrived;
  std::chrono::system_clock::time_point arrived_wall;

  std::string header(const std::string& lower_name) const;
  nlohmann::json json() const;  // the body parsed; discarded (is_discarded()) when not JSON
};

// How the receiver answers one request. Thread-safety: plain value.
struct Reply {
  int status = 200;
  std::string retry_after;             // the Retry-After header's value; none when empty
  std::chrono::milliseconds delay{0};  // waited after reading the request, before answering
  bool hang = false;  // never answer; the connection stays open until the server stops

  static Reply with_status(int status, std::string retry_after = "") {
    Reply r;
    r.status = status;
    r.retry_after = std::move(retry_after);
    return r;
  }
  static Reply after(std::chrono::milliseconds delay) {
    Reply r;
    r.delay = delay;
    return r;
  }
  static Reply never() {
    Reply r;
    r.hang = true;
    return r;
  }
};

// Thread-safety: every public function may be called from any thread.
class CaptureServer {
 public:
  // Binds 127.0.0.1:`port` (0: a port the kernel picks) and starts accepting.
  explicit CaptureServer(uint16_t port = 0);
  ~CaptureServer();
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;

  // A loopback port nothing listens on right now (bound, read and released), for a receiver
  // that is "down" until the test starts one there.
  static uint16_t free_port();

  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const;

  // The answer for every request without a queued one.
  void set_reply(Reply reply);
  // Answers for the next requests, in order, before the default takes over again.
  void queue_replies(std::vector<Reply> replies);

  std::vector<CapturedRequest> requests() const;
  size_t count() const;
  // Polls until `done(requests())` holds; false after `timeout`.
  bool wait_until(const std::function<bool(const std::vector<CapturedRequest>&)>& done,
                  std::chrono::milliseconds timeout) const;
  // Waits until at least `n` requests arrived.
  bool wait_for_count(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void accept_loop();
  void serve(const std::shared_ptr<boost::asio::ip::tcp::socket>& socket);
  Reply next_reply();
  // Sleeps up to `how_long`, waking early when the server stops; false when it stopped.
  bool pause(std::chrono::milliseconds how_long);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> connections_;
  std::vector<CapturedRequest> requests_;
  Reply default_reply_;
  std::deque<Reply> queued_;
};

}  // namespace vigil::testing
