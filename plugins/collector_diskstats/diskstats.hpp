// Parsing of procfs' diskstats file: per block device, the kernel's I/O statistics
// (Documentation/admin-guide/iostats.rst).
//
//    254       0 vda 98573 14821 5999082 172274 52511 21014 40477536 157725 0 38992 336409 ...
//
// The number of statistics grew with the kernel: 11 until 4.18, 15 with discards (4.18), 17 with
// flushes (5.5); kernels before 2.6.25 printed only 4 for partitions. A pure function over text:
// no file access, no SDK. It must never throw on malformed input: it returns false with a message
// naming the line instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::collector_diskstats {

// The statistics in the kernel's column order (17 since Linux 5.5).
enum DiskField : std::size_t {
  kReadsCompleted,
  kReadsMerged,
  kSectorsRead,
  kReadTimeMs,
  kWritesCompleted,
  kWritesMerged,
  kSectorsWritten,
  kWriteTimeMs,
  kIoInProgress,
  kIoTimeMs,
  kIoTimeWeightedMs,
  kDiscardsCompleted,
  kDiscardsMerged,
  kSectorsDiscarded,
  kDiscardTimeMs,
  kFlushesCompleted,
  kFlushTimeMs,
  kDiskFieldCount
};

// One device line. `name` points into the parsed text: valid while that text is. `present` has
// bit (1 << field) set for each statistic the line carries.
struct DiskStats {
  unsigned major = 0;
  unsigned minor = 0;
  std::string_view name;
  std::uint32_t present = 0;
  std::uint64_t values[kDiskFieldCount] = {};

  bool has(DiskField f) const { return (present >> f) & 1u; }
};

// Parses the whole file into `out` (cleared first; capacity kept). A line must carry 4
// statistics (an old kernel's partition: reads, sectors read, writes, sectors written) or at
// least 11; statistics after the 17th are ignored. Returns false and sets `error` (naming the
// line and what was expected) otherwise.
bool parse_diskstats(std::string_view text, std::vector<DiskStats>& out, std::string& error);

}  // namespace vigil::collector_diskstats
