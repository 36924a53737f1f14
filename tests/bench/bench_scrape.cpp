// bench_scrape: scrapes one URL on a fixed cadence the way Prometheus does, over one kept-alive
// HTTP/1.1 connection, so run.sh can charge a daemon for what a real scraper costs it (curl in a
// loop opens a new connection per scrape, which Prometheus never does).
//
// Usage: bench_scrape URL COUNT INTERVAL_MS [--gzip] [--new-connection]
//   URL is http://HOST:PORT/PATH (IPv4 literal host). Sends COUNT GETs, one every INTERVAL_MS
//   (a late one is sent at once, never skipped), reading each response in full; with --gzip it
//   sends Accept-Encoding: gzip; with --new-connection it connects afresh for every scrape (the
//   old, pessimistic method, kept for the breakdown). It reconnects when the server closes.
// Prints "scrapes N connections C bytes B" (B = body bytes of the last response) on stdout.
// It must never be part of the test suite: it only generates load for measurements.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace {

struct Target {
  std::string host;
  int port = 80;
  std::string path = "/";
};

bool parse_url(std::string_view url, Target& out) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const size_t colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos)
    out.port = std::atoi(std::string(authority.substr(colon + 1)).c_str());
  return !out.host.empty() && out.port > 0;
}

// One connection and what was read past the last response. Not thread-safe.
class Connection {
 public:
  ~Connection() { close(); }
  bool open(const Target& t) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(t.port));
    if (::inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr) != 1) return false;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    buffer_.clear();
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool is_open() const { return fd_ >= 0; }

  bool send_all(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one response; sets `body_bytes` and whether the server keeps the connection.
  bool read_response(size_t& body_bytes, bool& keep_alive) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return false;
    }
    std::string head = buffer_.substr(0, header_end + 2);
    buffer_.erase(0, header_end + 4);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    keep_alive = head.find("\r\nconnection: close\r\n") == std::string::npos;
    const size_t cl = head.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      body_bytes = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
      return skip(body_bytes);
    }
    if (head.find("\r\ntransfer-encoding: chunked\r\n") == std::string::npos) return false;
    body_bytes = 0;
    for (;;) {
      size_t line_end;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
        if (!fill()) return false;
      }
      const size_t size = std::strtoull(buffer_.c_str(), nullptr, 16);
      buffer_.erase(0, line_end + 2);
      if (!skip(size + 2)) return false;  // the chunk and its CRLF
      if (size == 0) return true;         // (no trailers from the daemons measured here)
      body_bytes += size;
    }
  }

 private:
  bool fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  bool skip(size_t n) {
    while (buffer_.size() < n) {
      n -= buffer_.size();
      buffer_.clear();
      if (!fill()) return false;
    }
    buffer_.erase(0, n);
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_scrape URL COUNT INTERVAL_MS [--gzip] [--new-connection]\n");
    return 2;
  }
  Target target;
  if (!parse_url(argv[1], target)) {
    std::fprintf(stderr, "bench_scrape: '%s' is not http://IPv4:PORT/PATH\n", argv[1]);
    return 2;
  }
  const long count = std::atol(argv[2]);
  const long interval_ms = std::atol(argv[3]);
  bool gzip = false, fresh = false;
  for (int i = 4; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--gzip") {
      gzip = true;
    } else if (arg == "--new-connection") {
      fresh = true;
    } else {
      std::fprintf(stderr, "bench_scrape: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  std::string request = "GET " + target.path + " HTTP/1.1\r\nHost: " + target.host + ":" +
                        std::to_string(target.port) + "\r\nUser-Agent: vigil-bench-scrape\r\n" +
                        "Accept: text/plain\r\n" + (gzip ? "Accept-Encoding: gzip\r\n" : "") +
                        "\r\n";
  Connection connection;
  long connections = 0;
  size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(interval_ms * i));
    if (fresh) connection.close();
    bool keep_alive = true;
    bool ok = false;
    for (int attempt = 0; attempt < 2 && !ok; ++attempt) {
      if (!connection.is_open()) {
        if (!connection.open(target)) break;
        ++connections;
      }
      ok = connection.send_all(request) && connection.read_response(bytes, keep_alive);
      if (!ok) connection.close();  // the server closed an idle connection: connect again once
    }
    if (!ok) {
      std::fprintf(stderr, "bench_scrape: scrape %ld of %s failed\n", i + 1, argv[1]);
      return 1;
    }
    if (!keep_alive) connection.close();
  }
  std::printf("scrapes %ld connections %ld bytes %zu\n", count, connections, bytes);
  return 0;
}
