// collector_loadavg: node_exporter's "loadavg" collector, read from <proc_path>/loadavg.
//
// Emits node_load1, node_load5 and node_load15 with node_exporter's names, types and help texts,
// so its dashboards and alert rules work unchanged. The three handles are registered once in
// configure(); a collect is one file read, one parse and three handle writes. It must never
// register series on the hot path, nor write a value it could not parse.
#include <vigil/sdk.hpp>

#include <string>

#include "loadavg.hpp"
#include "vigil_plugin_procfs/first_problem.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_loadavg {
namespace {

constexpr const char* kLoad1 = "node_load1";
constexpr const char* kLoad5 = "node_load5";
constexpr const char* kLoad15 = "node_load15";

}  // namespace

// One instance per configured "collector_loadavg" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class LoadAvgCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string error;
    text_.reserve(128);
    path_ = procfs::proc_file(config.string("proc_path"), "loadavg", text_, error);
    if (path_.empty()) return Status::invalid_argument(error);
    file_ = procfs::ProcReader(path_);

    Host& h = host();
    h.describe(kLoad1, MetricType::gauge, "1m load average.");
    h.describe(kLoad5, MetricType::gauge, "5m load average.");
    h.describe(kLoad15, MetricType::gauge, "15m load average.");
    load1_ = h.gauge(kLoad1);
    load5_ = h.gauge(kLoad5);
    load15_ = h.gauge(kLoad15);
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!file_.read(text_, error)) return Status::unavailable(error);
    LoadAverages load;
    if (!parse_loadavg(text_, load, error)) return Status::unavailable(path_ + ": " + error);

    procfs::FirstProblem problem;
    problem.check_write(load1_.set(load.load1), kLoad1);
    problem.check_write(load5_.set(load.load5), kLoad5);
    problem.check_write(load15_.set(load.load15), kLoad15);
    if (!problem.empty()) return Status::internal(problem.message());
    return Status::ok();
  }

 private:
  std::string path_;
  procfs::ProcReader file_;  // path_, kept open between collects
  std::string text_;
  Gauge load1_, load5_, load15_;
};

}  // namespace vigil::collector_loadavg

VIGIL_PLUGIN("collector_loadavg", "1.0.0",
             vigil::collector<vigil::collector_loadavg::LoadAvgCollector>(
                 "1, 5 and 15-minute load averages from procfs' loadavg file (node_exporter's "
                 "loadavg collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read loadavg from (like node_exporter's "
                         "--path.procfs)"));
