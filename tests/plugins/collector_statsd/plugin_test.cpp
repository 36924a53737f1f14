// The built collector_statsd.so, loaded with dlopen and run through the SDK's fake host, fed by
// real UDP and TCP clients on loopback (the listener binds port 0; the test reads the port from
// vigil_statsd_listen_port): every metric type, sample rates, tags, the prefix, bad lines,
// max_series, TCP framing and limits, expiry, and the option errors a user can make.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

using Catch::Matchers::Contains;
using vigil::Labels;
using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::FakeInstance;
using vigil::testing::OptionMap;
using vigil::testing::plugin;

namespace {

int listen_port(const FakeHost& host, const char* transport) {
  return static_cast<int>(host.value("vigil_statsd_listen_port", {{"transport", transport}}));
}

sockaddr_in loopback(int port) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return to;
}

// Sends each payload as one datagram, as `nc -u` or a StatsD client library does.
void send_udp(int port, const std::vector<std::string>& payloads) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to = loopback(port);
  for (const std::string& p : payloads) {
    ssize_t sent =
        sendto(fd, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    CHECK(sent == static_cast<ssize_t>(p.size()));
  }
  close(fd);
}

// A TCP client that writes what it is given, in the pieces it is given.
struct TcpClient {
  int fd = -1;
  explicit TcpClient(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to = loopback(port);
    REQUIRE(connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  }
  ~TcpClient() { close_now(); }
  void send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }
  void close_now() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

double value_or(const FakeHost& host, const std::string& name, const Labels& labels,
                double fallback) {
  return host.has(name, labels) ? host.value(name, labels) : fallback;
}

// Collects until `done` holds: the listener works on its own threads, so what was sent shows up
// after a moment. Generous bound: only a broken plugin takes this long.
void collect_until(FakeInstance& inst, const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    REQUIRE(inst.collect().is_ok());
    if (done()) return;
    if (std::chrono::steady_clock::now() > deadline) FAIL("the sent lines never all arrived");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void collect_lines(FakeInstance& inst, const FakeHost& host, const char* transport, double lines) {
  collect_until(inst, [&] {
    return value_or(host, "vigil_statsd_lines_total", {{"transport", transport}}, 0) >= lines;
  });
}

double dropped(const FakeHost& host, const char* reason) {
  return host.value("vigil_statsd_dropped_total", {{"reason", reason}});
}

OptionMap udp_options(OptionMap extra = {}) {
  extra.emplace("udp_address", "127.0.0.1:0");
  return extra;
}

// A summary series as the host holds it, read through the store visitor (the fake host has no
// summary accessor).
struct SummaryValue {
  std::map<double, double> quantiles;
  double sum = 0;
  uint64_t count = 0;
  bool found = false;
};

SummaryValue summary(const FakeHost& host, const FakeInstance& inst, const std::string& name,
                     const std::string& labels_text = "") {
  struct State {
    std::string name, labels;
    SummaryValue out;
  } state{name, labels_text, {}};
  vigil_store_visitor v{};
  v.size = sizeof v;
  v.family = [](void*, const vigil_family_view*) { return 0; };
  v.series = [](void* user, const vigil_family_view* f, const vigil_series_view* s) {
    auto* st = static_cast<State*>(user);
    if (st->name != f->name || f->type != VIGIL_METRIC_SUMMARY) return 0;
    if (std::string(s->labels_text, s->labels_text_len) != st->labels) return 0;
    st->out.found = true;
    for (size_t i = 0; i < s->quantile_count; ++i)
      st->out.quantiles[s->quantiles[i]] = s->quantile_values[i];
    st->out.sum = s->sum;
    st->out.count = s->count;
    return 0;
  };
  char buffer[256] = {0};
  vigil_error err{buffer, sizeof buffer};
  REQUIRE(host.api()->visit_store(inst.ctx(), &v, &state, &err) == VIGIL_OK);
  return state.out;
}

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_statsd");
  REQUIRE(d->collector != nullptr);
  std::map<std::string, std::string> defaults;
  for (size_t i = 0; i < d->option_count; ++i)
    defaults[d->options[i].name] = d->options[i].default_value ? d->options[i].default_value : "";
  CHECK(defaults.at("udp_address") == "127.0.0.1:8125");
  CHECK(defaults.at("tcp_address") == "\"\"");  // JSON for the empty string: TCP off
  CHECK(defaults.at("prefix") == "\"\"");
  CHECK(defaults.at("buckets") == "[0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10]");
  CHECK(defaults.at("quantiles") == "[0.5,0.95,0.99]");
  CHECK(defaults.at("max_series") == "10000");
  CHECK(defaults.count("max_set_values") == 1);
  CHECK(defaults.count("expire_after") == 1);
  CHECK(defaults.count("tcp_max_connections") == 1);
  CHECK(defaults.at("udp_read_buffer") == "0");
}

TEST_CASE("port 0 binds a free UDP port, logged and published as vigil_statsd_listen_port") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  int port = listen_port(host, "udp");
  CHECK(port > 0);
  CHECK(host.logged("listening for StatsD on UDP 127.0.0.1:" + std::to_string(port)));
  CHECK_FALSE(host.has("vigil_statsd_listen_port", {{"transport", "tcp"}}));
  CHECK(host.value("vigil_statsd_packets_total") == 0);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 0);
  CHECK(dropped(host, "max_series") == 0);
}

