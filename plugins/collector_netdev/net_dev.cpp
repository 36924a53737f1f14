// Parsing of procfs' net/dev file; see net_dev.hpp.
//
// string_view scanning and std::from_chars: it runs on every collect and must stay cheap. It must
// never throw on malformed input.
#include "net_dev.hpp"

#include <charconv>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_netdev {
namespace {

constexpr std::size_t kHeaderLines = 2;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string quote(std::string_view line) {
  return procfs::quote_line(line, 100);
}

}  // namespace

bool parse_net_dev(std::string_view text, std::vector<NetDevice>& out, std::string& error) {
  out.clear();
  return procfs::for_each_line(text, [&](std::string_view line, std::size_t number) {
    // The kernel separates the name with a colon, and names cannot contain one; old kernels put
    // no space between the colon and a wide first counter ("eth0:1234567890").
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      if (number <= kHeaderLines || trim(line).empty()) return true;
      error = "line " + std::to_string(number) +
              ": expected 'DEVICE: 16 counters', found no ':' in " + quote(line);
      return false;
    }
    NetDevice dev;
    dev.name = trim(line.substr(0, colon));
    if (dev.name.empty()) {
      error = "line " + std::to_string(number) + ": expected a device name before ':', found " +
              quote(line);
      return false;
    }
    std::string_view rest = line.substr(colon + 1);
    for (std::size_t i = 0; i < kNetDevFields; ++i) {
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), dev.values[i]);
      if (rest.empty() || ec != std::errc() ||
          (ptr != rest.data() + rest.size() && *ptr != ' ' && *ptr != '\t')) {
        error = "line " + std::to_string(number) + ": expected 16 counters after '" +
                std::string(dev.name) + ":', found " + std::to_string(i) + " counter(s)" +
                (rest.empty() ? "" : " and then '" + std::string(rest.substr(0, 20)) + "'") +
                " in " + quote(line);
        return false;
      }
      rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
    }
    out.push_back(dev);
    return true;
  });
}

}  // namespace vigil::collector_netdev
