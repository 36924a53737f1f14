// Parsing for collector_uptime: the boot time in procfs' stat file, the clocksource lists in
// sysfs, and the local time zone at an instant.
//
// Pure functions over text (and the C library's time zone rules): no file access, no SDK, so the
// tests drive them with fixtures. They must never throw on malformed input: they return false
// with a message naming the line and what was expected instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_uptime {

// Finds the "btime SECONDS" line of procfs' stat file. Returns false and sets `error` when the
// line is missing or its value is not a whole number of seconds.
bool parse_boot_time(std::string_view stat_text, double& seconds, std::string& error);

// Splits a sysfs clocksource file ("tsc hpet acpi_pm\n") into its names, in file order.
std::vector<std::string> parse_clocksource_list(std::string_view text);

// The local time zone's abbreviation ("UTC", "CEST") and offset east of UTC in seconds at
// `unix_seconds`, after re-reading the TZ environment variable (tzset), as the C library sees it.
struct TimeZone {
  std::string name;
  long offset_seconds = 0;
};
TimeZone local_time_zone(std::int64_t unix_seconds);

}  // namespace vigil::collector_uptime
