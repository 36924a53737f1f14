// The mount table (procfs' mounts file) and node_exporter's mount-point / fs-type filters.
//
// Pure functions over text and patterns: no file access, no statvfs, no SDK, so the tests drive
// them with fixtures. The plugin reads the file and stats what these functions keep. This file
// must never emit metrics or log: it reports problems through its return values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil_plugin_procfs/name_filter.hpp"

namespace vigil::collector_filesystem {

// node_exporter 1.5's defaults (collector/filesystem_linux.go), so the same mounts are reported.
inline constexpr const char* kDefaultMountPointsExclude =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
inline constexpr const char* kDefaultFsTypesExclude =
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
    "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
    "sysfs|tracefs)$";

// One line of the mount table, with the kernel's octal escapes (\040 for a space) decoded.
struct MountEntry {
  std::string device;
  std::string mount_point;  // as the label shows it: rootfs prefix stripped
  std::string fs_type;
  std::string options;    // the per-mount options column, e.g. "rw,relatime"
  std::string stat_path;  // what statvfs is called on: rootfs + mount_point
  bool read_only() const;
};

// Parses the text of a mounts file (fstab(5) layout: device, mount point, type, options, and
// two numbers). `rootfs` is node_exporter's --path.rootfs: "/" for none; otherwise it is
// stripped from the front of each mount point for the label and prepended for statvfs.
// Returns false with `error` naming the line and what was expected on a line with fewer than
// four columns. Blank lines are skipped.
bool parse_mounts(std::string_view text, std::string_view rootfs, std::vector<MountEntry>& out,
                  std::string& error);

// Decodes the kernel's "\ooo" escapes (space, tab, newline, backslash); anything else is kept.
std::string unescape_octal(std::string_view field);

// Which mounts are reported: a mount is kept when its mount point matches the include pattern
// (if one is set) and not the exclude pattern (if set), and likewise for its fs type. Patterns
// are ECMAScript regexes searched anywhere in the text, like Go's MatchString (procfs::NameFilter,
// as every plugin's name patterns).
// Thread-safety: immutable after create(); safe to read from any thread.
class MountFilter {
 public:
  struct Patterns {
    std::string mount_points_include, mount_points_exclude, fs_types_include, fs_types_exclude;
  };
  // Compiles the four patterns ("" means not set). Returns nullopt and sets `error` naming the
  // option and the regex library's complaint when one does not compile.
  static std::optional<MountFilter> create(const Patterns& patterns, std::string& error);

  bool accepts(const MountEntry& mount) const;

 private:
  procfs::NameFilter mount_points_, fs_types_;
};

}  // namespace vigil::collector_filesystem
