// The disk_space health check's verdict: from per-filesystem sizes to one status and one line.
//
// A pure function, so the tests drive every status with plain numbers. The plugin gathers the
// readings (mount table, statvfs with a deadline) and hands them here. This file must never do
// I/O or log.
#pragma once

#include <vigil/plugin.h>

#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_filesystem {

// One filesystem the check looked at.
struct DiskReading {
  enum class State { ok, failed, stuck };
  std::string name;  // the mount point, or the configured path
  State state = State::ok;
  double size_bytes = 0;
  double avail_bytes = 0;
  std::string problem;  // why it failed, e.g. "cannot statvfs: Permission denied"
};

struct DiskVerdict {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
};

// Used percent is (size - avail) / size, what a non-root user can still write, as df's Use%.
// The fullest filesystem decides: critical at or above `critical_percent`, warning at or above
// `warning_percent`. A filesystem that failed or did not answer makes the verdict unknown, unless
// another one is critical (a full disk must not hide behind a dead NFS mount). Filesystems of
// size 0 are ignored. The message names the fullest filesystem and its percentage, and every
// filesystem that could not be read. `timeout_text` (e.g. "5s") goes into the stuck message.
DiskVerdict evaluate_disk_space(const std::vector<DiskReading>& readings, double warning_percent,
                                double critical_percent, std::string_view timeout_text);

}  // namespace vigil::collector_filesystem
