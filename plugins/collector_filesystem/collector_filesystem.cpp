// collector_filesystem: node_exporter's "filesystem" collector, plus the disk_space health check.
//
// Reads the mount table from procfs (<proc_path>/1/mounts, or <proc_path>/self/mounts when pid
// 1's is hidden), keeps the mounts the include/exclude patterns allow, and calls statvfs on each
// through helper threads with a deadline (stat_helpers.hpp), so a dead NFS server costs one
// stat_timeout once and never blocks this collect, the health check or any other plugin. Series
// carry node_exporter 1.5's names, labels and help texts. The health check judges the used
// percentage of the same mounts (or of configured paths). This file must never call statvfs on
// the calling thread, nor ask a stuck mount again before its previous call has returned.
//
// Printing the mount table is most of what a collect costs the kernel, so the table is read again
// only when it changed: an open procfs mounts file reports POLLPRI once after each change to its
// mount namespace (proc_namespace.c, mounts_poll). A mounts file that is not procfs (a test
// fixture) is read at every collect.
#include <vigil/sdk.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "disk_space.hpp"
#include "mount_table.hpp"
#include "stat_helpers.hpp"
#include "vigil_plugin_procfs/human.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_filesystem {
namespace {

// The six value families, in node_exporter's order, and its device_error family.
constexpr std::size_t kValueCount = 6;
constexpr const char* kValueNames[kValueCount] = {
    "node_filesystem_size_bytes", "node_filesystem_free_bytes", "node_filesystem_avail_bytes",
    "node_filesystem_files",      "node_filesystem_files_free", "node_filesystem_readonly"};
constexpr const char* kValueHelp[kValueCount] = {
    "Filesystem size in bytes.",
    "Filesystem free space in bytes.",
    "Filesystem space available to non-root users in bytes.",
    "Filesystem total file nodes.",
    "Filesystem total free file nodes.",
    "Filesystem read-only status."};
constexpr const char* kDeviceError = "node_filesystem_device_error";
constexpr const char* kDeviceErrorHelp =
    "Whether an error occurred while getting statistics for the given device.";

bool valid_percent(double v) {
  return v >= 0 && v <= 100;
}

constexpr long kProcSuperMagic = 0x9fa0;  // PROC_SUPER_MAGIC, <linux/magic.h>

// An open procfs mounts file, polled to learn whether the mount table changed since the last
// look. Thread-safety: none; the plugin uses it under its mutex.
class MountWatch {
 public:
  MountWatch() = default;
  MountWatch(const MountWatch&) = delete;
  MountWatch& operator=(const MountWatch&) = delete;
  ~MountWatch() { close(); }

  // Watches `path` if it is a procfs file; otherwise changed() always says yes. Call before
  // reading the table, so that a change after the open is never missed.
  void open(const std::string& path) {
    close();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct statfs fs {};
    if (fd_ >= 0 && (::fstatfs(fd_, &fs) != 0 || static_cast<long>(fs.f_type) != kProcSuperMagic))
      close();
  }
  // True when the table may have changed since the previous call (or cannot be watched).
  bool changed() {
    if (fd_ < 0) return true;
    pollfd p{fd_, POLLPRI, 0};
    if (::poll(&p, 1, 0) < 0) return true;
    return (p.revents & (POLLPRI | POLLERR | POLLNVAL)) != 0;
  }

