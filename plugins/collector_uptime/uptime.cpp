// Parsing for collector_uptime; see uptime.hpp.
//
// std::from_chars and string_view scanning: no locale, no allocation on the boot-time path. It
// must never throw on malformed input.
#include "uptime.hpp"

#include <charconv>
#include <ctime>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_uptime {

bool parse_boot_time(std::string_view stat_text, double& seconds, std::string& error) {
  bool found = false;
  bool bad = false;
  procfs::for_each_line(stat_text, [&](std::string_view line, std::size_t number) {
    constexpr std::string_view kKey = "btime";
    if (line.substr(0, kKey.size()) != kKey || line.size() == kKey.size() ||
        (line[kKey.size()] != ' ' && line[kKey.size()] != '\t')) {
      return true;
    }
    std::string_view rest = line.substr(kKey.size());
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (rest.empty() || ec != std::errc() || (ptr != rest.data() + rest.size() && *ptr != ' ')) {
      bad = true;
      error = "line " + std::to_string(number) +
              ": expected 'btime SECONDS' (a whole number of seconds since 1970), found '" +
              std::string(line.substr(0, 80)) + "'";
      return false;
    }
    seconds = static_cast<double>(value);
    found = true;
    return false;
  });
  if (bad) return false;
  if (!found) {
    error = "expected a 'btime SECONDS' line (the boot time), found none";
    return false;
  }
  return true;
}

std::vector<std::string> parse_clocksource_list(std::string_view text) {
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
    if (i > start) names.emplace_back(text.substr(start, i - start));
  }
  return names;
}

TimeZone local_time_zone(std::int64_t unix_seconds) {
  // tzset() re-reads TZ so a changed environment is seen; localtime_r alone need not do that.
  ::tzset();
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  TimeZone zone;
  if (::localtime_r(&t, &tm) == nullptr) {
    zone.name = "UTC";
    return zone;
  }
  zone.name = tm.tm_zone != nullptr ? tm.tm_zone : "";
  zone.offset_seconds = tm.tm_gmtoff;
  return zone;
}

}  // namespace vigil::collector_uptime
