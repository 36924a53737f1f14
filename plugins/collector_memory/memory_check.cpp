// See memory_check.hpp.
#include "memory_check.hpp"

#include "vigil_plugin_procfs/human.hpp"

namespace vigil::collector_memory {
namespace {

using procfs::format_number;
using procfs::format_usage;

const MeminfoField* find(const std::vector<MeminfoField>& fields, const char* key) {
  for (const MeminfoField& f : fields)
    if (f.key == key) return &f;
  return nullptr;
}

vigil_health_status judge(double used_percent, std::optional<double> warning,
                          std::optional<double> critical) {
  if (critical && used_percent >= *critical) return VIGIL_HEALTH_CRITICAL;
  if (warning && used_percent >= *warning) return VIGIL_HEALTH_WARNING;
  return VIGIL_HEALTH_OK;
}

std::string limit_text(vigil_health_status status, std::optional<double> warning,
                       std::optional<double> critical) {
  if (status == VIGIL_HEALTH_CRITICAL) return ", critical at " + format_number(*critical) + "%";
  if (status == VIGIL_HEALTH_WARNING) return ", warning at " + format_number(*warning) + "%";
  return "";
}

// ok < warning < critical; unknown is never produced by judge().
vigil_health_status worse(vigil_health_status a, vigil_health_status b) {
  auto rank = [](vigil_health_status s) {
    return s == VIGIL_HEALTH_CRITICAL ? 2 : s == VIGIL_HEALTH_WARNING ? 1 : 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace

MemoryVerdict evaluate_memory(const std::vector<MeminfoField>& fields,
                              const MemoryThresholds& thresholds) {
  MemoryVerdict verdict;
  const MeminfoField* total = find(fields, "MemTotal_bytes");
  if (total == nullptr || total->value <= 0) {
    verdict.message =
        "meminfo has no MemTotal line (or it is 0); expected e.g. "
        "'MemTotal: 16307572 kB'";
    return verdict;
  }
  double available = 0;
  std::string estimated;
  if (const MeminfoField* a = find(fields, "MemAvailable_bytes")) {
    available = a->value;
  } else {
    // Kernels before 3.14: the free and reclaimable page cache is the closest estimate.
    for (const char* key : {"MemFree_bytes", "Buffers_bytes", "Cached_bytes"})
      if (const MeminfoField* f = find(fields, key)) available += f->value;
    estimated = " (estimated from MemFree + Buffers + Cached: no MemAvailable)";
  }
  const double used = total->value - available;
  // Multiplying first keeps whole percentages exact.
  const double used_percent = used * 100.0 / total->value;
  vigil_health_status status = judge(used_percent, thresholds.warning, thresholds.critical);
  verdict.message = "memory " + format_usage(used, total->value) + estimated +
                    limit_text(status, thresholds.warning, thresholds.critical);

  if (thresholds.swap_warning || thresholds.swap_critical) {
    const MeminfoField* swap_total = find(fields, "SwapTotal_bytes");
    const MeminfoField* swap_free = find(fields, "SwapFree_bytes");
    if (swap_total == nullptr || swap_total->value <= 0 || swap_free == nullptr) {
      verdict.message += "; no swap";
    } else {
      const double swap_used = swap_total->value - swap_free->value;
      const double swap_percent = swap_used * 100.0 / swap_total->value;
      vigil_health_status swap_status =
          judge(swap_percent, thresholds.swap_warning, thresholds.swap_critical);
      verdict.message += "; swap " + format_usage(swap_used, swap_total->value) +
                         limit_text(swap_status, thresholds.swap_warning, thresholds.swap_critical);
      status = worse(status, swap_status);
    }
  }
  verdict.status = status;
  return verdict;
}

}  // namespace vigil::collector_memory
