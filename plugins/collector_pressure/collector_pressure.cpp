// collector_pressure: node_exporter's "pressure" collector, read from <proc_path>/pressure/{cpu,
// io,memory} (Linux pressure stall information, PSI).
//
// Emits node_exporter 1.5's five counters: time some task waited (cpu, io, memory) and time all
// tasks stalled at once (io, memory), as seconds (the kernel's microsecond totals / 1e6). A
// kernel without PSI is a normal state, not a failure: it is logged once as a warning and the
// collect succeeds without those series. It must never report a missing PSI file as an error on
// every run, nor log that warning more than once per change.
#include <vigil/sdk.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "psi.hpp"
#include "vigil_plugin_procfs/first_problem.hpp"
#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_pressure {
namespace {

// One PSI file and the families its lines feed. A null `stalled` means node_exporter does not
// export that resource's "full" line (cpu: the kernel's system-wide cpu "full" is always 0).
struct ResourceSpec {
  const char* file;
  const char* waiting;
  const char* waiting_help;
  const char* stalled;
  const char* stalled_help;
};

constexpr ResourceSpec kResources[] = {
    {"cpu", "node_pressure_cpu_waiting_seconds_total",
     "Total time in seconds that processes have waited for CPU time", nullptr, nullptr},
    {"io", "node_pressure_io_waiting_seconds_total",
     "Total time in seconds that processes have waited due to IO congestion",
     "node_pressure_io_stalled_seconds_total",
     "Total time in seconds no process could make progress due to IO congestion"},
    {"memory", "node_pressure_memory_waiting_seconds_total",
     "Total time in seconds that processes have waited for memory",
     "node_pressure_memory_stalled_seconds_total",
     "Total time in seconds no process could make progress due to memory congestion"},
};

// node_exporter divides by 1000 twice; doing the same gives bit-identical values, so a side-by-side
// comparison shows no last-digit differences.
double seconds_from_us(std::uint64_t us) {
  return static_cast<double>(us) / 1000.0 / 1000.0;
}

}  // namespace

// One instance per configured "collector_pressure" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class PressureCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string error;
    const std::string proc_path =
        procfs::root_option(config.string("proc_path"), "proc_path", "/proc", error);
    if (proc_path.empty()) return Status::invalid_argument(error);
    // A missing pressure/ directory is a kernel without PSI; a missing proc_path is a typo.
    struct stat st {};
    if (::stat(proc_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::invalid_argument("option \"proc_path\": " + proc_path +
                                      " is not a directory; expected a procfs mount point such "
                                      "as \"/proc\"");
    }
    for (const ResourceSpec& spec : kResources) {
      Resource r;
      r.spec = &spec;
      r.path = proc_path + "/pressure/" + spec.file;
      host().describe(spec.waiting, MetricType::counter, spec.waiting_help, "seconds");
      if (spec.stalled != nullptr)
        host().describe(spec.stalled, MetricType::counter, spec.stalled_help, "seconds");
      resources_.push_back(std::move(r));
    }
    text_.reserve(256);
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    problem_.clear();
    std::string newly_missing;
    std::string error;
    for (Resource& r : resources_) {
      if (!procfs::read_file(r.path, text_, error)) {
        if (!is_absent(r.path)) {
          problem_.fail(error);
          continue;
        }
        if (!r.missing) {
          r.missing = true;
          newly_missing += (newly_missing.empty() ? "" : ", ") + r.path;
          forget(r);
        }
        continue;
      }
      if (r.missing) {
        r.missing = false;
        host().info("pressure stall information is available again: " + r.path);
      }
      Pressure p;
      if (!parse_pressure(text_, p, error)) {
        problem_.fail(r.path + ": " + error);
        continue;
      }
      if (p.some.present) write(r.waiting, r.spec->waiting, p.some.total_us);
      if (r.spec->stalled != nullptr && p.full.present)
        write(r.stalled, r.spec->stalled, p.full.total_us);
    }
    if (!newly_missing.empty()) {
      host().warn("pressure stall information (PSI) is unavailable: " + newly_missing +
                  " not found. This needs Linux 4.20 or later built with CONFIG_PSI=y and not "
                  "booted with psi=0; until then the node_pressure_* series are left out and "
                  "this is not logged again");
    }
    if (!problem_.empty()) return Status::unavailable(problem_.message());
    return Status::ok();
  }

 private:
  struct Resource {
    const ResourceSpec* spec = nullptr;
    std::string path;
    Counter waiting, stalled;
    bool missing = false;  // absent at the last collect, and already logged
  };

  static bool is_absent(const std::string& path) {
    std::error_code ec;
    return !std::filesystem::exists(path, ec) && !ec;
  }

  void write(Counter& handle, const char* name, std::uint64_t total_us) {
    if (!handle) handle = host().counter(name);
    problem_.check_write(handle.set(seconds_from_us(total_us)), name);
  }

  // A file that vanished (procfs remounted without PSI) takes its series out of the exposition.
  void forget(Resource& r) {
    host().unregister(r.waiting);
    host().unregister(r.stalled);
    r.waiting = Counter();
    r.stalled = Counter();
  }

  std::vector<Resource> resources_;
  std::string text_;
  procfs::FirstProblem problem_;
};

}  // namespace vigil::collector_pressure

VIGIL_PLUGIN("collector_pressure", "1.0.0",
             vigil::collector<vigil::collector_pressure::PressureCollector>(
                 "Pressure stall information (PSI) for cpu, io and memory from procfs "
                 "(node_exporter's pressure collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read pressure/{cpu,io,memory} from (like "
                         "node_exporter's --path.procfs)"));