 private:
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

}  // namespace

// One instance per configured "collector_filesystem" entry: a collector and a health check.
// Thread-safety: collect() and check() may run concurrently; both take mutex_ for everything
// they share (mount table, helper threads, series handles).
class FilesystemPlugin final : public Collector, public HealthCheck {
 public:
  Status configure(const Config& config) override {
    std::string error;
    const std::string proc_path =
        procfs::root_option(config.string("proc_path"), "proc_path", "/proc", error);
    if (proc_path.empty()) return Status::invalid_argument(error);
    rootfs_ = procfs::root_option(config.string("rootfs_path"), "rootfs_path", "/", error);
    if (rootfs_.empty()) return Status::invalid_argument(error);

    // node_exporter reads pid 1's table (the host's, even from a container with the host's
    // procfs) and falls back to its own when pid 1 is hidden (hidepid).
    mounts_path_ = proc_path + "/1/mounts";
    std::string first_error;
    if (!procfs::read_file(mounts_path_, text_, first_error)) {
      mounts_path_ = proc_path + "/self/mounts";
      if (!procfs::read_file(mounts_path_, text_, error)) {
        return Status::invalid_argument("cannot read the mount table: " + first_error + "; " +
                                        error + "; " + procfs::kProcPathHint);
      }
      host().debug("reading " + mounts_path_ + " because " + first_error);
    }
    watch_.open(mounts_path_);
    have_table_ = false;  // the first collect reads it, after the watch began

    MountFilter::Patterns patterns;
    patterns.mount_points_include = config.string("mount_points_include");
    patterns.mount_points_exclude = config.string("mount_points_exclude");
    patterns.fs_types_include = config.string("fs_types_include");
    patterns.fs_types_exclude = config.string("fs_types_exclude");
    auto filter = MountFilter::create(patterns, error);
    if (!filter) return Status::invalid_argument(error);
    filter_ = std::move(*filter);

    stat_timeout_ = config.duration("stat_timeout");
    if (stat_timeout_.count() <= 0)
      return Status::invalid_argument("option \"stat_timeout\" is " +
                                      procfs::format_config_duration(stat_timeout_) +
                                      "; expected a positive duration such as \"5s\"");
    // The host gives up on a call after the instance's timeout; a collect that waited the full
    // stat_timeout for a dead mount would be reported as hung itself.
    const auto instance_timeout = config.timeout();
    if (instance_timeout.count() > 0 && stat_timeout_ >= instance_timeout) {
      const auto clamped = instance_timeout * 4 / 5;
      const std::string why =
          "stat_timeout " + procfs::format_config_duration(stat_timeout_) +
          " is not below the instance's timeout " +
          procfs::format_config_duration(instance_timeout) + ": a mount is given up on after " +
          procfs::format_config_duration(clamped) + " instead, so the call ends in time";
      // Config cannot tell a default from a value the user wrote; the default is 5s.
      if (stat_timeout_ != std::chrono::milliseconds(5000)) {
        host().warn(why + "; raise the instance's \"timeout\" or lower \"stat_timeout\"");
      } else {
        host().debug(why);
      }
      stat_timeout_ = clamped;
    }

    warning_ = config.number("warning");
    critical_ = config.number("critical");
    if (!valid_percent(warning_) || !valid_percent(critical_))
      return Status::invalid_argument("options \"warning\" (" + std::to_string(warning_) +
                                      ") and \"critical\" (" + std::to_string(critical_) +
                                      ") must be percentages from 0 to 100");
    if (warning_ > critical_)
      return Status::invalid_argument("option \"warning\" (" + std::to_string(warning_) +
                                      "%) is above \"critical\" (" + std::to_string(critical_) +
                                      "%); expected warning <= critical, e.g. 80 and 90");
    check_paths_ = config.strings("paths");
    for (std::size_t i = 0; i < check_paths_.size(); ++i) {
      if (check_paths_[i].empty() || check_paths_[i].front() != '/')
        return Status::invalid_argument("option \"paths\"[" + std::to_string(i) + "]: \"" +
                                        check_paths_[i] +
                                        "\" is not an absolute path; expected e.g. \"/var\"");
    }

    statter_ = std::make_unique<MountStatter>(default_stat_function());

    Host& h = host();
    for (std::size_t v = 0; v < kValueCount; ++v)
      h.describe(kValueNames[v], MetricType::gauge, kValueHelp[v],
                 v < 3 ? "bytes" : std::string_view());
    h.describe(kDeviceError, MetricType::gauge, kDeviceErrorHelp);
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Status loaded = load_mounts();
    if (!loaded.is_ok()) return loaded;

    paths_.clear();
    for (const MountEntry& m : included_) paths_.push_back(m.stat_path);
    statter_->stat_all(paths_, stat_timeout_, outcomes_);

    for (auto& [key, s] : series_) s.seen = false;
    std::size_t failed_writes = 0;
    for (std::size_t i = 0; i < included_.size(); ++i) {
      const MountEntry& m = included_[i];
      const StatOutcome& o = outcomes_[i];
      report(m.mount_point, m, o);
      MountSeries& s = series_for(m);
      s.seen = true;
      if (o.state != StatOutcome::State::ok) {
        // node_exporter's rule: a mount it cannot read shows device_error 1 and nothing else.
        withdraw_values(s);
        if (!s.device_error.set(1)) ++failed_writes;
        continue;
      }
      const double block = o.stats.f_frsize != 0 ? static_cast<double>(o.stats.f_frsize)
                                                 : static_cast<double>(o.stats.f_bsize);
      const double values[kValueCount] = {static_cast<double>(o.stats.f_blocks) * block,
                                          static_cast<double>(o.stats.f_bfree) * block,
                                          static_cast<double>(o.stats.f_bavail) * block,
                                          static_cast<double>(o.stats.f_files),
                                          static_cast<double>(o.stats.f_ffree),
                                          m.read_only() ? 1.0 : 0.0};
      if (!s.values_registered) {
        for (std::size_t v = 0; v < kValueCount; ++v)
          s.values[v] = host().gauge(kValueNames[v], s.labels);
        s.values_registered = true;
      }
      for (std::size_t v = 0; v < kValueCount; ++v)
        if (!s.values[v].set(values[v])) ++failed_writes;
      if (!s.device_error.set(0)) ++failed_writes;
    }
    drop_unmounted();

    std::set<std::string> keep(paths_.begin(), paths_.end());
    keep.insert(check_paths_.begin(), check_paths_.end());
    statter_->retire_except(keep);

    if (failed_writes > 0)
      return Status::internal("the host refused " + std::to_string(failed_writes) +
                              " sample write(s) of node_filesystem_* series; see the host's log "
                              "for why");
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<DiskReading> readings;
    std::vector<std::string> paths;
    std::vector<const MountEntry*> mounts;
    if (!check_paths_.empty()) {
      paths = check_paths_;
    } else {
      Status loaded = load_mounts();
      if (!loaded.is_ok()) return loaded;
      // A read-only filesystem cannot fill up: a full image (a live CD, a snap) would otherwise
      // be critical forever.
      for (const MountEntry& m : included_) {
        if (m.read_only()) continue;
        paths.push_back(m.stat_path);
        mounts.push_back(&m);
      }
    }
    std::vector<StatOutcome> outcomes;
    statter_->stat_all(paths, stat_timeout_, outcomes);

    for (std::size_t i = 0; i < paths.size(); ++i) {
      const StatOutcome& o = outcomes[i];
      DiskReading r;
      r.name = mounts.empty() ? paths[i] : mounts[i]->mount_point;
      if (!mounts.empty()) report(r.name, *mounts[i], o);
      if (o.state == StatOutcome::State::stuck) {
        r.state = DiskReading::State::stuck;
      } else if (o.state == StatOutcome::State::failed) {
        r.state = DiskReading::State::failed;
        r.problem = std::string("cannot statvfs: ") + std::strerror(o.error);
      } else {
        const double block = o.stats.f_frsize != 0 ? static_cast<double>(o.stats.f_frsize)
                                                   : static_cast<double>(o.stats.f_bsize);
        r.size_bytes = static_cast<double>(o.stats.f_blocks) * block;
        r.avail_bytes = static_cast<double>(o.stats.f_bavail) * block;
      }
      readings.push_back(std::move(r));
    }
    DiskVerdict verdict = evaluate_disk_space(readings, warning_, critical_,
                                              procfs::format_config_duration(stat_timeout_));
    result.status = verdict.status;
    result.message = std::move(verdict.message);
    return Status::ok();
  }

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // device, mount point, type

