// Behaviour of the host's HTTP server as a client sees it: routing, status codes, keep-alive,
// the bound on expensive routes, cancellation on disconnect, and a stop() that cannot hang.
// Every test runs a real server on an ephemeral loopback port. Waits are bounded and generous;
// nothing here asserts how fast anything is.
#include "http/server.hpp"
#include "test_client.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using vigil::http::Options;
using vigil::http::Request;
using vigil::http::Response;
using vigil::http::RouteOptions;
using vigil::http::Server;
using vigil::http::test::Connection;
using vigil::http::test::fetch;

namespace {

Options test_options() {
  Options options;
  options.port = 0;
  options.threads = 2;
  return options;
}

void must_mount(Server& server, const std::string& method, const std::string& path,
                vigil::http::Handler handler, RouteOptions route = {}) {
  std::string error;
  REQUIRE(server.mount(method, path, std::move(handler), route, error));
}

void must_start(Server& server) {
  std::string error;
  INFO(error);
  REQUIRE(server.start(error));
  REQUIRE(server.port() != 0);
}

void hello(const Request&, Response& response) {
  response.write("hello\n");
}

// Lets handlers block until the test releases them, and lets the test wait until N are blocked.
// Thread-safety: all members under mutex. Held in a shared_ptr so an abandoned handler that
// returns after the test ended still finds it.
struct Barrier {
  std::mutex mutex;
  std::condition_variable changed;
  int entered = 0;
  bool released = false;

  void enter_and_wait() {
    std::unique_lock lock(mutex);
    ++entered;
    changed.notify_all();
    changed.wait(lock, [&] { return released; });
  }
  bool wait_entered(int count, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return entered >= count; });
  }
  void release() {
    std::lock_guard lock(mutex);
    released = true;
    changed.notify_all();
  }
};

}  // namespace

TEST_CASE("a mounted route answers on an ephemeral port", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  const auto reply = fetch(server.port(), "GET", "/hello");
  CHECK(reply.status == 200);
  CHECK(reply.body == "hello\n");
  CHECK(reply.header("content-length") == "6");
  CHECK(reply.header("content-type") == "text/plain; charset=utf-8");
  CHECK(reply.header("server") == "vigil");
  CHECK(server.requests_total() == 1);
}

TEST_CASE("handlers see the method, path, decoded query, headers and body", "[http]") {
  Server server(test_options());
  must_mount(server, "POST", "/echo", [](const Request& request, Response& response) {
    response.set_status(201);
    response.set_header("Content-Type", "application/json");
    response.set_header("X-Path", std::string(request.path()));
    response.write(std::string(request.method()) + "|" + std::string(request.target()) + "|" +
                   std::string(request.query("name").value_or("<none>")) + "|" +
                   std::string(request.query("missing").value_or("<none>")) + "|" +
                   (request.header("x-token") ? *request.header("x-token") : "<none>") + "|" +
                   request.body());
  });
  must_start(server);

  const auto reply =
      fetch(server.port(), "POST", "/echo?name=a%20b+c&x=1", "payload", "X-Token: secret\r\n");
  CHECK(reply.status == 201);
  CHECK(reply.header("content-type") == "application/json");
  CHECK(reply.header("x-path") == "/echo");
  CHECK(reply.body == "POST|/echo?name=a%20b+c&x=1|a b c|<none>|secret|payload");
}

TEST_CASE("an unknown path gets 404 with a short text body", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  const auto reply = fetch(server.port(), "GET", "/nope");
  CHECK(reply.status == 404);
  CHECK_FALSE(reply.body.empty());
  CHECK(reply.body.size() < 200);
  // Paths match exactly: a prefix or a trailing slash is another path.
  CHECK(fetch(server.port(), "GET", "/hello/").status == 404);
}

TEST_CASE("a known path with another method gets 405 and an Allow header", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/thing", hello);
  must_mount(server, "POST", "/thing", hello);
  must_start(server);

  const auto reply = fetch(server.port(), "DELETE", "/thing");
  CHECK(reply.status == 405);
  const std::string allow = reply.header("allow");
  CHECK(allow.find("GET") != std::string::npos);
  CHECK(allow.find("POST") != std::string::npos);
  CHECK(allow.find("HEAD") != std::string::npos);
  CHECK(allow.find("DELETE") == std::string::npos);
}