TEST_CASE("every StatsD type sent over UDP becomes its Prometheus series") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  // One multi-metric packet and a few single ones.
  send_udp(listen_port(host, "udp"),
           {"deploys:1|c\nqueue.depth:12|g\nusers:alice|s\napi.latency:20|ms", "deploys:2|c",
            "queue.depth:-2|g", "payload.size:300|h", "payload.size:7|d"});
  collect_lines(inst, host, "udp", 8);
  CHECK(host.value("vigil_statsd_packets_total") == 5);
  CHECK(host.value("vigil_statsd_series") == 5);

  SECTION("counters: <name>_total, summed") {
    CHECK(host.value("deploys_total") == 3);
    auto f = host.family("deploys_total");
    REQUIRE(f);
    CHECK(f->type == MetricType::counter);
    CHECK_THAT(f->help, Contains("StatsD counter \"deploys\""));
  }
  SECTION("gauges: set, then moved by a signed value") {
    CHECK(host.value("queue_depth") == 10);
    CHECK(host.family("queue_depth")->type == MetricType::gauge);
  }
  SECTION("sets: a gauge") {
    CHECK(host.family("users")->type == MetricType::gauge);
  }
  SECTION("timers: a histogram in seconds with the default buckets, and a summary") {
    auto f = host.family("api_latency");
    REQUIRE(f);
    CHECK(f->type == MetricType::histogram);
    CHECK(f->unit == "seconds");
    CHECK(f->buckets ==
          std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    auto h = host.histogram("api_latency");
    CHECK(h.count == 1);
    CHECK(h.sum == Approx(0.02));
    CHECK(h.cumulative[1] == 0);  // 0.02 s > 0.01
    CHECK(h.cumulative[2] == 1);  // 0.02 s <= 0.025
    auto q = host.family("api_latency_quantiles");
    REQUIRE(q);
    CHECK(q->type == MetricType::summary);
  }
  SECTION("histograms and distributions: as sent, no unit") {
    auto h = host.histogram("payload_size");
    CHECK(h.count == 2);
    CHECK(h.sum == 307);
    CHECK(h.cumulative[10] == 1);  // 7 <= 10; 300 only in +Inf
    CHECK(host.family("payload_size")->unit == "");
  }
}

// Per-interval values are checked in the collect where their datagram first shows: the lines of
// one datagram are applied together, so that collect saw all of them.
TEST_CASE("sets count the distinct members of the last interval") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  int port = listen_port(host, "udp");
  send_udp(port, {"users:alice|s\nusers:bob|s\nusers:alice|s|#ignored_tag_makes_another:x\n"
                  "users:alice|s"});
  collect_until(inst, [&] { return host.has("users"); });
  CHECK(host.value("users") == 2);
  CHECK(host.value("users", {{"ignored_tag_makes_another", "x"}}) == 1);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("users") == 0);
  send_udp(port, {"users:carol|s\nmarker:1|c"});
  collect_until(inst, [&] { return host.has("marker_total"); });
  CHECK(host.value("users") == 1);
}

