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
  MountFilter filter;
  auto compile = [&](const std::string& pattern, const char* option,
                     std::optional<std::regex>& slot) {
    if (pattern.empty()) return true;
    try {
      slot.emplace(pattern, std::regex::ECMAScript | std::regex::optimize);
      return true;
    } catch (const std::regex_error& e) {
      error = "option \"" + std::string(option) + "\": \"" + pattern +
              "\" is not a valid regular expression (" + e.what() +
              "); expected an ECMAScript regex such as \"^/(dev|proc|sys)($|/)\"";
      return false;
    }
  };
  if (!compile(patterns.mount_points_include, "mount_points_include", filter.mp_include_) ||
      !compile(patterns.mount_points_exclude, "mount_points_exclude", filter.mp_exclude_) ||
      !compile(patterns.fs_types_include, "fs_types_include", filter.fs_include_) ||
      !compile(patterns.fs_types_exclude, "fs_types_exclude", filter.fs_exclude_))
    return std::nullopt;
  return filter;
}

bool MountFilter::accepts(const MountEntry& mount) const {
  if (mp_include_ && !std::regex_search(mount.mount_point, *mp_include_)) return false;
  if (mp_exclude_ && std::regex_search(mount.mount_point, *mp_exclude_)) return false;
  if (fs_include_ && !std::regex_search(mount.fs_type, *fs_include_)) return false;
  if (fs_exclude_ && std::regex_search(mount.fs_type, *fs_exclude_)) return false;
  return true;
}

}  // namespace vigil::collector_filesystem