TEST_CASE("a body over max_body_bytes gets 413, one within it reaches the handler", "[http]") {
  Options options = test_options();
  options.max_body_bytes = 1024;
  Server server(options);
  must_mount(server, "POST", "/upload", [](const Request& request, Response& response) {
    response.write(std::to_string(request.body().size()));
  });
  must_start(server);

  const auto ok = fetch(server.port(), "POST", "/upload", std::string(1024, 'a'));
  CHECK(ok.status == 200);
  CHECK(ok.body == "1024");

  const auto too_big = fetch(server.port(), "POST", "/upload", std::string(64 * 1024, 'a'));
  CHECK(too_big.status == 413);
}

TEST_CASE("Expect: 100-continue gets an interim 100, or 413 before the body is sent", "[http]") {
  Options options = test_options();
  options.max_body_bytes = 1024;
  Server server(options);
  must_mount(server, "POST", "/upload",
             [](const Request& request, Response& response) { response.write(request.body()); });
  must_start(server);

  Connection connection(server.port());
  connection.send_raw(
      "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  CHECK(connection.read().status == 100);
  connection.send_raw("hello");
  const auto reply = connection.read();
  CHECK(reply.status == 200);
  CHECK(reply.body == "hello");

  Connection refused(server.port());
  refused.send_raw(
      "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: "
      "100-continue\r\n\r\n");
  CHECK(refused.read().status == 413);
}

TEST_CASE("a malformed request gets 400 and the connection is closed", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  Connection connection(server.port());
  connection.send_raw("this is not http\r\n\r\n");
  CHECK(connection.read().status == 400);
  CHECK(connection.closed_by_server());
  // The server is unaffected.
  CHECK(fetch(server.port(), "GET", "/hello").status == 200);
}

TEST_CASE("HEAD answers like GET without the body", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  Connection connection(server.port());
  const auto head = connection.request("HEAD", "/hello");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "6");
  // No body bytes followed: the next response on the connection parses cleanly.
  const auto get = connection.request("GET", "/hello");
  CHECK(get.status == 200);
  CHECK(get.body == "hello\n");
  CHECK(connection.pending().empty());
}

TEST_CASE("a throwing handler gives 500 and the server keeps serving", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/boom", [](const Request&, Response& response) {
    response.write("partial output that must not leak");
    throw std::runtime_error("disk on fire");
  });
  must_mount(server, "GET", "/odd", [](const Request&, Response&) { throw 42; });
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  const auto boom = fetch(server.port(), "GET", "/boom");
  CHECK(boom.status == 500);
  CHECK(boom.body.find("partial output") == std::string::npos);
  CHECK(fetch(server.port(), "GET", "/odd").status == 500);
  CHECK(fetch(server.port(), "GET", "/hello").status == 200);
  CHECK(fetch(server.port(), "GET", "/boom").status == 500);
}

TEST_CASE("a handler that sets an impossible status gives 500", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/bad",
             [](const Request&, Response& response) { response.set_status(42); });
  must_start(server);
  CHECK(fetch(server.port(), "GET", "/bad").status == 500);
}

TEST_CASE("keep-alive serves two requests on one connection", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_mount(server, "GET", "/other", [](const Request&, Response& r) { r.write("other"); });
  must_start(server);

  Connection connection(server.port());
  const auto first = connection.request("GET", "/hello");
  const auto second = connection.request("GET", "/other");
  CHECK(first.status == 200);
  CHECK(first.body == "hello\n");
  CHECK(second.status == 200);
  CHECK(second.body == "other");
  CHECK(server.requests_total() == 2);

  // Connection: close is honoured: the server answers, then closes.
  const auto last = connection.request("GET", "/hello", {}, "Connection: close\r\n");
  CHECK(last.status == 200);
  CHECK(connection.closed_by_server());
}

