// Regular expressions over names, the way node_exporter (and process-exporter) match them: the
// include/exclude pairs of collector_netdev, collector_diskstats and collector_filesystem, and
// collector_process' command-line pattern.
//
// One dialect for every plugin: ECMAScript (std::regex), searched anywhere in the name as Go's
// MatchString does, so "veth" matches every name containing it and "^lo$" only "lo". A bad
// pattern is reported once, by compile()/set() at configure time, with the option, the pattern,
// the regex library's reason and an example; matching must never throw.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace vigil::procfs {

// What collector_netdev and collector_diskstats say a device pattern should look like.
inline constexpr const char* kDevicePatternExpected =
    "ECMAScript syntax such as \"^(lo|docker\\\\d+)$\"";

// One pattern, or none ("" in the config).
// Thread-safety: immutable after compile(); found_in() may be called from any thread.
class Pattern {
 public:
  // Compiles `text`; "" means "no pattern" (is_set() false). On a bad pattern returns false with
  // `error` = `<where>: "<text>" is not a valid regular expression (<reason>); expected
  // <expected>`, where `where` names the option (`option "device_exclude"`) and `expected` is a
  // phrase with an example (`an ECMAScript regex such as "^/usr/sbin/nginx"`).
  bool compile(std::string_view where, const std::string& text, std::string_view expected,
               std::string& error);

  bool is_set() const { return regex_.has_value(); }
  const std::string& text() const { return text_; }
  // Whether the pattern occurs anywhere in `name`. False when no pattern is set.
  bool found_in(const std::string& name) const;

 private:
  std::optional<std::regex> regex_;
  std::string text_;
};

// An include/exclude pair: a name passes when it matches the include pattern (if one is set)
// and does not match the exclude pattern (if one is set).
// Thread-safety: immutable after set(); allowed() may be called from any thread.
class NameFilter {
 public:
  // Compiles both patterns; errors name the option as `option "<include_option>"` (or the
  // exclude one). `expected` as for Pattern::compile.
  bool set(std::string_view include_option, const std::string& include,
           std::string_view exclude_option, const std::string& exclude, std::string_view expected,
           std::string& error);

  bool allowed(const std::string& name) const;

 private:
  Pattern include_, exclude_;
};

// A NameFilter that remembers its decisions per name, for collectors that filter the same few
// device names on every collect (a regex search is the costliest step of their collect). The
// cache is bounded so that churning names (container veth pairs) cannot grow it without limit.
// Thread-safety: not thread-safe; one collect at a time.
class CachedNameFilter {
 public:
  // As NameFilter::set; forgets every cached decision.
  bool set(std::string_view include_option, const std::string& include,
           std::string_view exclude_option, const std::string& exclude, std::string_view expected,
           std::string& error);

  bool allowed(std::string_view name);

  static constexpr std::size_t kMaxCachedNames = 4096;
  std::size_t cached_names() const { return cache_.size(); }

 private:
  NameFilter filter_;
  std::map<std::string, bool, std::less<>> cache_;
};

}  // namespace vigil::procfs
