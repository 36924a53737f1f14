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
#include <utility>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/http_test_server.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;
using vigil::testing::always;
using vigil::testing::HttpTestServer;
using vigil::testing::Reply;
using namespace std::chrono_literals;

namespace {

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

// The alerts a receiver got, with when each request had arrived (on the wall clock, to compare
// with startsAt).
std::vector<Receipt> receipts(const HttpTestServer& receiver) {
  std::vector<Receipt> out;
  for (const auto& r : receiver.requests()) {
    const auto body = r.json();
    if (body.is_discarded()) continue;
    const int64_t received_us =
        std::chrono::duration_cast<std::chrono::microseconds>(r.arrived_wall.time_since_epoch())
            .count();
    for (const auto& a : body.value("alerts", json::array()))
      out.push_back(
          {a["labels"].value("i", ""), parse_rfc3339_us(a.value("startsAt", "")), received_us});
  }
  return out;
}

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

// One alert at a time: the median of (received - startsAt) in milliseconds over `alerts`.
// With `second`, every alert also goes to a second receiver, which answers or (`hangs`) never
// does.
double latency_run(const std::string& binary, const std::string& plugin_dir, bool second,
                   bool hangs, size_t alerts) {
  Setup setup;
  HttpTestServer hook(always(Reply{200, "ok"}));
  std::unique_ptr<HttpTestServer> other;
  if (second)
    other = std::make_unique<HttpTestServer>(always(hangs ? Reply::never() : Reply{200, "ok"}));
  setup.signals(alerts, 0);
  setup.write(plugin_dir, hook.port(), other ? other->port() : 0);
  Vigil vigil(binary, setup.config, setup.log);
  std::this_thread::sleep_for(1500ms);  // started, first collection, first evaluation
  std::vector<double> ms;
  for (size_t k = 1; k <= alerts; ++k) {
    setup.signals(alerts, k);
    // One group per alert (group_by i): the k-th request carries the k-th alert.
    if (!hook.wait_for_requests(k, 10s)) {
      std::cerr << "latency: alert " << k << " never arrived; vigil's log: " << setup.log << "\n";
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  for (const auto& r : receipts(hook))
    if (r.starts_us > 0) ms.push_back((r.received_us - r.starts_us) / 1000.0);
  return median(ms);
}

// `alerts` fire in one evaluation: notifications per second from first to last received.
double throughput_run(const std::string& binary, const std::string& plugin_dir, size_t alerts) {
  Setup setup;
  HttpTestServer hook(always(Reply{200, "ok"}));
  setup.signals(alerts, 0);
  setup.write(plugin_dir, hook.port(), 0);
  Vigil vigil(binary, setup.config, setup.log);
  std::this_thread::sleep_for(1500ms);
  setup.signals(alerts, alerts);
  if (!hook.wait_for_requests(alerts, 120s))  // one request per alert, as above
    std::cerr << "throughput: " << hook.count() << " of " << alerts << " arrived\n";
  const auto got = receipts(hook);
  if (got.size() < 2) return 0;
  int64_t first = got.front().received_us, last = first;
  for (const auto& r : got) {
    first = std::min(first, r.received_us);
    last = std::max(last, r.received_us);
  }
  return (got.size() - 1) / ((last - first) / 1e6);
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
