// Runs `promtool check metrics` on a page, for the tests that want Prometheus' own verdict.
//
// Test-only helper shared by this folder's test files. It must never turn a missing promtool
// into a failure: the caller skips with a warning instead (Debian package "prometheus").
#pragma once

#include <unistd.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace vigil_test {

inline constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// nullopt when promtool is not installed.
inline std::optional<PromtoolResult> promtool_check_metrics(const std::string& page) {
  if (access(kPromtool, X_OK) != 0) return std::nullopt;
  char path[] = "/tmp/vigil_promtool_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return PromtoolResult{-1, "mkstemp failed"};
  close(fd);
  {
    std::ofstream f(path, std::ios::binary);
    f << page;
  }
  std::string command = std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  PromtoolResult result;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    std::array<char, 4096> buf{};
    std::size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::remove(path);
  return result;
}

}  // namespace vigil_test
