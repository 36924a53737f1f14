// collector_memory: node_exporter's "meminfo" collector, read from <proc_path>/meminfo.
//
// Every meminfo field becomes its own gauge family, named as node_exporter names it
// (node_memory_MemTotal_bytes, node_memory_Active_anon_bytes, node_memory_HugePages_Total), so
// its dashboards and alert rules work unchanged. Handles are cached in file order, so a collect
// is one file read, one parse and handle writes. It must never rename a field differently from
// node_exporter, nor register series by name on the hot path.
#include <vigil/sdk.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "meminfo.hpp"

namespace vigil::collector_memory {
namespace {

// procfs reports a size of 0, so this reads until EOF into a buffer kept between calls.
bool read_file(const std::string& path, std::string& out, std::string& error) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  constexpr std::size_t kStep = 8192;
  for (;;) {
    std::size_t used = out.size();
    out.resize(used + kStep);
    ssize_t n = ::read(fd, out.data() + used, kStep);
    if (n < 0) {
      out.resize(used);
      if (errno == EINTR) continue;
      error = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    out.resize(used + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  return true;
}

}  // namespace

// One instance per configured "collector_memory" entry.
// Thread-safety: the host never runs two collect() of one instance at once; nothing else runs.
class MemoryCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::string proc_path = config.string("proc_path");
    if (proc_path.empty()) {
      return Status::invalid_argument(
          "option \"proc_path\" is empty; expected the procfs mount point, such as \"/proc\"");
    }
    while (proc_path.size() > 1 && proc_path.back() == '/') proc_path.pop_back();
    meminfo_path_ = proc_path + "/meminfo";
    text_.reserve(8192);
    std::string error;
    if (!read_file(meminfo_path_, text_, error)) {
      return Status::invalid_argument(error +
                                      "; option \"proc_path\" must point at a procfs "
                                      "mount (\"/proc\", or the host's procfs mounted "
                                      "into a container)");
    }
    return Status::ok();
  }

  Status collect(Emitter& /*out*/) override {
    std::string error;
    if (!read_file(meminfo_path_, text_, error)) return Status::unavailable(error);
    if (!parse_meminfo(text_, fields_, error)) {
      return Status::unavailable(meminfo_path_ + ": " + error);
    }
    if (!same_layout()) relayout();

    std::size_t failed = 0;
    const std::string* first_failure = nullptr;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (handles_[i].set(fields_[i].value)) continue;
      if (failed++ == 0) first_failure = &fields_[i].metric;
    }
    if (failed > 0) {
      return Status::internal("the host refused " + std::to_string(failed) +
                              " sample write(s), first for " + *first_failure +
                              "; see the host's log for why");
    }
    return Status::ok();
  }

 private:
  // node_exporter types a key ending in "_total" as a counter (no Linux field does today), so a
  // field holds whichever handle its family's type needs.
  struct Handle {
    std::string metric;
    Gauge gauge;
    Counter counter;
    bool set(double value) const { return counter ? counter.set(value) : gauge.set(value); }
  };

  // The fast path: the kernel prints the same fields in the same order every time.
  bool same_layout() const {
    if (handles_.size() != fields_.size()) return false;
    for (std::size_t i = 0; i < fields_.size(); ++i)
      if (handles_[i].metric != fields_[i].metric) return false;
    return true;
  }

  static bool ends_with_bytes(const std::string& metric) {
    constexpr std::size_t kLen = sizeof("_bytes") - 1;
    return metric.size() > kLen && metric.compare(metric.size() - kLen, kLen, "_bytes") == 0;
  }

  // First collect, or the field list changed (a kernel feature toggled at run time): reuse the
  // handles of fields still present, register the new ones, and drop the ones that vanished.
  void relayout() {
    std::unordered_map<std::string, Handle> old;
    for (Handle& h : handles_) old.emplace(h.metric, std::move(h));
    handles_.clear();
    handles_.reserve(fields_.size());
    for (const MeminfoField& f : fields_) {
      auto it = old.find(f.metric);
      if (it != old.end()) {
        handles_.push_back(std::move(it->second));
        old.erase(it);
        continue;
      }
      Handle h;
      h.metric = f.metric;
      host().describe(f.metric, f.counter ? MetricType::counter : MetricType::gauge,
                      meminfo_help(f), ends_with_bytes(f.metric) ? "bytes" : "");
      if (f.counter) {
        h.counter = host().counter(f.metric);
      } else {
        h.gauge = host().gauge(f.metric);
      }
      handles_.push_back(std::move(h));
    }
    for (auto& [metric, h] : old) {
      if (h.counter) host().unregister(h.counter);
      if (h.gauge) host().unregister(h.gauge);
      host().debug(metric + " is no longer in " + meminfo_path_ + ": its series was removed");
    }
  }

  std::string meminfo_path_;
  std::string text_;
  std::vector<MeminfoField> fields_;
  std::vector<Handle> handles_;
};

}  // namespace vigil::collector_memory

VIGIL_PLUGIN("collector_memory", "1.0.0",
             vigil::collector<vigil::collector_memory::MemoryCollector>(
                 "Memory statistics from procfs' meminfo file (node_exporter's meminfo "
                 "collector)")
                 .option("proc_path", vigil::String, "/proc",
                         "procfs mount point to read meminfo from (like node_exporter's "
                         "--path.procfs)"));
