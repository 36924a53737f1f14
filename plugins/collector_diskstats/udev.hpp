// Reading the udev database entry of a block device (<udev_data_path>/b<major>:<minor>, lines such
// as "E:ID_MODEL=QEMU_HARDDISK"), for the labels of node_disk_info.
//
// Parsing is a pure function over text; read_udev_info() reads the file. A missing file or a
// missing property is normal (no udev in a container, a virtual disk without a serial) and gives
// empty values; nothing here fails or throws.
#pragma once

#include <string>
#include <string_view>

namespace vigil::collector_diskstats {

// The udev properties node_exporter 1.5 puts on node_disk_info.
struct UdevInfo {
  std::string path;      // ID_PATH
  std::string wwn;       // ID_WWN
  std::string model;     // ID_MODEL
  std::string serial;    // ID_SERIAL_SHORT
  std::string revision;  // ID_REVISION
};

UdevInfo parse_udev_info(std::string_view text);

// Reads and parses <dir>/b<major>:<minor>; empty values when the file cannot be read.
UdevInfo read_udev_info(const std::string& dir, unsigned major, unsigned minor);

}  // namespace vigil::collector_diskstats
