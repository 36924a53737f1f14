// The metric store: Prometheus metric families and their series, as plugins write them.
//
// Registration (families, series) is rare and takes a lock; it checks names and labels against
// Prometheus' rules and returns a handle. Writes by handle are the hot path: lock-free, no
// allocation, no string hashing, and a handle that was dropped (unregistered or collected after a
// long staleness) is refused instead of landing in someone else's series. Visits walk families by
// name and series by label set for the exporters, showing only live series.
// This file must never let a plugin's call block on another plugin's write, and never hand a
// reader a torn histogram (a count that is not the +Inf bucket).
#pragma once

#include "vigil/plugin.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::store {

using Labels = std::vector<std::pair<std::string, std::string>>;

// The most quantiles one summary write may carry; more is refused with INVALID_ARGUMENT.
inline constexpr size_t kMaxQuantiles = 16;

// One sample of a scalar series (counter, gauge, untyped).
struct Sample {
  int64_t t_ms = 0;
  double v = 0;
};

// A series as select() shows it. `family` and `labels` point into the store and are valid only
// inside the callback (the registry lock is held there, so the series cannot be dropped); copy
// what you keep. `id` stays usable after it: a dropped series' id is simply refused.
struct SeriesInfo {
  vigil_series_id id = 0;
  std::string_view family;
  vigil_metric_type type = VIGIL_METRIC_UNTYPED;
  const vigil_label* labels = nullptr;  // sorted by name
  size_t label_count = 0;
};

// How much history the store keeps for window functions (rules' avg, rate, quantile ...).
// Rings hold raw samples, at most `max_samples` and none `retention_ms` or more behind the
// newest. With `all_series` false (the default: 100,000 series with a full hour would take over
// a GB) a series gets its ring when window() is first asked for it; the ring starts with the
// sample the series holds then and fills from that moment on, so the first windows of a series
// are short. `all_series` true gives every scalar series a ring from its first write (what
// `vigil test-rules` and small hosts use). Rings grow by doubling up to `max_samples` and are
// freed with their series.
struct WindowOptions {
  int64_t retention_ms = 3'600'000;
  size_t max_samples = 720;
  bool all_series = false;
};

