// collector_textfile: node_exporter's textfile collector. Serves the metrics of every `*.prom`
// file in a directory (written there by cron jobs and scripts), plus
// node_textfile_mtime_seconds{file} and node_textfile_scrape_error.
//
// Each file is one source of the shared Publisher. A file is read again only when its inode,
// size or mtime changed; unchanged files are just written again from what was parsed, and a
// file rewritten with the same series in the same order only has its values read. A bad
// file is dropped (its series leave the exposition, as node_exporter drops it) and its error
// (file, line, reason) is logged once per change, while every good file keeps being served.
// This file must never serve half of a file being rewritten in place: the size and mtime must
// be the same before and after the read, and content that looks cut short (empty, or a last line
// without its newline) is only trusted once the file stayed unchanged until the next collect.
#include <vigil/sdk.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil_plugin_text/exposition.hpp"
#include "vigil_plugin_text/publisher.hpp"

namespace vigil::collector_textfile {
namespace {

constexpr const char* kMtime = "node_textfile_mtime_seconds";
constexpr const char* kScrapeError = "node_textfile_scrape_error";

// What identifies one version of a file.
struct Stamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const Stamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const Stamp& o) const { return !(*this == o); }
};

Stamp stamp_of(const struct stat& st) {
  Stamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

bool ends_with(const std::string& s, const char* suffix) {
  std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

// One instance per configured "collector_textfile" entry.
// Thread-safety: only collect() touches state; the host never runs two at once.
class TextfileCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    directory_ = config.string("directory");
    while (directory_.size() > 1 && directory_.back() == '/') directory_.pop_back();
    if (directory_.empty())
      return Status::invalid_argument(
          "option \"directory\" is empty; expected the directory holding the *.prom files");
    int64_t max = config.integer("max_file_bytes");
    if (max <= 0)
      return Status::invalid_argument("option \"max_file_bytes\" is " + std::to_string(max) +
                                      "; expected a positive number of bytes");
    max_file_bytes_ = static_cast<std::size_t>(max);
    publisher_ = std::make_unique<plugin_text::Publisher>(host());
    host().describe(kMtime, MetricType::gauge, "Unixtime mtime of textfiles successfully read.",
                    "seconds");
    host().describe(kScrapeError, MetricType::gauge,
                    "1 if there was an error opening or reading a file, 0 otherwise");
    struct stat st;
    if (::stat(directory_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      host().warn("directory " + directory_ +
                  " does not exist (yet); node_textfile_scrape_error is 1 until it does");
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    bool scrape_error = false;
    std::vector<std::string> names;
    std::string dir_error;
    if (!list(names, dir_error)) {
      scrape_error = true;
      if (dir_error != logged_dir_error_) host().error(dir_error);
      logged_dir_error_ = dir_error;
    } else if (!logged_dir_error_.empty()) {
      host().info("directory " + directory_ + " is readable again");
      logged_dir_error_.clear();
    }

    // What changed since the last collect decides what is read again. A file refused because
    // of another file (a duplicate series, a type conflict) gets another chance whenever any
    // file changes.
    std::map<std::string, Stamp> stamps;
    bool anything_changed = names != last_names_;
    for (const std::string& name : names) {
      struct stat st;
      if (::stat(path(name).c_str(), &st) != 0) continue;  // removed meanwhile
      Stamp s = stamp_of(st);
      stamps[name] = s;
      auto it = files_.find(name);
      if (it == files_.end() || it->second.stamp != s) anything_changed = true;
    }

    // Files that are gone take their series with them (first: a file they blocked may now
    // be served).
    for (auto it = files_.begin(); it != files_.end();) {
      if (std::binary_search(names.begin(), names.end(), it->first)) {
        ++it;
        continue;
      }
      publisher_->remove(it->first);
      out.remove(kMtime, {{"file", it->first}});
      host().debug(path(it->first) + " was removed: its series are gone");
      it = files_.erase(it);
    }
    Status write_status;
    for (const std::string& name : names) {
      File& file = files_[name];
      auto st = stamps.find(name);
      bool changed = st == stamps.end() || file.stamp != st->second || !file.seen;
      file.seen = true;
      if (!changed && file.ok) {
        keep(write_status, publisher_->refresh(name));
      } else if (changed || anything_changed) {
        load(name, file, write_status);
      }
      if (!file.ok && !file.error.empty()) scrape_error = true;
    }

    last_names_ = std::move(names);

    for (const auto& [name, file] : files_) {
      if (file.ok) {
        out.gauge(kMtime, static_cast<double>(file.mtime_seconds), {{"file", name}});
      } else {
        out.remove(kMtime, {{"file", name}});
      }
    }
    out.gauge(kScrapeError, scrape_error ? 1 : 0);
    // The read buffer follows the files: a large file that shrank or went does not keep its
    // size reserved.
    off_t largest = 0;
    for (const auto& [name, stamp] : stamps) largest = std::max(largest, stamp.size);
    if (buffer_.size() > 2 * static_cast<std::size_t>(largest) + (1 << 20))
      std::string().swap(buffer_);
    return write_status;
  }

 private:
  struct File {
    bool seen = false;  // listed by an earlier collect
    bool ok = false;    // its content is being served
    Stamp stamp;        // the version last read (or judged)
    Stamp suspect;      // a version that looked cut short, given one collect to settle
    bool has_suspect = false;
    int64_t mtime_seconds = 0;
    std::string error;  // why it is not served
    Stamp error_stamp;  // the version `error` was logged for
  };

  std::string path(const std::string& name) const { return directory_ + "/" + name; }

  static void keep(Status& first, Status next) {
    if (first.is_ok() && !next.is_ok()) first = std::move(next);
  }

  bool list(std::vector<std::string>& names, std::string& error) const {
    DIR* dir = ::opendir(directory_.c_str());
    if (dir == nullptr) {
      error = "cannot read directory " + directory_ + ": " + std::strerror(errno);
      return false;
    }
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (ends_with(name, ".prom") && name != ".prom") names.push_back(std::move(name));
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return true;
  }

  // Reads, parses and publishes one file; on failure drops its series and logs once.
  void load(const std::string& name, File& file, Status& write_status) {
    const std::string p = path(name);
    std::string error;
    std::string_view text;
    Stamp stamp;
    switch (read(p, text, stamp, error)) {
      case Read::ok:
        break;
      case Read::busy:
        // Changing under our feet: serve the previous version, look again next time.
        if (file.ok) keep(write_status, publisher_->refresh(name));
        host().debug(p + " changed while being read; keeping its previous content");
        return;
      case Read::failed:
        fail(name, file, stamp, error);
        return;
    }

    // Content that looks cut short is trusted only if the file still has not changed at the
    // next collect: a writer truncating and rewriting in place is caught here mid-way.
    bool cut_short = text.empty() || text.back() != '\n';
    if (cut_short && !(file.has_suspect && file.suspect == stamp)) {
      file.suspect = stamp;
      file.has_suspect = true;
      if (file.ok) keep(write_status, publisher_->refresh(name));
      return;
    }
    file.has_suspect = false;

    // A file rewritten with new values (same series, same order) costs a compare and a number
    // per line: the Publisher matches it against the previous version and keeps every handle.
    plugin_text::ParseOptions options;
    options.allow_timestamps = false;
    options.require_final_newline = true;
    plugin_text::PublishOptions publish;
    publish.default_help = "Metric read from " + p;
    Status status = publisher_->publish_prometheus(name, text, options, publish);
    if (!status.is_ok() && status.code() != VIGIL_ERR_INTERNAL) {
      fail(name, file, stamp, status.message());
      return;
    }
    keep(write_status, status);  // INTERNAL: published, but the host refused some writes
    if (!file.ok && !file.error.empty()) host().info(p + " is valid again and served");
    file.ok = true;
    file.error.clear();
    file.stamp = stamp;
    file.mtime_seconds = stamp.mtime_ns / 1000000000;
  }

  void fail(const std::string& name, File& file, const Stamp& stamp, const std::string& error) {
    publisher_->remove(name);
    file.ok = false;
    file.stamp = stamp;
    std::string message = path(name) + ": " + error;
    if (message != file.error || stamp != file.error_stamp)
      host().warn(message + "; its metrics are dropped until it is fixed");
    file.error = std::move(message);
    file.error_stamp = stamp;
  }

  enum class Read { ok, busy, failed };

  // Reads the file into buffer_ (`text` views it until the next read).
  Read read(const std::string& p, std::string_view& text, Stamp& stamp, std::string& error) {
    // O_NONBLOCK: a FIFO named *.prom must not hang the collector in open().
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      error = std::string("cannot open: ") + std::strerror(errno);
      return Read::failed;
    }
    struct stat before, after;
    if (::fstat(fd, &before) != 0) {
      error = std::string("cannot stat: ") + std::strerror(errno);
      ::close(fd);
      return Read::failed;
    }
    stamp = stamp_of(before);
    if (!S_ISREG(before.st_mode)) {
      error = "not a regular file; expected a text file in the Prometheus exposition format";
      ::close(fd);
      return Read::failed;
    }
    if (static_cast<std::size_t>(before.st_size) > max_file_bytes_) {
      error = "the file is " + std::to_string(before.st_size) +
              " bytes, more than max_file_bytes (" + std::to_string(max_file_bytes_) + ")";
      ::close(fd);
      return Read::failed;
    }
    // One buffer for every read: a large file re-read each collect is not allocated (and its
    // pages faulted in) again each time. +1 notices a file that grew.
    const std::size_t want = static_cast<std::size_t>(before.st_size) + 1;
    if (buffer_.size() < want) buffer_.resize(want);
    std::size_t used = 0;
    for (;;) {
      if (used == buffer_.size()) buffer_.resize(buffer_.size() * 2);
      ssize_t n = ::read(fd, buffer_.data() + used, buffer_.size() - used);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = std::string("cannot read: ") + std::strerror(errno);
        ::close(fd);
        return Read::failed;
      }
      if (n == 0) break;
      used += static_cast<std::size_t>(n);
      if (used > max_file_bytes_) break;
    }
    text = std::string_view(buffer_.data(), used);
    bool same = ::fstat(fd, &after) == 0 && stamp_of(after) == stamp;
    ::close(fd);
    if (!same || used != static_cast<std::size_t>(before.st_size)) return Read::busy;
    return Read::ok;
  }

  std::string directory_;
  std::size_t max_file_bytes_ = 0;
  std::unique_ptr<plugin_text::Publisher> publisher_;
  std::map<std::string, File> files_;
  std::vector<std::string> last_names_;
  std::string logged_dir_error_;
  std::string buffer_;  // what read() read last
};

}  // namespace vigil::collector_textfile

VIGIL_PLUGIN("collector_textfile", "1.0.0",
             vigil::collector<vigil::collector_textfile::TextfileCollector>(
                 "Metrics from *.prom files in a directory, in the Prometheus text format "
                 "(node_exporter's textfile collector)")
                 .required_option("directory", vigil::String,
                                  "directory whose *.prom files are served (like "
                                  "node_exporter's --collector.textfile.directory)")
                 .option("max_file_bytes", vigil::Int, "67108864",
                         "a larger file is refused with an error instead of being read"));
