// collector_statsd: a StatsD / DogStatsD server inside the agent. Applications send counters,
// gauges, timers, histograms, distributions and sets over UDP (and optionally TCP); the
// listener threads parse and aggregate them as they arrive, and every collect() publishes the
// aggregated state as Prometheus series, plus the plugin's own vigil_statsd_* counters.
//
// The sockets are bound in configure(), so a port in use fails the instance with the reason, and
// closed in the destructor. This file must never let what a client sends grow memory without
// bound (max_series, the set-member budget, the TCP line limit), never write to the host from the
// listener threads (only collect() writes series), and never log every bad line: the first few,
// then only counts.
#include <vigil/sdk.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aggregator.hpp"
#include "line_parser.hpp"
#include "listener.hpp"
#include "summary_series.hpp"

namespace vigil::collector_statsd {
namespace {

constexpr const char* kPackets = "vigil_statsd_packets_total";
constexpr const char* kLines = "vigil_statsd_lines_total";
constexpr const char* kParseErrors = "vigil_statsd_parse_errors_total";
constexpr const char* kDropped = "vigil_statsd_dropped_total";
constexpr const char* kTcpConnections = "vigil_statsd_tcp_connections_total";
constexpr const char* kSeries = "vigil_statsd_series";
constexpr const char* kListenPort = "vigil_statsd_listen_port";

// Enough bad lines in the log to see what a client does wrong; the rest are only counted.
constexpr int kLoggedParseErrors = 10;
// A TCP line longer than this is dropped: no StatsD line needs more, and it bounds the memory a
// client holding back its '\n' can take (per connection).
constexpr std::size_t kMaxTcpLine = 65536;
// Host refusals of a series worth logging; more are counted in dropped_total{reason="rejected"}.
constexpr int kLoggedRejections = 5;

constexpr std::size_t kReasonCount = static_cast<std::size_t>(DropReason::udp_buffer_full) + 1;

enum Transport { kUdp = 0, kTcp = 1 };
constexpr const char* kTransportNames[2] = {"udp", "tcp"};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Text safe for a log line or a help text: control bytes and, in text that is not UTF-8, every
// non-ASCII byte become '?'.
std::string printable(std::string_view text, std::size_t max = 300) {
  const bool utf8 = valid_label_value(text);
  std::string out;
  for (char c : text.substr(0, max)) {
    auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7F || (!utf8 && byte >= 0x80)) ? '?' : c;
  }
  if (text.size() > max) out += "...";
  return out;
}

// A JSON array of numbers, as the host hands a Json option over (compact text).
bool parse_number_list(const std::string& json, const char* option, std::vector<double>& out,
                       std::string& error) {
  const std::string expected = std::string("option \"") + option + "\": found " + json +
                               ", expected a JSON array of numbers such as [0.1, 0.5, 1]";
  std::string_view text = json;
  auto skip_blanks = [&] {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\n' || text.front() == '\t'))
      text.remove_prefix(1);
  };
  skip_blanks();
  if (text.empty() || text.front() != '[') {
    error = expected;
    return false;
  }
  text.remove_prefix(1);
  skip_blanks();
  out.clear();
  if (!text.empty() && text.front() == ']') {
    text.remove_prefix(1);
  } else {
    while (true) {
      skip_blanks();
      double value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || !std::isfinite(value)) {
        error = expected;
        return false;
      }
      out.push_back(value);
      text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
      skip_blanks();
      if (!text.empty() && text.front() == ',') {
        text.remove_prefix(1);
        continue;
      }
      if (!text.empty() && text.front() == ']') {
        text.remove_prefix(1);
        break;
      }
      error = expected;
      return false;
    }
  }
  skip_blanks();
  if (!text.empty()) {
    error = expected;
    return false;
  }
  return true;
}

std::string format_number(double v) {
  char buffer[32];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, ptr) : std::to_string(v);
}

}  // namespace

// One configured "collector_statsd" instance.
// Thread-safety: the listener threads call the Sink methods (atomics, the thread-safe
// Aggregator, and per-transport scratch only their own thread touches); collect() runs on a
// host worker, never twice at once, and alone touches the publishing state.
class StatsdCollector final : public Collector, private Sink {
 public:
  ~StatsdCollector() override {
    // The threads call into this object: they stop before any member is destroyed.
    listener_.stop();
  }

