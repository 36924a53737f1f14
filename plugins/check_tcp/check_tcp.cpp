// check_tcp: a health check that connects to host:port, optionally sends a string and checks the
// first bytes of the answer (a substring or a pattern), and writes how long it took.
//
// Critical when the connection is refused or times out, or the answer does not hold what is
// expected; ok otherwise. It must never block past its own timeout (kept below the host's per-call
// timeout, so the host never has to abandon it) and never leave a connection open between runs.
#include <vigil/sdk.hpp>

#include <string>

#include "tcp_probe.hpp"

namespace vigil::check_tcp {
namespace {

constexpr const char* kDuration = "vigil_tcp_check_duration_seconds";

}  // namespace

// One instance per configured "check_tcp" entry.
// Thread-safety: only check() touches the options and the handle, and the host never runs two
// check() of one instance at once.
class TcpCheck final : public HealthCheck {
 public:
  Status configure(const Config& cfg) override {
    options_.host = cfg.string("host");
    if (options_.host.empty())
      return Status::invalid_argument(
          "option \"host\": found \"\", expected a host name or address such as \"127.0.0.1\"");
    if (options_.host.size() > 2 && options_.host.front() == '[' && options_.host.back() == ']')
      options_.host = options_.host.substr(1, options_.host.size() - 2);  // "[::1]" as "::1"
    const int64_t port = cfg.integer("port");
    if (port < 1 || port > 65535)
      return Status::invalid_argument("option \"port\": found " + std::to_string(port) +
                                      ", expected a TCP port from 1 to 65535");
    options_.port = static_cast<uint16_t>(port);

    // Below the host's per-call timeout, so a hung service is reported here ("did not arrive
    // within ...") rather than abandoned by the host.
    const std::chrono::milliseconds host_timeout = cfg.timeout();
    if (cfg.is_set("timeout")) {
      options_.timeout = cfg.duration("timeout");
      if (host_timeout.count() > 0 && options_.timeout >= host_timeout)
        host().warn("option \"timeout\" (" + std::to_string(options_.timeout.count()) +
                    " ms) is not below the instance's timeout (" +
                    std::to_string(host_timeout.count()) +
                    " ms): the host gives up first and reports the check as timed out; lower "
                    "\"timeout\" or raise the instance's \"timeout\"");
    } else {
      options_.timeout =
          host_timeout.count() > 0 ? host_timeout * 9 / 10 : std::chrono::milliseconds(5000);
    }
    if (options_.timeout.count() <= 0)
      return Status::invalid_argument(
          "option \"timeout\": found 0, expected a positive duration such as \"2s\"");

    options_.send = cfg.string("send");
    options_.expect = cfg.string("expect");
    if (cfg.boolean("expect_regex")) {
      if (options_.expect.empty())
        return Status::invalid_argument(
            "option \"expect_regex\" is true but \"expect\" is empty; set \"expect\" to the "
            "pattern the answer must match");
      std::string error;
      options_.expect_pattern = plugin_pattern::Pattern::compile(options_.expect, error);
      if (!options_.expect_pattern)
        return Status::invalid_argument("option \"expect\": /" + options_.expect +
                                        "/ is not a POSIX extended regular expression: " + error);
    }
    const int64_t max_read = cfg.integer("max_read_bytes");
    if (max_read < 1)
      return Status::invalid_argument("option \"max_read_bytes\": found " +
                                      std::to_string(max_read) + ", expected 1 or more");
    options_.max_read_bytes = static_cast<std::size_t>(max_read);

    host().describe(kDuration, MetricType::gauge,
                    "Seconds the last check took: connect, send and reading the expected answer.",
                    "seconds");
    duration_ = host().gauge(kDuration, {{"check", std::string(cfg.instance_name())},
                                         {"target", host_port(options_.host, options_.port)}});
    return Status::ok();
  }

  Status check(HealthResult& out) override {
    ProbeResult r = probe(options_);
    out.status = r.outcome == Outcome::ok ? VIGIL_HEALTH_OK : VIGIL_HEALTH_CRITICAL;
    out.message = describe(options_, r);
    if (!duration_.set(r.total_seconds) && !warned_write_) {
      host().warn("the host refused a sample of " + std::string(kDuration) +
                  "; see the host's log for why");
      warned_write_ = true;
    }
    return Status::ok();
  }

 private:
  ProbeOptions options_;
  Gauge duration_;
  bool warned_write_ = false;
};

}  // namespace vigil::check_tcp

VIGIL_PLUGIN("check_tcp", "1.0.0",
             vigil::health_check<vigil::check_tcp::TcpCheck>(
                 "TCP port: connect, optionally send a string and expect an answer")
                 .required_option("host", vigil::String, "host name or address to connect to")
                 .required_option("port", vigil::Int, "TCP port, 1 to 65535")
                 .option("timeout", vigil::Duration, nullptr,
                         "limit for connect, send and answer together; default: 90% of the "
                         "instance's timeout")
                 .option("send", vigil::String, "",
                         "sent once connected, when not empty (JSON escapes such as \\r\\n work)")
                 .option("expect", vigil::String, "",
                         "the answer must contain this; empty: connecting is enough")
                 .option("expect_regex", vigil::Bool, "false",
                         "treat expect as a POSIX extended regular expression")
                 .option("max_read_bytes", vigil::Int, "4096",
                         "read at most this many bytes looking for expect"));
