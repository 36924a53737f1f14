// The HTTP server on Boost.Beast: accepting, parsing, routing, the handler hand-off and shutdown.
//
// One I/O thread accepts, reads and parses (each connection on its own strand); handlers run on a
// WorkerPool. While a handler runs, its connection is watched for a hang-up so the handler can
// stop early. A keep-alive answer is written by the handler's thread itself, straight into the
// socket, when the socket takes it whole: that spares the I/O thread one wake-up per request
// (about 45 µs of CPU per scrape on a small VM). The I/O thread writes only what the socket did
// not take, error answers, and answers that close the connection; the connection's Wire keeps
// the two threads from using the socket at once. Everything a handler job touches after it was
// handed off (the request, the response, the cancel flags, the way back to the I/O thread) lives
// in shared_ptrs, so stop() can abandon a hung handler and free the server without the handler
// ever touching freed memory.
// This file must never throw out of an I/O callback, never block the I/O thread on a handler, and
// never send a response for a request that was cancelled.
#include "http/detail.hpp"
#include "http/worker_pool.hpp"
#include "log/logging.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <thread>

namespace vigil::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// How long a connection we are closing after an error may keep sending before we stop reading:
// closing with unread bytes makes the kernel reset the connection, and the client would then
// lose the error response we just sent.
constexpr auto kDrainTime = 2s;
// How often a handler's connection is checked for a hang-up when readiness cannot tell (the
// client already sent its next request).
constexpr auto kHangupPollInterval = 100ms;

struct Route {
  std::shared_ptr<const Handler> handler;
  RouteOptions options;
};
// path -> method -> route; replaced as a whole on every change (copy-on-write).
using RouteTable = std::map<std::string, std::map<std::string, Route>, std::less<>>;

// What outlives any one start()/stop(): options, routes and counters. Thread-safety: routes under
// routes_mutex (readers take a snapshot), counters atomic, options read-only while running.
struct Shared {
  explicit Shared(Options o) : options(std::move(o)) {}

  Options options;
  std::atomic<uint64_t> requests_total{0};
  std::atomic<uint64_t> rejected_busy_total{0};
  std::atomic<unsigned> expensive_in_flight{0};

  std::mutex routes_mutex;
  std::shared_ptr<const RouteTable> routes = std::make_shared<RouteTable>();

  std::shared_ptr<const RouteTable> snapshot() {
    std::lock_guard lock(routes_mutex);
    return routes;
  }
};

// The way a finished handler job reaches the I/O thread. Closed by stop() before the io_context
// is destroyed, so an abandoned job that returns late finds it closed and touches no socket.
// Thread-safety: `open` and any use of the io_context behind it under mutex.
struct Gate {
  std::mutex mutex;
  bool open = true;
};

// A connection's socket as the handler threads see it. The I/O thread closes the socket only
// under `mutex` after clearing `open`, so a handler thread writing under `mutex` never writes to a
// closed (or reused) descriptor. Thread-safety: every field under mutex.
struct Wire {
  explicit Wire(int descriptor) : fd(descriptor) {}
  std::mutex mutex;
  int fd;
  bool open = true;
};

// An answer ready for the socket: the serialized status line and fields, then the body chunks as
// the handler wrote them. `sent` bytes of it are out already. Thread-safety: owned by one thread
// at a time (the handler's, then the I/O thread's).
struct Reply {
  std::string head;
  std::vector<std::string> body;
  std::size_t sent = 0;
  bool close_after = false;  // the connection closes once this is out

  std::size_t size() const {
    std::size_t total = head.size();
    for (const auto& chunk : body) total += chunk.size();
    return total;
  }
};

// One request handed to a handler. Thread-safety: request/response/reply belong to the handler
// thread until it returns and the result is posted back; cancel is atomic; answered and
// io_waiting are guarded by wire->mutex.
struct Exchange {
  Exchange(Request r, std::shared_ptr<detail::CancelState> c)
      : request(std::move(r)), cancel(std::move(c)) {
    detail::Access::attach(request, cancel);
    detail::Access::attach(response, cancel);
  }
  Request request;
  Response response;
  std::shared_ptr<detail::CancelState> cancel;
  std::shared_ptr<Wire> wire;
  bool head = false;
  bool keep_alive = true;
  unsigned version = 11;
  Reply reply;
  // The handler thread wrote the whole reply; the I/O thread moves on at the next readable event
  // (the client's next request or its hang-up) without being woken for it.
  bool answered = false;
  std::chrono::steady_clock::time_point answered_at{};
  // The I/O thread saw the next request arrive before the answer was out (pipelining), so it
  // waits for the handler job to post back even when the handler thread sends the answer itself.
  bool io_waiting = false;
};