  Status configure(const Config& config) override {
    AggregatorOptions options;
    const std::string udp = config.string("udp_address");
    const std::string tcp = config.string("tcp_address");
    if (udp.empty() && tcp.empty())
      return Status::invalid_argument(
          "options \"udp_address\" and \"tcp_address\" are both empty, so there is nothing to "
          "listen on; expected at least one address, e.g. \"udp_address\": \"127.0.0.1:8125\"");

    options.prefix = config.string("prefix");
    if (!options.prefix.empty() && !valid_metric_name(options.prefix))
      return Status::invalid_argument(
          "option \"prefix\": found \"" + options.prefix +
          "\", expected the start of a Prometheus metric name: letters, digits, '_' or ':', not "
          "starting with a digit (e.g. \"myapp_\")");

    std::string error;
    if (!parse_number_list(config.json("buckets"), "buckets", options.buckets, error))
      return Status::invalid_argument(error);
    if (options.buckets.empty())
      return Status::invalid_argument(
          "option \"buckets\": found [], expected at least one bucket upper bound");
    for (std::size_t i = 1; i < options.buckets.size(); ++i) {
      if (!(options.buckets[i] > options.buckets[i - 1]))
        return Status::invalid_argument(
            "option \"buckets\": " + format_number(options.buckets[i]) + " (item " +
            std::to_string(i) + ") is not greater than " + format_number(options.buckets[i - 1]) +
            "; expected strictly increasing upper bounds (+Inf is implicit)");
    }

    if (!parse_number_list(config.json("quantiles"), "quantiles", options.quantiles, error))
      return Status::invalid_argument(error);
    if (options.quantiles.size() > 16)
      return Status::invalid_argument("option \"quantiles\": found " +
                                      std::to_string(options.quantiles.size()) +
                                      " quantiles, expected at most 16");
    for (std::size_t i = 0; i < options.quantiles.size(); ++i) {
      double q = options.quantiles[i];
      if (!(q >= 0 && q <= 1) || (i > 0 && !(q > options.quantiles[i - 1])))
        return Status::invalid_argument(
            "option \"quantiles\": " + format_number(q) + " (item " + std::to_string(i) +
            ") is out of order or outside [0, 1]; expected increasing values such as [0.5, "
            "0.95, 0.99]");
    }

    const std::int64_t max_series = config.integer("max_series");
    const std::int64_t max_set_values = config.integer("max_set_values");
    const std::int64_t max_connections = config.integer("tcp_max_connections");
    if (max_series < 1)
      return Status::invalid_argument("option \"max_series\": found " + std::to_string(max_series) +
                                      ", expected a positive number of series");
    if (max_set_values < 1)
      return Status::invalid_argument("option \"max_set_values\": found " +
                                      std::to_string(max_set_values) +
                                      ", expected a positive number of set members");
    if (max_connections < 1)
      return Status::invalid_argument("option \"tcp_max_connections\": found " +
                                      std::to_string(max_connections) +
                                      ", expected a positive number of connections");
    max_connections_ = static_cast<std::size_t>(max_connections);
    options.max_series = static_cast<std::size_t>(max_series);
    options.max_set_values = static_cast<std::size_t>(max_set_values);
    options.expire_after_ms = config.duration("expire_after").count();
    quantiles_ = options.quantiles;
    buckets_ = options.buckets;
    aggregator_ = std::make_unique<Aggregator>(std::move(options));

    describe_self_metrics(!udp.empty(), !tcp.empty());

    const std::int64_t read_buffer = config.integer("udp_read_buffer");
    if (read_buffer < 0)
      return Status::invalid_argument(
          "option \"udp_read_buffer\": found " + std::to_string(read_buffer) +
          ", expected a number of bytes, or 0 for the kernel's default");
    if (!udp.empty() && !listener_.open_udp(udp, static_cast<std::size_t>(read_buffer), error))
      return Status::invalid_argument("option \"udp_address\": " + error);
    if (!tcp.empty() &&
        !listener_.open_tcp(tcp, static_cast<std::size_t>(max_connections), kMaxTcpLine, error))
      return Status::invalid_argument("option \"tcp_address\": " + error);
    if (!listener_.start(error)) return Status::internal(error);

    std::string where;
    if (!udp.empty()) where += "UDP " + listener_.udp_bound();
    if (!tcp.empty()) where += (where.empty() ? "TCP " : " and TCP ") + listener_.tcp_bound();
    host().info("listening for StatsD on " + where);
    publish_self_metrics(read_self_counts());
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    SelfCounts counts = read_self_counts();
    aggregator_->snapshot(steady_ms(), snapshot_);
    for (const auto& key : snapshot_.expired) {
      auto it = published_.find(key->id);
      if (it == published_.end()) continue;
      Published& p = it->second;
      if (p.counter) host().unregister(p.counter);
      if (p.gauge) host().unregister(p.gauge);
      if (p.histogram) host().unregister(p.histogram);
      p.summary.unregister();
      published_.erase(it);
    }
    for (const std::string& family : snapshot_.expired_families) {
      described_.erase(family);
      summary_families_.erase(family);
    }

    std::size_t failed = 0;
    std::string first_failure;
    for (const SeriesSnapshot& s : snapshot_.series) {
      Published& p = published_[s.key->id];
      if (p.rejected) continue;
      try {
        if (!p.registered) {
          register_series(p, *s.key);
          p.registered = true;
        }
        if (!write(p, s)) {
          if (failed++ == 0) first_failure = detail::series_text(s.key->family, s.key->labels);
        }
      } catch (const Error& e) {
        // Another plugin (or another statsd instance) owns the name with another type or
        // buckets: this series is skipped until it expires, rather than failing every collect.
        p.rejected = true;
        count_drop(DropReason::rejected);
        counts.dropped[static_cast<std::size_t>(DropReason::rejected)] += 1;  // shown now
        if (rejections_logged_++ < kLoggedRejections)
          host().warn("StatsD metric \"" + printable(s.key->source_name) + "\" is ignored: " +
                      e.what() + " (set option \"prefix\" to keep StatsD names apart)");
      }
    }
    publish_self_metrics(counts);
    if (failed > 0)
      return Status::internal("the host refused " + std::to_string(failed) +
                              " sample write(s), first for " + first_failure +
                              "; see the host's log for why");
    return Status::ok();
  }

