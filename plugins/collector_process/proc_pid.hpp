// Parsing of one process's procfs files: /proc/<pid>/stat, the Uid line of /proc/<pid>/status,
// and /proc/<pid>/cmdline.
//
// Pure functions over text: no file access, no SDK, so the tests drive them with fixtures. The
// scanner (process_scan.hpp) reads the files. This file must never emit metrics or log.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::collector_process {

// The fields of /proc/<pid>/stat this plugin uses (proc(5) numbering in the comments).
struct PidStat {
  std::string comm;          // (2) without the parentheses; may contain spaces and ')'
  char state = '?';          // (3) R, S, D, Z, ...
  uint64_t utime_ticks = 0;  // (14) user CPU, in clock ticks
  uint64_t stime_ticks = 0;  // (15) system CPU, in clock ticks
  uint64_t num_threads = 0;  // (20)
  uint64_t start_ticks = 0;  // (22) start time after boot, in clock ticks: with the pid, the
                             //      identity of a process (pids are reused)
  uint64_t rss_pages = 0;    // (24) resident set size, in pages
};

// Parses the one line of /proc/<pid>/stat. The name is taken between the first '(' and the last
// ')' because a process may put anything in it. Returns false and sets `error` (what was found,
// what was expected) when the line is cut short or a number is not one.
bool parse_pid_stat(std::string_view text, PidStat& out, std::string& error);

// The effective uid from the "Uid:" line of /proc/<pid>/status (real, effective, saved, fs).
std::optional<uid_t> parse_effective_uid(std::string_view status_text);

// The command line as one string: the NUL-separated arguments joined by spaces, without the
// trailing NUL. Empty for kernel threads and zombies.
std::string join_cmdline(std::string_view raw);

}  // namespace vigil::collector_process
