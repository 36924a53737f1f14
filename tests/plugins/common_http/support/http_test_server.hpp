// HttpTestServer: the one HTTP/1.1 server that tests and benchmark drivers run on loopback to
// stand in for what a plugin or the agent talks to (a webhook receiver, an API, a gateway).
// Boost.Beast, synchronous, a thread per connection, keep-alive, chunked request bodies. It
// records every request it reads (method, target, headers, body, arrival time) and answers as
// the test's handler says: a status, headers and a body, after a delay, or never (a receiver
// that hangs). Without a handler it serves the fixed routes of test_routes().
//
// A test fixture: it must never listen beyond 127.0.0.1, and never outlive its owner (the
// destructor wakes every blocked thread, a hanging answer's included, and joins them). It must
// not use Catch2: benchmark drivers, which have no test runner, link it too.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace vigil::testing {

// One request as the server read it. Thread-safety: plain value.
struct SeenRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // names lower-cased
  // When the request had been read in full, before the handler or any delay: what a test
  // compares, whatever the server then does. The wall clock's reading is for comparing with
  // times a client wrote into the request.
  std::chrono::steady_clock::time_point arrived;
  std::chrono::system_clock::time_point arrived_wall;

  // The header's value; "" when it was not sent.
  std::string header(const std::string& lower_name) const;
  // The body parsed; discarded (is_discarded()) when it is not JSON.
  nlohmann::json json() const;
};

// How the server answers one request. Thread-safety: plain value.
// Reply{429} or Reply{503, "maintenance"} name the first fields; set the others by name.
struct Reply {
  int status = 200;
  std::string body{};
  std::string content_type = "text/plain";       // none when empty
  std::map<std::string, std::string> headers{};  // more fields, e.g. {"Retry-After", "30"}
  std::chrono::milliseconds delay{0};            // waited before answering
  bool hang = false;  // never answer: the connection stays open until the server stops

  // 200 after `delay`.
  static Reply after(std::chrono::milliseconds delay);
  // No answer at all.
  static Reply never();
};

// Chooses the answer to one request. The server calls it one request at a time, in the order
// the requests were recorded, from the connection's thread. It may read the server's records
// (not set_handler()) but must not block: a slow or hung receiver is a Reply's delay or hang,
// which the server waits out without holding up other connections. An exception becomes a 500
// with its message.
using Handler = std::function<Reply(const SeenRequest&)>;

// Answers every request with `reply`.
Handler always(Reply reply);

// The routes the HTTP client's and check_http's tests use:
//   /ok                   200 "hello from the test server"
//   /status/<code>        that status, body "status <code>"
//   /slow/<ms>            200 "slow" after <ms> milliseconds
//   /retry-after/<s>      429 with Retry-After: <s>
//   /echo                 200, body "method=<m>\nbody=<b>\nx-test=<X-Test header>\n"
//   /redirect             302 to /ok
//   /big/<bytes>          200 with that many 'x'
//   /gzip                 200; gzip-encoded when the request accepts gzip
//   anything else         404
Handler test_routes();

// Thread-safety: every public function may be called from any thread.
class HttpTestServer {
 public:
  // Serves test_routes() on a port the kernel picks.
  HttpTestServer();
  // Binds 127.0.0.1:`port` (0: a port the kernel picks; a given one lets a test start a
  // receiver late where a client has been failing to connect) and answers with `handler`.
  explicit HttpTestServer(Handler handler, uint16_t port = 0);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  uint16_t port() const;
  // http://127.0.0.1:<port><path>
  std::string url(const std::string& path = "") const;
  // The handler for every request read from now on.
  void set_handler(Handler handler);

  // Every request recorded since the start (or the last clear()), oldest first.
  std::vector<SeenRequest> requests() const;
  std::size_t count() const;
  // The latest of them; an empty one when there is none.
  SeenRequest last_request() const;
  void clear();
  // Connections accepted since the start.
  int connections() const;

  // Waits until `done(requests())` holds, at most `timeout`; returns whether it did. `done` is
  // called with the server's records locked: it must not call the server.
  bool wait_until(const std::function<bool(const std::vector<SeenRequest>&)>& done,
                  std::chrono::milliseconds timeout) const;
  // Waits until at least `n` requests are recorded.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::testing
