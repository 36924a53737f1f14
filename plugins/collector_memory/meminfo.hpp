// Parsing of /proc/meminfo into node_exporter's metric names.
//
// A pure function over text: no file access, no SDK, so the tests drive it with fixtures. It
// reproduces node_exporter 1.5's meminfo_linux.go naming exactly, because dashboards and alert
// rules written for node_exporter must work unchanged. It must never emit metrics or log.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_memory {

// One meminfo line as node_exporter names it.
struct MeminfoField {
  std::string metric;    // full metric name, e.g. "node_memory_Active_anon_bytes"
  std::string key;       // the part after "node_memory_", e.g. "Active_anon_bytes"
  double value = 0;      // bytes for kB fields (value × 1024), the raw number otherwise
  bool counter = false;  // node_exporter types a key ending in "_total" as a counter
};

// Parses the text of /proc/meminfo, keeping file order. The naming rules:
//  - the key is the first column without its trailing ':';
//  - a parenthesised part becomes '_' + its content: "Active(anon)" -> "Active_anon";
//  - a line with a unit column (kB) is multiplied by 1024 and gets "_bytes";
//  - a line without one (HugePages_Total) keeps its number and name as they are.
// Blank lines are skipped. Returns false and sets `error` (naming the line, what was found and
// what was expected) on a line that does not fit this shape or whose key would not make a valid
// Prometheus metric name.
bool parse_meminfo(std::string_view text, std::vector<MeminfoField>& out, std::string& error);

// node_exporter's HELP text for a field: "Memory information field <key>."
std::string meminfo_help(const MeminfoField& field);

}  // namespace vigil::collector_memory
