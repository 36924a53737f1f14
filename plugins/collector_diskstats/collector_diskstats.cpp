// collector_diskstats: node_exporter's "diskstats" collector, read from <proc_path>/diskstats.
//
// Emits node_disk_*{device} with node_exporter 1.5's names, types, units and help texts: reads,
// writes, discards and flushes (each only when the kernel reports it), bytes from 512-byte
// sectors, seconds from milliseconds, and node_disk_info with the device numbers and udev's
// identity labels. Devices are filtered by device_include/device_exclude (node_exporter's default
// leaves out partitions, ram, loop and floppy devices). Handles are cached per device, so a
// collect is one file read, one parse and handle writes; udev's database is read once per device
// when it first appears. It must never register series by name on the hot path, nor keep
// exposing a device the kernel no longer lists.
#include <vigil/sdk.hpp>

#include <map>
#include <string>
#include <vector>

#include "diskstats.hpp"
#include "udev.hpp"
#include "vigil_plugin_procfs/first_problem.hpp"
#include "vigil_plugin_procfs/name_filter.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_diskstats {
namespace {

constexpr double kSectorBytes = 512.0;  // diskstats counts 512-byte sectors whatever the device's
constexpr double kSecondsPerMs = 1.0 / 1000.0;

struct FieldSpec {
  DiskField field;
  const char* name;
  const char* help;
  MetricType type;
  double scale;
  const char* unit;
};

// In the kernel's column order; node_exporter 1.5 exports discarded sectors unscaled.
constexpr FieldSpec kFields[kDiskFieldCount] = {
    {kReadsCompleted, "node_disk_reads_completed_total",
     "The total number of reads completed successfully.", MetricType::counter, 1, ""},
    {kReadsMerged, "node_disk_reads_merged_total", "The total number of reads merged.",
     MetricType::counter, 1, ""},
    {kSectorsRead, "node_disk_read_bytes_total", "The total number of bytes read successfully.",
     MetricType::counter, kSectorBytes, "bytes"},
    {kReadTimeMs, "node_disk_read_time_seconds_total",
     "The total number of seconds spent by all reads.", MetricType::counter, kSecondsPerMs,
     "seconds"},
    {kWritesCompleted, "node_disk_writes_completed_total",
     "The total number of writes completed successfully.", MetricType::counter, 1, ""},
    {kWritesMerged, "node_disk_writes_merged_total", "The number of writes merged.",
     MetricType::counter, 1, ""},
    {kSectorsWritten, "node_disk_written_bytes_total",
     "The total number of bytes written successfully.", MetricType::counter, kSectorBytes, "bytes"},
    {kWriteTimeMs, "node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", MetricType::counter, kSecondsPerMs,
     "seconds"},
    {kIoInProgress, "node_disk_io_now", "The number of I/Os currently in progress.",
     MetricType::gauge, 1, ""},
    {kIoTimeMs, "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.",
     MetricType::counter, kSecondsPerMs, "seconds"},
    {kIoTimeWeightedMs, "node_disk_io_time_weighted_seconds_total",
     "The weighted # of seconds spent doing I/Os.", MetricType::counter, kSecondsPerMs, "seconds"},
    {kDiscardsCompleted, "node_disk_discards_completed_total",
     "The total number of discards completed successfully.", MetricType::counter, 1, ""},
    {kDiscardsMerged, "node_disk_discards_merged_total", "The total number of discards merged.",
     MetricType::counter, 1, ""},
    {kSectorsDiscarded, "node_disk_discarded_sectors_total",
     "The total number of sectors discarded successfully.", MetricType::counter, 1, ""},
    {kDiscardTimeMs, "node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards.", MetricType::counter,
     kSecondsPerMs, "seconds"},
    {kFlushesCompleted, "node_disk_flush_requests_total",
     "The total number of flush requests completed successfully", MetricType::counter, 1, ""},
    {kFlushTimeMs, "node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", MetricType::counter,
     kSecondsPerMs, "seconds"},
};

constexpr const char* kInfo = "node_disk_info";

}  // namespace

