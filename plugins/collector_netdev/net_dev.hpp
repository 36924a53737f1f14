// Parsing of procfs' net/dev file: per network device, the 16 receive and transmit counters.
//
//   Inter-|   Receive                                                |  Transmit
//    face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets ...
//     eth0: 66734478    1558    0    0    0     0          0         0    66435     835 ...
//
// A pure function over text: no file access, no SDK, so the tests drive it with fixtures. It must
// never throw on malformed input: it returns false with a message naming the line instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_netdev {

// The columns in the kernel's order, named as node_exporter names the statistic (its metric is
// node_network_<name>_total).
inline constexpr std::size_t kNetDevFields = 16;
inline constexpr const char* kNetDevFieldNames[kNetDevFields] = {
    "receive_bytes",  "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",   "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes", "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",  "transmit_colls",   "transmit_carrier",   "transmit_compressed"};

// One device line. `name` points into the parsed text: valid while that text is.
struct NetDevice {
  std::string_view name;
  std::uint64_t values[kNetDevFields] = {};
};

// Parses the whole file into `out` (cleared first; capacity kept, so steady-state parsing does
// not allocate). The two header lines are skipped. Returns false and sets `error` (naming the
// line and what was expected) on a device line without a name or with fewer than 16 counters;
// columns after the 16th are ignored.
bool parse_net_dev(std::string_view text, std::vector<NetDevice>& out, std::string& error);

}  // namespace vigil::collector_netdev
