// collector_uptime: the boot time (node_exporter's "stat" collector's node_boot_time_seconds)
// and node_exporter's "time" collector: the current time, the local time zone's offset and the
// kernel's clocksources.
//
// Names, types, labels and help texts are node_exporter 1.5's. node_boot_time_seconds is also
// written by collector_cpu: both describe it identically (gauge, same help and unit), so both
// plugins can be loaded at once and write the same series. A collect is one read of
// <proc_path>/stat, one clock read, and two small sysfs reads per clocksource device; the
// clocksource devices are listed once, at start. It must never fail the whole collect because an
// optional sysfs file is missing, nor keep exposing a time zone or clocksource that changed.
#include <vigil/sdk.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "uptime.hpp"
#include "vigil_plugin_procfs/first_problem.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_uptime {
namespace {

constexpr const char* kBootTime = "node_boot_time_seconds";
constexpr const char* kTime = "node_time_seconds";
constexpr const char* kZoneOffset = "node_time_zone_offset_seconds";
constexpr const char* kAvailable = "node_time_clocksource_available_info";
constexpr const char* kCurrent = "node_time_clocksource_current_info";

// (clocksource, device) pairs, the labels of both clocksource families.
using ClockSet = std::set<std::pair<std::string, std::string>>;

}  // namespace

// One instance per configured "collector_uptime" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class UptimeCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string error;
    text_.reserve(16384);
    stat_path_ = procfs::proc_file(config.string("proc_path"), "stat", text_, error);
    if (stat_path_.empty()) return Status::invalid_argument(error);
    stat_file_ = procfs::ProcReader(stat_path_);
    const std::string sys_path =
        procfs::root_option(config.string("sys_path"), "sys_path", "/sys", error);
    if (sys_path.empty()) return Status::invalid_argument(error);

    double boot = 0;
    if (!parse_boot_time(text_, boot, error)) {
      return Status::invalid_argument(stat_path_ + ": " + error +
                                      "; option \"proc_path\" must point at a Linux procfs mount");
    }
    find_clocksources(sys_path);

    Host& h = host();
    h.describe(kBootTime, MetricType::gauge, "Node boot time, in unixtime.", "seconds");
    h.describe(kTime, MetricType::gauge, "System time in seconds since epoch (1970).", "seconds");
    h.describe(kZoneOffset, MetricType::gauge, "System time zone offset in seconds.", "seconds");
    // node_exporter's help names the default path whatever --path.sysfs says; so does this one,
    // so that every instance describes the family identically.
    h.describe(kAvailable, MetricType::gauge,
               "Available clocksources read from '/sys/devices/system/clocksource'.");
    h.describe(kCurrent, MetricType::gauge,
               "Current clocksource read from '/sys/devices/system/clocksource'.");
    boot_time_ = h.gauge(kBootTime);
    time_ = h.gauge(kTime);
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    problem_.clear();
    const int64_t now_ms = host().now_ms();
    problem_.check_write(time_.set(static_cast<double>(now_ms) / 1000.0), kTime);

    std::string error;
    double boot = 0;
    if (!stat_file_.read(text_, error)) {
      problem_.fail(error);
    } else if (!parse_boot_time(text_, boot, error)) {
      problem_.fail(stat_path_ + ": " + error);
    } else {
      problem_.check_write(boot_time_.set(boot), kBootTime);
    }

    write_time_zone(out, now_ms);
    write_clocksources(out);
    if (!problem_.empty()) return Status::unavailable(problem_.message());
    return Status::ok();
  }

 private:
  struct ClockDevice {
    std::string id;  // "0" for clocksource0
    std::string available_path;
    std::string current_path;
  };

  // The clocksource devices are fixed at boot, so they are listed once. A sysfs without them (a
  // container that does not mount it) only leaves the clocksource series out.
  void find_clocksources(const std::string& sys_path) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(sys_path) / "devices/system/clocksource";
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      constexpr std::string_view kPrefix = "clocksource";
      if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0) continue;
      const std::string id = name.substr(kPrefix.size());
      if (!std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      clocks_.push_back({id, (it->path() / "available_clocksource").string(),
                         (it->path() / "current_clocksource").string()});
    }
    std::sort(clocks_.begin(), clocks_.end(),
              [](const ClockDevice& a, const ClockDevice& b) { return a.id < b.id; });
    if (clocks_.empty()) {
      host().debug("no clocksource devices under " + dir.string() +
                   ": the node_time_clocksource_* series are left out");
    }
  }

  // The zone's name is a label, so a change (daylight saving time starts, TZ changed) replaces
  // the series instead of leaving the old zone's behind.
  void write_time_zone(Emitter& out, int64_t now_ms) {
    TimeZone zone = local_time_zone(now_ms / 1000);
    if (zone.name.empty()) zone.name = "UTC";
    if (!zone_name_.empty() && zone_name_ != zone.name) {
      out.remove(kZoneOffset, {{"time_zone", zone_name_}});
    }
    zone_name_ = zone.name;
    out.gauge(kZoneOffset, static_cast<double>(zone.offset_seconds), {{"time_zone", zone.name}});
  }

  void write_clocksources(Emitter& out) {
    if (clocks_.empty()) return;
    ClockSet available, current;
    std::string error;
    for (const ClockDevice& clock : clocks_) {
      if (!procfs::read_file(clock.available_path, text_, error)) {
        problem_.fail(error);
        continue;
      }
      for (std::string& name : parse_clocksource_list(text_)) available.emplace(name, clock.id);
      if (!procfs::read_file(clock.current_path, text_, error)) {
        problem_.fail(error);
        continue;
      }
      for (std::string& name : parse_clocksource_list(text_)) current.emplace(name, clock.id);
    }
    replace(out, kAvailable, available_, available);
    replace(out, kCurrent, current_, current);
  }

  // Writes 1 for every pair now listed and removes the pairs no longer listed.
  static void replace(Emitter& out, const char* family, ClockSet& before, ClockSet& now) {
    for (const auto& [name, device] : before) {
      if (now.count({name, device}) == 0)
        out.remove(family, {{"clocksource", name}, {"device", device}});
    }
    for (const auto& [name, device] : now)
      out.gauge(family, 1, {{"clocksource", name}, {"device", device}});
    before.swap(now);
  }

  std::string stat_path_;
  procfs::ProcReader stat_file_;  // stat_path_, kept open between collects
  std::string text_;
  std::vector<ClockDevice> clocks_;
  Gauge boot_time_, time_;
  std::string zone_name_;
  ClockSet available_, current_;
  procfs::FirstProblem problem_;
};

}  // namespace vigil::collector_uptime

VIGIL_PLUGIN("collector_uptime", "1.0.0",
             vigil::collector<vigil::collector_uptime::UptimeCollector>(
                 "Boot time, current time, time zone offset and clocksources (node_exporter's "
                 "boot time from the stat collector, and its time collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read stat (btime) from (like node_exporter's "
                         "--path.procfs)")
                 .option("sys_path", vigil::String, "/sys",
                         "sysfs mount point to read devices/system/clocksource from (like "
                         "node_exporter's --path.sysfs)"));