// One instance per configured "collector_diskstats" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class DiskstatsCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string error;
    text_.reserve(8192);
    path_ = procfs::proc_file(config.string("proc_path"), "diskstats", text_, error);
    if (path_.empty()) return Status::invalid_argument(error);
    file_ = procfs::ProcReader(path_);
    udev_dir_ = config.string("udev_data_path");
    while (udev_dir_.size() > 1 && udev_dir_.back() == '/') udev_dir_.pop_back();
    if (!filter_.set("device_include", config.string("device_include"), "device_exclude",
                     config.string("device_exclude"), procfs::kDevicePatternExpected, error)) {
      return Status::invalid_argument(error);
    }
    for (const FieldSpec& f : kFields) host().describe(f.name, f.type, f.help, f.unit);
    host().describe(kInfo, MetricType::gauge, "Info of /sys/block/<block_device>.");
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!file_.read(text_, error)) return Status::unavailable(error);
    if (!parse_diskstats(text_, parsed_, error)) return Status::unavailable(path_ + ": " + error);

    problem_.clear();
    ++generation_;
    for (const DiskStats& d : parsed_) {
      if (!filter_.allowed(d.name)) continue;
      DeviceSeries* series = series_for(d);
      if (series == nullptr) continue;
      series->generation = generation_;
      problem_.check_write(series->info.set(1), kInfo, d.name);
      for (const FieldSpec& f : kFields) {
        if (!d.has(f.field)) continue;
        Handle& h = series->handles[f.field];
        if (!h && !register_handle(h, f, d.name)) continue;
        problem_.check_write(h.set(static_cast<double>(d.values[f.field]) * f.scale), f.name,
                             d.name);
      }
    }
    drop_vanished();
    if (!problem_.empty()) return Status::internal(problem_.message());
    return Status::ok();
  }

 private:
  // node_disk_io_now is the one gauge among counters.
  struct Handle {
    Counter counter;
    Gauge gauge;
    explicit operator bool() const { return counter || gauge; }
    bool set(double v) const { return counter ? counter.set(v) : gauge.set(v); }
  };

  struct DeviceSeries {
    std::uint64_t generation = 0;  // the last collect that listed the device
    unsigned major = 0;
    unsigned minor = 0;
    Gauge info;
    Handle handles[kDiskFieldCount];
  };

  // The device's series, created the first time it is seen (again). A name that now carries other
  // device numbers is another disk: its old series go, and udev is asked again. Null when the
  // host refused the registration (the reason is kept for the collect's status).
  DeviceSeries* series_for(const DiskStats& d) {
    auto it = devices_.find(d.name);
    if (it != devices_.end()) {
      if (it->second.major == d.major && it->second.minor == d.minor) return &it->second;
      unregister(it->second);
      devices_.erase(it);
    }
    DeviceSeries series;
    series.major = d.major;
    series.minor = d.minor;
    const UdevInfo udev = read_udev_info(udev_dir_, d.major, d.minor);
    Labels labels = {{"device", std::string(d.name)},
                     {"major", std::to_string(d.major)},
                     {"minor", std::to_string(d.minor)}};
    // An empty label is no label in Prometheus' model; leaving it out keeps {model=""} and {}
    // one series on every host.
    const std::pair<const char*, const std::string*> optional[] = {{"path", &udev.path},
                                                                   {"wwn", &udev.wwn},
                                                                   {"model", &udev.model},
                                                                   {"serial", &udev.serial},
                                                                   {"revision", &udev.revision}};
    for (const auto& [name, value] : optional)
      if (!value->empty()) labels.emplace_back(name, *value);
    try {
      series.info = host().gauge(kInfo, labels);
    } catch (const Error& e) {
      problem_.fail("device \"" + std::string(d.name) + "\" in " + path_ + ": " + e.what());
      return nullptr;
    }
    return &devices_.emplace(std::string(d.name), std::move(series)).first->second;
  }

  bool register_handle(Handle& h, const FieldSpec& f, std::string_view device) {
    try {
      const Labels labels = {{"device", std::string(device)}};
      if (f.type == MetricType::gauge) {
        h.gauge = host().gauge(f.name, labels);
      } else {
        h.counter = host().counter(f.name, labels);
      }
    } catch (const Error& e) {
      problem_.fail("device \"" + std::string(device) + "\" in " + path_ + ": " + e.what());
      return false;
    }
    return true;
  }

  void unregister(const DeviceSeries& s) {
    host().unregister(s.info);
    for (const Handle& h : s.handles) {
      host().unregister(h.counter);
      host().unregister(h.gauge);
    }
  }

  // A device no longer listed is gone (a USB disk pulled, a loop device detached): its series
  // leave the exposition now rather than linger until they go stale.
  void drop_vanished() {
    for (auto it = devices_.begin(); it != devices_.end();) {
      if (it->second.generation == generation_) {
        ++it;
        continue;
      }
      unregister(it->second);
      host().debug("block device " + it->first + " is no longer listed in " + path_ +
                   ": its series were removed");
      it = devices_.erase(it);
    }
  }

  std::string path_;
  procfs::ProcReader file_;  // path_, kept open between collects
  std::string udev_dir_;
  std::string text_;
  std::vector<DiskStats> parsed_;
  procfs::CachedNameFilter filter_;
  std::map<std::string, DeviceSeries, std::less<>> devices_;
  std::uint64_t generation_ = 0;
  procfs::FirstProblem problem_;
};

}  // namespace vigil::collector_diskstats

VIGIL_PLUGIN("collector_diskstats", "1.0.0",
             vigil::collector<vigil::collector_diskstats::DiskstatsCollector>(
                 "Block device I/O statistics from procfs' diskstats file (node_exporter's "
                 "diskstats collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read diskstats from (like node_exporter's "
                         "--path.procfs)")
                 .option("udev_data_path", vigil::String, "/run/udev/data",
                         "udev database directory for node_disk_info's path, wwn, model, serial "
                         "and revision labels (like node_exporter's --path.udev.data)")
                 .option("device_include", vigil::String, nullptr,
                         "regular expression (ECMAScript, searched): only devices whose name "
                         "matches are collected; unset collects every device not excluded")
                 .option("device_exclude", vigil::String,
                         R"(^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$)",
                         "regular expression (ECMAScript, searched): devices whose name matches "
                         "are not collected; the default is node_exporter 1.5's (partitions, "
                         "ram, loop and floppy devices)"));
