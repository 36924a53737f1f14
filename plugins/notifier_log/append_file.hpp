// AppendFile: a file notifier_log appends whole lines to, opened O_APPEND and reopened when
// logrotate (or a person) moved or deleted it, so lines always land in the file the path names.
//
// It must never throw, never keep writing into a file that was rotated away, and never hide an
// error: every failure comes back as a message naming the file and the system's reason.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace vigil::notifier_log {

// Thread-safety: not thread-safe; one notifier instance calls it from its delivery thread.
class AppendFile {
 public:
  // `sync`: fsync() after every append, so a line the caller was told is written survives a crash.
  AppendFile(std::string path, bool sync) : path_(std::move(path)), sync_(sync) {}
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  // Appends `lines` (each ending in '\n') with one write() where the kernel allows, opening the
  // file first if needed (created 0640 when missing). Returns "" on success, else what went wrong:
  // "cannot open /var/log/x.log for appending: Permission denied".
  std::string append(std::string_view lines);

  const std::string& path() const { return path_; }

 private:
  std::string reopen_if_rotated();
  void close_file();

  std::string path_;
  bool sync_ = false;
  int fd_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  // A write failed part-way: the file ends in half a line, which the next append terminates.
  bool broken_line_ = false;
};

}  // namespace vigil::notifier_log
