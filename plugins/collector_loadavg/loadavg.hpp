// Parsing of procfs' loadavg file ("0.21 0.37 0.39 1/719 19737").
//
// A pure function over text: no file access, no SDK, so the tests drive it with fixtures. It must
// never throw on malformed input: it returns false with a message naming what it found instead.
#pragma once

#include <string>
#include <string_view>

namespace vigil::collector_loadavg {

// The three load averages, in the file's order (1, 5 and 15 minutes).
struct LoadAverages {
  double load1 = 0;
  double load5 = 0;
  double load15 = 0;
};

// Parses the first three fields of the loadavg file. The scheduler fields that follow (running/
// total tasks, last PID) are ignored. Returns false and sets `error` when a field is missing or
// is not a non-negative number.
bool parse_loadavg(std::string_view text, LoadAverages& out, std::string& error);

}  // namespace vigil::collector_loadavg
