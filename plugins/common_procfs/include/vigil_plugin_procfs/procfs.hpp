// Reading procfs and sysfs for system collectors: whole-file reads into a reused buffer, the
// root-path option every collector takes (and the first read of its file at start), and line
// iteration without allocation.
//
// One way to do it for every collector, so they all report unreadable files the same way. Never
// throws; never caches file contents between calls (procfs files change on every read).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace vigil::procfs {

// Reads a whole file into `out` (cleared first, capacity kept). procfs reports a size of 0, so
// this reads until EOF. On failure sets `error` to "cannot open|read PATH: REASON".
bool read_file(const std::string& path, std::string& out, std::string& error);

// A procfs file read afresh on every call through one descriptor kept open: pread() from
// offset 0 makes the kernel generate the text again, and saves the open() and close() (path
// walk, file allocation) that cost more than a small file's read. For files that live as long as
// the system (/proc/stat, /proc/meminfo), not per-process files that vanish with the process.
// A file that is not on procfs (a fixture tree) is opened and closed on every read, since it may
// be replaced. Contents are never cached: every read() is a new reading.
// Thread-safety: one thread at a time; a collect() and a check() that may overlap each keep
// their own.
class ProcReader {
 public:
  ProcReader() = default;
  explicit ProcReader(std::string path) : path_(std::move(path)) {}
  ~ProcReader();
  ProcReader(ProcReader&& other) noexcept;
  ProcReader& operator=(ProcReader&& other) noexcept;
  ProcReader(const ProcReader&) = delete;
  ProcReader& operator=(const ProcReader&) = delete;

  const std::string& path() const { return path_; }

  // Reads the whole file into `out` (cleared first, capacity kept), as read_file() does and
  // with its error messages. After a failure the descriptor is closed, so the next call opens
  // the file again.
  bool read(std::string& out, std::string& error);

 private:
  void close();

  std::string path_;
  int fd_ = -1;
  bool keep_open_ = false;         // the open file is on procfs
  std::unique_ptr<char[]> chunk_;  // the read buffer, allocated at the first open
};

// Checks and normalises a root option such as "proc_path" ("/proc", "/host/proc/"): returns the
// path without trailing slashes, or "" with `error` naming the option and what is expected.
std::string root_option(std::string value, std::string_view option, std::string_view example,
                        std::string& error);

// What a collector adds to the error when a file under its "proc_path" cannot be read at start.
inline constexpr const char* kProcPathHint =
    "option \"proc_path\" must point at a procfs mount (\"/proc\", or the host's procfs mounted "
    "into a container)";

// configure()'s usual first step: checks the "proc_path" option's value (root_option) and reads
// <proc_path>/<file> once into `buffer`, so that a wrong path is refused at start rather than
// failing every collect. Returns the file's path, or "" with `error` set (the option's problem,
// or the read error followed by "; " and kProcPathHint).
std::string proc_file(std::string proc_path, std::string_view file, std::string& buffer,
                      std::string& error);

// A line as parse errors quote it: in single quotes, cut after `max` characters with "..."
// ('cpu0 1 2 three', 'MemTotal: 1...').
std::string quote_line(std::string_view line, std::size_t max);

// Calls fn(line, line_number) for each line of `text` (1-based; "\r" stripped). Stops early
// when fn returns false; returns false then.
template <typename Fn>
bool for_each_line(std::string_view text, Fn&& fn) {
  std::size_t number = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!fn(line, number)) return false;
  }
  return true;
}

}  // namespace vigil::procfs
