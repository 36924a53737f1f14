// vigil_plugin_text: the Publisher writes parsed expositions into the host's store, one
// "source" at a time (a textfile, a scrape target, a command's output), and keeps each source's
// series in step with its latest input: series that appear are registered, series that are
// gone are unregistered, the rest are written by handle.
//
// It speaks the SDK's C ABI (host().api()) rather than the C++ handles: a handle object copies
// its series' name and labels, which for a 100,000-series textfile is tens of megabytes, while
// the Publisher keeps an 8-byte id per series and re-registers from the exposition it holds when
// the host dropped a series. Summaries have no C++ handle at all. Series are keyed by a 64-bit
// hash of name and labels, and every hash hit is confirmed against the real labels, so two
// series can never share a handle. A text input that comes back with the same lines but new
// values (publish_prometheus()) skips all of that: its values are read and written by handle. It
// must never leave a half-published source behind: a publish that fails writes nothing and leaves
// the source's previous series as they were.
#pragma once

#include <vigil/sdk.hpp>

#include "vigil_plugin_text/exposition.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vigil::plugin_text {

namespace detail {
template <class Key, class Value>
class FlatIndex;
struct UpdateScratch;
}  // namespace detail

struct PublishOptions {
  // Labels added to every series of the source (e.g. the scrape target).
  Labels extra;
  // When a series carries a label named like one in `extra` or `protected_names`:
  // true keeps the series' own value (and drops the extra label for that series);
  // false renames the series' label to exported_<name> (Prometheus' honor_labels: false).
  bool honor_labels = true;
  // Label names the instance's configured labels use (the host adds those to every series
  // unless the plugin sets them); only consulted when honor_labels is false.
  std::vector<std::string> protected_names;
  // Write the input's own timestamps (true) or stamp samples when written (false).
  bool honor_timestamps = false;
  // HELP for families the input gives none ("Metric read from <file>").
  std::string default_help;

  bool operator==(const PublishOptions& o) const {
    return extra == o.extra && honor_labels == o.honor_labels &&
           protected_names == o.protected_names && honor_timestamps == o.honor_timestamps &&
           default_help == o.default_help;
  }
};

// Thread-safety: not thread-safe. One per plugin instance, used from its collect() (which the
// host never runs twice at once).
class Publisher {
 public:
  explicit Publisher(Host& host);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Makes `exposition` everything `source` exposes: registers its families and new series,
  // unregisters the source's series that are no longer in it, and writes every value. On failure
  // (a family the store refuses, a series another source already exposes, ...) returns an
  // error starting with "line N: " and changes nothing; the caller decides whether to remove()
  // the source. A write the host refuses fails the status too, after all other writes.
  Status publish(const std::string& source, Exposition exposition,
                 const PublishOptions& options = {});
  // publish() for an input in the Prometheus text format, read the fast way when it can be: when
  // `text` is the source's previous input line for line but for the values (a file rewritten
  // with new values, the usual case), only the values are read, and written by the handles the
  // source has; otherwise it is parsed in full (parse_prometheus() with `parse`) and published.
  // A parse error is returned as INVALID_ARGUMENT with parse_prometheus()'s "line N: ..." text,
  // and changes nothing, like any other refusal. `text` is not kept.
  Status publish_prometheus(const std::string& source, std::string_view text,
                            const ParseOptions& parse, const PublishOptions& options = {});
  // Writes the source's current values again so they stay live (an unchanged file).
  Status refresh(const std::string& source);
  // Unregisters every series of the source and forgets it.
  void remove(const std::string& source);

  bool contains(const std::string& source) const;
  std::size_t series_count(const std::string& source) const;
  std::size_t series_count() const;
  std::vector<std::string> sources() const;

 private:
  struct Entry {
    vigil_series_id id = 0;
    uint64_t hash = 0;
    uint32_t family = 0;
    uint32_t series = 0;
  };
  struct Source {
    std::string name;
    uint32_t slot = 0;  // generation tag of this source's entries in the index
    Exposition exposition;
    PublishOptions options;
    std::vector<Entry> entries;
    std::vector<vigil_family_id> family_ids;
  };
  struct View {  // a source's exposition and entries as one generation sees them
    const Source* source = nullptr;
    const Exposition* exposition = nullptr;
    const std::vector<Entry>* entries = nullptr;
    const PublishOptions* options = nullptr;
  };

  Status register_families(const Exposition& e, const PublishOptions& options,
                           std::vector<vigil_family_id>& ids);
  void final_labels(const Exposition& e, const Series& s, const PublishOptions& o,
                    std::vector<Label>& out, std::vector<std::string>& names) const;
  vigil_status register_series(vigil_family_id family, const std::vector<Label>& labels,
                               vigil_series_id& id, std::string& error);
  bool same_series(const Source& source, const Exposition& e, const PublishOptions& o) const;
  Status write_all(Source& source);
  void unregister(vigil_series_id id);
  void drop(Source& source);

  const vigil_host_api* api_;
  vigil_host_ctx* ctx_;
  std::unordered_map<std::string, std::unique_ptr<Source>> sources_;
  std::unordered_map<uint32_t, Source*> by_slot_;
  uint32_t next_slot_ = 1;
  std::unique_ptr<detail::FlatIndex<uint64_t, uint64_t>> index_;
  // Scratch buffers reused across calls, so a publish allocates little per series.
  std::vector<Label> final_, other_final_;
  std::vector<std::string> names_, other_names_;
  std::vector<uint64_t> cumulative_;
  std::vector<double> quantiles_, quantile_values_;
  std::unique_ptr<detail::UpdateScratch> update_scratch_;
};

}  // namespace vigil::plugin_text