TEST_CASE("timers give p50, p95 and p99 of the interval as the summary <name>_quantiles") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  std::string timers;
  for (int ms = 1; ms <= 100; ++ms) timers += "api.latency:" + std::to_string(ms) + "|ms\n";
  send_udp(listen_port(host, "udp"), {timers});
  collect_until(inst, [&] { return host.has("api_latency"); });

  auto h = host.histogram("api_latency");
  CHECK(h.count == 100);
  CHECK(h.sum == Approx(5.05));
  CHECK(h.cumulative[0] == 5);   // <= 5 ms
  CHECK(h.cumulative[3] == 50);  // <= 50 ms
  CHECK(h.cumulative[4] == 100);
  SummaryValue s = summary(host, inst, "api_latency_quantiles");
  REQUIRE(s.found);
  CHECK(s.quantiles.size() == 3);
  CHECK(s.quantiles[0.5] == Approx(0.050).epsilon(0.0101));
  CHECK(s.quantiles[0.95] == Approx(0.095).epsilon(0.0101));
  CHECK(s.quantiles[0.99] == Approx(0.099).epsilon(0.0101));
  CHECK(s.count == 100);
  CHECK(s.sum == Approx(5.05));

  REQUIRE(inst.collect().is_ok());
  s = summary(host, inst, "api_latency_quantiles");
  CHECK(std::isnan(s.quantiles[0.5]));  // nothing arrived in this interval
  CHECK(s.count == 100);                // _count and _sum are cumulative, like the histogram's
  CHECK(host.histogram("api_latency").count == 100);
}

TEST_CASE("sample rates scale counters and timer counts") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  send_udp(listen_port(host, "udp"), {"hits:1|c|@0.1", "hits:2|c|@0.5", "lat:20|ms|@0.25"});
  collect_lines(inst, host, "udp", 3);
  CHECK(host.value("hits_total") == Approx(14));
  CHECK(host.histogram("lat").count == 4);
  CHECK(host.histogram("lat").sum == Approx(0.08));
}

TEST_CASE("DogStatsD tags become labels, and the prefix goes before every name") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options({{"prefix", "shop_"}}));
  send_udp(listen_port(host, "udp"), {"checkout.requests:1|c|#method:post,http.status:200",
                                      "checkout.requests:1|c|#http.status:200,method:post",
                                      "checkout.requests:1|c|#method:get,http.status:500",
                                      "checkout.time:12|ms|#method:post"});
  collect_lines(inst, host, "udp", 4);
  CHECK(host.value("shop_checkout_requests_total", {{"method", "post"}, {"http_status", "200"}}) ==
        2);
  CHECK(host.value("shop_checkout_requests_total", {{"method", "get"}, {"http_status", "500"}}) ==
        1);
  CHECK(host.series("shop_checkout_requests_total").size() == 2);
  CHECK(host.histogram("shop_checkout_time", {{"method", "post"}}).count == 1);
  CHECK(summary(host, inst, "shop_checkout_time_quantiles", "{method=\"post\"}").found);
  CHECK_FALSE(host.has("checkout_requests_total", {{"method", "post"}, {"http_status", "200"}}));
}

TEST_CASE("the instance's labels are added to every series by the host") {
  FakeHost host;
  vigil::testing::InstanceSettings settings("statsd");
  settings.labels = {{"env", "prod"}};
  auto inst = host.create(plugin(), udp_options(), settings);
  int port = static_cast<int>(
      host.value("vigil_statsd_listen_port", {{"transport", "udp"}, {"env", "prod"}}));
  send_udp(port, {"deploys:1|c|#service:api"});
  collect_until(inst, [&] {
    return host.has("deploys_total", {{"env", "prod"}, {"service", "api"}});
  });
}

TEST_CASE("bad lines are counted, the first ten logged with the line, good lines still count") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  int port = listen_port(host, "udp");
  send_udp(port, {"deploys:1|c\nthis is not statsd\ndeploys:x|c\ndeploys:1|c"});
  collect_lines(inst, host, "udp", 4);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 2);
  CHECK(host.value("deploys_total") == 2);
  CHECK(host.logged("cannot parse a StatsD line from udp 127.0.0.1:"));
  CHECK(host.logged("\"this is not statsd\""));
  CHECK(host.logged("value \"x\" is not a finite number"));

  std::vector<std::string> bad;
  for (int i = 0; i < 15; ++i) bad.push_back("bad-line-" + std::to_string(i));
  send_udp(port, bad);
  collect_lines(inst, host, "udp", 4 + 15);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 17);
  size_t logged = 0;
  for (const auto& line : host.logs())
    if (line.message.find("cannot parse a StatsD line") != std::string::npos) ++logged;
  CHECK(logged == 10);
  CHECK(host.logged("further parse errors are only counted in vigil_statsd_parse_errors_total"));
}

