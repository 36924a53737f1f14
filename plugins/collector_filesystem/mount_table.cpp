// See mount_table.hpp.
#include "mount_table.hpp"

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_filesystem {
namespace {

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool is_octal(char c) {
  return c >= '0' && c <= '7';
}

// node_exporter's rootfsStripPrefix: "/host/var" -> "/var" when rootfs is "/host".
std::string strip_rootfs(const std::string& mount_point, std::string_view rootfs) {
  if (rootfs == "/" || rootfs.empty()) return mount_point;
  if (mount_point.compare(0, rootfs.size(), rootfs) != 0) return mount_point;
  std::string stripped = mount_point.substr(rootfs.size());
  if (stripped.empty()) return "/";
  // "/hostile" is not under "/host": only strip at a path boundary.
  if (stripped.front() != '/') return mount_point;
  return stripped;
}

std::string join_rootfs(std::string_view rootfs, const std::string& mount_point) {
  if (rootfs == "/" || rootfs.empty()) return mount_point;
  if (mount_point == "/") return std::string(rootfs);
  return std::string(rootfs) + mount_point;
}

}  // namespace

bool MountEntry::read_only() const {
  std::string_view rest = options;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    if (rest.substr(0, comma) == "ro") return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

std::string unescape_octal(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (value > 0 && value < 256) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

bool parse_mounts(std::string_view text, std::string_view rootfs, std::vector<MountEntry>& out,
                  std::string& error) {
  out.clear();
  return procfs::for_each_line(text, [&](std::string_view line, std::size_t number) {
    std::vector<std::string_view> f = fields(line);
    if (f.empty()) return true;
    if (f.size() < 4) {
      error = "line " + std::to_string(number) + ": expected at least 4 columns (device, " +
              "mount point, type, options), found " + std::to_string(f.size()) + ": '" +
              std::string(line) + "'";
      return false;
    }
    MountEntry m;
    m.device = unescape_octal(f[0]);
    std::string raw_mount_point = unescape_octal(f[1]);
    m.fs_type = std::string(f[2]);
    m.options = std::string(f[3]);
    m.mount_point = strip_rootfs(raw_mount_point, rootfs);
    m.stat_path = join_rootfs(rootfs, m.mount_point);
    out.push_back(std::move(m));
    return true;
  });
}

std::optional<MountFilter> MountFilter::create(const Patterns& patterns, std::string& error) {
  constexpr const char* kExpected = "an ECMAScript regex such as \"^/(dev|proc|sys)($|/)\"";
  MountFilter filter;
  if (!filter.mount_points_.set("mount_points_include", patterns.mount_points_include,
                                "mount_points_exclude", patterns.mount_points_exclude, kExpected,
                                error) ||
      !filter.fs_types_.set("fs_types_include", patterns.fs_types_include, "fs_types_exclude",
                            patterns.fs_types_exclude, kExpected, error))
    return std::nullopt;
  return filter;
}

bool MountFilter::accepts(const MountEntry& mount) const {
  return mount_points_.allowed(mount.mount_point) && fs_types_.allowed(mount.fs_type);
}

}  // namespace vigil::collector_filesystem
