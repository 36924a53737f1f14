// The first problem of a collect that carries on past it: a collector writes every series it
// can, remembers what went wrong first (an unreadable file, a refused sample write), and fails the
// collect with that one message at the end, so a person reads the cause rather than its echoes.
//
// Header-only and allocation-free until something fails: check_write() sits on the hot path of
// every sample. It must never throw, nor replace the first message with a later one.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace vigil::procfs {

// Thread-safety: not thread-safe; one collect at a time.
class FirstProblem {
 public:
  void clear() { message_.clear(); }

  // Keeps `message` unless an earlier problem of this collect is already kept.
  void fail(std::string message) {
    if (message_.empty()) message_ = std::move(message);
  }

  // A sample write of `series` the host refused (when `written` is false): "the host refused the
  // sample write for node_load1; see the host's log for why".
  void check_write(bool written, std::string_view series) {
    if (!written) refused(std::string(series));
  }
  // The same for one device's series: "... for node_disk_io_now{device="sda"}; ...".
  void check_write(bool written, std::string_view family, std::string_view device) {
    if (!written) refused(std::string(family) + "{device=\"" + std::string(device) + "\"}");
  }

  bool empty() const { return message_.empty(); }
  const std::string& message() const { return message_; }

 private:
  void refused(const std::string& series) {
    fail("the host refused the sample write for " + series + "; see the host's log for why");
  }

  std::string message_;
};

}  // namespace vigil::procfs
