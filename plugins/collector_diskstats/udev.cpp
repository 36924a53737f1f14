// See udev.hpp.
#include "udev.hpp"

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_diskstats {

UdevInfo parse_udev_info(std::string_view text) {
  UdevInfo info;
  procfs::for_each_line(text, [&](std::string_view line, std::size_t) {
    // Only "E:" lines are device properties; "S:" (symlinks), "I:" and others are not.
    if (line.size() < 2 || line[0] != 'E' || line[1] != ':') return true;
    line.remove_prefix(2);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return true;
    const std::string_view key = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    if (key == "ID_PATH") {
      info.path = value;
    } else if (key == "ID_WWN") {
      info.wwn = value;
    } else if (key == "ID_MODEL") {
      info.model = value;
    } else if (key == "ID_SERIAL_SHORT") {
      info.serial = value;
    } else if (key == "ID_REVISION") {
      info.revision = value;
    }
    return true;
  });
  return info;
}

UdevInfo read_udev_info(const std::string& dir, unsigned major, unsigned minor) {
  std::string text, error;
  const std::string path = dir + "/b" + std::to_string(major) + ":" + std::to_string(minor);
  if (!procfs::read_file(path, text, error)) return {};
  return parse_udev_info(text);
}

}  // namespace vigil::collector_diskstats
