// The StatsD aggregation state: every series the applications sent, folded the StatsD way
// (counters summed, gauges set or moved, timers and histograms bucketed and sketched, sets
// de-duplicated), bounded by max_series and by a budget of set members per interval.
//
// Listener threads apply parsed lines; collect() takes a snapshot, which also starts the next
// interval for the per-interval values (set sizes, quantiles). No SDK types here, so the tests
// drive it directly. It must never call into the host, nor hold its lock while anything but its
// own maps is touched: the listener threads wait on it for every line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "line_parser.hpp"
#include "quantile_sketch.hpp"

namespace vigil::collector_statsd {

// What a series becomes in Prometheus.
enum class Kind {
  counter,    // "<name>_total", counter
  gauge,      // "<name>", gauge
  set,        // "<name>", gauge: distinct members in the last interval
  histogram,  // "<name>", histogram (timers in seconds), plus "<name>_quantiles" summary
  summary,    // only as a family: the quantiles of a histogram
};

// Why a line (or a connection) was not counted in; the `reason` label of
// vigil_statsd_dropped_total.
enum class DropReason {
  none,
  max_series,       // a new series while max_series are held
  type_conflict,    // the name is already used by another kind of StatsD metric
  reserved_name,    // the name starts with "vigil_", the agent's own namespace
  set_full,         // the set-member budget of the interval is spent
  line_too_long,    // a TCP line longer than the limit
  unsupported,      // a DogStatsD event or service check
  rejected,         // the host refused the series (a clash with another plugin's family)
  tcp_connections,  // a TCP connection beyond tcp_max_connections
  udp_buffer_full,  // datagrams the kernel dropped: the UDP receive buffer was full
};
inline constexpr DropReason kDropReasons[] = {
    DropReason::max_series, DropReason::type_conflict,   DropReason::reserved_name,
    DropReason::set_full,   DropReason::line_too_long,   DropReason::unsupported,
    DropReason::rejected,   DropReason::tcp_connections, DropReason::udp_buffer_full};
const char* drop_reason_name(DropReason reason);

struct AggregatorOptions {
  std::string prefix;                   // prepended to every sanitized name
  std::vector<double> buckets;          // histogram upper bounds, strictly increasing, no +Inf
  std::vector<double> quantiles;        // of the summary; empty: no summary family
  std::size_t max_series = 10000;       // series held at once
  std::size_t max_set_values = 100000;  // set members held per interval, all sets together
  std::int64_t expire_after_ms = 0;     // drop a series not updated for this long; 0: never
};

// The identity of one series, fixed for its life; shared with snapshots so collect() can name
// and register it without copying strings every interval.
struct SeriesKey {
  std::uint64_t id = 0;  // unique per aggregator, never reused
  Kind kind = Kind::gauge;
  std::string family;          // the Prometheus family name
  std::string summary_family;  // histograms with quantiles: "<family>_quantiles", else ""
  TagList labels;
  std::string source_name;  // the name as the first sample sent it
  bool timer = false;       // the first sample was a timer: the family is in seconds
};

// One series as collect() publishes it.
struct SeriesSnapshot {
  std::shared_ptr<const SeriesKey> key;
  double value = 0;  // counter: total; gauge: value; set: distinct members this interval
  std::vector<std::uint64_t> cumulative;  // histogram: cumulative count per bucket bound
  double sum = 0;                         // histogram: sum of observations
  std::uint64_t count = 0;                // histogram: observations (the +Inf bucket)
  std::vector<double> quantile_values;    // per AggregatorOptions::quantiles; NaN if none came
};

struct Snapshot {
  std::vector<SeriesSnapshot> series;                     // every series held
  std::vector<std::shared_ptr<const SeriesKey>> expired;  // removed by this snapshot
  std::vector<std::string> expired_families;              // families left with no series
};

// Thread-safety: apply() and snapshot() may be called from any threads concurrently; one mutex.
class Aggregator {
 public:
  explicit Aggregator(AggregatorOptions options);

  // Folds one parsed line in. Returns why it was dropped, or DropReason::none.
  DropReason apply(const ParsedLine& line, std::int64_t now_ms);
  // Folds `count` lines in at once: a snapshot sees all of them or none (the lines of one UDP
  // datagram belong together). `reasons[i]` says why line i was dropped, or DropReason::none.
  void apply(const ParsedLine* lines, std::size_t count, std::int64_t now_ms, DropReason* reasons);

  // Fills `out` with every series (reusing its buffers), removes the series that expired, and
  // starts a new interval for set sizes and quantiles.
  void snapshot(std::int64_t now_ms, Snapshot& out);

  std::size_t series_count() const;
  const AggregatorOptions& options() const { return options_; }

 private:
  struct Series {
    std::shared_ptr<SeriesKey> key;
    double value = 0;
    std::vector<std::uint64_t> buckets;  // per bound, not cumulative; the +Inf rest is count
    double sum = 0;
    std::uint64_t count = 0;
    std::unique_ptr<QuantileSketch> sketch;
    std::unordered_set<std::uint64_t> members;  // hashes of set members, this interval
    std::int64_t last_update_ms = 0;
  };
  struct Family {
    Kind kind = Kind::gauge;
    std::size_t series = 0;
  };

  DropReason apply_locked(const ParsedLine& line, std::int64_t now_ms);
  Series* find_or_create(const ParsedLine& line, Kind kind, std::int64_t now_ms,
                         DropReason& reason);
  void release_family(const std::string& name, std::vector<std::string>& emptied);

  const AggregatorOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Series>> series_;
  std::unordered_map<std::string, Family> families_;
  std::size_t set_values_ = 0;  // members in all sets this interval
  std::uint64_t next_id_ = 1;
  std::string name_, key_;  // scratch, reused under the mutex
};

}  // namespace vigil::collector_statsd
