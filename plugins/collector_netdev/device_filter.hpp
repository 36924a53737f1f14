// Include/exclude regular expressions over device names, as node_exporter's
// --collector.<name>.device-include / device-exclude flags: a device is collected when it matches
// the include pattern (if one is given) and does not match the exclude pattern. Matching is a
// search, not a full match, as in node_exporter ("^lo$" to mean exactly "lo").
//
// Used by collector_netdev and collector_diskstats. Decisions are cached per name, because the
// same few names come back on every collect and a regex search is the costliest step of a
// collect; the cache is bounded so that churning names (container veth pairs) cannot grow it
// without limit. It must never throw from allowed(); bad patterns are reported by configure().
#pragma once

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace vigil::device_filter {

// Thread-safety: not thread-safe; one collect at a time.
class DeviceFilter {
 public:
  // Compiles the patterns (ECMAScript syntax; an empty text means "no pattern"). On a bad
  // pattern returns false with `error` naming the option, the pattern and the reason.
  bool set(std::string_view include_option, const std::string& include,
           std::string_view exclude_option, const std::string& exclude, std::string& error);

  // Whether a device of this name is collected.
  bool allowed(std::string_view name);

  static constexpr std::size_t kMaxCachedNames = 4096;
  std::size_t cached_names() const { return cache_.size(); }

 private:
  bool decide(const std::string& name) const;

  std::optional<std::regex> include_;
  std::optional<std::regex> exclude_;
  std::map<std::string, bool, std::less<>> cache_;
};

}  // namespace vigil::device_filter
