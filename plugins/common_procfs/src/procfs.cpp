// See procfs.hpp.
#include "vigil_plugin_procfs/procfs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace vigil::procfs {

bool read_file(const std::string& path, std::string& out, std::string& error) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  constexpr std::size_t kStep = 16384;
  for (;;) {
    const std::size_t used = out.size();
    out.resize(used + kStep);
    ssize_t n = ::read(fd, out.data() + used, kStep);
    if (n < 0) {
      out.resize(used);
      if (errno == EINTR) continue;
      error = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    out.resize(used + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  return true;
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
