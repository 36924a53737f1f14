// Parsing of procfs' loadavg file; see loadavg.hpp.
//
// std::from_chars: no locale (a decimal comma locale must not change what "0.50" means) and no
// allocation. It must never throw.
#include "loadavg.hpp"

#include <charconv>
#include <cmath>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_loadavg {
namespace {

constexpr std::size_t kMaxQuoted = 80;

std::string quote(std::string_view text) {
  return procfs::quote_line(text.substr(0, text.find('\n')), kMaxQuoted);
}

}  // namespace

bool parse_loadavg(std::string_view text, LoadAverages& out, std::string& error) {
  static constexpr const char* kNames[3] = {"1-minute", "5-minute", "15-minute"};
  double* fields[3] = {&out.load1, &out.load5, &out.load15};
  std::string_view rest = text;
  for (std::size_t i = 0; i < 3; ++i) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    double value = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    const bool ends_field =
        ptr == rest.data() + rest.size() || *ptr == ' ' || *ptr == '\t' || *ptr == '\n';
    if (rest.empty() || ec != std::errc() || !ends_field || !std::isfinite(value) || value < 0) {
      error = "expected the " + std::string(kNames[i]) +
              " load average (a non-negative number) as field " + std::to_string(i + 1) +
              " of 'LOAD1 LOAD5 LOAD15 RUNNING/TOTAL LASTPID', found " + quote(text);
      return false;
    }
    *fields[i] = value;
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
  }
  return true;
}

}  // namespace vigil::collector_loadavg
