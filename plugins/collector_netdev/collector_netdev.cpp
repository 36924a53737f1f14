// collector_netdev: node_exporter's "netdev" collector, read from <proc_path>/net/dev.
//
// Emits node_network_<statistic>_total{device} for the 16 receive and transmit counters, with
// node_exporter 1.5's names, types and help texts, filtered by the device_include and
// device_exclude patterns. Handles are cached per device, so a collect is one file read, one parse
// and handle writes; a device that disappears (an interface deleted, a container's veth gone)
// has its series unregistered at once. It must never register series by name on the hot path,
// nor keep exposing a device the kernel no longer lists.
#include <vigil/sdk.hpp>

#include <map>
#include <string>
#include <vector>

#include "net_dev.hpp"
#include "vigil_plugin_procfs/first_problem.hpp"
#include "vigil_plugin_procfs/name_filter.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_netdev {

// One instance per configured "collector_netdev" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class NetDevCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string error;
    text_.reserve(8192);
    path_ = procfs::proc_file(config.string("proc_path"), "net/dev", text_, error);
    if (path_.empty()) return Status::invalid_argument(error);
    file_ = procfs::ProcReader(path_);
    if (!filter_.set("device_include", config.string("device_include"), "device_exclude",
                     config.string("device_exclude"), procfs::kDevicePatternExpected, error)) {
      return Status::invalid_argument(error);
    }
    for (std::size_t i = 0; i < kNetDevFields; ++i) {
      names_[i] = std::string("node_network_") + kNetDevFieldNames[i] + "_total";
      host().describe(names_[i], MetricType::counter,
                      std::string("Network device statistic ") + kNetDevFieldNames[i] + ".",
                      i == 0 || i == 8 ? "bytes" : "");
    }
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!file_.read(text_, error)) return Status::unavailable(error);
    if (!parse_net_dev(text_, parsed_, error)) return Status::unavailable(path_ + ": " + error);

    problem_.clear();
    ++generation_;
    for (const NetDevice& dev : parsed_) {
      if (!filter_.allowed(dev.name)) continue;
      DeviceSeries* series = series_for(dev.name);
      if (series == nullptr) continue;
      series->generation = generation_;
      for (std::size_t i = 0; i < kNetDevFields; ++i) {
        problem_.check_write(series->counters[i].set(static_cast<double>(dev.values[i])), names_[i],
                             dev.name);
      }
    }
    drop_vanished();
    if (!problem_.empty()) return Status::internal(problem_.message());
    return Status::ok();
  }

 private:
  struct DeviceSeries {
    std::uint64_t generation = 0;  // the last collect that listed the device
    Counter counters[kNetDevFields];
  };

  // The device's handles, registered the first time it is seen (again); null when the host
  // refused them (the reason is kept for the collect's status).
  DeviceSeries* series_for(std::string_view name) {
    auto it = devices_.find(name);
    if (it != devices_.end()) return &it->second;
    DeviceSeries series;
    try {
      const Labels labels = {{"device", std::string(name)}};
      for (std::size_t i = 0; i < kNetDevFields; ++i)
        series.counters[i] = host().counter(names_[i], labels);
    } catch (const Error& e) {
      problem_.fail("device \"" + std::string(name) + "\" in " + path_ + ": " + e.what());
      for (const Counter& c : series.counters) host().unregister(c);
      return nullptr;
    }
    return &devices_.emplace(std::string(name), std::move(series)).first->second;
  }

  // A device no longer listed is gone: its series leave the exposition now rather than linger
  // until they go stale (on a 1.0 host without unregister they only go stale).
  void drop_vanished() {
    for (auto it = devices_.begin(); it != devices_.end();) {
      if (it->second.generation == generation_) {
        ++it;
        continue;
      }
      for (const Counter& c : it->second.counters) host().unregister(c);
      host().debug("network device " + it->first + " is no longer listed in " + path_ +
                   ": its series were removed");
      it = devices_.erase(it);
    }
  }

  std::string path_;
  procfs::ProcReader file_;  // path_, kept open between collects
  std::string text_;
  std::vector<NetDevice> parsed_;
  procfs::CachedNameFilter filter_;
  std::string names_[kNetDevFields];
  std::map<std::string, DeviceSeries, std::less<>> devices_;
  std::uint64_t generation_ = 0;
  procfs::FirstProblem problem_;
};

}  // namespace vigil::collector_netdev

VIGIL_PLUGIN("collector_netdev", "1.0.0",
             vigil::collector<vigil::collector_netdev::NetDevCollector>(
                 "Network device receive and transmit counters from procfs' net/dev file "
                 "(node_exporter's netdev collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read net/dev from (like node_exporter's "
                         "--path.procfs)")
                 .option("device_include", vigil::String, nullptr,
                         "regular expression (ECMAScript, searched): only devices whose name "
                         "matches are collected; unset collects every device")
                 .option("device_exclude", vigil::String, "^$",
                         "regular expression (ECMAScript, searched): devices whose name matches "
                         "are not collected; the default excludes nothing"));