TEST_CASE("beyond max_series new series are dropped and counted, known ones keep counting") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options({{"max_series", "3"}}));
  send_udp(listen_port(host, "udp"), {"a:1|c\nb:1|c\nc:1|c\nd:1|c\ne:1|g\na:1|c|#k:v\na:1|c"});
  collect_lines(inst, host, "udp", 7);
  CHECK(host.value("vigil_statsd_series") == 3);
  CHECK(dropped(host, "max_series") == 3);
  CHECK(host.value("a_total") == 2);
  CHECK_FALSE(host.has("d_total"));
  CHECK_FALSE(host.has("e"));
  CHECK(host.logged("option \"max_series\""));
}

TEST_CASE("type conflicts, the vigil_ namespace and DogStatsD events are dropped by reason") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  send_udp(listen_port(host, "udp"),
           {"x:1|g\nx:5|ms\nvigil_statsd_series:1|g\n_e{5,4}:title|text\n_sc|db|0"});
  collect_lines(inst, host, "udp", 5);
  CHECK(host.value("x") == 1);
  CHECK(dropped(host, "type_conflict") == 1);
  CHECK(dropped(host, "reserved_name") == 1);
  CHECK(dropped(host, "unsupported") == 2);
  CHECK(host.value("vigil_statsd_series") == 1);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 0);
}

TEST_CASE("a series the host refuses is skipped and counted, the others are published") {
  FakeHost host;
  // Two instances on one host: the first owns "clash" as a gauge, so the second's histogram
  // of that name is refused by the host.
  vigil::testing::InstanceSettings first("first"), second("second");
  first.labels = {{"statsd", "first"}};
  second.labels = {{"statsd", "second"}};
  auto a = host.create(plugin(), udp_options(), first);
  auto b = host.create(plugin(), udp_options(), second);
  int port_a = static_cast<int>(
      host.value("vigil_statsd_listen_port", {{"transport", "udp"}, {"statsd", "first"}}));
  int port_b = static_cast<int>(
      host.value("vigil_statsd_listen_port", {{"transport", "udp"}, {"statsd", "second"}}));
  REQUIRE(port_a != port_b);
  send_udp(port_a, {"clash:1|g"});
  collect_until(a, [&] { return host.has("clash", {{"statsd", "first"}}); });
  send_udp(port_b, {"clash:5|ms\nfine:1|c"});
  collect_until(b, [&] { return host.has("fine_total", {{"statsd", "second"}}); });
  CHECK(host.value("vigil_statsd_dropped_total", {{"reason", "rejected"}, {"statsd", "second"}}) ==
        1);
  CHECK(host.logged("StatsD metric \"clash\" is ignored"));
  REQUIRE(b.collect().is_ok());  // refused once, not on every collect
  CHECK(host.value("vigil_statsd_dropped_total", {{"reason", "rejected"}, {"statsd", "second"}}) ==
        1);
}

TEST_CASE("datagrams the kernel drops for a full receive buffer are counted") {
  FakeHost host;
  // An 8 KiB buffer (the kernel doubles 4096) holds about one of these 7 KB datagrams.
  auto inst = host.create(plugin(), udp_options({{"udp_read_buffer", "4096"}}));
  int port = listen_port(host, "udp");
  const int burst = 2000;
  std::vector<std::string> datagrams(burst, "burst:1|c|#pad:" + std::string(7000, 'x'));
  send_udp(port, datagrams);
  // The kernel reports drops with the next datagram that gets through: a late one.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  send_udp(port, {"sentinel:1|c"});
  // Every datagram either arrived or was counted as dropped.
  collect_until(inst, [&] {
    return host.value("vigil_statsd_packets_total") + dropped(host, "udp_buffer_full") == burst + 1;
  });
  CHECK(host.value("sentinel_total") == 1);
  double lost = dropped(host, "udp_buffer_full");
  CHECK(host.value("burst_total", {{"pad", std::string(7000, 'x')}}) == burst - lost);
  if (lost > 0) {
    CHECK(host.logged("the UDP receive buffer was full"));
  } else {
    WARN("the listener kept up with the whole burst: nothing was dropped to count");
  }
}

TEST_CASE("TCP: newline-delimited lines, split anywhere, the last one without a newline") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"udp_address", ""}, {"tcp_address", "127.0.0.1:0"}});
  CHECK_FALSE(host.has("vigil_statsd_listen_port", {{"transport", "udp"}}));
  int port = listen_port(host, "tcp");
  CHECK(port > 0);
  CHECK(host.logged("listening for StatsD on TCP 127.0.0.1:" + std::to_string(port)));
  {
    TcpClient client(port);
    client.send("deploys:1|c\ndepl");
    client.send("oys:2|c\r\nqueue:");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    client.send("7|g\nlat:15|ms|#route:/a\nbad line\ngone:1|c");
  }
  collect_lines(inst, host, "tcp", 6);
  CHECK(host.value("deploys_total") == 3);
  CHECK(host.value("queue") == 7);
  CHECK(host.histogram("lat", {{"route", "/a"}}).count == 1);
  CHECK(host.value("gone_total") == 1);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 1);
  CHECK(host.value("vigil_statsd_tcp_connections_total") == 1);
  CHECK(host.value("vigil_statsd_packets_total") == 0);
}

