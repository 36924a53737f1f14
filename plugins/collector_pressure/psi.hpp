// Parsing of one pressure stall information (PSI) file, such as procfs' pressure/io:
//
//   some avg10=0.12 avg60=0.10 avg300=0.05 total=17795766
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=10995871
//
// A pure function over text: no file access, no SDK, so the tests drive it with fixtures. It must
// never throw on malformed input: it returns false with a message naming the line instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil::collector_pressure {

// One "some" or "full" line's cumulative stall time. `present` is false when the file has no
// such line (the cpu file had no "full" line before Linux 5.13).
struct StallTotal {
  bool present = false;
  std::uint64_t total_us = 0;  // microseconds since boot
};

struct Pressure {
  StallTotal some;  // at least one task stalled
  StallTotal full;  // all non-idle tasks stalled at once
};

// Parses a PSI file. Lines other than "some" and "full" are ignored, as are the averages (rates
// are computed from the totals downstream). Returns false and sets `error` (naming the line and
// what was expected) when a some/full line has no whole-number "total=" field, or when the file
// has neither line.
bool parse_pressure(std::string_view text, Pressure& out, std::string& error);

}  // namespace vigil::collector_pressure
