// Notifications through the real binary: `vigil run` with a textfile collector, one Lua rule
// and the webhook notifier POSTing to receivers this program serves on loopback.
//
//   latency      one new alert at a time (group wait 0): from the alert's startsAt (when the
//                rule's evaluation made it fire) to the moment the receiver has the request
//   throughput   5,000 alerts firing in the same evaluation, one group each: notifications per
//                second from the first received to the last
//   hanging      the first receiver's latency with a second webhook instance getting every
//                alert too, once with the second receiver answering and once with it accepting
//                and never answering: the first receiver's latency should not change
//
// Usage: bench_notify VIGIL_BINARY PLUGIN_DIR [runs]. Prints medians over `runs` (default 3).
// It never decides pass/fail; tests/bench/run.sh quotes it.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-23T10:00:00.123Z" as microseconds since the epoch.
int64_t parse_rfc3339_us(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return 0;
  int64_t us = static_cast<int64_t>(timegm(&tm)) * 1'000'000;
  if (*rest == '.') {
    int64_t scale = 100'000;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) us += (*rest - '0') * scale;
  }
  return us;
}

// One alert as a receiver got it: its instance label, when it fired, when it arrived.
struct Receipt {
  std::string instance;
  int64_t starts_us = 0;
  int64_t received_us = 0;
};

// A webhook receiver on 127.0.0.1: one thread per connection (curl keeps one alive per lane).
// `hang` accepts and reads requests but never answers, like a receiver that stopped responding.
class Receiver {
 public:
  explicit Receiver(bool hang) : hang_(hang), acceptor_(io_, tcp::endpoint(tcp::v4(), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~Receiver() {
    stopping_ = true;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept()
    acceptor_.close(ec);
    {
      std::lock_guard lock(mutex_);
      for (auto& s : sockets_) s->shutdown(tcp::socket::shutdown_both, ec);
    }
    if (thread_.joinable()) thread_.join();
    for (auto& t : connections_)
      if (t.joinable()) t.join();
  }
  uint16_t port() const { return port_; }
  std::vector<Receipt> receipts() const {
    std::lock_guard lock(mutex_);
    return receipts_;
  }
  size_t count() const {
    std::lock_guard lock(mutex_);
    return receipts_.size();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    receipts_.clear();
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      auto socket = std::make_shared<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      connections_.emplace_back([this, socket] { serve(*socket); });
    }
  }
  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    while (!stopping_) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      const int64_t now = wall_us();
      if (hang_) {
        while (!stopping_) std::this_thread::sleep_for(10ms);
        return;
      }
      auto body = json::parse(request.body(), nullptr, false);
      if (!body.is_discarded()) {
        std::lock_guard lock(mutex_);
        for (const auto& a : body.value("alerts", json::array()))
          receipts_.push_back(
              {a["labels"].value("i", ""), parse_rfc3339_us(a.value("startsAt", "")), now});
      }
      http::response<http::string_body> response{http::status::ok, request.version()};
      response.set(http::field::content_type, "text/plain");
      response.body() = "ok";
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || !request.keep_alive()) return;
    }
  }

  bool hang_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> connections_;
  std::vector<Receipt> receipts_;
};

uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(tcp::v4(), 0));
  return a.local_endpoint().port();
}

// The real binary in the foreground, stopped with SIGTERM.
class Vigil {
 public:
  Vigil(const std::string& binary, const std::filesystem::path& config,
        const std::filesystem::path& log) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log.c_str(), "w", stdout);
      (void)out;
      dup2(fileno(stdout), 2);
      execl(binary.c_str(), binary.c_str(), "run", "-c", config.c_str(), "--log-level", "warn",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Vigil() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(50ms);
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }

 private:
  pid_t pid_ = -1;
};

struct Setup {
  std::filesystem::path dir;
  std::filesystem::path textfiles, rules, config, log;

