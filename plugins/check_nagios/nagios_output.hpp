// check_nagios: reading what a Nagios / monitoring-plugins check prints, per the plugin
// development guidelines: the first line's text before '|' is the status message; performance
// data follows '|' on the first line and, after the long text, on the line with a '|' and every
// line after it. Each perfdata item is `'label'=value[UOM];[warn];[crit];[min];[max]`.
//
// Values are converted to base units (seconds, bytes) so the metrics compare across checks.
// Nothing here runs a command or touches the host; it must never throw on odd output (checks
// print all sorts of things): an item it cannot read is skipped and reported in `skipped`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::check_nagios {

// A threshold range as the guidelines define it: `[@][start:][end]`, start "~" meaning -inf.
// The check alerts when the value is outside [start, end] (inside it with '@').
struct Range {
  std::optional<double> lower;  // given explicitly: "10:" or "10:20"
  std::optional<double> upper;  // "10", "~:10", "10:20"
  bool inside = false;          // '@': alert when inside the range
};

struct PerfItem {
  std::string label;
  double value = 0;  // in the base unit of `unit`
  std::string uom;   // as printed: "ms", "KB", "%", "c", ""
  std::string unit;  // after conversion: "seconds", "bytes", "percent", "counter", "" or the uom
  std::optional<Range> warning, critical;
  std::optional<double> min, max;
};

struct Output {
  std::string message;  // first line, text before '|', trimmed
  std::vector<std::string> long_text;
  std::vector<PerfItem> perfdata;
  std::vector<std::string> skipped;  // perfdata items that could not be read, with the reason
};

Output parse_output(std::string_view stdout_text);

// Multiplier from a UOM to its base unit and the unit's name: {0.001, "seconds"} for "ms".
// Unknown UOMs keep their value and are named as printed.
struct Conversion {
  double factor = 1;
  std::string unit;
};
Conversion convert_uom(std::string_view uom);

}  // namespace vigil::check_nagios
