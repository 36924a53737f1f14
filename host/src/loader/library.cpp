// Loading a plugin `.so` with Boost.DLL and checking everything about it before use.
//
// The checks run in the order that keeps the host safe: the file must export the entry point;
// the descriptor it returns must be large enough to read the ABI version; the version must be
// one this host speaks; only then are the other fields and sub-descriptors read, each after its
// own size check. Nothing here calls into the plugin except the entry point.
#define BOOST_DLL_USE_STD_FS
#include "loader/library.hpp"

#include "log/logging.hpp"

#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>

namespace vigil::loader {

struct PluginLibrary::Handle {
  boost::dll::shared_library library;
};

PluginLibrary::~PluginLibrary() = default;

void PluginLibrary::pin() const {
  std::call_once(pinned_, [this] {
    if (dlopen(path_.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) == nullptr)
      log::host()->warn("{}: could not pin the library in memory: {}", path_.string(), dlerror());
  });
}

std::string PluginLibrary::kinds() const {
  std::string out;
  auto add = [&](bool has, const char* kind) {
    if (!has) return;
    if (!out.empty()) out += ", ";
    out += kind;
  };
  add(has_collector_, "collector");
  add(has_health_check_, "health_check");
  add(has_exporter_, "exporter");
  add(has_notifier_, "notifier");
  return out;
}

std::string format_abi_version(uint32_t version) {
  return std::to_string(VIGIL_ABI_VERSION_MAJOR(version)) + "." +
         std::to_string(VIGIL_ABI_VERSION_MINOR(version));
}

// The friend that fills PluginLibrary; keeps the checks in one place.
class Scanner {
 public:
  static std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file, ScanNote& note);
};

namespace {

constexpr size_t end_of(size_t offset, size_t field_size) {
  return offset + field_size;
}

// Copies a plugin-owned descriptor into a host-owned zeroed one: only what both sides know.
template <typename T>
bool copy_desc(const T* from, T& to, size_t minimum, const char* what, std::string& why) {
  if (from == nullptr) return false;
  if (from->size < minimum) {
    why = std::string(what) + " descriptor is " + std::to_string(from->size) +
          " bytes, smaller than the " + std::to_string(minimum) + " bytes of ABI 1.0";
    return false;
  }
  to = T{};
  std::memcpy(&to, from, std::min<size_t>(from->size, sizeof(T)));
  to.size = static_cast<uint32_t>(sizeof(T));
  return true;
}

bool valid_plugin_name(const char* name) {
  if (name == nullptr || *name == '\0' || !(*name >= 'a' && *name <= 'z')) return false;
  size_t n = 0;
  for (const char* p = name; *p; ++p, ++n) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
  }
  return n <= 64;
}

}  // namespace

