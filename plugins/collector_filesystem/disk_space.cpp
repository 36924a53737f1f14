// See disk_space.hpp.
#include "disk_space.hpp"

#include "vigil_plugin_procfs/human.hpp"

namespace vigil::collector_filesystem {
namespace {

using procfs::format_number;

double used_percent(const DiskReading& r) {
  // Multiplying first keeps whole percentages exact: 80 of 100 GiB is 80%, not 79.999...%.
  return (r.size_bytes - r.avail_bytes) * 100.0 / r.size_bytes;
}

std::string describe(const DiskReading& r) {
  return r.name + " " + procfs::format_usage(r.size_bytes - r.avail_bytes, r.size_bytes);
}

}  // namespace

DiskVerdict evaluate_disk_space(const std::vector<DiskReading>& readings, double warning_percent,
                                double critical_percent, std::string_view timeout_text) {
  DiskVerdict verdict;
  if (readings.empty()) {
    verdict.status = VIGIL_HEALTH_UNKNOWN;
    verdict.message =
        "no filesystem to check: every mount was excluded by the mount-point and fs-type "
        "filters, or is read-only";
    return verdict;
  }

  const DiskReading* fullest = nullptr;
  std::size_t answered = 0;
  std::size_t over_warning = 0;
  std::string problems;
  for (const DiskReading& r : readings) {
    if (r.state == DiskReading::State::stuck) {
      problems += (problems.empty() ? "" : "; ") + r.name + " did not answer statvfs within " +
                  std::string(timeout_text);
      continue;
    }
    if (r.state == DiskReading::State::failed) {
      problems += (problems.empty() ? "" : "; ") + r.name + ": " + r.problem;
      continue;
    }
    if (r.size_bytes <= 0) continue;
    ++answered;
    const double used = used_percent(r);
    if (used >= warning_percent) ++over_warning;
    if (fullest == nullptr || used > used_percent(*fullest)) fullest = &r;
  }

  vigil_health_status usage = VIGIL_HEALTH_OK;
  if (fullest != nullptr) {
    const double used = used_percent(*fullest);
    if (used >= critical_percent) {
      usage = VIGIL_HEALTH_CRITICAL;
    } else if (used >= warning_percent) {
      usage = VIGIL_HEALTH_WARNING;
    }
  }
  std::string others;
  if (over_warning > 1)
    others = "; " + std::to_string(over_warning) + " filesystems at or above " +
             format_number(warning_percent) + "%";

  if (usage == VIGIL_HEALTH_CRITICAL) {
    verdict.status = VIGIL_HEALTH_CRITICAL;
    verdict.message = describe(*fullest) + ", critical at " + format_number(critical_percent) +
                      "%" + others + (problems.empty() ? "" : "; " + problems);
    return verdict;
  }
  if (!problems.empty()) {
    verdict.status = VIGIL_HEALTH_UNKNOWN;
    verdict.message = problems;
    if (fullest != nullptr) verdict.message += "; fullest of the others: " + describe(*fullest);
    return verdict;
  }
  if (fullest == nullptr) {
    verdict.status = VIGIL_HEALTH_UNKNOWN;
    verdict.message = "no filesystem to check: every one reports a size of 0";
    return verdict;
  }
  verdict.status = usage;
  if (usage == VIGIL_HEALTH_WARNING) {
    verdict.message =
        describe(*fullest) + ", warning at " + format_number(warning_percent) + "%" + others;
  } else {
    verdict.message =
        describe(*fullest) +
        (answered == 1 ? ", the only filesystem checked"
                       : ", the fullest of " + std::to_string(answered) + " filesystems");
  }
  return verdict;
}

}  // namespace vigil::collector_filesystem
