// See procfs.hpp.
#include "vigil_plugin_procfs/procfs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace vigil::procfs {
namespace {

constexpr std::size_t kChunk = 16384;

// Reads `fd` from offset 0 to EOF into `out` (cleared first), through `chunk` (kChunk bytes):
// growing `out` by a whole chunk would clear 16 KiB on every read for the kilobyte or two a
// procfs file holds. pread() from 0 is also what makes procfs generate a kept-open file afresh.
bool read_all(int fd, const std::string& path, char* chunk, std::string& out, std::string& error) {
  out.clear();
  for (;;) {
    ssize_t n = ::pread(fd, chunk, kChunk, static_cast<off_t>(out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      error = "cannot read " + path + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) return true;
    out.append(chunk, static_cast<std::size_t>(n));
  }
}

int open_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) error = "cannot open " + path + ": " + std::strerror(errno);
  return fd;
}

}  // namespace

bool read_file(const std::string& path, std::string& out, std::string& error) {
  out.clear();
  const int fd = open_file(path, error);
  if (fd < 0) return false;
  char chunk[kChunk];
  const bool ok = read_all(fd, path, chunk, out, error);
  ::close(fd);
  return ok;
}

ProcReader::~ProcReader() {
  close();
}

ProcReader::ProcReader(ProcReader&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      keep_open_(other.keep_open_),
      chunk_(std::move(other.chunk_)) {}

ProcReader& ProcReader::operator=(ProcReader&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    keep_open_ = other.keep_open_;
    chunk_ = std::move(other.chunk_);
  }
  return *this;
}

void ProcReader::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ProcReader::read(std::string& out, std::string& error) {
  out.clear();
  if (fd_ < 0) {
    fd_ = open_file(path_, error);
    if (fd_ < 0) return false;
    // Only procfs regenerates a file on every read from offset 0. Anything else (a fixture
    // tree, a copy of /proc) may be replaced by a new file, so it is opened each time.
    struct statfs fs {};
    keep_open_ = ::fstatfs(fd_, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
    if (!chunk_) chunk_.reset(new char[kChunk]);  // not value-initialised: no clearing
  }
  const bool ok = read_all(fd_, path_, chunk_.get(), out, error);
  if (!ok || !keep_open_) close();
  return ok;
}

std::string root_option(std::string value, std::string_view option, std::string_view example,
                        std::string& error) {
  if (value.empty()) {
    error = "option \"" + std::string(option) + "\" is empty; expected a mount point such as \"" +
            std::string(example) + "\"";
    return {};
  }
  while (value.size() > 1 && value.back() == '/') value.pop_back();
  return value;
}

std::string quote_line(std::string_view line, std::size_t max) {
  std::string out = "'";
  out.append(line.substr(0, max));
  if (line.size() > max) out.append("...");
  out.push_back('\'');
  return out;
}

std::string proc_file(std::string proc_path, std::string_view file, std::string& buffer,
                      std::string& error) {
  const std::string root = root_option(std::move(proc_path), "proc_path", "/proc", error);
  if (root.empty()) return {};
  std::string path = root + "/" + std::string(file);
  if (!read_file(path, buffer, error)) {
    error += "; ";
    error += kProcPathHint;
    return {};
  }
  return path;
}

}  // namespace vigil::procfs