 private:
  // The host handles of one StatsD series; which ones are set depends on its kind.
  struct Published {
    bool registered = false;
    bool rejected = false;
    Counter counter;
    Gauge gauge;
    Histogram histogram;
    SummarySeries summary;
  };

  // ---- listener side (listener threads) --------------------------------------------------

  // The parsed samples of one datagram (or TCP line), applied together. Kept between datagrams
  // so their buffers are reused; one per transport, each touched only by its own thread.
  struct Batch {
    std::vector<ParsedLine> samples;  // the first `count` hold this batch's samples
    std::size_t count = 0;
    std::uint64_t lines = 0;  // lines seen, blank ones excepted
    std::vector<DropReason> reasons;
    std::string error;
  };

  void datagram(std::string_view payload, const Peer& peer) override {
    Batch& batch = batches_[kUdp];
    batch.count = 0;
    batch.lines = 0;
    while (!payload.empty()) {
      std::size_t newline = payload.find('\n');
      parse_into(batch, payload.substr(0, newline), kUdp, peer);
      if (newline == std::string_view::npos) break;
      payload.remove_prefix(newline + 1);
    }
    // One apply for the whole datagram: a collect sees all of a multi-metric packet or none.
    apply(batch, kUdp);
  }

  void tcp_line(std::string_view line, const Peer& peer) override {
    Batch& batch = batches_[kTcp];
    batch.count = 0;
    batch.lines = 0;
    parse_into(batch, line, kTcp, peer);
    apply(batch, kTcp);
  }