  struct MountSeries {
    Labels labels;
    Gauge values[kValueCount];
    Gauge device_error;
    bool values_registered = false;
    bool seen = false;
  };

  // Reads the mount table when it may have changed; parses and filters it again only when its
  // text did.
  Status load_mounts() {
    if (have_table_ && !watch_.changed()) return Status::ok();
    std::string error;
    if (!procfs::read_file(mounts_path_, text_, error)) {
      have_table_ = false;  // and read again next time, whatever the watch says
      return Status::unavailable(error);
    }
    if (have_table_ && text_ == last_text_) return Status::ok();
    if (!parse_mounts(text_, rootfs_, parsed_, error))
      return Status::unavailable(mounts_path_ + ": " + error);
    included_.clear();
    std::set<Key> seen;
    for (MountEntry& m : parsed_) {
      if (!filter_.accepts(m)) continue;
      // node_exporter reports each (device, mount point, type) once, the first line winning.
      if (!seen.emplace(m.device, m.mount_point, m.fs_type).second) continue;
      included_.push_back(std::move(m));
    }
    last_text_ = text_;
    have_table_ = true;
    return Status::ok();
  }

  MountSeries& series_for(const MountEntry& m) {
    Key key{m.device, m.mount_point, m.fs_type};
    auto it = series_.find(key);
    if (it != series_.end()) return it->second;
    MountSeries s;
    s.labels = {{"device", m.device}, {"fstype", m.fs_type}, {"mountpoint", m.mount_point}};
    s.device_error = host().gauge(kDeviceError, s.labels);
    return series_.emplace(std::move(key), std::move(s)).first->second;
  }

