// Finding and checking plugin libraries.
//
// A PluginLibrary is one loaded `.so` whose entry point returned a descriptor that passed every
// check: ABI major and minor, the size of every descriptor, required callbacks, a valid name and
// option table. Only the entry point has run when these checks happen; nothing else of the
// plugin runs until an instance is created. Descriptors are copied into zeroed host-side structs,
// so a field an older plugin does not have reads as zero.
//
// The library stays loaded for as long as anything holds its shared_ptr: every instance does,
// and every call in flight holds its instance, so a library is never unloaded under a call.
#pragma once

#include "config/config.hpp"
#include "vigil/plugin.h"

#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace vigil::loader {

// Immutable after load; safe to share between threads.
class PluginLibrary {
 public:
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& description() const { return description_; }
  uint32_t abi_version() const { return abi_version_; }
  const std::vector<config::OptionSpec>& options() const { return options_; }

  // The plugin's descriptors as the host knows them (zero-filled beyond the plugin's sizes).
  const vigil_plugin_desc& desc() const { return desc_; }
  bool has_collector() const { return has_collector_; }
  bool has_health_check() const { return has_health_check_; }
  bool has_exporter() const { return has_exporter_; }
  bool has_notifier() const { return has_notifier_; }
  const vigil_collector_desc& collector() const { return collector_; }
  const vigil_health_check_desc& health_check() const { return health_check_; }
  const vigil_exporter_desc& exporter() const { return exporter_; }
  const vigil_notifier_desc& notifier() const { return notifier_; }
  // "collector, health_check" — for `vigil plugins` and logs.
  std::string kinds() const;
  // Keeps the library mapped until the process ends, even after the last reference: a plugin
  // may leave a thread blocked in a system call (a statvfs on a dead NFS mount) that returns
  // after its instance is gone. Called when the first instance is created, so libraries that
  // were only scanned are unloaded again. Thread-safety: idempotent, any thread.
  void pin() const;

 private:
  friend class Scanner;
  PluginLibrary() = default;
  struct Handle;
  std::unique_ptr<Handle> handle_;
  mutable std::once_flag pinned_;
  std::filesystem::path path_;
  std::string name_, version_, description_;
  uint32_t abi_version_ = 0;
  std::vector<config::OptionSpec> options_;
  vigil_plugin_desc desc_{};
  vigil_collector_desc collector_{};
  vigil_health_check_desc health_check_{};
  vigil_exporter_desc exporter_{};
  vigil_notifier_desc notifier_{};
  bool has_collector_ = false, has_health_check_ = false, has_exporter_ = false,
       has_notifier_ = false;
};

// What happened to one file during a scan, for logs and `vigil check-config`.
struct ScanNote {
  enum class Kind { skipped, refused } kind;
  std::filesystem::path file;
  std::string message;  // one line naming the file and the reason
};

struct ScanResult {
  std::vector<std::shared_ptr<PluginLibrary>> libraries;  // sorted by directory order, then name
  std::vector<ScanNote> notes;
  // The name of every plugin the scan accepted, loaded here or not (see `wanted` below), in the
  // order of `libraries`; not the names of `already`.
  std::vector<std::string> names;
};

// Checks every `*.so` in the directories (not recursive). A missing directory is a note, not a
// failure. Two plugins with one name: the first found wins, the second is refused. `already`
// lists libraries loaded before (a reload): their names count as taken and their files are not
// loaded twice.
// Without `wanted`, or without an examine helper (use_examine_helper), every plugin is loaded
// here. With both, each file is first checked in the helper process, and only the plugins named
// in `wanted` are loaded into this one: the others' libraries, and what they pull in (libssl,
// libpq), never map into the daemon, and an entry point that crashes or hangs is refused instead
// of taking the daemon down.
ScanResult scan(const std::vector<std::filesystem::path>& directories,
                const std::vector<std::shared_ptr<PluginLibrary>>& already = {},
                const std::set<std::string>* wanted = nullptr);

// The examine helper: this executable run as `EXE __examine-plugins FILE...` checks each file as
// scan() does and writes one JSON line per file to file descriptor 3. The vigil executable's
// main() hands such a command line to examine_main() and names itself with use_examine_helper().
inline constexpr const char* kExamineCommand = "__examine-plugins";
int examine_main(int argc, char** argv);
// Thread-safety: call once, before any scan.
void use_examine_helper(std::filesystem::path executable);

// Loads and checks a single file (used by scan and tests).
std::shared_ptr<PluginLibrary> load(const std::filesystem::path& file, ScanNote& note);

std::string format_abi_version(uint32_t version);

}  // namespace vigil::loader