  void tcp_connection(bool accepted, const Peer& peer) override {
    if (accepted) {
      tcp_connections_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    count_drop(DropReason::tcp_connections);
    warn_once(DropReason::tcp_connections, "refused a TCP connection from " + peer.text() + ": " +
                                               std::to_string(max_connections_) +
                                               " are open (option \"tcp_max_connections\")");
  }

  void udp_overflow(std::uint64_t count) override {
    dropped_[static_cast<std::size_t>(DropReason::udp_buffer_full)].fetch_add(
        count, std::memory_order_relaxed);
    warn_once(DropReason::udp_buffer_full,
              "the kernel dropped " + std::to_string(count) +
                  " StatsD datagram(s): the UDP receive buffer was full (raise option "
                  "\"udp_read_buffer\", and net.core.rmem_max with it)");
  }

  void tcp_line_too_long(const Peer& peer) override {
    count_drop(DropReason::line_too_long);
    warn_once(DropReason::line_too_long, "dropped a TCP line from " + peer.text() +
                                             " longer than " + std::to_string(kMaxTcpLine) +
                                             " bytes without a newline");
  }

  // Parses one line into the next free slot of `batch`; counts and logs what is not a sample.
  void parse_into(Batch& batch, std::string_view line, Transport transport, const Peer& peer) {
    if (batch.samples.size() <= batch.count) batch.samples.emplace_back();
    ParsedLine& parsed = batch.samples[batch.count];
    LineKind kind = parse_line(line, parsed, batch.error);
    if (kind == LineKind::blank) return;
    ++batch.lines;
    switch (kind) {
      case LineKind::sample:
        ++batch.count;
        return;
      case LineKind::unsupported:
        count_drop(DropReason::unsupported);
        warn_once(DropReason::unsupported,
                  "DogStatsD events (_e) and service checks (_sc) are not metrics; ignoring "
                  "them (first from " +
                      peer.text() + ")");
        return;
      case LineKind::error: {
        parse_errors_.fetch_add(1, std::memory_order_relaxed);
        int logged = parse_errors_logged_.fetch_add(1, std::memory_order_relaxed);
        if (logged < kLoggedParseErrors) {
          host().warn(
              "cannot parse a StatsD line from " + std::string(kTransportNames[transport]) + " " +
              peer.text() + ": " + printable(batch.error) +
              (logged + 1 == kLoggedParseErrors
                   ? "; further parse errors are only counted in " + std::string(kParseErrors)
                   : std::string()));
        }
        return;
      }
      case LineKind::blank:
        return;
    }
  }

  void apply(Batch& batch, Transport transport) {
    if (batch.count > 0) {
      batch.reasons.resize(batch.count);
      aggregator_->apply(batch.samples.data(), batch.count, steady_ms(), batch.reasons.data());
      for (std::size_t i = 0; i < batch.count; ++i) {
        DropReason reason = batch.reasons[i];
        if (reason == DropReason::none) continue;
        count_drop(reason);
        warn_once(reason, drop_message(reason, batch.samples[i]));
      }
    }
    // Counted after the apply, and collect() reads the counters before its snapshot: when
    // vigil_statsd_lines_total shows a line, the published series (and every other
    // self-metric, bumped before this release) include it.
    if (transport == kUdp) packets_.fetch_add(1, std::memory_order_relaxed);
    lines_[transport].fetch_add(batch.lines, std::memory_order_release);
  }

  std::string drop_message(DropReason reason, const ParsedLine& line) const {
    const std::string name = "\"" + printable(line.source_name) + "\"";
    switch (reason) {
      case DropReason::max_series:
        return "dropped " + name + ": " + std::to_string(aggregator_->options().max_series) +
               " series are held (option \"max_series\"); new series are dropped and counted";
      case DropReason::type_conflict:
        return "dropped " + name + " sent as a " + sample_type_name(line.type) +
               ": its Prometheus name already belongs to a StatsD metric of another type";
      case DropReason::reserved_name:
        return "dropped " + name +
               ": its Prometheus name starts with \"vigil_\", the agent's own namespace";
      case DropReason::set_full:
        return "dropped a member of set " + name + ": " +
               std::to_string(aggregator_->options().max_set_values) +
               " set members arrived this interval (option \"max_set_values\")";
      default:
        return "dropped " + name;
    }
  }

  // Logs the first drop of each reason; later ones are only counted.
  void warn_once(DropReason reason, const std::string& message) {
    auto& flag = warned_[static_cast<std::size_t>(reason)];
    if (flag.exchange(true)) return;
    host().warn(message + " (counted in " + kDropped + "{reason=\"" + drop_reason_name(reason) +
                "\"}; only the first is logged)");
  }

  void count_drop(DropReason reason) {
    dropped_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }

  // ---- collect side ---------------------------------------------------------------------

  void register_series(Published& p, const SeriesKey& key) {
    const std::string source = "\"" + printable(key.source_name, 100) + "\"";
    switch (key.kind) {
      case Kind::counter:
        if (described_.insert(key.family).second)
          host().describe(key.family, MetricType::counter,
                          "StatsD counter " + source +
                              ": the sum of its increments since the "
                              "agent started (sample rates applied).");
        p.counter = host().counter(key.family, key.labels);
        break;
      case Kind::gauge:
        if (described_.insert(key.family).second)
          host().describe(key.family, MetricType::gauge,
                          "StatsD gauge " + source + ": the last value set.");
        p.gauge = host().gauge(key.family, key.labels);
        break;
      case Kind::set:
        if (described_.insert(key.family).second)
          host().describe(
              key.family, MetricType::gauge,
              "StatsD set " + source + ": distinct members received in the last collect interval.");
        p.gauge = host().gauge(key.family, key.labels);
        break;
      case Kind::histogram:
        if (described_.count(key.family) == 0) {
          host().describe(key.family, MetricType::histogram,
                          key.timer ? "StatsD timer " + source + ", in seconds (sent in ms)."
                                    : "StatsD histogram " + source + ".",
                          key.timer ? "seconds" : "", buckets_);
          described_.insert(key.family);
        }
        p.histogram = host().histogram(key.family, key.labels);
        if (!key.summary_family.empty()) {
          auto family = summary_families_.find(key.summary_family);
          if (family == summary_families_.end()) {
            vigil_family_id id = register_summary_family(
                host(), key.summary_family,
                "Quantiles of StatsD " + std::string(key.timer ? "timer " : "histogram ") + source +
                    " over the last collect interval (NaN when nothing arrived).");
            family = summary_families_.emplace(key.summary_family, id).first;
          }
          p.summary = SummarySeries(host(), family->second, key.summary_family, key.labels);
        }
        break;
      case Kind::summary:
        break;
    }
  }

  bool write(Published& p, const SeriesSnapshot& s) {
    switch (s.key->kind) {
      case Kind::counter:
        return p.counter.set(s.value);
      case Kind::gauge:
      case Kind::set:
        return p.gauge.set(s.value);
      case Kind::histogram: {
        bool ok = p.histogram.set(s.cumulative, s.sum, s.count);
        if (p.summary) ok = p.summary.write(quantiles_, s.quantile_values, s.sum, s.count) && ok;
        return ok;
      }
      case Kind::summary:
        break;
    }
    return true;
  }

  void describe_self_metrics(bool udp, bool tcp) {
    Host& h = host();
    h.describe(kPackets, MetricType::counter, "UDP datagrams received by the StatsD listener.");
    h.describe(kLines, MetricType::counter,
               "StatsD lines received (blank lines excluded), by transport.");
    h.describe(kParseErrors, MetricType::counter,
               "StatsD lines that could not be parsed (the first few are logged).");
    h.describe(kDropped, MetricType::counter,
               "StatsD lines, set members and TCP connections dropped, by reason.");
    h.describe(kTcpConnections, MetricType::counter, "TCP connections accepted.");
    h.describe(kSeries, MetricType::gauge, "StatsD series held (at most max_series).");
    h.describe(kListenPort, MetricType::gauge,
               "Port the StatsD listener is bound to, by transport (useful with port 0).");
    packets_counter_ = h.counter(kPackets);
    for (int t : {kUdp, kTcp}) {
      if ((t == kUdp && udp) || (t == kTcp && tcp))
        lines_counter_[t] = h.counter(kLines, {{"transport", kTransportNames[t]}});
    }
    parse_errors_counter_ = h.counter(kParseErrors);
    for (DropReason reason : kDropReasons)
      dropped_counter_[static_cast<std::size_t>(reason)] =
          h.counter(kDropped, {{"reason", drop_reason_name(reason)}});
    if (tcp) tcp_connections_counter_ = h.counter(kTcpConnections);
    series_gauge_ = h.gauge(kSeries);
  }

  // The listener threads' counters at one moment; the lines are read first (acquire), so every
  // counter they bumped before a line was counted is seen too.
  struct SelfCounts {
    double lines[2] = {0, 0};
    double packets = 0, parse_errors = 0, tcp_connections = 0;
    std::array<double, kReasonCount> dropped{};
  };

  SelfCounts read_self_counts() const {
    SelfCounts c;
    for (int t : {kUdp, kTcp})
      c.lines[t] = static_cast<double>(lines_[t].load(std::memory_order_acquire));
    auto load = [](const std::atomic<std::uint64_t>& a) {
      return static_cast<double>(a.load(std::memory_order_relaxed));
    };
    c.packets = load(packets_);
    c.parse_errors = load(parse_errors_);
    c.tcp_connections = load(tcp_connections_);
    for (std::size_t i = 0; i < kReasonCount; ++i) c.dropped[i] = load(dropped_[i]);
    return c;
  }

  void publish_self_metrics(const SelfCounts& counts) {
    Host& h = host();
    if (listener_.udp_port() != 0 || !listener_.udp_bound().empty()) {
      if (!udp_port_gauge_) udp_port_gauge_ = h.gauge(kListenPort, {{"transport", "udp"}});
      udp_port_gauge_.set(listener_.udp_port());
    }
    if (!listener_.tcp_bound().empty()) {
      if (!tcp_port_gauge_) tcp_port_gauge_ = h.gauge(kListenPort, {{"transport", "tcp"}});
      tcp_port_gauge_.set(listener_.tcp_port());
    }
    packets_counter_.set(counts.packets);
    for (int t : {kUdp, kTcp})
      if (lines_counter_[t]) lines_counter_[t].set(counts.lines[t]);
    parse_errors_counter_.set(counts.parse_errors);
    for (DropReason reason : kDropReasons) {
      auto i = static_cast<std::size_t>(reason);
      dropped_counter_[i].set(counts.dropped[i]);
    }
    if (tcp_connections_counter_) tcp_connections_counter_.set(counts.tcp_connections);
    series_gauge_.set(static_cast<double>(aggregator_->series_count()));
  }

  std::unique_ptr<Aggregator> aggregator_;
  std::vector<double> quantiles_, buckets_;
  std::size_t max_connections_ = 0;

  // Listener side: counters the threads bump, and one batch per transport thread.
  std::atomic<std::uint64_t> packets_{0}, parse_errors_{0}, tcp_connections_{0};
  std::array<std::atomic<std::uint64_t>, 2> lines_{};
  std::array<std::atomic<std::uint64_t>, kReasonCount> dropped_{};
  std::array<std::atomic<bool>, kReasonCount> warned_{};
  std::atomic<int> parse_errors_logged_{0};
  Batch batches_[2];

  // Collect side.
  Snapshot snapshot_;
  std::unordered_map<std::uint64_t, Published> published_;
  std::unordered_set<std::string> described_;
  std::unordered_map<std::string, vigil_family_id> summary_families_;
  int rejections_logged_ = 0;
  Counter packets_counter_, parse_errors_counter_, tcp_connections_counter_;
  std::array<Counter, 2> lines_counter_;
  std::array<Counter, kReasonCount> dropped_counter_;
  Gauge series_gauge_, udp_port_gauge_, tcp_port_gauge_;

  // Last: constructed after, and stopped (in the destructor) before, everything it calls.
  Listener listener_{*this};
};

}  // namespace vigil::collector_statsd