  Setup() {
    char pattern[] = "/tmp/vigil-bench-notify-XXXXXX";
    dir = mkdtemp(pattern);
    textfiles = dir / "textfiles";
    std::filesystem::create_directories(textfiles);
    rules = dir / "rules.lua";
    config = dir / "vigil.json";
    log = dir / "vigil.log";
  }
  ~Setup() {
    if (std::getenv("BENCH_KEEP") != nullptr) return;  // for a look at vigil.log
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Series bench_signal{i="0".."n-1"}: 1 for the first `firing`, 0 for the rest.
  void signals(size_t n, size_t firing) const {
    std::string text = "# TYPE bench_signal gauge\n";
    for (size_t i = 0; i < n; ++i)
      text += "bench_signal{i=\"" + std::to_string(i) + "\"} " + (i < firing ? "1" : "0") + "\n";
    std::ofstream(textfiles / "bench.prom.tmp") << text;
    std::filesystem::rename(textfiles / "bench.prom.tmp", textfiles / "bench.prom");
  }

  void write(const std::string& plugin_dir, uint16_t hook_port, uint16_t second_port) const {
    std::string routes =
        "route { receiver = \"hook\", group_by = { \"i\" }, group_wait = \"0s\",\n"
        "        group_interval = \"1h\", repeat_interval = \"24h\"";
    if (second_port != 0)
      routes +=
          ",\n  routes = { { matchers = { 'alertname=\"Bench\"' }, receiver = \"hook\", "
          "continue = true },\n             { matchers = { 'alertname=\"Bench\"' }, "
          "receiver = \"second\" } }";
    routes += " }\n";
    std::ofstream(rules) << "rule { name = \"Bench\", expr = \"bench_signal\", above = 0.5 }\n"
                         << routes;
    json instances = {
        {{"plugin", "collector_textfile"},
         {"name", "signals"},
         {"interval", "50ms"},
         {"options", {{"directory", textfiles.string()}}}},
        {{"plugin", "notifier_webhook"},
         {"name", "hook"},
         {"options", {{"url", "http://127.0.0.1:" + std::to_string(hook_port) + "/hook"}}}}};
    if (second_port != 0)
      instances.push_back({{"plugin", "notifier_webhook"},
                           {"name", "second"},
                           {"timeout", "120s"},
                           {"options",
                            {{"url", "http://127.0.0.1:" + std::to_string(second_port) + "/second"},
                             {"timeout", "100s"}}}});
    json cfg = {{"plugin_dirs", {plugin_dir}},
                {"http", {{"port", free_port()}}},
                {"shutdown_timeout", "2s"},
                {"instances", instances},
                {"alerting",
                 {{"rules", {rules.string()}},
                  {"data_dir", (dir / "state").string()},
                  {"evaluation_interval", "100ms"}}}};
    std::ofstream(config) << cfg.dump(2);
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// One alert at a time: the median of (received - startsAt) in milliseconds over `alerts`.
// With `second`, every alert also goes to a second receiver, which answers or (`hangs`) never
// does.
double latency_run(const std::string& binary, const std::string& plugin_dir, bool second,
                   bool hangs, size_t alerts) {
  Setup setup;
  Receiver hook(false);
  std::unique_ptr<Receiver> other;
  if (second) other = std::make_unique<Receiver>(hangs);
  setup.signals(alerts, 0);
  setup.write(plugin_dir, hook.port(), other ? other->port() : 0);
  Vigil vigil(binary, setup.config, setup.log);
  std::this_thread::sleep_for(1500ms);  // started, first collection, first evaluation
  std::vector<double> ms;
  for (size_t k = 1; k <= alerts; ++k) {
    setup.signals(alerts, k);
    if (!wait_until([&] { return hook.count() >= k; }, 10s)) {
      std::cerr << "latency: alert " << k << " never arrived; vigil's log: " << setup.log << "\n";
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  for (const auto& r : hook.receipts())
    if (r.starts_us > 0) ms.push_back((r.received_us - r.starts_us) / 1000.0);
  return median(ms);
}

// `alerts` fire in one evaluation: notifications per second from first to last received.
double throughput_run(const std::string& binary, const std::string& plugin_dir, size_t alerts) {
  Setup setup;
  Receiver hook(false);
  setup.signals(alerts, 0);
  setup.write(plugin_dir, hook.port(), 0);
  Vigil vigil(binary, setup.config, setup.log);
  std::this_thread::sleep_for(1500ms);
  setup.signals(alerts, alerts);
  if (!wait_until([&] { return hook.count() >= alerts; }, 120s))
    std::cerr << "throughput: " << hook.count() << " of " << alerts << " arrived\n";
  auto receipts = hook.receipts();
  if (receipts.size() < 2) return 0;
  int64_t first = receipts.front().received_us, last = first;
  for (const auto& r : receipts) {
    first = std::min(first, r.received_us);
    last = std::max(last, r.received_us);
  }
  return (receipts.size() - 1) / ((last - first) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_notify VIGIL_BINARY PLUGIN_DIR [runs]\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const std::string binary = std::filesystem::absolute(argv[1]).string();
  const std::string plugin_dir = std::filesystem::absolute(argv[2]).string();
  const int runs = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
  std::vector<double> latency, latency_pair, latency_hanging, rate;
  for (int run = 0; run < runs; ++run) {
    latency.push_back(latency_run(binary, plugin_dir, false, false, 40));
    latency_pair.push_back(latency_run(binary, plugin_dir, true, false, 40));
    latency_hanging.push_back(latency_run(binary, plugin_dir, true, true, 40));
    rate.push_back(throughput_run(binary, plugin_dir, 5000));
    std::printf(
        "run %d: firing-to-received median %.2f ms; beside a second receiver %.2f ms "
        "answering, %.2f ms hanging; %.0f notifications/s\n",
        run + 1, latency.back(), latency_pair.back(), latency_hanging.back(), rate.back());
  }
  std::printf(
      "median of %d runs: firing-to-received %.2f ms (group wait 0, webhook to a local "
      "receiver); beside a second receiver %.2f ms when it answers, %.2f ms when it "
      "hangs; %.0f notifications/s sustained (5,000 alerts, one group each)\n",
      runs, median(latency), median(latency_pair), median(latency_hanging), median(rate));
  return 0;
}