TEST_CASE("an answer larger than the socket buffers arrives whole and keep-alive goes on",
          "[http]") {
  // 16 MiB in 64 KiB writes: far more than a loopback socket takes at once, so the handler
  // thread's own write stops part way and the I/O thread must send exactly the rest.
  Server server(test_options());
  must_mount(server, "GET", "/big", [](const Request&, Response& response) {
    std::string block(64 * 1024, ' ');
    for (int i = 0; i < 256; ++i) {
      for (size_t j = 0; j < block.size(); ++j) block[j] = static_cast<char>('a' + (i + j) % 26);
      response.write(block);
    }
  });
  must_mount(server, "GET", "/hello", hello);
  must_start(server);
  Connection connection(server.port());
  connection.send("GET", "/big");
  std::this_thread::sleep_for(200ms);  // let the socket fill up before the client reads
  const auto big = connection.read();
  REQUIRE(big.status == 200);
  REQUIRE(big.body.size() == 256u * 64 * 1024);
  bool intact = true;
  for (size_t i = 0; i < 256 && intact; ++i)
    for (size_t j = 0; j < 64 * 1024; j += 4093)
      intact = intact && big.body[i * 64 * 1024 + j] == static_cast<char>('a' + (i + j) % 26);
  CHECK(intact);
  const auto next = connection.request("GET", "/hello");
  CHECK(next.status == 200);
  CHECK(next.body == "hello\n");
}

TEST_CASE("a kept-alive connection left idle after its answer is closed after read_timeout",
          "[http]") {
  Options options = test_options();
  options.read_timeout = 300ms;
  Server server(options);
  must_mount(server, "GET", "/hello", hello);
  must_start(server);
  Connection connection(server.port());
  const auto first = connection.request("GET", "/hello");
  CHECK(first.status == 200);
  // A client that keeps sending within read_timeout keeps its connection.
  std::this_thread::sleep_for(100ms);
  CHECK(connection.request("GET", "/hello").status == 200);
  // One that goes quiet loses it, without having to send anything.
  CHECK(connection.closed_by_server());
}

