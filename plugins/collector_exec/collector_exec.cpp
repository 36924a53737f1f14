// collector_exec: runs a command every interval and serves what it prints on stdout, in the
// Prometheus text format (default) or InfluxDB line protocol (Telegraf's exec input style).
//
// The command runs through vigil_plugin_subprocess: no shell unless `shell` is set, its own
// process group, the whole group killed on timeout. Its stderr lines go to the log at warning
// level, prefixed with the command's name. The output is parsed with the shared parsers and
// published through the shared Publisher, so series the command stops printing leave the
// exposition. It must never serve the output of a run that failed (non-zero exit, signal,
// timeout, output cut at max_output_bytes, a parse error): that run's series are removed and the
// collect fails with the reason.
#include <vigil/sdk.hpp>

#include <memory>
#include <string>

#include "vigil_plugin_subprocess/command_options.hpp"
#include "vigil_plugin_subprocess/subprocess.hpp"
#include "vigil_plugin_text/exposition.hpp"
#include "vigil_plugin_text/publisher.hpp"

namespace vigil::collector_exec {
namespace {

constexpr const char* kDuration = "vigil_exec_duration_seconds";
constexpr const char* kExitCode = "vigil_exec_exit_code";
constexpr const char* kSource = "stdout";

}  // namespace

// One instance per configured "collector_exec" entry.
// Thread-safety: only collect() touches state; the host never runs two at once.
class ExecCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    Status s = plugin_subprocess::read_command_options(config, command_, name_);
    if (!s.is_ok()) return s;
    const std::string format = config.string("format");
    if (format == "prometheus") {
      influx_ = false;
    } else if (format == "influx") {
      influx_ = true;
    } else {
      return Status::invalid_argument("option \"format\" is \"" + format +
                                      "\"; expected \"prometheus\" or \"influx\"");
    }
    influx_options_.precision = config.string("influx_precision");
    if (influx_options_.precision != "ns" && influx_options_.precision != "us" &&
        influx_options_.precision != "ms" && influx_options_.precision != "s")
      return Status::invalid_argument("option \"influx_precision\" is \"" +
                                      influx_options_.precision +
                                      "\"; expected \"ns\", \"us\", \"ms\" or \"s\"");
    int64_t max = config.integer("max_output_bytes");
    if (max <= 0)
      return Status::invalid_argument("option \"max_output_bytes\" is " + std::to_string(max) +
                                      "; expected a positive number of bytes");
    command_.max_stdout_bytes = static_cast<std::size_t>(max);
    publish_.honor_timestamps = config.boolean("honor_timestamps");
    publish_.default_help = "Metric printed by " + name_ + ".";
    instance_ = std::string(config.instance_name());
    publisher_ = std::make_unique<plugin_text::Publisher>(host());
    host().describe(kDuration, MetricType::gauge, "How long the command of the last run took.",
                    "seconds");
    host().describe(kExitCode, MetricType::gauge,
                    "Exit status of the command's last run: 128 + the signal when a signal ended "
                    "it (a timeout is killed with SIGTERM: 143), -1 when it could not start.");
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    plugin_subprocess::Result r = plugin_subprocess::run(command_);
    const Labels self = {{"instance", instance_}};
    out.gauge(kDuration, std::chrono::duration<double>(r.duration).count(), self);
    out.gauge(kExitCode, r.status_number(), self);
    for (const std::string& line : r.err_lines) host().warn(name_ + ": " + line);
    if (r.err_lines_dropped > 0)
      host().warn(name_ + ": " + std::to_string(r.err_lines_dropped) +
                  " more stderr line(s) not logged");

    if (!r.succeeded()) {
      publisher_->remove(kSource);
      std::string why = name_ + " " + r.describe(command_.timeout);
      if (r.timed_out) return Status::timeout(why);
      return Status::unavailable(why + "; its output was not used");
    }
    if (r.stdout_truncated) {
      publisher_->remove(kSource);
      return Status::invalid_argument(name_ + " printed more than max_output_bytes (" +
                                      std::to_string(command_.max_stdout_bytes) +
                                      " bytes); its output was not used");
    }
    plugin_text::Exposition exposition;
    std::string error;
    bool parsed =
        influx_ ? plugin_text::parse_influx(std::move(r.out), exposition, error, influx_options_)
                : plugin_text::parse_prometheus(std::move(r.out), exposition, error);
    if (!parsed) {
      publisher_->remove(kSource);
      return Status::invalid_argument("output of " + name_ + ", " + error);
    }
    Status status = publisher_->publish(kSource, std::move(exposition), publish_);
    if (!status.is_ok() && status.code() != VIGIL_ERR_INTERNAL) {
      publisher_->remove(kSource);
      return Status(status.code(), "output of " + name_ + ", " + status.message());
    }
    return status;
  }

 private:
  plugin_subprocess::Command command_;
  std::string name_;
  std::string instance_;
  bool influx_ = false;
  plugin_text::InfluxOptions influx_options_;
  plugin_text::PublishOptions publish_;
  std::unique_ptr<plugin_text::Publisher> publisher_;
};

}  // namespace vigil::collector_exec

VIGIL_PLUGIN("collector_exec", "1.0.0",
             vigil::plugin_subprocess::add_command_options(
                 vigil::collector<vigil::collector_exec::ExecCollector>(
                     "Runs a command every interval and serves the metrics it prints "
                     "(Prometheus text format or InfluxDB line protocol)"))
                 .option("format", vigil::String, "prometheus",
                         "what the command prints: \"prometheus\" (text format 0.0.4) or "
                         "\"influx\" (line protocol)")
                 .option("influx_precision", vigil::String, "ns",
                         "unit of line protocol timestamps: ns, us, ms or s")
                 .option("honor_timestamps", vigil::Bool, "false",
                         "keep the timestamps the command prints (default: samples are stamped "
                         "when read)")
                 .option("max_output_bytes", vigil::Int, "16777216",
                         "a run printing more than this is refused (its output is not used)"));