  void withdraw_values(MountSeries& s) {
    if (!s.values_registered) return;
    for (const Gauge& g : s.values) host().unregister(g);
    // On a 1.0 host unregister does nothing and the unwritten series go stale instead.
    s.values_registered = false;
    for (Gauge& g : s.values) g = Gauge();
  }

  // A mount that left the table leaves the exposition with all its series.
  void drop_unmounted() {
    for (auto it = series_.begin(); it != series_.end();) {
      if (it->second.seen) {
        ++it;
        continue;
      }
      withdraw_values(it->second);
      host().unregister(it->second.device_error);
      host().debug(std::get<1>(it->first) + " is no longer mounted: its series were removed");
      it = series_.erase(it);
    }
  }

  // Logs the changes a person should hear about once, not on every collect.
  void report(const std::string& name, const MountEntry& m, const StatOutcome& o) {
    if (o.became_stuck)
      host().warn(name + " (" + m.device + ", " + m.fs_type + ") did not answer statvfs within " +
                  procfs::format_config_duration(stat_timeout_) +
                  ": node_filesystem_device_error is 1 and its other series are withdrawn; it is "
                  "not asked again until that call returns");
    if (o.recovered) host().info(name + " answers statvfs again");
    int& last = last_error_[m.stat_path];
    const int now = o.state == StatOutcome::State::failed ? o.error : 0;
    if (now != last && now != 0)
      host().info("statvfs " + m.stat_path + " (" + m.device + ", " + m.fs_type +
                  ") failed: " + std::strerror(now) + "; node_filesystem_device_error is 1");
    last = now;
  }

  std::mutex mutex_;
  std::string mounts_path_;
  std::string rootfs_;
  MountFilter filter_;
  std::chrono::milliseconds stat_timeout_{5000};
  double warning_ = 80;
  double critical_ = 90;
  std::vector<std::string> check_paths_;
  std::unique_ptr<MountStatter> statter_;

  MountWatch watch_;
  std::string text_, last_text_;
  bool have_table_ = false;
  std::vector<MountEntry> parsed_, included_;
  std::vector<std::string> paths_;
  std::vector<StatOutcome> outcomes_;
  std::map<Key, MountSeries> series_;
  std::map<std::string, int> last_error_;
};

}  // namespace vigil::collector_filesystem

VIGIL_PLUGIN(
    "collector_filesystem", "1.0.0",
    vigil::plugin<vigil::collector_filesystem::FilesystemPlugin>(
        "Filesystem size, free space and inodes per mount (node_exporter's filesystem "
        "collector), and the disk_space health check")
        .collector("node_filesystem_* per mount from the mount table and statvfs; a mount that "
                   "does not answer within stat_timeout is reported with device_error 1")
        .health_check("disk_space: the fullest filesystem's used percentage against warning and "
                      "critical thresholds")
        .option("proc_path", vigil::String, "/proc",
                "procfs mount point; the mount table is <proc_path>/1/mounts, or "
                "<proc_path>/self/mounts when pid 1 is hidden (like node_exporter's "
                "--path.procfs)")
        .option("rootfs_path", vigil::String, "/",
                "where the host's root filesystem is mounted (like node_exporter's "
                "--path.rootfs): stripped from mount points in labels, prepended for statvfs")
        .option("mount_points_include", vigil::String, "",
                "regex; when set, only mount points matching it are reported")
        .option("mount_points_exclude", vigil::String,
                vigil::collector_filesystem::kDefaultMountPointsExclude,
                "regex of mount points not to report (node_exporter's default)")
        .option("fs_types_include", vigil::String, "",
                "regex; when set, only filesystem types matching it are reported")
        .option("fs_types_exclude", vigil::String,
                vigil::collector_filesystem::kDefaultFsTypesExclude,
                "regex of filesystem types not to report (node_exporter's default)")
        .option("stat_timeout", vigil::Duration, "5s",
                "how long to wait for a mount's statvfs before reporting it stale")
        .option("warning", vigil::Double, "80",
                "disk_space: warning at or above this used percentage")
        .option("critical", vigil::Double, "90",
                "disk_space: critical at or above this used percentage")
        .option("paths", vigil::StringList, "[]",
                "disk_space: check the filesystems holding these paths instead of every "
                "reported mount"));
