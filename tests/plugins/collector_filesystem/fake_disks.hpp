// A stand-in for statvfs that the tests control: fixed sizes per path, errors, and paths whose
// call hangs until the test releases it, the way a dead NFS server makes statvfs hang.
//
// Shared through a shared_ptr captured by the stat function, so a helper thread that returns
// from a hung call after the test moved on never touches freed memory. It must never block a
// call on a path the test did not mark as hung.
#pragma once

#include "stat_helpers.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace vigil::testing {

// Thread-safety: every member function is safe for concurrent use.
class FakeDisks : public std::enable_shared_from_this<FakeDisks> {
 public:
  static std::shared_ptr<FakeDisks> make() { return std::shared_ptr<FakeDisks>(new FakeDisks); }

  // A filesystem of `size_blocks` 4 KiB blocks with the given free / available blocks and inodes.
  void set(const std::string& path, unsigned long size_blocks, unsigned long free_blocks,
           unsigned long avail_blocks, unsigned long files = 1000, unsigned long files_free = 600) {
    std::lock_guard<std::mutex> lock(mutex_);
    struct statvfs s {};
    s.f_bsize = 4096;
    s.f_frsize = 4096;
    s.f_blocks = size_blocks;
    s.f_bfree = free_blocks;
    s.f_bavail = avail_blocks;
    s.f_files = files;
    s.f_ffree = files_free;
    disks_[path] = s;
    errors_.erase(path);
  }
  void fail(const std::string& path, int error) {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_[path] = error;
  }
  void hang(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    hung_.insert(path);
  }
  void release(const std::string& path) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hung_.erase(path);
    }
    cv_.notify_all();
  }
  void release_all() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hung_.clear();
    }
    cv_.notify_all();
  }
  int calls(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = calls_.find(path);
    return it == calls_.end() ? 0 : it->second;
  }
  // Calls currently blocked in a hung path.
  int blocked() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocked_;
  }

  collector_filesystem::StatFn function() {
    std::shared_ptr<FakeDisks> self = shared_from_this();
    return [self](const std::string& path, struct statvfs& out) { return self->stat(path, out); };
  }

 private:
  FakeDisks() = default;

  int stat(const std::string& path, struct statvfs& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_[path];
    ++blocked_;
    cv_.wait(lock, [&] { return hung_.count(path) == 0; });
    --blocked_;
    auto e = errors_.find(path);
    if (e != errors_.end()) return e->second;
    auto it = disks_.find(path);
    if (it == disks_.end()) return ENOENT;
    out = it->second;
    return 0;
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, struct statvfs> disks_;
  std::map<std::string, int> errors_;
  std::set<std::string> hung_;
  std::map<std::string, int> calls_;
  int blocked_ = 0;
};

// Helper threads detached by an earlier test exit shortly after that test released its hung
// calls; a test that counts threads waits for them first.
inline bool no_helper_threads_left() {
  for (int i = 0; i < 500; ++i) {
    if (collector_filesystem::MountStatter::live_threads() == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace vigil::testing