// Holds one of the `expensive` slots until the handler job holding it is done (or dropped).
// Thread-safety: destroyed once, by whoever drops the last reference.
struct ExpensiveSlot {
  explicit ExpensiveSlot(std::shared_ptr<Shared> s) : shared(std::move(s)) {}
  ~ExpensiveSlot() { shared->expensive_in_flight.fetch_sub(1, std::memory_order_acq_rel); }
  ExpensiveSlot(const ExpensiveSlot&) = delete;
  ExpensiveSlot& operator=(const ExpensiveSlot&) = delete;
  std::shared_ptr<Shared> shared;
};

std::string describe_endpoint(const std::string& address, uint16_t port) {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

std::string_view to_std(beast::string_view text) {
  return {text.data(), text.size()};
}

bool valid_token(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool valid_field_value(std::string_view text) {
  for (unsigned char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// Framing is the server's business: a handler's copy of these would contradict what we send.
bool reserved_header(std::string_view name) {
  return detail::iequals(name, "Content-Length") || detail::iequals(name, "Transfer-Encoding") ||
         detail::iequals(name, "Connection");
}

// Turns a handler's response into the bytes to send. Runs on whichever thread answers. Status and
// fields a handler gets wrong are repaired here (500, dropped fields) with a log line, and the
// framing fields are the server's own.
Reply build_reply(const Response& response, std::vector<std::string> body, bool head,
                  bool keep_alive, unsigned version, bool stopping) {
  int status = response.status();
  if (status < 200 || status > 599) {
    vigil::log::host()->error("HTTP handler set status {}, expected 200-599; answering 500 instead",
                              status);
    status = 500;
    body.assign(1, "internal server error\n");
  }
  bhttp::response<bhttp::empty_body> message;
  message.version(version);
  message.result(static_cast<unsigned>(status));
  message.set(bhttp::field::server, "vigil");
  message.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  for (const auto& [name, value] : response.headers()) {
    if (reserved_header(name)) continue;
    if (!valid_token(name) || !valid_field_value(value)) {
      vigil::log::host()->warn(
          "HTTP response header '{}' dropped: expected a token name and a value without CR, LF "
          "or NUL",
          name);
      continue;
    }
    message.set(name, value);
  }
  Reply reply;
  reply.close_after = !keep_alive || stopping;
  message.keep_alive(!reply.close_after);
  const bool bodiless = status == 204 || status == 304;
  std::uint64_t length = 0;
  for (const auto& chunk : body) length += chunk.size();
  if (bodiless) {
    body.clear();
  } else {
    message.content_length(length);  // for HEAD: what GET would send, without the bytes
    if (head) body.clear();
  }
  // The fields, serialized once by Beast so the framing rules stay Beast's.
  bhttp::serializer<false, bhttp::empty_body> serializer(message);
  serializer.split(true);
  beast::error_code ec;
  while (!serializer.is_header_done() && !ec) {
    serializer.next(ec, [&](beast::error_code&, const auto& buffers) {
      for (const auto buffer : beast::buffers_range_ref(buffers))
        reply.head.append(static_cast<const char*>(buffer.data()), buffer.size());
      serializer.consume(beast::buffer_bytes(buffers));
    });
  }
  reply.body = std::move(body);
  return reply;
}

// Writes what the socket takes now, without blocking; advances reply.sent. False when the socket
// failed (the I/O thread then finds out the same way and closes). Caller holds the wire's mutex.
bool write_now(int fd, Reply& reply) {
  for (;;) {
    std::array<iovec, 64> parts;
    std::size_t count = 0;
    std::size_t skip = reply.sent;
    auto add = [&](const std::string& piece) {
      if (count == parts.size()) return;
      if (skip >= piece.size()) {
        skip -= piece.size();
        return;
      }
      parts[count++] = {const_cast<char*>(piece.data()) + skip, piece.size() - skip};
      skip = 0;
    };
    add(reply.head);
    for (const auto& chunk : reply.body) add(chunk);
    if (count == 0) return true;
    msghdr message{};
    message.msg_iov = parts.data();
    message.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    reply.sent += static_cast<std::size_t>(n);
  }
}

// One start()..stop() cycle: the io_context and everything bound to it. Thread-safety: created and
// destroyed by the controlling thread; the rest is used on the I/O thread.
struct Run {
  explicit Run(unsigned threads) : pool(threads) {}
  // Members are destroyed bottom-up: the io_context (and with it every session) goes before the
  // pool that sessions post to.
  WorkerPool pool;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();
  std::thread io_thread;
};

// One client connection. Thread-safety: every member function runs on the connection's strand
// (the I/O thread); handler jobs reach it only through post_result().
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared, Run& run)
      : stream_(std::move(socket)),
        poll_timer_(stream_.get_executor()),
        idle_timer_(stream_.get_executor()),
        wire_(std::make_shared<Wire>(stream_.socket().native_handle())),
        shared_(std::move(shared)),
        run_(run) {}

  // The socket closes after this; a handler thread must not write to it any more.
  ~Session() {
    std::lock_guard lock(wire_->mutex);
    wire_->open = false;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read_header(); }

  // Called on a handler thread once the handler returned: writes a keep-alive answer into the
  // socket itself when the socket takes all of it. True when nothing is left for the I/O thread
  // to do until the client's next request; false when the exchange must be posted back to it.
  static bool answer_directly(Exchange& exchange) {
    if (exchange.reply.close_after) return false;  // the I/O thread half-closes and drains
    std::lock_guard lock(exchange.wire->mutex);
    if (!exchange.wire->open || exchange.cancel->cancelled()) return false;
    if (!write_now(exchange.wire->fd, exchange.reply)) return false;
    if (exchange.reply.sent < exchange.reply.size()) return false;  // the I/O thread goes on
    exchange.answered = true;
    exchange.answered_at = std::chrono::steady_clock::now();
    exchange.reply = Reply{};  // free the page now, not at the next request
    return !exchange.io_waiting;
  }

  // Called on a handler thread: hands the finished exchange back to the connection's strand,
  // unless the server already closed the gate (then the io_context may be gone).
  static void post_result(const std::shared_ptr<Gate>& gate, const std::weak_ptr<Session>& weak,
                          std::shared_ptr<Exchange> exchange) {
    std::lock_guard lock(gate->mutex);
    if (!gate->open) return;
    std::shared_ptr<Session> self = weak.lock();
    if (!self) return;  // the connection is gone already; nobody to answer
    auto executor = self->stream_.get_executor();
    asio::post(executor, [self = std::move(self), exchange = std::move(exchange)]() mutable {
      self->on_handler_done(std::move(exchange));
    });
  }

 private:
  enum class State { reading, handling, writing, closed };

  const Options& options() const { return shared_->options; }

  void read_header() {
    state_ = State::reading;
    parser_.emplace();
    parser_->body_limit(options().max_body_bytes);
    stream_.expires_after(options().read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& msg = parser_->get();
    const auto expect = msg.find(bhttp::field::expect);
    if (expect != msg.end() && detail::iequals(to_std(expect->value()), "100-continue") &&
        !parser_->is_done()) {
      // The client waits for this before sending the body (curl does so for large bodies).
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->on_read_error(ec);
                        self->on_request();
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();  // the client left, or sat idle past read_timeout
    }
    if (ec == bhttp::error::partial_message) return close();  // hung up mid-request
    shared_->requests_total.fetch_add(1, std::memory_order_relaxed);
    if (ec == bhttp::error::body_limit) {
      return reply_error(413, "request body too large: the limit is " +
                                  std::to_string(options().max_body_bytes) + " bytes\n");
    }
    if (ec == bhttp::error::header_limit) {
      return reply_error(431, "request header fields too large\n");
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return reply_error(400, "bad request: " + ec.message() + "\n");
    }
    close();
  }

  // Replies to a request we could not read in full, then closes: the rest of what the client
  // sends cannot be framed any more.
  void reply_error(int status, std::string body) {
    Response response;
    response.set_status(status);
    send(response, std::move(body), /*head=*/false, /*keep_alive=*/false, 11);
  }

  void on_request() {
    shared_->requests_total.fetch_add(1, std::memory_order_relaxed);
    auto& msg = parser_->get();
    HeaderList headers;
    for (const auto& field : msg) {
      headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    const bool keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    Request request(std::string(msg.method_string()), std::string(msg.target()), std::move(headers),
                    std::move(msg.body()));
    parser_.reset();
    const bool head = request.method() == "HEAD";

    if (run_.stopping->load(std::memory_order_acquire)) {
      return reply_simple(503, "the server is stopping\n", head, false, version);
    }

    const auto table = shared_->snapshot();
    const auto by_path = table->find(request.path());
    if (by_path == table->end()) {
      return reply_simple(404, "not found\n", head, keep_alive, version);
    }
    const auto& methods = by_path->second;
    auto found = methods.find(std::string(request.method()));
    if (found == methods.end() && head) found = methods.find("GET");
    if (found == methods.end()) {
      std::string allow;
      for (const auto& [method, route] : methods) {
        if (!allow.empty()) allow += ", ";
        allow += method;
      }
      if (methods.count("GET") && !methods.count("HEAD")) allow += ", HEAD";
      Response response;
      response.set_status(405);
      response.set_header("Allow", allow);
      return send(response, "method not allowed; this path accepts: " + allow + "\n", head,
                  keep_alive, version);
    }
    const Route& route = found->second;

    std::shared_ptr<ExpensiveSlot> slot;
    if (route.options.expensive) {
      unsigned current = shared_->expensive_in_flight.load(std::memory_order_acquire);
      do {
        if (current >= options().max_concurrent_expensive) {
          shared_->rejected_busy_total.fetch_add(1, std::memory_order_relaxed);
          Response response;
          response.set_status(503);
          response.set_header("Retry-After", "1");
          return send(response, "busy: too many concurrent requests to this path; retry shortly\n",
                      head, keep_alive, version);
        }
      } while (!shared_->expensive_in_flight.compare_exchange_weak(current, current + 1,
                                                                   std::memory_order_acq_rel));
      slot = std::make_shared<ExpensiveSlot>(shared_);
    }

    auto cancel = std::make_shared<detail::CancelState>();
    cancel->server_stopping = run_.stopping;
    exchange_ = std::make_shared<Exchange>(std::move(request), std::move(cancel));
    exchange_->wire = wire_;
    // The client's next request is already read (pipelined in the same packet): only this thread
    // can parse it, so it must hear when the handler is done.
    exchange_->io_waiting = buffer_.size() > 0;
    exchange_->head = head;
    exchange_->keep_alive = keep_alive;
    exchange_->version = version;

    auto job = [exchange = exchange_, handler = route.handler, slot = std::move(slot),
                gate = run_.gate, weak = weak_from_this(), stopping = run_.stopping]() mutable {
      run_handler(*exchange, *handler);
      slot.reset();  // free the expensive slot as soon as the handler is done
      Response& response = exchange->response;
      exchange->reply = build_reply(response, detail::Access::take_body(response), exchange->head,
                                    exchange->keep_alive, exchange->version,
                                    stopping->load(std::memory_order_acquire));
      if (answer_directly(*exchange)) return;
      post_result(gate, weak, std::move(exchange));
    };
    state_ = State::handling;
    stream_.expires_never();
    if (!run_.pool.post(std::move(job))) {
      exchange_.reset();
      return reply_simple(503, "the server is stopping\n", head, false, version);
    }
    watch_client();
    watch_idle(exchange_, options().read_timeout);
  }

  static void run_handler(Exchange& exchange, const Handler& handler) {
    std::string failure;
    try {
      handler(exchange.request, exchange.response);
      return;
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    vigil::log::host()->error("HTTP handler for {} {} threw: {}; answering 500",
                              exchange.request.method(), exchange.request.path(), failure);
    exchange.response = Response{};
    detail::Access::attach(exchange.response, exchange.cancel);
    exchange.response.set_status(500);
    exchange.response.write("internal server error\n");
  }

  // --- watching a connection while its handler runs ------------------------------------------

  void watch_client() {
    const uint64_t generation = ++watch_generation_;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), generation](beast::error_code ec) {
                                  self->on_readable(ec, generation);
                                });
  }

  void on_readable(beast::error_code ec, uint64_t generation) {
    if (generation != watch_generation_ || state_ != State::handling) return;
    if (ec == asio::error::operation_aborted) return;
    ssize_t n = -1;
    int error = 0;
    if (!ec) {
      char byte;
      n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n < 0) error = errno;
    }
    const bool hung_up =
        ec || n == 0 || (n < 0 && error != EAGAIN && error != EWOULDBLOCK && error != EINTR);
    if (!hung_up && n < 0) return watch_client();  // woke without data: wait again
    bool answered = false;
    {
      std::lock_guard lock(wire_->mutex);
      answered = exchange_->answered;
      if (!answered && !hung_up) exchange_->io_waiting = true;  // the handler job posts back now
    }
    if (hung_up) return answered ? close() : client_gone();  // after an answer: a normal close
    if (answered) return next_request();  // the usual keep-alive case: the next request is here
    // The client already sent its next request (pipelining). The socket stays readable, so
    // readiness says nothing more; ask the kernel about a hang-up now and then instead.
    poll_for_hangup(generation);
  }

  // A keep-alive connection whose answer the handler thread sent must not stay open forever if
  // the client neither sends again nor hangs up: it closes `read_timeout` after the answer, as a
  // connection waiting for its next request does.
  void watch_idle(const std::shared_ptr<Exchange>& exchange, std::chrono::milliseconds after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait([self = shared_from_this(),
                            weak = std::weak_ptr<Exchange>(exchange)](beast::error_code ec) {
      const auto exchange = weak.lock();
      if (ec || !exchange || exchange != self->exchange_ || self->state_ != State::handling) return;
      std::chrono::steady_clock::time_point answered_at{};
      {
        std::lock_guard lock(self->wire_->mutex);
        if (exchange->answered) answered_at = exchange->answered_at;
      }
      const auto timeout = self->options().read_timeout;
      if (answered_at == std::chrono::steady_clock::time_point{}) {
        return self->watch_idle(exchange, timeout);  // the handler still runs
      }
      const auto idle = std::chrono::steady_clock::now() - answered_at;
      if (idle < timeout) {
        return self->watch_idle(exchange,
                                std::chrono::ceil<std::chrono::milliseconds>(timeout - idle));
      }
      self->close();  // idle past read_timeout, like a connection waiting for a request
    });
  }

  void poll_for_hangup(uint64_t generation) {
    poll_timer_.expires_after(kHangupPollInterval);
    poll_timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->watch_generation_ || self->state_ != State::handling) return;
      pollfd entry{self->stream_.socket().native_handle(), POLLRDHUP, 0};
      if (::poll(&entry, 1, 0) > 0 && (entry.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        return self->client_gone();
      }
      self->poll_for_hangup(generation);
    });
  }

  void stop_watching() {
    ++watch_generation_;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    poll_timer_.cancel();
    idle_timer_.cancel();
  }

  // After an exchange the handler thread answered: read the next request on this connection.
  void next_request() {
    stop_watching();
    exchange_.reset();
    read_header();
  }

  void client_gone() {
    if (exchange_) exchange_->cancel->client_gone.store(true, std::memory_order_release);
    vigil::log::host()->debug("HTTP client went away while {} {} was being handled",
                              exchange_ ? exchange_->request.method() : "?",
                              exchange_ ? exchange_->request.path() : "?");
    close();
  }

  // --- answering
  // ----------------------------------------------------------------------------------

  void on_handler_done(std::shared_ptr<Exchange> exchange) {
    if (state_ != State::handling || exchange != exchange_) return;
    bool answered = false;
    {
      std::lock_guard lock(wire_->mutex);
      answered = exchange->answered;
    }
    if (answered) return next_request();  // sent by the handler thread; the next one is waiting
    stop_watching();
    exchange_.reset();
    if (exchange->cancel->cancelled()) return close();  // nobody is waiting for this answer
    write_reply(std::move(exchange->reply));
  }

  void reply_simple(int status, std::string body, bool head, bool keep_alive, unsigned version) {
    Response response;
    response.set_status(status);
    send(response, std::move(body), head, keep_alive, version);
  }

  void send(const Response& response, std::string body, bool head, bool keep_alive,
            unsigned version) {
    std::vector<std::string> chunks;
    chunks.push_back(std::move(body));
    write_reply(build_reply(response, std::move(chunks), head, keep_alive, version,
                            run_.stopping->load(std::memory_order_acquire)));
  }

  // Writes what is left of `reply` (a handler thread may have sent its first bytes).
  void write_reply(Reply reply) {
    out_ = std::move(reply);
    out_buffers_.clear();
    std::size_t skip = out_.sent;
    auto add = [&](const std::string& piece) {
      if (skip >= piece.size()) {
        skip -= piece.size();
        return;
      }
      out_buffers_.emplace_back(piece.data() + skip, piece.size() - skip);
      skip = 0;
    };
    add(out_.head);
    for (const auto& chunk : out_.body) add(chunk);
    close_after_write_ = out_.close_after;
    state_ = State::writing;
    stream_.expires_after(options().read_timeout);
    asio::async_write(
        stream_, out_buffers_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return close();
    out_buffers_.clear();
    out_ = Reply{};
    if (close_after_write_) return finish_and_drain();
    read_header();
  }

  // Half-closes and reads whatever the client still sends, for a short while, so that our last
  // response is not lost to a connection reset.
  void finish_and_drain() {
    state_ = State::closed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  void close() {
    state_ = State::closed;
    ++watch_generation_;
    beast::error_code ignored;
    poll_timer_.cancel();
    idle_timer_.cancel();
    std::lock_guard lock(wire_->mutex);  // no handler thread is writing to it now
    wire_->open = false;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Reply out_;                                    // alive until its async_write completes
  std::vector<asio::const_buffer> out_buffers_;  // what is left of out_
  asio::steady_timer poll_timer_;
  asio::steady_timer idle_timer_;
  std::shared_ptr<Wire> wire_;
  std::array<char, 4096> scratch_;
  std::shared_ptr<Shared> shared_;
  Run& run_;
  State state_ = State::reading;
  std::shared_ptr<Exchange> exchange_;  // the request being handled, if any
  uint64_t watch_generation_ = 0;       // a watcher callback from an older generation is stale
  bool close_after_write_ = false;
};

void accept_next(Run& run, const std::shared_ptr<Shared>& shared) {
  run.acceptor.async_accept(
      asio::make_strand(run.ioc), [&run, shared](beast::error_code ec, tcp::socket socket) {
        if (!run.acceptor.is_open() || run.stopping->load(std::memory_order_acquire)) return;
        if (ec) {
          // Typically out of file descriptors: retrying at once would spin the I/O thread.
          vigil::log::host()->warn("HTTP accept failed: {}; retrying in 100ms", ec.message());
          run.accept_retry.expires_after(100ms);
          run.accept_retry.async_wait([&run, shared](beast::error_code wait_ec) {
            if (!wait_ec) accept_next(run, shared);
          });
          return;
        }
        std::make_shared<Session>(std::move(socket), shared, run)->start();
        accept_next(run, shared);
      });
}

}  // namespace

struct Server::Impl {
  explicit Impl(Options options) : shared(std::make_shared<Shared>(std::move(options))) {}

  std::shared_ptr<Shared> shared;
  std::unique_ptr<Run> run;
  uint16_t bound_port = 0;
};

Server::Server(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() {
  stop(std::chrono::milliseconds(2000));
}

bool Server::mount(std::string method, std::string path, Handler handler, RouteOptions options,
                   std::string& error) {
  if (!valid_token(method)) {
    error = "cannot mount route: method '" + method +
            "' is not an HTTP method token (expected "
            "e.g. GET or POST)";
    return false;
  }
  if (path.empty() || path.front() != '/' || path.find_first_of("?# \r\n") != std::string::npos) {
    error = "cannot mount " + method + " '" + path +
            "': expected an absolute path starting with '/' without query, fragment or spaces";
    return false;
  }
  if (!handler) {
    error = "cannot mount " + method + " " + path + ": the handler is empty";
    return false;
  }
  Shared& shared = *impl_->shared;
  std::lock_guard lock(shared.routes_mutex);
  const auto by_path = shared.routes->find(path);
  if (by_path != shared.routes->end() && by_path->second.count(method)) {
    error = "cannot mount " + method + " " + path + ": that method and path are already mounted";
    return false;
  }
  auto table = std::make_shared<RouteTable>(*shared.routes);
  (*table)[path][method] = Route{std::make_shared<const Handler>(std::move(handler)), options};
  shared.routes = std::move(table);
  return true;
}

void Server::unmount(const std::string& method, const std::string& path) {
  Shared& shared = *impl_->shared;
  std::lock_guard lock(shared.routes_mutex);
  const auto by_path = shared.routes->find(path);
  if (by_path == shared.routes->end() || !by_path->second.count(method)) return;
  // Handlers already running keep their own reference to the handler; only new requests miss it.
  auto table = std::make_shared<RouteTable>(*shared.routes);
  auto& methods = (*table)[path];
  methods.erase(method);
  if (methods.empty()) table->erase(path);
  shared.routes = std::move(table);
}

bool Server::start(std::string& error) {
  const Options& options = impl_->shared->options;
  const std::string where = describe_endpoint(options.address, options.port);
  if (impl_->run) {
    error = "cannot listen on " + where + ": the server is already running on port " +
            std::to_string(impl_->bound_port);
    return false;
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) {
    error = "cannot listen on " + where + ": '" + options.address +
            "' is not an IP address (expected e.g. 127.0.0.1, 0.0.0.0 or ::1)";
    return false;
  }
  auto run = std::make_unique<Run>(options.threads);
  const tcp::endpoint endpoint(address, options.port);
  run->acceptor.open(endpoint.protocol(), ec);
  if (!ec) run->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) run->acceptor.bind(endpoint, ec);
  if (!ec) run->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + where + ": " + ec.message();
    if (ec == asio::error::address_in_use) {
      error += " (another process holds this port; stop it or configure another port)";
    } else if (ec == asio::error::access_denied) {
      error += " (ports below 1024 need privileges; use a higher port)";
    } else if (ec == boost::system::errc::address_not_available) {
      error += " (this machine has no interface with that address)";
    }
    return false;
  }
  impl_->bound_port = run->acceptor.local_endpoint(ec).port();

  accept_next(*run, impl_->shared);
  Run* raw = run.get();
  run->io_thread = std::thread([raw] {
    vigil::log::name_this_thread("vigil-http-io");
    for (;;) {
      try {
        raw->ioc.run();
        return;
      } catch (const std::exception& e) {
        // Nothing in our callbacks should throw; if something does, keep serving the others.
        vigil::log::host()->error("HTTP I/O thread caught an exception and continues: {}",
                                  e.what());
      }
    }
  });
  impl_->run = std::move(run);
  vigil::log::host()->info("HTTP server listening on {}",
                           describe_endpoint(options.address, impl_->bound_port));
  return true;
}

