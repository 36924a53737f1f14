// notifier_exec: runs a command for each notification, with the notification as JSON on its
// stdin. Exit 0 is delivered, 75 (EX_TEMPFAIL) retryable, anything else permanent; a command that
// overruns its timeout is killed with its whole process group and retried.
//
// The command runs without a shell unless `shell` is set (the same options and spawning as
// collector_exec and check_nagios), its stderr goes to the host's log, and the notification is
// handed over in a private temporary file (mode 0600) that is removed after the run: it must
// never be visible to other users, nor left behind.
#include <vigil/sdk.hpp>

#include "vigil_plugin_subprocess/command_options.hpp"
#include "vigil_plugin_subprocess/subprocess.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vigil::notifier_exec {

constexpr int kTempFail = 75;  // sysexits.h EX_TEMPFAIL: "try again later"

// Thread-safety: the host delivers one notification at a time per instance.
class ExecNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    return plugin_subprocess::read_command_options(config, command_, name_);
  }

  Status notify(const Notification& n) override {
    nlohmann::ordered_json doc = {{"idempotency_key", n.idempotency_key},
                                  {"receiver", n.receiver},
                                  {"status", n.status},
                                  {"group_key", n.group_key},
                                  {"escalation_step", n.escalation_step},
                                  {"attempt", n.attempt}};
    auto payload = nlohmann::ordered_json::parse(n.payload_json, nullptr, false);
    doc["payload"] = payload.is_discarded() ? nlohmann::ordered_json(n.payload_json) : payload;

    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigil-notification-XXXXXX";
    int fd = ::mkstemp(path.data());  // 0600, only ours
    if (fd < 0)
      return Status::retryable("cannot create a temporary file in " +
                               path.substr(0, path.rfind('/')) + ": " + std::strerror(errno));
    const std::string text = doc.dump() + "\n";
    bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) {
      ::unlink(path.c_str());
      return Status::retryable("cannot write the notification to " + path);
    }
    plugin_subprocess::Command command = command_;
    command.stdin_file = path;
    command.environment.push_back("VIGIL_RECEIVER=" + n.receiver);
    command.environment.push_back("VIGIL_STATUS=" + n.status);
    command.environment.push_back("VIGIL_IDEMPOTENCY_KEY=" + n.idempotency_key);
    command.environment.push_back("VIGIL_ESCALATION_STEP=" + std::to_string(n.escalation_step));
    command.environment.push_back("VIGIL_ATTEMPT=" + std::to_string(n.attempt));
    const plugin_subprocess::Result r = plugin_subprocess::run(command);
    ::unlink(path.c_str());

    for (const auto& line : r.err_lines) host().warn(name_ + ": " + line);
    const std::string last_err = r.err_lines.empty() ? "" : " (" + r.err_lines.back() + ")";
    if (!r.start_error.empty()) return Status::permanent(name_ + ": " + r.start_error);
    if (r.timed_out)
      return Status::retryable(name_ + ": still running after " +
                               std::to_string(command.timeout.count()) +
                               " ms; killed with its process group" + last_err);
    if (!r.exited)
      return Status::permanent(name_ + ": killed by signal " + std::to_string(r.signal) + last_err);
    if (r.exit_code == 0) return Status::ok();
    if (r.exit_code == kTempFail)
      return Status::retryable(name_ + ": exit 75 (EX_TEMPFAIL: try again later)" + last_err);
    return Status::permanent(name_ + ": exit " + std::to_string(r.exit_code) +
                             "; expected 0 (delivered) or 75 (try again later)" + last_err);
  }

 private:
  plugin_subprocess::Command command_;
  std::string name_;
};

}  // namespace vigil::notifier_exec

VIGIL_PLUGIN("notifier_exec", "1.0.0",
             vigil::plugin_subprocess::add_command_options(
                 vigil::notifier<vigil::notifier_exec::ExecNotifier>(
                     "Runs a command with each notification as JSON on its stdin")));
