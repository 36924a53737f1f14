// Test helpers for plugins that run commands (vigil_plugin_subprocess, collector_exec,
// check_nagios): is a process still running, and the pids a test script printed. Shared by
// their tests so each asserts "the whole group was killed" the same way.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vigil::testing {

// True when the process no longer runs: gone, or a zombie waiting for a parent that is not us.
inline bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() &&
         (text[close + 2] == 'Z' || text[close + 2] == 'X');
}

// Waits a generous while (5 s) for the kernel and the reaper to finish with a killed process.
inline bool eventually_gone(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    if (process_gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Every whitespace-separated integer in `text`, e.g. the pids a script echoed.
inline std::vector<pid_t> numbers_in(const std::string& text) {
  std::vector<pid_t> out;
  std::istringstream in(text);
  long n;
  while (in >> n) out.push_back(static_cast<pid_t>(n));
  return out;
}

}  // namespace vigil::testing
