// notifier_log: the first notifier. Each notification becomes one JSON line (or one line of the
// user's template) appended to a file, or written to the host's log when no file is given.
//
// It is the notifier of last resort and the one people test routing with, so it must never lose
// a line silently: a file that cannot be opened, written or synced is a retryable failure naming
// the file and the reason, and a template mistake refuses the instance at configure (start-up),
// never waiting for the first alert at 3 a.m.
#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "append_file.hpp"
#include "log_record.hpp"

namespace vigil::notifier_log {

// One instance per configured "notifier_log" entry.
// Thread-safety: the host delivers one notification at a time per instance; nothing else runs.
class LogNotifier final : public Notifier {
 public:
  Status configure(const Config& config) override {
    std::string path = config.string("path");
    if (!path.empty() && path.front() != '/')
      return Status::invalid_argument(
          "option \"path\": found \"" + path +
          "\", expected an absolute path such as \"/var/log/vigil/notifications.log\" (or \"\" "
          "for the host's log)");
    std::string text = config.string("template");
    if (!text.empty()) {
      std::vector<TemplateError> errors;
      template_ = Template::compile(text, errors);
      if (!template_) {
        std::string message = "option \"template\": ";
        for (size_t i = 0; i < errors.size(); ++i)
          message += (i > 0 ? "; " : "") + errors[i].to_string();
        return Status::invalid_argument(message);
      }
    }
    if (!path.empty()) file_ = std::make_unique<AppendFile>(path, config.boolean("fsync"));
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    nlohmann::ordered_json payload;
    std::string error;
    // The same payload will never parse on a retry: permanent, so the fallback receiver gets it.
    if (!parse_payload(n, payload, error))
      return Status::permanent(error + " (notification " + n.idempotency_key + ")");
    std::string time = rfc3339_utc(host().now_ms());
    std::string line = template_ ? template_->render(template_context(n, time, payload))
                                 : json_line(n, time, payload);
    if (!file_) {
      if (!line.empty() && line.back() == '\n') line.pop_back();
      host().info(line);
      return Status::ok();
    }
    if (line.empty() || line.back() != '\n') line += '\n';
    error = file_->append(line);
    if (!error.empty()) return Status::retryable(error);
    return Status::ok();
  }

 private:
  std::optional<Template> template_;
  std::unique_ptr<AppendFile> file_;  // null: the host's log
};

}  // namespace vigil::notifier_log

VIGIL_PLUGIN("notifier_log", "1.0.0",
             vigil::notifier<vigil::notifier_log::LogNotifier>(
                 "Writes each notification as one JSON line (or a templated line) to a file or to "
                 "the host's log")
                 .option("path", vigil::String, "",
                         "absolute path of the file to append lines to (opened O_APPEND, reopened "
                         "when rotated); empty: the host's log")
                 .option("template", vigil::String, "",
                         "each line rendered with this template (see the SDK's template "
                         "language) instead of the JSON line; empty: the JSON line")
                 .option("fsync", vigil::Bool, "false",
                         "fsync the file after every line, so a delivered notification survives "
                         "a crash"));
