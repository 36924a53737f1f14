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

#include <nlohmann/json.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <map>
#include <set>

extern char** environ;

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

namespace {

std::filesystem::path& examine_helper() {
  static std::filesystem::path helper;
  return helper;
}

// How long the helper may take over the files it is given before it is killed and the file it
// was checking is refused; far above the milliseconds a dozen entry points take.
constexpr std::chrono::seconds kExamineDeadline{30};
// Where the helper writes its verdicts: not stdout, which a plugin's entry point may print to.
constexpr int kVerdictFd = 3;

// One file's verdict from the helper: the plugin's name, or the note that refuses or skips it.
struct Verdict {
  bool accepted = false;
  std::string name;
  ScanNote note;
};

enum class HelperRun { finished, stopped, not_started };

// Runs the helper on files[from...], filling verdicts[] from what it writes. `finished`: every
// file has a verdict. `stopped`: the helper died or overran kExamineDeadline at `next` (the file
// it was checking), with the reason in `failure`. `not_started`: it could not be run (`failure`).
HelperRun run_helper(const std::filesystem::path& helper,
                     const std::vector<std::filesystem::path>& files, std::size_t from,
                     std::vector<Verdict>& verdicts, std::size_t& next, std::string& failure) {
  next = from;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    failure = std::string("cannot make a pipe: ") + std::strerror(errno);
    return HelperRun::not_started;
  }
  if (fds[1] == kVerdictFd) {  // dup2 onto itself would keep O_CLOEXEC and close it at exec
    const int moved = ::fcntl(fds[1], F_DUPFD_CLOEXEC, kVerdictFd + 1);
    ::close(fds[1]);
    fds[1] = moved;
  }
  std::vector<std::string> args{helper.string(), kExamineCommand};
  for (std::size_t i = from; i < files.size(); ++i) args.push_back(files[i].string());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], kVerdictFd);
  // The daemon blocks the signals it waits for; the helper starts with none blocked.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, helper.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    failure = "cannot run " + helper.string() + ": " + std::strerror(rc);
    return HelperRun::not_started;
  }

  const auto deadline = std::chrono::steady_clock::now() + kExamineDeadline;
  std::string pending;
  bool overran = false;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd entry{fds[0], POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&entry, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      overran = true;
      break;
    }
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      const auto line = nlohmann::json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (next >= files.size() || !line.is_object()) continue;
      Verdict& v = verdicts[next];
      v.note.file = files[next];
      if (line.contains("name") && line["name"].is_string()) {
        v.accepted = true;
        v.name = line["name"].get<std::string>();
      } else {
        v.note.kind =
            line.value("kind", "") == "skipped" ? ScanNote::Kind::skipped : ScanNote::Kind::refused;
        v.note.message = line.value("message", files[next].string() + ": refused");
      }
      ++next;
    }
  }
  ::close(fds[0]);
  if (overran) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (next >= files.size()) return HelperRun::finished;
  if (overran)
    failure = "did not finish within " + std::to_string(kExamineDeadline.count()) + "s";
  else if (WIFSIGNALED(status))
    failure = "ended the checking process with signal " + std::to_string(WTERMSIG(status)) + " (" +
              strsignal(WTERMSIG(status)) + ")";
  else
    failure = "ended the checking process with exit status " +
              std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return HelperRun::stopped;
}

// Every file's verdict from the helper, in order; false (with `failure`) when the helper could
// not be run at all. A file whose check kills or hangs the helper is refused, and the helper is
// run again for the files after it.
bool examine_apart(const std::filesystem::path& helper,
                   const std::vector<std::filesystem::path>& files, std::vector<Verdict>& verdicts,
                   std::string& failure) {
  verdicts.assign(files.size(), Verdict{});
  std::size_t from = 0;
  while (from < files.size()) {
    std::size_t next = from;
    const HelperRun run = run_helper(helper, files, from, verdicts, next, failure);
    if (run == HelperRun::not_started) return false;
    if (run == HelperRun::finished) break;
    Verdict& culprit = verdicts[next];
    culprit.note = {ScanNote::Kind::refused, files[next],
                    files[next].string() + ": refused: checking its entry point " + failure};
    from = next + 1;
  }
  return true;
}

}  // namespace

void use_examine_helper(std::filesystem::path executable) {
  examine_helper() = std::move(executable);
}

int examine_main(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    ScanNote note;
    const std::filesystem::path file = argv[i];
    nlohmann::json line = {{"file", file.string()}};
    if (auto lib = Scanner::load(file, note)) {
      line["name"] = lib->name();
    } else {
      line["kind"] = note.kind == ScanNote::Kind::skipped ? "skipped" : "refused";
      line["message"] = note.message;
    }
    const std::string text = line.dump() + "\n";
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(kVerdictFd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 1;
      done += static_cast<std::size_t>(n);
    }
  }
  return 0;
}

ScanResult scan(const std::vector<std::filesystem::path>& directories,
                const std::vector<std::shared_ptr<PluginLibrary>>& already,
                const std::set<std::string>* wanted) {
  ScanResult result;
  std::map<std::string, std::filesystem::path> taken;
  std::set<std::filesystem::path> loaded_files;
  for (const auto& lib : already) {
    taken.emplace(lib->name(), lib->path());
    loaded_files.insert(std::filesystem::weakly_canonical(lib->path()));
  }
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& dir : directories) {
    if (!std::filesystem::is_directory(dir, ec)) {
      result.notes.push_back({ScanNote::Kind::skipped, dir,
                              dir.string() + ": skipped: plugin directory does not exist"});
      continue;
    }
    std::vector<std::filesystem::path> in_dir;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      const bool is_so =
          name.size() > 3 && (name.ends_with(".so") || name.find(".so.") != std::string::npos);
      if (is_so && entry.is_regular_file(ec) &&
          !loaded_files.count(std::filesystem::weakly_canonical(entry.path(), ec)))
        in_dir.push_back(entry.path());
    }
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }

  std::vector<Verdict> verdicts;
  bool apart = wanted != nullptr && !examine_helper().empty();
  if (apart) {
    std::string failure;
    apart = examine_apart(examine_helper(), files, verdicts, failure);
    if (!apart)
      log::host()->warn("plugin scan: {}; checking the plugins in this process instead", failure);
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::filesystem::path& file = files[i];
    // The same file reached through a second directory (a symlink) counts once.
    const auto canonical = std::filesystem::weakly_canonical(file, ec);
    if (loaded_files.count(canonical)) continue;
    ScanNote note;
    std::shared_ptr<PluginLibrary> lib;
    std::string name;
    if (apart) {
      if (!verdicts[i].accepted) {
        result.notes.push_back(std::move(verdicts[i].note));
        continue;
      }
      name = verdicts[i].name;
    } else {
      lib = Scanner::load(file, note);
      if (!lib) {
        result.notes.push_back(std::move(note));
        continue;
      }
      name = lib->name();
    }
    auto [it, inserted] = taken.emplace(name, file);
    if (!inserted) {
      result.notes.push_back({ScanNote::Kind::refused, file,
                              file.string() + ": refused: plugin name \"" + name +
                                  "\" is already provided by " + it->second.string()});
      continue;
    }
    loaded_files.insert(canonical);
    result.names.push_back(name);
    if (apart) {
      if (!wanted->count(name)) continue;  // known by name; its library stays out
      lib = Scanner::load(file, note);
      if (!lib) {
        result.notes.push_back(std::move(note));
        result.names.pop_back();
        continue;
      }
    }
    result.libraries.push_back(std::move(lib));
  }
  return result;
}

}  // namespace vigil::loader
