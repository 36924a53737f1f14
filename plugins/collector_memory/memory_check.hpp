// The memory health check's verdict: from parsed meminfo fields to one status and one line.
//
// A pure function, so the tests drive every status with fixtures. The plugin reads and parses
// the file (meminfo.hpp) and hands the fields here. This file must never do I/O or log.
#pragma once

#include <vigil/plugin.h>

#include <optional>
#include <string>
#include <vector>

#include "meminfo.hpp"

namespace vigil::collector_memory {

struct MemoryThresholds {
  double warning = 80;                  // percent of RAM used
  double critical = 90;                 // percent of RAM used
  std::optional<double> swap_warning;   // percent of swap used; unset: swap is not judged
  std::optional<double> swap_critical;  // percent of swap used; unset: swap is not judged
};

struct MemoryVerdict {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
};

// Used RAM is (MemTotal - MemAvailable) / MemTotal: what the kernel could not give to a new
// program without swapping. Kernels before 3.14 have no MemAvailable; then MemFree + Buffers +
// Cached stands in, and the message says so. Swap, when a swap threshold is set and the machine
// has swap, is (SwapTotal - SwapFree) / SwapTotal. Thresholds are inclusive; the worst status of
// RAM and swap wins. The message reads like "memory 83.1% used (6.6 GiB of 7.9 GiB), warning at
// 80%". Without a MemTotal line the verdict is unknown, naming what is missing.
MemoryVerdict evaluate_memory(const std::vector<MeminfoField>& fields,
                              const MemoryThresholds& thresholds);

}  // namespace vigil::collector_memory