std::shared_ptr<PluginLibrary> Scanner::load(const std::filesystem::path& file, ScanNote& note) {
  note = {ScanNote::Kind::skipped, file, {}};
  const std::string where = file.string();
  auto refuse = [&](const std::string& why) -> std::shared_ptr<PluginLibrary> {
    note.kind = ScanNote::Kind::refused;
    note.message = where + ": refused: " + why;
    return nullptr;
  };

  auto lib = std::shared_ptr<PluginLibrary>(new PluginLibrary());
  lib->handle_ = std::make_unique<PluginLibrary::Handle>();
  lib->path_ = file;
  boost::dll::fs::error_code ec;
  lib->handle_->library.load(file, ec,
                             boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec) {
    const char* detail = dlerror();
    note.message = where + ": skipped: not loadable as a shared library (" +
                   (detail ? std::string(detail) : ec.message()) + ")";
    return nullptr;
  }
  if (!lib->handle_->library.has(VIGIL_ENTRY_SYMBOL)) {
    note.message = where + ": skipped: not a Vigil plugin (no " VIGIL_ENTRY_SYMBOL " symbol)";
    return nullptr;
  }
  auto entry = lib->handle_->library.get<const vigil_plugin_desc*()>(VIGIL_ENTRY_SYMBOL);
  const vigil_plugin_desc* desc = entry();
  if (desc == nullptr) return refuse(VIGIL_ENTRY_SYMBOL "() returned no descriptor");
  if (desc->size < end_of(offsetof(vigil_plugin_desc, abi_version), sizeof(uint32_t)))
    return refuse("plugin descriptor is " + std::to_string(desc->size) +
                  " bytes, too small to hold an ABI version");

  const uint32_t abi = desc->abi_version;
  const std::string versions = "plugin ABI " + format_abi_version(abi) + ", host ABI " +
                               format_abi_version(VIGIL_ABI_VERSION);
  if (VIGIL_ABI_VERSION_MAJOR(abi) != VIGIL_ABI_MAJOR)
    return refuse("built for another major version (" + versions + "); rebuild it against SDK " +
                  std::to_string(VIGIL_ABI_MAJOR) + ".x");
  if (VIGIL_ABI_VERSION_MINOR(abi) > VIGIL_ABI_MINOR)
    return refuse("built for a newer minor version (" + versions +
                  "); upgrade vigil or rebuild the plugin against SDK " +
                  format_abi_version(VIGIL_ABI_VERSION));

  std::string why;
  const size_t plugin_min = end_of(offsetof(vigil_plugin_desc, notifier), sizeof(void*));
  if (!copy_desc(desc, lib->desc_, plugin_min, "plugin", why))
    return refuse(why + " (" + versions + ")");
  const auto& d = lib->desc_;
  lib->abi_version_ = abi;
  if (!valid_plugin_name(d.name))
    return refuse("plugin name " +
                  (d.name ? "\"" + std::string(d.name) + "\"" : std::string("(none)")) +
                  " is invalid, expected [a-z][a-z0-9_]* of at most 64 characters");
  lib->name_ = d.name;
  lib->version_ = d.version ? d.version : "";
  lib->description_ = d.description ? d.description : "";
  const std::string named = "plugin \"" + lib->name_ + "\": ";
  if (d.create == nullptr || d.destroy == nullptr)
    return refuse(named + "create() and destroy() are required");

  lib->has_collector_ =
      copy_desc(d.collector, lib->collector_,
                end_of(offsetof(vigil_collector_desc, collect), sizeof(void*)), "collector", why);
  if (!why.empty()) return refuse(named + why);
  if (lib->has_collector_ && lib->collector_.collect == nullptr)
    return refuse(named + "the collector has no collect() callback, which is required");
  lib->has_health_check_ = copy_desc(
      d.health_check, lib->health_check_,
      end_of(offsetof(vigil_health_check_desc, check), sizeof(void*)), "health check", why);
  if (!why.empty()) return refuse(named + why);
  if (lib->has_health_check_ && lib->health_check_.check == nullptr)
    return refuse(named + "the health check has no check() callback, which is required");
  lib->has_exporter_ =
      copy_desc(d.exporter, lib->exporter_,
                end_of(offsetof(vigil_exporter_desc, flush), sizeof(void*)), "exporter", why);
  if (!why.empty()) return refuse(named + why);
  lib->has_notifier_ =
      copy_desc(d.notifier, lib->notifier_,
                end_of(offsetof(vigil_notifier_desc, notify), sizeof(void*)), "notifier", why);
  if (!why.empty()) return refuse(named + why);
  if (lib->has_notifier_ && lib->notifier_.notify == nullptr)
    return refuse(named + "the notifier has no notify() callback, which is required");
  if (!lib->has_collector_ && !lib->has_health_check_ && !lib->has_exporter_ && !lib->has_notifier_)
    return refuse(named + "provides none of collector, health check, exporter, notifier");

  // Option rows: the first row's size is the stride, so a later, larger row layout still reads.
  if (d.option_count > 0) {
    if (d.options == nullptr) return refuse(named + "declares options but no option table");
    const size_t row_min = end_of(offsetof(vigil_option_desc, required), sizeof(int32_t));
    const size_t stride = d.options[0].size;
    if (stride < row_min)
      return refuse(named + "option rows are " + std::to_string(stride) + " bytes, expected " +
                    std::to_string(row_min));
    const auto* base = reinterpret_cast<const unsigned char*>(d.options);
    for (size_t i = 0; i < d.option_count; ++i) {
      vigil_option_desc row{};
      std::memcpy(&row, base + i * stride, std::min(stride, sizeof(row)));
      config::OptionSpec spec;
      spec.name = row.name ? row.name : "";
      spec.type = row.type;
      if (row.default_value) spec.default_text = row.default_value;
      spec.description = row.description ? row.description : "";
      spec.required = row.required != 0;
      lib->options_.push_back(std::move(spec));
    }
    auto problems = config::check_option_specs(lib->options_);
    if (!problems.empty()) return refuse(named + "its option table is invalid: " + problems[0]);
  }
  return lib;
}

std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file, ScanNote& note) {
  return Scanner::load(file, note);
}

ScanResult scan(const std::vector<std::filesystem::path>& directories,
                const std::vector<std::shared_ptr<PluginLibrary>>& already) {
  ScanResult result;
  std::map<std::string, std::filesystem::path> taken;
  std::set<std::filesystem::path> loaded_files;
  for (const auto& lib : already) {
    taken.emplace(lib->name(), lib->path());
    loaded_files.insert(std::filesystem::weakly_canonical(lib->path()));
  }
  for (const auto& dir : directories) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      result.notes.push_back({ScanNote::Kind::skipped, dir,
                              dir.string() + ": skipped: plugin directory does not exist"});
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      const bool is_so =
          name.size() > 3 && (name.ends_with(".so") || name.find(".so.") != std::string::npos);
      if (is_so && entry.is_regular_file(ec)) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (loaded_files.count(std::filesystem::weakly_canonical(file, ec))) continue;
      ScanNote note;
      auto lib = Scanner::load(file, note);
      if (!lib) {
        result.notes.push_back(std::move(note));
        continue;
      }
      auto [it, inserted] = taken.emplace(lib->name(), file);
      if (!inserted) {
        result.notes.push_back({ScanNote::Kind::refused, file,
                                file.string() + ": refused: plugin name \"" + lib->name() +
                                    "\" is already provided by " + it->second.string()});
        continue;
      }
      loaded_files.insert(std::filesystem::weakly_canonical(file, ec));
      result.libraries.push_back(std::move(lib));
    }
  }
  return result;
}

}  // namespace vigil::loader