uint16_t Server::port() const {
  return impl_->bound_port;
}

void Server::stop(std::chrono::milliseconds deadline) {
  if (!impl_->run) return;
  std::unique_ptr<Run> run = std::move(impl_->run);
  // Every in-flight request sees cancelled() from here on, whatever its connection is doing.
  run->stopping->store(true, std::memory_order_release);
  asio::post(run->ioc, [raw = run.get()] {
    beast::error_code ignored;
    raw->acceptor.close(ignored);
    raw->accept_retry.cancel();
  });
  const unsigned abandoned = run->pool.shutdown(deadline);
  if (abandoned > 0) {
    vigil::log::host()->warn(
        "HTTP server stopped with {} handler(s) still running after the {}ms deadline; they are "
        "abandoned and their answers dropped",
        abandoned, deadline.count());
  }
  {
    std::lock_guard lock(run->gate->mutex);
    run->gate->open = false;
  }
  run->ioc.stop();
  if (run->io_thread.joinable()) run->io_thread.join();
  // Destroying the Run closes the acceptor and every connection still open (idle keep-alives,
  // connections whose handler was abandoned).
  run.reset();
}

uint64_t Server::requests_total() const {
  return impl_->shared->requests_total.load(std::memory_order_relaxed);
}

uint64_t Server::rejected_busy_total() const {
  return impl_->shared->rejected_busy_total.load(std::memory_order_relaxed);
}

}  // namespace vigil::http
