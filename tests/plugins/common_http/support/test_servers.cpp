// See test_servers.hpp.
#include "test_servers.hpp"

#include <zlib.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vigil::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string gzip(const std::string& text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK);
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// In a forked child: stdin from /dev/null, stdout and stderr to `out_fd`, then argv[0] from
// PATH. Never returns (exit status 127 when the program cannot be run).
[[noreturn]] void exec_child(const std::vector<std::string>& argv, int out_fd) {
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  int null = ::open("/dev/null", O_RDONLY);
  ::dup2(null, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

}  // namespace

struct HttpTestServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};
  std::thread accept_thread;
  mutable std::mutex mutex;
  std::vector<std::thread> sessions;
  std::vector<int> open_fds;
  SeenRequest last;
  HttpTestServer* owner = nullptr;

  void accept_loop() {
    while (!stopping) {
      tcp::socket socket(io);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      if (ec || stopping) return;
      owner->connections_++;
      std::lock_guard<std::mutex> lock(mutex);
      open_fds.push_back(socket.native_handle());
      sessions.emplace_back([this, s = std::move(socket)]() mutable { session(std::move(s)); });
    }
  }

  void session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      {
        std::lock_guard<std::mutex> lock(mutex);
        last = SeenRequest{};
        last.method = std::string(req.method_string());
        last.target = std::string(req.target());
        last.body = req.body();
        for (const auto& field : req) {
          std::string name(field.name_string());
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          last.headers[name] = std::string(field.value());
        }
      }
      http::response<http::string_body> res = handle(req);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !res.keep_alive()) break;
    }
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    std::lock_guard<std::mutex> lock(mutex);
    open_fds.erase(std::remove(open_fds.begin(), open_fds.end(), socket.native_handle()),
                   open_fds.end());
  }

  http::response<http::string_body> handle(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.set(http::field::content_type, "text/plain");
    const std::string target(req.target());
    if (target == "/ok") {
      res.result(200);
      res.body() = "hello from the test server";
    } else if (starts_with(target, "/status/")) {
      int code = std::atoi(target.c_str() + 8);
      res.result(static_cast<unsigned>(code));
      res.body() = "status " + std::to_string(code);
    } else if (starts_with(target, "/retry-after/")) {
      res.result(429);
      res.set(http::field::retry_after, target.substr(13));
      res.body() = "slow down";
    } else if (starts_with(target, "/slow/")) {
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(std::atoi(target.c_str() + 6));
      while (!stopping && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      res.result(200);
      res.body() = "slow";
    } else if (target == "/echo") {
      res.result(200);
      auto it = req.find("X-Test");
      res.body() = "method=" + std::string(req.method_string()) + "\nbody=" + req.body() +
                   "\nx-test=" + (it == req.end() ? std::string() : std::string(it->value())) +
                   "\n";
    } else if (target == "/redirect") {
      res.result(302);
      res.set(http::field::location, "/ok");
      res.body() = "moved";
    } else if (starts_with(target, "/big/")) {
      res.result(200);
      res.body() = std::string(static_cast<std::size_t>(std::atoll(target.c_str() + 5)), 'x');
    } else if (target == "/gzip") {
      res.result(200);
      std::string text;
      for (int i = 0; i < 200; ++i) text += "compressed line " + std::to_string(i) + "\n";
      auto accept = req.find(http::field::accept_encoding);
      if (accept != req.end() && std::string(accept->value()).find("gzip") != std::string::npos) {
        res.set(http::field::content_encoding, "gzip");
        res.body() = gzip(text);
      } else {
        res.body() = text;
      }
    } else {
      res.result(404);
      res.body() = "no route " + target;
    }
    return res;
  }
};

HttpTestServer::HttpTestServer() : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

HttpTestServer::~HttpTestServer() {
  impl_->stopping = true;
  // shutdown() wakes a thread blocked in accept() or read() on Linux; closing would race.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->accept_thread.join();
  std::vector<std::thread> sessions;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
    sessions.swap(impl_->sessions);
  }
  for (std::thread& t : sessions) t.join();
}

std::string HttpTestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

SeenRequest HttpTestServer::last_request() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last;
}

int run_program(const std::vector<std::string>& argv, std::string& output) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) exec_child(argv, pipe_fds[1]);
  ::close(pipe_fds[1]);
  output.clear();
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_openssl() {
  std::string out;
  return run_program({"openssl", "version"}, out) == 0;
}

TestCertificate make_certificate(const TempDir& dir, const std::string& name, int days) {
  TestCertificate c{dir.file(name + ".pem"), dir.file(name + ".key")};
  std::string out;
  // An EC key: generating it takes milliseconds, where RSA would take a noticeable while.
  int rc = run_program(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", c.key, "-out", c.cert, "-days", std::to_string(days), "-subj",
       "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
      out);
  INFO("openssl req: " << out);
  REQUIRE(rc == 0);
  return c;
}

TlsTestServer::TlsTestServer(const TestCertificate& cert,
                             const std::string& require_client_cert_from) {
  std::vector<std::string> argv = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                                   cert.cert, "-key",     cert.key,  "-www",        "-no_dhe"};
  if (!require_client_cert_from.empty()) {
    argv.insert(argv.end(), {"-Verify", "1", "-CAfile", require_client_cert_from});
  }
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) exec_child(argv, pipe_fds[1]);
  ::close(pipe_fds[1]);
  // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens.
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[1024];
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, n);
    std::size_t at = seen.find("ACCEPT 127.0.0.1:");
    if (at != std::string::npos && seen.find('\n', at) != std::string::npos)
      port_ = static_cast<uint16_t>(std::atoi(seen.c_str() + at + 17));
  }
  // Keep draining s_server's output so it never blocks on a full pipe; the reader ends when
  // s_server exits and closes its end.
  std::thread([fd = pipe_fds[0]] {
    char buf[1024];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    ::close(fd);
  }).detach();
  INFO("openssl s_server said: " << seen);
  REQUIRE(port_ != 0);
}

TlsTestServer::~TlsTestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string TlsTestServer::url(const std::string& host) const {
  return "https://" + host + ":" + std::to_string(port_) + "/";
}

}  // namespace vigil::testing