// Thread-safety: all members are thread-safe. Writes by handle are lock-free.
class Store {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Registers or finds a family (same name + same type/buckets -> same id, the first help and
  // unit are kept; same name with a different type or buckets -> error). Checks Prometheus
  // naming ([a-zA-Z_:][a-zA-Z0-9_:]*), histogram buckets strictly increasing and finite, type
  // valid, and that the name does not clash with the _bucket/_sum/_count lines of a histogram or
  // summary. On error returns 0 and sets `error` to a message naming the name, the offending
  // character/position and what is expected.
  vigil_family_id register_family(const vigil_family_desc& desc, std::string& error);

  // Registers or finds a series. `labels` in any order; checks label names
  // ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", no duplicates, not "le" on histograms nor
  // "quantile" on summaries) and that values are valid UTF-8; sorts them. A label with an empty
  // value is dropped, as Prometheus treats it as absent. `stale_after_ms` <= 0 means never
  // stale; else the series leaves visits once no write happened for that long. `owner` is an
  // opaque id of the registering plugin instance (0 = host); when two owners register the same
  // series, the first stays its owner. Same family + same label set -> same id. On error returns
  // 0 and sets `error`. Must not be called from inside a visit on the same thread (refused).
  vigil_series_id register_series(vigil_family_id family, Labels labels, int64_t stale_after_ms,
                                  uint64_t owner, std::string& error);

  // Hot path, lock-free, no allocation, no string hashing. timestamp_ms 0 = now (wall clock ms).
  // VIGIL_ERR_INVALID_ARGUMENT for an unknown/dropped handle or a wrong metric type for the call
  // (write: counter, gauge, untyped; observe and write_histogram: histogram; write_summary:
  // summary), for histogram counts that are not cumulative or do not match the family's buckets,
  // and for more than kMaxQuantiles quantiles or a quantile outside [0, 1].
  vigil_status write(vigil_series_id id, double value, int64_t timestamp_ms);
  vigil_status observe(vigil_series_id id, double value);  // histogram: bucket++, sum, count
  vigil_status write_histogram(vigil_series_id id, const uint64_t* cumulative, size_t n, double sum,
                               uint64_t count, int64_t timestamp_ms);
  vigil_status write_summary(vigil_series_id id, const double* quantiles, const double* values,
                             size_t n, double sum, uint64_t count, int64_t timestamp_ms);

  // Drops one series (only if `owner` registered it) or all series of an owner. The handles
  // become invalid at once.
  vigil_status unregister_series(vigil_series_id id, uint64_t owner);
  void unregister_owner(uint64_t owner);

  // Visits families sorted by name (only families with at least one live series), each with its
  // live series sorted by label set, filling vigil_family_view / vigil_series_view as plugin.h
  // documents. A series is live when it was written at least once and (stale_after_ms <= 0 or
  // now_ms - timestamp of its last write < stale_after_ms). Returns false when a visitor
  // callback asked to stop. Blocks registrations, never writes. From inside a callback, writes
  // and the read-only queries below work; registering, unregistering, collecting garbage and a
  // nested visit are refused (an error, INVALID_ARGUMENT, 0 or false) rather than deadlocking.
  // `now_ms` 0 = now.
  bool visit(const vigil_store_visitor& visitor, void* user, int64_t now_ms = 0) const;
  size_t live_series(int64_t now_ms = 0) const;  // number of series a visit would show
  size_t family_count() const;
  size_t registered_series() const;  // live or not, not yet dropped

  // Frees series that have been stale for longer than `drop_after_ms` beyond their staleness, so
  // memory stays bounded when label sets churn; their handles become invalid (generation bump).
  // Series never written and series that never go stale are kept. `now_ms` 0 = now.
  size_t collect_garbage(int64_t now_ms, int64_t drop_after_ms);

  // ---- Reading for rules -----------------------------------------------------------------

  // Calls `fn` for each live series of `family` whose labels equal every (name, value) in
  // `equal` (a label the series lacks equals only ""), in no particular order. Equalities go
  // through an index per family (built on the family's first select by a label, then kept at
  // every registration and drop), so picking one series among 100,000 costs well under a
  // microsecond. Takes the registry lock, never a writer's path: `fn` must not register,
  // unregister, collect garbage or visit. `now_ms` 0 = now; staleness as in visit().
  void select(std::string_view family,
              const std::vector<std::pair<std::string, std::string>>& equal,
              const std::function<void(const SeriesInfo&)>& fn, int64_t now_ms = 0) const;
  // As select(), but every registered series that matches, live or not (never written, stale):
  // what a caller keeps until generation() moves, asking live() at each time, so that a series
  // written (again) meanwhile is not missed.
  void select_registered(std::string_view family,
                         const std::vector<std::pair<std::string, std::string>>& equal,
                         const std::function<void(const SeriesInfo&)>& fn) const;
  void families(const std::function<void(std::string_view name, vigil_metric_type)>& fn) const;
  // Moves whenever a series is registered, unregistered or collected, so callers may cache
  // select_registered() results until it moves (liveness still changes with time: check live()).
  uint64_t generation() const;
  // The last sample of a scalar series; false when unknown, dropped, not scalar or never written.
  // Lock-free. The hot path stores the value and then the time as two plain atomic stores (a
  // seqlock would add an RMW, about 2.5 ns, to every write), so a read racing a write of the same
  // series may pair that write's value with the previous write's time; rings never do.
  bool latest(vigil_series_id id, Sample& out) const;
  // Whether the series exists, was written and is not stale at `now_ms` (0 = now), as visit()
  // and select() decide: what a dead-man (absence) check asks.
  bool live(vigil_series_id id, int64_t now_ms = 0) const;
  // Appends the ring's samples with from_ms < t <= to_ms to `out`, oldest first, strictly
  // increasing in time; returns how many (0 for unknown, dropped or non-scalar series). Gives the
  // series a ring when it has none yet (see WindowOptions). Lock-free: never waits for nor
  // delays a writer, and never returns a time and a value from two different writes. A write
  // with a timestamp older than the ring's newest sample is not added to the ring (latest()
  // still shows it); one at the newest's time replaces its value.
  size_t window(vigil_series_id id, int64_t from_ms, int64_t to_ms, std::vector<Sample>& out) const;
  // Applies to rings from their next write on; existing samples are not re-checked until then.
  void set_window_options(const WindowOptions& options);
  size_t window_bytes() const;  // heap held by rings (for a self-metric)

  // The store's wall clock in ms (what timestamp_ms 0 means). A coarse clock: a few ms of
  // resolution buys a much cheaper hot path.
  static int64_t now_ms();

  // How long a dropped series' slot waits before it may hold another series (default 10 s). A
  // writer that passed the handle check just before the drop finishes its store well within
  // that, so it can never land in the slot's next series nor touch freed histogram memory.
  // Tests set it to 0 to see slots reused.
  void set_reuse_delay_ms(int64_t delay_ms);

 private:
  void select_where(std::string_view family,
                    const std::vector<std::pair<std::string, std::string>>& equal,
                    const std::function<void(const SeriesInfo&)>& fn, bool live_only,
                    int64_t now_ms) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Shared helpers the exporter side and tests can use. `why` receives a message naming the name,
// the offending character and position, and what is expected.
bool valid_metric_name(std::string_view name, std::string* why = nullptr);
bool valid_label_name(std::string_view name, std::string* why = nullptr);
// Appends `value` with Prometheus' label-value escaping: backslash, double quote and newline.
void append_escaped_label_value(std::string& out, std::string_view value);
// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF); `bad_offset` receives the byte offset of the first bad sequence.
bool valid_utf8(std::string_view text, size_t* bad_offset = nullptr);

}  // namespace vigil::store
