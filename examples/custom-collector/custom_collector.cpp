// custom_collector — an example Vigil plugin: how many files a directory holds, and their size.
//
// Options: `path` (required) the directory, `pattern` (default "*") a shell glob the file names
// must match, `recursive` (default false) whether to descend into subdirectories.
// Metrics, labelled with the directory:
//   custom_dir_files{path}            gauge  regular files matching the pattern
//   custom_dir_bytes{path}            gauge  their total size in bytes
//   custom_dir_newest_mtime_seconds{path}  gauge  modification time of the newest one (0 if none)
// It only reads directory entries; it must never open, modify or follow files out of `path`.
#include <vigil/sdk.hpp>

#include <fnmatch.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace {

class DirectoryCollector final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    path_ = cfg.string("path");
    pattern_ = cfg.string("pattern");
    recursive_ = cfg.boolean("recursive");
    if (path_.empty())
      return vigil::Status::invalid_argument("option \"path\" is empty, expected a directory");
    host().describe("custom_dir_files", vigil::MetricType::gauge,
                    "Regular files in the directory matching the pattern.");
    host().describe("custom_dir_bytes", vigil::MetricType::gauge,
                    "Total size of the matching files.", "bytes");
    host().describe("custom_dir_newest_mtime_seconds", vigil::MetricType::gauge,
                    "Modification time of the newest matching file, Unix seconds.", "seconds");
    return vigil::Status::ok();
  }

  // Runs on a host worker thread every interval; one call at a time.
  vigil::Status collect(vigil::Emitter& out) override {
    std::error_code ec;
    if (!fs::is_directory(path_, ec))
      return vigil::Status::unavailable("cannot read directory \"" + path_ +
                                        "\": " + (ec ? ec.message() : "not a directory"));
    Totals totals;
    if (recursive_)
      scan(fs::recursive_directory_iterator(path_, fs::directory_options::skip_permission_denied,
                                            ec),
           totals);
    else
      scan(fs::directory_iterator(path_, fs::directory_options::skip_permission_denied, ec),
           totals);
    if (ec) return vigil::Status::unavailable("cannot list \"" + path_ + "\": " + ec.message());

    const vigil::Labels labels = {{"path", path_}};
    out.gauge("custom_dir_files", static_cast<double>(totals.files), labels);
    out.gauge("custom_dir_bytes", static_cast<double>(totals.bytes), labels);
    out.gauge("custom_dir_newest_mtime_seconds", totals.newest_seconds, labels);
    if (totals.unreadable > 0 && host().log_enabled(VIGIL_LOG_DEBUG))
      host().debug(std::to_string(totals.unreadable) + " entries of \"" + path_ +
                   "\" vanished or could not be read while scanning");
    return vigil::Status::ok();
  }

 private:
  struct Totals {
    uint64_t files = 0;
    uint64_t bytes = 0;
    double newest_seconds = 0;
    uint64_t unreadable = 0;
  };

  template <class Iterator>
  void scan(Iterator it, Totals& totals) const {
    // Files may disappear between listing and stat: count them as unreadable, keep going.
    for (const fs::directory_entry& entry : it) {
      std::error_code ec;
      if (!entry.is_regular_file(ec) || ec) continue;
      std::string name = entry.path().filename().string();
      if (fnmatch(pattern_.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
      uintmax_t size = entry.file_size(ec);
      if (ec) {
        ++totals.unreadable;
        continue;
      }
      auto mtime = entry.last_write_time(ec);
      if (!ec) {
        // file_clock's epoch is unspecified in C++17: convert through the current time.
        auto now_file = fs::file_time_type::clock::now();
        auto now_sys = std::chrono::system_clock::now();
        auto sys = now_sys + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                 mtime - now_file);
        double seconds = std::chrono::duration<double>(sys.time_since_epoch()).count();
        if (seconds > totals.newest_seconds) totals.newest_seconds = seconds;
      }
      ++totals.files;
      totals.bytes += size;
    }
  }

  std::string path_;
  std::string pattern_;
  bool recursive_ = false;
};

}  // namespace

VIGIL_PLUGIN("custom_collector", "1.0.0",
             vigil::collector<DirectoryCollector>("Counts the files in a directory and their size.")
                 .required_option("path", vigil::String, "directory to watch")
                 .option("pattern", vigil::String, "*", "shell glob the file names must match")
                 .option("recursive", vigil::Bool, "false", "also count files in subdirectories"));
