// check_nagios: runs any Nagios / monitoring-plugins check (check_disk, check_http, a site's own
// scripts) as a Vigil health check. Exit status 0/1/2/3 is ok/warning/critical/unknown (anything
// else is unknown), the first line before '|' is the message, and the performance data becomes
// gauges: vigil_nagios_perfdata{check,label,uom} in base units, plus its thresholds and bounds.
//
// The command runs through vigil_plugin_subprocess (own process group, no shell unless asked);
// a check that overruns its timeout is killed with its whole group and reported unknown with
// "timed out after Ns". It must never report a status the check did not give (a crash, a signal,
// a missing program are unknown, never ok), and never keep a perfdata series the latest run no
// longer printed.
#include <vigil/sdk.hpp>

#include <map>
#include <set>
#include <string>

#include "nagios_output.hpp"
#include "vigil_plugin_subprocess/command_options.hpp"
#include "vigil_plugin_subprocess/subprocess.hpp"

namespace vigil::check_nagios {
namespace {

constexpr const char* kValue = "vigil_nagios_perfdata";
constexpr const char* kWarning = "vigil_nagios_perfdata_warning";
constexpr const char* kCritical = "vigil_nagios_perfdata_critical";
constexpr const char* kMin = "vigil_nagios_perfdata_min";
constexpr const char* kMax = "vigil_nagios_perfdata_max";

const char* status_word(vigil_health_status s) {
  switch (s) {
    case VIGIL_HEALTH_OK:
      return "OK";
    case VIGIL_HEALTH_WARNING:
      return "WARNING";
    case VIGIL_HEALTH_CRITICAL:
      return "CRITICAL";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

// One instance per configured "check_nagios" entry.
// Thread-safety: only check() touches state; the host never runs two at once.
class NagiosCheck final : public HealthCheck {
 public:
  Status configure(const Config& config) override {
    Status s = plugin_subprocess::read_command_options(config, command_, name_);
    if (!s.is_ok()) return s;
    // Checks print a line or two; anything beyond is not worth holding.
    command_.max_stdout_bytes = 1 << 20;
    perfdata_ = config.boolean("perfdata");
    check_ = std::string(config.instance_name());
    if (perfdata_) {
      Host& h = host();
      h.describe(kValue, MetricType::gauge,
                 "Performance data of a Nagios-style check, converted to the base unit named by "
                 "uom (seconds, bytes, percent, counter).");
      h.describe(kWarning, MetricType::gauge,
                 "Warning threshold of a perfdata value: bound=\"upper\" warns above it, "
                 "\"lower\" below it (\"inside_upper\"/\"inside_lower\" for @ ranges).");
      h.describe(kCritical, MetricType::gauge,
                 "Critical threshold of a perfdata value, with bound as for the warning one.");
      h.describe(kMin, MetricType::gauge, "Minimum possible value of a perfdata value.");
      h.describe(kMax, MetricType::gauge, "Maximum possible value of a perfdata value.");
    }
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    plugin_subprocess::Result r = plugin_subprocess::run(command_);
    for (const std::string& line : r.err_lines) host().debug(name_ + " (stderr): " + line);

    Output out = parse_output(r.out);
    if (!r.started()) {
      result.status = VIGIL_HEALTH_UNKNOWN;
      result.message = r.start_error;
    } else if (r.timed_out || !r.exited) {
      result.status = VIGIL_HEALTH_UNKNOWN;
      result.message = name_ + " " + r.describe(command_.timeout);
    } else {
      std::string message = out.message;
      if (message.empty()) message = !r.err_lines.empty() ? r.err_lines.front() : "(no output)";
      if (r.exit_code >= 0 && r.exit_code <= 3) {
        result.status = static_cast<vigil_health_status>(r.exit_code);
        result.message = message;
      } else {
        result.status = VIGIL_HEALTH_UNKNOWN;
        result.message = "exit code " + std::to_string(r.exit_code) + " (expected 0-3): " + message;
      }
    }
    for (const std::string& why : out.skipped)
      host().debug(name_ + ": perfdata item skipped: " + why);
    if (host().log_enabled(VIGIL_LOG_DEBUG))
      host().debug(name_ + ": " + status_word(result.status) + ": " + result.message);

    if (perfdata_) {
      // A run that did not finish printed nothing trustworthy: its items all go away.
      if (r.timed_out || !r.started()) out.perfdata.clear();
      write_perfdata(out.perfdata);
    }
    return Status::ok();
  }

 private:
  void write_perfdata(const std::vector<PerfItem>& items) {
    std::set<std::string> written;
    auto write = [&](const char* metric, const PerfItem& item, const char* bound, double value) {
      // No uom label for unitless values: the store drops empty labels anyway, the SDK's fake
      // host does not, and a series must look the same in both.
      Labels labels = {{"check", check_}, {"label", item.label}};
      if (!item.unit.empty()) labels.emplace_back("uom", item.unit);
      if (bound != nullptr) labels.emplace_back("bound", bound);
      std::string key = std::string(metric) + '\0' + item.label + '\0' + item.unit + '\0' +
                        (bound != nullptr ? bound : "");
      if (written.count(key) != 0) return;  // a label printed twice: the first one counts
      auto it = gauges_.find(key);
      if (it == gauges_.end()) it = gauges_.emplace(key, host().gauge(metric, labels)).first;
      it->second.set(value);
      written.insert(key);
    };
    auto write_range = [&](const char* metric, const PerfItem& item, const Range& r) {
      if (r.lower) write(metric, item, r.inside ? "inside_lower" : "lower", *r.lower);
      if (r.upper) write(metric, item, r.inside ? "inside_upper" : "upper", *r.upper);
    };
    for (const PerfItem& item : items) {
      write(kValue, item, nullptr, item.value);
      if (item.warning) write_range(kWarning, item, *item.warning);
      if (item.critical) write_range(kCritical, item, *item.critical);
      if (item.min) write(kMin, item, nullptr, *item.min);
      if (item.max) write(kMax, item, nullptr, *item.max);
    }
    for (auto it = gauges_.begin(); it != gauges_.end();) {
      if (written.count(it->first) != 0) {
        ++it;
        continue;
      }
      host().unregister(it->second);
      it = gauges_.erase(it);
    }
  }

  plugin_subprocess::Command command_;
  std::string name_;
  std::string check_;
  bool perfdata_ = true;
  std::map<std::string, Gauge> gauges_;
};

}  // namespace vigil::check_nagios

VIGIL_PLUGIN("check_nagios", "1.0.0",
             vigil::plugin_subprocess::add_command_options(
                 vigil::health_check<vigil::check_nagios::NagiosCheck>(
                     "Runs a Nagios / monitoring-plugins check: exit status 0-3 is "
                     "ok/warning/critical/unknown, perfdata becomes metrics"))
                 .option("perfdata", vigil::Bool, "true",
                         "turn the check's performance data into vigil_nagios_perfdata* gauges"));