VIGIL_PLUGIN(
    "collector_statsd", "1.0.0",
    vigil::collector<vigil::collector_statsd::StatsdCollector>(
        "StatsD / DogStatsD server: counters, gauges, timers, histograms and sets from "
        "applications over UDP (and TCP), as Prometheus series")
        .option("udp_address", vigil::String, "127.0.0.1:8125",
                "UDP host:port to listen on (port 0: any free port); \"\" turns UDP off")
        // Written quoted so that `vigil plugins` shows the empty default as "".
        .option("tcp_address", vigil::String, "\"\"",
                "TCP host:port for newline-delimited lines; \"\" (the default) turns TCP off")
        .option("prefix", vigil::String, "\"\"", "prepended to every metric name, e.g. \"myapp_\"")
        .option("buckets", vigil::Json, "[0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10]",
                "histogram bucket upper bounds; timers are converted from ms to seconds first")
        .option("quantiles", vigil::Json, "[0.5,0.95,0.99]",
                "quantiles of timers and histograms over the last interval, published as the "
                "summary <name>_quantiles; [] for none")
        .option("max_series", vigil::Int, "10000",
                "series held at most; samples for new series beyond it are dropped and counted")
        .option("max_set_values", vigil::Int, "100000",
                "distinct set members held per interval, all sets together")
        .option("expire_after", vigil::Duration, "0s",
                "remove a series that received nothing for this long; 0s keeps series forever")
        .option("udp_read_buffer", vigil::Int, "0",
                "UDP receive buffer in bytes (SO_RCVBUF); 0 keeps the kernel's default "
                "(net.core.rmem_default); capped by net.core.rmem_max")
        .option("tcp_max_connections", vigil::Int, "100",
                "TCP connections open at once; more are refused and counted"));
