// See human.hpp.
#include "vigil_plugin_procfs/human.hpp"

#include <cmath>
#include <cstdio>

namespace vigil::procfs {
namespace {

template <typename... Args>
std::string print(const char* format, Args... args) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, args...);
  return buffer;
}

}  // namespace

std::string format_number(double value) {
  return print("%g", value);
}

std::string format_fixed1(double value) {
  return print("%.1f", value);
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return format_number(bytes < 0 ? 0 : bytes) + " B";
  double value = bytes / 1024;
  std::size_t unit = 0;
  // 1023.96 MiB would print as "1024.0 MiB": that is the next unit's "1.0".
  while (value >= 1023.95 && unit + 1 < sizeof kUnits / sizeof kUnits[0]) {
    value /= 1024;
    ++unit;
  }
  return format_fixed1(value) + " " + kUnits[unit];
}

std::string format_usage(double used, double total) {
  // Multiplying first keeps whole percentages exact: 80 of 100 GiB is 80%, not 79.999...%.
  return format_fixed1(used * 100.0 / total) + "% used (" + format_bytes(used) + " of " +
         format_bytes(total) + ")";
}

std::string format_percent(double percent) {
  if (std::fabs(percent - std::round(percent)) < 0.05) return print("%.0f %%", percent);
  return print("%.1f %%", percent);
}

std::string format_config_duration(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_duration(double seconds) {
  const double ms = seconds * 1000.0;
  if (ms < 10) return print("%.1f ms", ms);
  if (ms < 1000) return print("%.0f ms", ms);
  return print("%.2f s", seconds);
}

std::string format_latency(double seconds) {
  if (seconds < 0.001) return print("%.2f ms", seconds * 1000);
  if (seconds < 1) return print("%.1f ms", seconds * 1000);
  return print("%.2f s", seconds);
}

}  // namespace vigil::procfs
