// See server_check.hpp.
#include "vigil_plugin_procfs/server_check.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "vigil_plugin_procfs/human.hpp"

namespace vigil::procfs {

bool read_password_file(const std::string& path, std::string& password, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read password_file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::getline(in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    error = "password_file " + path + " is empty; expected the password on its first line";
    return false;
  }
  return true;
}

std::string password_file_warning(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 077) == 0) return {};
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return "password_file " + path + " has mode " + mode +
         ", readable by group or others; chmod 600 it";
}

bool server_check_timeout(std::optional<std::chrono::milliseconds> configured,
                          std::chrono::milliseconds instance_timeout,
                          std::chrono::milliseconds fallback, std::chrono::milliseconds& timeout,
                          std::string& error, std::string& warning) {
  warning.clear();
  if (configured) {
    timeout = *configured;
    if (timeout.count() <= 0) {
      error = "option \"timeout\" is " + format_config_duration(timeout) +
              "; expected a positive duration such as \"3s\"";
      return false;
    }
    if (instance_timeout.count() > 0 && timeout >= instance_timeout)
      warning = "option \"timeout\" (" + format_config_duration(timeout) +
                ") is not below the instance's timeout (" +
                format_config_duration(instance_timeout) +
                "): a slow server will be reported as a hung check instead of critical";
    return true;
  }
  timeout =
      instance_timeout.count() > 0
          ? std::min(fallback, std::max(std::chrono::milliseconds(1), instance_timeout * 4 / 5))
          : fallback;
  return true;
}

}  // namespace vigil::procfs
