// The host's HTTP server: /health/*, /metrics and every route a plugin mounts through the C ABI.
//
// HTTP/1.1 with keep-alive on Boost.Beast, kept entirely out of this header (pimpl) so the rest
// of the host compiles without Asio. One I/O thread accepts, parses and writes; handlers run on a
// separate pool so a slow handler never blocks accepting or other routes. The loader maps the
// vigil_host_api http_* slots straight onto Request and Response, which is why they offer
// NUL-terminated strings and a write() that reports cancellation.
// This server must never let a handler's exception, a hung handler or a misbehaving client take
// the host down, and stop() must never wait past its deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::http {

struct Options {
  std::string address = "127.0.0.1";
  uint16_t port = 9180;                   // 0 = an ephemeral port (see Server::port())
  unsigned threads = 2;                   // handler threads
  unsigned max_concurrent_expensive = 2;  // bound on concurrent requests to `expensive` routes
  size_t max_body_bytes = 1 << 20;        // larger request bodies get 413
  std::chrono::milliseconds read_timeout{10000};
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

namespace detail {
struct CancelState;
struct Access;
}  // namespace detail

// Read-only view of one request. Thread-safety: used by one handler call at a time.
class Request {
 public:
  // Builds a request that is never cancelled; the server attaches its own cancellation. Public so
  // code layered on top (the loader's C trampolines) can be tested without a socket.
  Request(std::string method, std::string target, HeaderList headers = {}, std::string body = {});

  std::string_view method() const { return method_; }
  std::string_view target() const { return target_; }                  // path?query as received
  std::string_view path() const { return path_; }                      // without the query
  std::optional<std::string_view> query(std::string_view name) const;  // decoded
  const std::string* header(std::string_view name) const;  // case-insensitive; nullptr if absent
  const std::string& body() const { return body_; }
  bool cancelled() const;  // the client disconnected, or the server is stopping
  const char* c_str_method() const { return method_.c_str(); }  // NUL-terminated, for the C ABI
  const char* c_str_target() const { return target_.c_str(); }

 private:
  friend struct detail::Access;

  std::string method_;
  std::string target_;
  std::string path_;
  HeaderList headers_;  // repeated headers are joined with ", " so header() sees them all
  HeaderList query_;    // decoded name/value pairs in order of appearance
  std::string body_;
  std::shared_ptr<const detail::CancelState> cancel_;
};

// The body is kept as the chunks the handler wrote (small writes are gathered into one) and sent
// as they are: a 4 MB page written 64 KiB at a time is never joined into one string, which would
// copy it again and, growing by doubling, hold up to twice its size.
// Thread-safety: used by one handler call at a time.
class Response {
 public:
  Response() = default;

  void set_status(int code);
  void set_header(std::string_view name, std::string_view value);  // replaces
  bool write(
      std::string_view data);  // appends to the body; false (and nothing written) once cancelled
  int status() const { return status_; }
  std::string body() const;  // the whole body, joined (for tests and small bodies)
  size_t body_size() const { return body_size_; }
  const HeaderList& headers() const { return headers_; }
  const std::string* header(std::string_view name) const;  // case-insensitive; nullptr if absent

 private:
  friend struct detail::Access;

  int status_ = 200;
  HeaderList headers_;
  std::vector<std::string> body_;  // chunks, in order
  size_t body_size_ = 0;
  std::shared_ptr<const detail::CancelState> cancel_;
};

using Handler = std::function<void(const Request&, Response&)>;

struct RouteOptions {
  bool expensive = false;
};

// Thread-safety: mount/unmount/start/stop from one controlling thread; handlers run on the pool.
// The counters may be read from any thread.
class Server {
 public:
  explicit Server(Options options);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Exact path match per method. Error (false + message) when method+path is already mounted.
  bool mount(std::string method, std::string path, Handler handler, RouteOptions options,
             std::string& error);
  void unmount(const std::string& method, const std::string& path);
  bool start(std::string& error);  // binds and listens; error names address:port and the reason
  uint16_t port() const;           // the bound port
  // Stops accepting, marks in-flight requests cancelled, waits for handlers up to `deadline`,
  // closes every connection. A handler still running after the deadline is abandoned.
  void stop(std::chrono::milliseconds deadline);

  // Counters for self-metrics.
  uint64_t requests_total() const;
  uint64_t rejected_busy_total() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::http