TEST_CASE("pipelined requests are answered in order and are not taken for a disconnect", "[http]") {
  Server server(test_options());
  auto barrier = std::make_shared<Barrier>();
  must_mount(server, "GET", "/wait", [barrier](const Request& request, Response& response) {
    barrier->enter_and_wait();
    response.write(request.cancelled() ? "cancelled" : "served");
  });
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  SECTION("both requests in one packet") {
    barrier->release();
    Connection connection(server.port());
    connection.send_raw(
        "GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto first = connection.read();
    const auto second = connection.read();
    CHECK(first.status == 200);
    CHECK(first.body == "served");
    CHECK(second.status == 200);
    CHECK(second.body == "hello\n");
  }
  SECTION("the next request arrives while the first one's handler runs") {
    Connection connection(server.port());
    connection.send("GET", "/wait");
    REQUIRE(barrier->wait_entered(1));
    connection.send("GET", "/hello");
    // Give the server time to see the new bytes on the socket while the handler still runs.
    // Without this the test still passes; it just would not exercise that path.
    std::this_thread::sleep_for(300ms);
    barrier->release();
    const auto first = connection.read();
    const auto second = connection.read();
    CHECK(first.body == "served");
    CHECK(second.status == 200);
    CHECK(second.body == "hello\n");
  }
}

TEST_CASE("mounting the same method and path twice is an error", "[http]") {
  Server server(test_options());
  std::string error;
  REQUIRE(server.mount("GET", "/metrics", hello, {}, error));
  CHECK_FALSE(server.mount("GET", "/metrics", hello, {}, error));
  CHECK(error.find("GET") != std::string::npos);
  CHECK(error.find("/metrics") != std::string::npos);
  CHECK(error.find("already") != std::string::npos);

  // Another method on the same path is a different route; unmounting frees the slot.
  CHECK(server.mount("POST", "/metrics", hello, {}, error));
  server.unmount("GET", "/metrics");
  CHECK(server.mount("GET", "/metrics", hello, {}, error));

  CHECK_FALSE(server.mount("GET", "no-slash", hello, {}, error));
  CHECK(error.find("no-slash") != std::string::npos);
  CHECK_FALSE(server.mount("GE T", "/x", hello, {}, error));
  CHECK_FALSE(server.mount("GET", "/empty", nullptr, {}, error));
}

TEST_CASE("routes mounted or unmounted while running take effect at once", "[http]") {
  Server server(test_options());
  must_start(server);
  CHECK(fetch(server.port(), "GET", "/late").status == 404);
  must_mount(server, "GET", "/late", hello);
  CHECK(fetch(server.port(), "GET", "/late").status == 200);
  server.unmount("GET", "/late");
  CHECK(fetch(server.port(), "GET", "/late").status == 404);
}

TEST_CASE("binding a port in use fails with a message naming address, port and reason", "[http]") {
  // Hold a port with a plain listening socket.
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(holder >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  const uint16_t port = ntohs(addr.sin_port);

  Options options = test_options();
  options.port = port;
  Server server(options);
  std::string error;
  CHECK_FALSE(server.start(error));
  INFO(error);
  CHECK(error.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(error.find("in use") != std::string::npos);
  ::close(holder);
}

TEST_CASE("a listen address that is not an IP address is refused with a clear message", "[http]") {
  Options options = test_options();
  options.address = "not-an-address";
  Server server(options);
  std::string error;
  CHECK_FALSE(server.start(error));
  CHECK(error.find("not-an-address") != std::string::npos);
}

TEST_CASE("beyond max_concurrent_expensive, an expensive route gets 503 with Retry-After",
          "[http]") {
  Options options = test_options();
  options.threads = 4;  // enough threads: only the expensive bound can refuse the third request
  options.max_concurrent_expensive = 2;
  Server server(options);
  auto barrier = std::make_shared<Barrier>();
  must_mount(
      server, "GET", "/metrics",
      [barrier](const Request&, Response& response) {
        barrier->enter_and_wait();
        response.write("metrics");
      },
      RouteOptions{true});
  must_mount(server, "GET", "/hello", hello);
  must_start(server);

  Connection first(server.port());
  Connection second(server.port());
  first.send("GET", "/metrics");
  second.send("GET", "/metrics");
  REQUIRE(barrier->wait_entered(2));

  const auto rejected = fetch(server.port(), "GET", "/metrics");
  CHECK(rejected.status == 503);
  CHECK(rejected.header("retry-after") == "1");
  CHECK(server.rejected_busy_total() == 1);
  // Cheap routes are not affected while the expensive ones are blocked.
  CHECK(fetch(server.port(), "GET", "/hello").status == 200);

  barrier->release();
  CHECK(first.read().status == 200);
  CHECK(second.read().status == 200);
  // The slots are free again.
  CHECK(fetch(server.port(), "GET", "/metrics").status == 200);
  CHECK(server.rejected_busy_total() == 1);
}

TEST_CASE("a client that disconnects mid-handler makes cancelled() true", "[http]") {
  Server server(test_options());
  struct Seen {
    std::promise<void> started;
    std::promise<std::pair<bool, bool>> finished;  // (saw cancelled, write refused)
  };
  auto seen = std::make_shared<Seen>();
  must_mount(server, "GET", "/long", [seen](const Request& request, Response& response) {
    seen->started.set_value();
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!request.cancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(5ms);
    }
    const bool cancelled = request.cancelled();
    const bool refused = !response.write("late");
    seen->finished.set_value({cancelled, refused});
  });
  must_start(server);

  auto started = seen->started.get_future();
  auto finished = seen->finished.get_future();
  SECTION("after sending its request") {
    Connection connection(server.port());
    connection.send("GET", "/long");
    REQUIRE(started.wait_for(10s) == std::future_status::ready);
  }  // the client hangs up here
  SECTION("after pipelining another request") {
    Connection connection(server.port());
    connection.send("GET", "/long");
    REQUIRE(started.wait_for(10s) == std::future_status::ready);
    connection.send("GET", "/next");
    std::this_thread::sleep_for(100ms);  // lets the server see the pipelined bytes first
  }
  REQUIRE(finished.wait_for(15s) == std::future_status::ready);
  const auto [cancelled, refused] = finished.get();
  CHECK(cancelled);
  CHECK(refused);
}

TEST_CASE("stop() cancels in-flight requests and waits for handlers that notice", "[http]") {
  auto server = std::make_unique<Server>(test_options());
  auto barrier = std::make_shared<Barrier>();
  auto observed = std::make_shared<std::atomic<bool>>(false);
  must_mount(*server, "GET", "/poll", [barrier, observed](const Request& request, Response&) {
    {
      std::lock_guard lock(barrier->mutex);
      ++barrier->entered;
      barrier->changed.notify_all();
    }
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!request.cancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(5ms);
    }
    observed->store(request.cancelled());
  });
  must_start(*server);

  Connection connection(server->port());
  connection.send("GET", "/poll");
  REQUIRE(barrier->wait_entered(1));
  server->stop(8s);
  // The handler returned within the deadline because it saw cancelled(), not because it gave up.
  CHECK(observed->load());
  // The cancelled request is not answered: the connection just closes.
  CHECK(connection.closed_by_server());
}

TEST_CASE("stop() returns within its deadline while a handler is hung", "[http]") {
  auto server = std::make_unique<Server>(test_options());
  auto barrier = std::make_shared<Barrier>();
  auto late_write = std::make_shared<std::promise<bool>>();
  must_mount(*server, "GET", "/hang", [barrier, late_write](const Request&, Response& response) {
    barrier->enter_and_wait();  // ignores cancellation on purpose
    late_write->set_value(response.write("too late"));
  });
  must_mount(*server, "GET", "/hello", hello);
  must_start(*server);
  const uint16_t port = server->port();

  Connection connection(port);
  connection.send("GET", "/hang");
  REQUIRE(barrier->wait_entered(1));

  const auto begin = std::chrono::steady_clock::now();
  server->stop(2s);
  const auto took = std::chrono::steady_clock::now() - begin;
  CHECK(took < 10s);
  CHECK(connection.closed_by_server());
  server.reset();  // the hung handler outlives the server itself

  // Let the abandoned handler finish: its response is refused, and nothing it touches is freed.
  auto late = late_write->get_future();
  barrier->release();
  REQUIRE(late.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(late.get());
}

TEST_CASE("a stopped server can start again", "[http]") {
  Server server(test_options());
  must_mount(server, "GET", "/hello", hello);
  must_start(server);
  server.stop(1s);
  must_start(server);
  CHECK(fetch(server.port(), "GET", "/hello").status == 200);
}

TEST_CASE("Request decodes its query and finds headers case-insensitively", "[http]") {
  Request request("GET", "/q?a=1&b=x%2Fy&c=two+words&flag&b=second&bad=%zz",
                  {{"X-Thing", "one"}, {"x-thing", "two"}, {"Accept", "*/*"}});
  CHECK(request.path() == "/q");
  CHECK(request.query("a") == std::optional<std::string_view>("1"));
  CHECK(request.query("b") == std::optional<std::string_view>("x/y"));  // the first one wins
  CHECK(request.query("c") == std::optional<std::string_view>("two words"));
  CHECK(request.query("flag") == std::optional<std::string_view>(""));
  CHECK(request.query("bad") == std::optional<std::string_view>("%zz"));
  CHECK_FALSE(request.query("zzz").has_value());
  REQUIRE(request.header("x-THING") != nullptr);
  CHECK(*request.header("x-THING") == "one, two");
  CHECK(request.header("missing") == nullptr);
  CHECK_FALSE(request.cancelled());
  CHECK(std::string(request.c_str_method()) == "GET");

  Response response;
  response.set_header("Content-Type", "a");
  response.set_header("content-type", "b");
  REQUIRE(response.headers().size() == 1);
  CHECK(response.headers()[0].second == "b");
  CHECK(response.write("x"));
  CHECK(response.body() == "x");
}