TEST_CASE("TCP: a line longer than 64 KiB is dropped, the connection keeps working") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"udp_address", ""}, {"tcp_address", "127.0.0.1:0"}});
  TcpClient client(listen_port(host, "tcp"));
  client.send("before:1|c\n" + std::string(70000, 'x') + "\nafter:1|c\n");
  collect_until(inst, [&] { return host.has("after_total"); });
  CHECK(host.value("before_total") == 1);
  CHECK(dropped(host, "line_too_long") == 1);
  CHECK(host.value("vigil_statsd_parse_errors_total") == 0);
}

TEST_CASE("TCP: connections beyond tcp_max_connections are refused and counted") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      {{"udp_address", ""}, {"tcp_address", "127.0.0.1:0"}, {"tcp_max_connections", "1"}});
  int port = listen_port(host, "tcp");
  TcpClient first(port);
  collect_until(inst, [&] { return host.value("vigil_statsd_tcp_connections_total") == 1; });
  TcpClient second(port);
  collect_until(inst, [&] { return dropped(host, "tcp_connections") == 1; });
  first.send("still:1|c\n");
  collect_until(inst, [&] { return host.has("still_total"); });
  CHECK(host.logged("option \"tcp_max_connections\""));
}

TEST_CASE("UDP and TCP together feed the same series") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options({{"tcp_address", "127.0.0.1:0"}}));
  send_udp(listen_port(host, "udp"), {"both:1|c"});
  {
    TcpClient client(listen_port(host, "tcp"));
    client.send("both:2|c\n");
  }
  collect_until(inst, [&] { return value_or(host, "both_total", {}, 0) == 3; });
  CHECK(host.value("vigil_statsd_lines_total", {{"transport", "udp"}}) == 1);
  CHECK(host.value("vigil_statsd_lines_total", {{"transport", "tcp"}}) == 1);
}

TEST_CASE("custom buckets and quantiles are used") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options({{"buckets", "[0.1, 1]"}, {"quantiles", "[0.9]"}}));
  send_udp(listen_port(host, "udp"), {"lat:50|ms\nlat:500|ms\nlat:5000|ms"});
  collect_until(inst, [&] { return host.has("lat"); });  // one datagram: all three at once
  auto h = host.histogram("lat");
  CHECK(h.bounds == std::vector<double>{0.1, 1});
  CHECK(h.cumulative == std::vector<uint64_t>{1, 2});
  CHECK(h.count == 3);
  SummaryValue s = summary(host, inst, "lat_quantiles");
  REQUIRE(s.quantiles.size() == 1);
  CHECK(s.quantiles[0.9] == Approx(0.5).epsilon(0.0101));  // rank floor(0.9 * 2) = 1

  SECTION("and no summary at all with an empty quantile list") {
    FakeHost other;
    auto none = other.create(plugin(), udp_options({{"quantiles", "[]"}}));
    send_udp(listen_port(other, "udp"), {"lat:50|ms"});
    collect_lines(none, other, "udp", 1);
    CHECK(other.histogram("lat").count == 1);
    CHECK_FALSE(other.family("lat_quantiles"));
  }
}

TEST_CASE("a series the host dropped as stale is registered again on the next collect") {
  FakeHost host;
  auto inst = host.create(plugin(), udp_options());
  send_udp(listen_port(host, "udp"), {"deploys:1|c\nlat:5|ms"});
  collect_lines(inst, host, "udp", 2);
  REQUIRE(host.drop_series("deploys_total"));
  REQUIRE(host.drop_series("lat"));
  REQUIRE(host.drop_series("lat_quantiles"));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("deploys_total") == 1);
  CHECK(host.histogram("lat").count == 1);
  CHECK(summary(host, inst, "lat_quantiles").found);
}

