// AppendFile: see append_file.hpp. Plain POSIX calls, each checked; errno becomes the text a
// person reads in the host's log and in the outbox's retry reason.
#include "append_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::notifier_log {

AppendFile::~AppendFile() {
  close_file();
}

void AppendFile::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// The path may name another file than the one held open: logrotate renamed ours and created a
// new one (or nothing yet). Comparing device and inode tells, for one stat() per append.
std::string AppendFile::reopen_if_rotated() {
  if (fd_ >= 0) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0 || st.st_dev != device_ || st.st_ino != inode_)
      close_file();
  }
  if (fd_ >= 0) return {};
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return "cannot open " + path_ + " for appending: " + std::strerror(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return "cannot stat " + path_ + ": " + why;
  }
  fd_ = fd;
  device_ = st.st_dev;
  inode_ = st.st_ino;
  return {};
}

std::string AppendFile::append(std::string_view lines) {
  std::string error = reopen_if_rotated();
  if (!error.empty()) return error;
  std::string buffer;
  if (broken_line_) {
    buffer = "\n";
    buffer.append(lines.data(), lines.size());
    lines = buffer;
  }
  size_t done = 0;
  while (done < lines.size()) {
    ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = n < 0 ? std::strerror(errno) : "the file accepted no bytes";
      broken_line_ = broken_line_ || done > 0;
      // Reopened on the next attempt: the descriptor may be what is broken (a stale NFS handle).
      close_file();
      return "cannot write to " + path_ + ": " + why;
    }
    done += static_cast<size_t>(n);
  }
  broken_line_ = false;
  if (sync_ && ::fsync(fd_) != 0) {
    std::string why = std::strerror(errno);
    close_file();
    return "cannot fsync " + path_ + ": " + why;
  }
  return {};
}

}  // namespace vigil::notifier_log