TEST_CASE("with expire_after, a silent series leaves the exposition") {
  FakeHost host;
  // Long enough that a slow machine still publishes the series once before it expires.
  auto inst = host.create(plugin(), udp_options({{"expire_after", "3s"}}));
  send_udp(listen_port(host, "udp"), {"once:1|c\nlat:5|ms"});
  collect_lines(inst, host, "udp", 2);
  CHECK(host.has("once_total"));
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("once_total"));
  CHECK_FALSE(host.has("lat"));
  CHECK_FALSE(summary(host, inst, "lat_quantiles").found);
  CHECK(host.value("vigil_statsd_series") == 0);

  SECTION("and starts from zero when it comes back") {
    send_udp(listen_port(host, "udp"), {"once:1|c"});
    collect_until(inst, [&] { return host.has("once_total"); });
    CHECK(host.value("once_total") == 1);
  }
}

TEST_CASE("destroying the instance closes its sockets: the port can be bound again") {
  FakeHost host;
  int port = 0;
  {
    auto inst = host.create(plugin(), udp_options({{"tcp_address", "127.0.0.1:0"}}));
    port = listen_port(host, "udp");
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in at = loopback(port);
  CHECK(bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0);
  close(fd);
}

TEST_CASE("a port already in use fails the instance with the address and the reason") {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in at = loopback(0);
  REQUIRE(bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0);
  socklen_t len = sizeof at;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len) == 0);
  std::string address = "127.0.0.1:" + std::to_string(ntohs(at.sin_port));

  FakeHost host;
  auto inst = host.try_create(plugin(), {{"udp_address", address}});
  CHECK_FALSE(inst);
  CHECK_THAT(inst.status().message(), Contains("option \"udp_address\"") &&
                                          Contains("cannot bind UDP " + address) &&
                                          Contains("Address already in use"));
  close(fd);
}

TEST_CASE("option mistakes are refused with what was found and what was expected") {
  FakeHost host;
  auto message = [&](OptionMap options) {
    auto inst = host.try_create(plugin(), options);
    REQUIRE_FALSE(inst);
    return inst.status().message();
  };
  CHECK_THAT(message({{"udp_address", ""}}), Contains("both empty"));
  CHECK_THAT(message({{"udp_address", "127.0.0.1"}}),
             Contains("option \"udp_address\"") && Contains("no \":port\""));
  CHECK_THAT(message({{"udp_address", "127.0.0.1:99999"}}),
             Contains("port \"99999\"") && Contains("0 to 65535"));
  CHECK_THAT(message({{"udp_address", "::1:8125"}}), Contains("without brackets"));
  CHECK_THAT(message({{"udp_address", "no.such.host.invalid:0"}}), Contains("cannot resolve"));
  CHECK_THAT(message(udp_options({{"prefix", "1app"}})),
             Contains("option \"prefix\"") && Contains("\"1app\""));
  CHECK_THAT(message(udp_options({{"buckets", "[1, 0.5]"}})),
             Contains("option \"buckets\"") && Contains("strictly increasing"));
  CHECK_THAT(message(udp_options({{"buckets", "{\"a\":1}"}})),
             Contains("option \"buckets\"") && Contains("JSON array of numbers"));
  CHECK_THAT(message(udp_options({{"buckets", "[]"}})), Contains("at least one bucket"));
  CHECK_THAT(message(udp_options({{"quantiles", "[0.5, 1.5]"}})),
             Contains("option \"quantiles\"") && Contains("[0, 1]"));
  CHECK_THAT(message(udp_options({{"max_series", "0"}})), Contains("option \"max_series\""));
  CHECK_THAT(message(udp_options({{"udp_read_buffer", "-1"}})),
             Contains("option \"udp_read_buffer\""));
  CHECK_THAT(message(udp_options({{"tcp_max_connections", "0"}})),
             Contains("option \"tcp_max_connections\""));
}

TEST_CASE("an IPv6 loopback address works") {
  FakeHost host;
  auto inst = host.try_create(plugin(), {{"udp_address", "[::1]:0"}});
  if (!inst) {
    // A machine without IPv6 on loopback: the reason must say so, nothing else to check.
    CHECK_THAT(inst.status().message(), Contains("[::1]:0"));
    return;
  }
  int port = listen_port(host, "udp");
  CHECK(host.logged("listening for StatsD on UDP [::1]:" + std::to_string(port)));
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(static_cast<uint16_t>(port));
  to.sin6_addr = in6addr_loopback;
  std::string line = "v6:1|c";
  CHECK(sendto(fd, line.data(), line.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) == static_cast<ssize_t>(line.size()));
  close(fd);
  collect_until(inst, [&] { return host.has("v6_total"); });
}
