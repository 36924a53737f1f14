// `vigil alerts`, `ack`, `silence` ... (see operator_cli.hpp). Requests are built and replies
// read as JSON; a refusal from the host is printed as the host worded it, since it already names
// what was wrong.
#include "core/operator_cli.hpp"

#include "config/config.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace vigil::core {
namespace {

using nlohmann::json;

std::string url_encode(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

int usage(const std::string& message) {
  std::cerr << "vigil: " << message << "\nRun `vigil --help` for the commands and options.\n";
  return 2;
}

// Sends, prints a failure, parses the reply. nullopt means the exit code was already decided.
std::optional<json> call(const OperatorOptions& o, const std::string& method,
                         const std::string& path, const json& body = nullptr) {
  ApiReply reply;
  std::string error;
  if (!api_request(o.target, method, path, body.is_null() ? "" : body.dump(), reply, error)) {
    std::cerr << "vigil: " << error << "\n";
    return std::nullopt;
  }
  json parsed = json::parse(reply.body, nullptr, false);
  if (reply.status / 100 != 2) {
    std::string why = parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()
                          ? parsed["error"].get<std::string>()
                          : reply.body;
    std::cerr << "vigil: " << method << " " << path << ": HTTP " << reply.status << ": " << why
              << "\n";
    return std::nullopt;
  }
  if (parsed.is_discarded()) {
    std::cerr << "vigil: " << method << " " << path
              << ": the reply is not JSON: " << reply.body.substr(0, 200) << "\n";
    return std::nullopt;
  }
  return parsed;
}

std::string labels_text(const json& labels, bool skip_alertname) {
  std::string out;
  if (!labels.is_object()) return out;
  for (const auto& [k, v] : labels.items()) {
    if (skip_alertname && k == "alertname") continue;
    if (!out.empty()) out += ",";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

std::string time_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : "-";
}

int print_alerts(const json& reply) {
  const json& alerts = reply.value("alerts", json::array());
  if (alerts.empty()) {
    std::cout << "no alerts\n";
    return 0;
  }
  std::cout << std::left << std::setw(10) << "STATE" << std::setw(18) << "FINGERPRINT"
            << std::setw(24) << "ALERTNAME" << std::setw(26) << "SINCE" << std::setw(12) << "FLAGS"
            << "LABELS\n";
  for (const auto& a : alerts) {
    std::string flags;
    if (!a.value("acknowledged", json()).is_null()) flags += "ack ";
    if (a.value("silenced", false)) flags += "sil ";
    if (a.value("inhibited", false)) flags += "inh ";
    if (a.value("flapping", false)) flags += "flap ";
    if (flags.empty()) flags = "-";
    const json labels = a.value("labels", json::object());
    std::cout << std::setw(10) << a.value("state", "?") << std::setw(18)
              << a.value("fingerprint", "?") << std::setw(24) << labels.value("alertname", "?")
              << std::setw(26) << time_text(a.value("active_since", json())) << std::setw(12)
              << flags << labels_text(labels, true) << "\n";
  }
  return 0;
}

int print_silences(const json& reply) {
  const json& silences = reply.value("silences", json::array());
  if (silences.empty()) {
    std::cout << "no silences\n";
    return 0;
  }
  std::cout << std::left << std::setw(18) << "ID" << std::setw(9) << "STATE" << std::setw(26)
            << "STARTS" << std::setw(26) << "ENDS" << std::setw(14) << "AUTHOR"
            << "MATCHERS / COMMENT\n";
  for (const auto& s : silences) {
    std::string matchers;
    for (const auto& m : s.value("matchers", json::array()))
      matchers += (matchers.empty() ? "" : ",") + m.get<std::string>();
    std::cout << std::setw(18) << s.value("id", "?") << std::setw(9) << s.value("state", "?")
              << std::setw(26) << time_text(s.value("starts", json())) << std::setw(26)
              << time_text(s.value("ends", json())) << std::setw(14) << s.value("author", "") << "{"
              << matchers << "}"
              << (s.value("comment", "").empty() ? "" : "  # " + s.value("comment", "")) << "\n";
  }
  return 0;
}

int print_groups(const json& reply) {
  const json& groups = reply.value("groups", json::array());
  if (groups.empty()) {
    std::cout << "no notification groups\n";
    return 0;
  }
  // The key goes last, whole: it is what `vigil ack --group KEY` takes (quote it in the shell).
  std::cout << std::left << std::setw(22) << "RECEIVER/POLICY" << std::setw(8) << "ALERTS"
            << std::setw(40) << "ESCALATION"
            << "KEY\n";
  for (const auto& g : groups) {
    const std::string policy = g.value("policy", "");
    const json e = g.value("escalation", json::object());
    std::string escalation = "-";
    if (!policy.empty()) {
      escalation =
          e.value("stopped", false)
              ? "stopped (acknowledged)"
              : "pass " + std::to_string(e.value("iteration", 0) + 1) + ", step " +
                    std::to_string(e.value("step", 0)) +
                    (e.value("next", json()).is_string() ? " at " + e["next"].get<std::string>()
                                                         : std::string());
    }
    std::cout << std::setw(22) << (policy.empty() ? g.value("receiver", "") : "policy " + policy)
              << std::setw(8) << g.value("alerts", json::array()).size() << std::setw(40)
              << escalation << g.value("key", "") << "\n";
  }
  return 0;
}

int print_history(const json& reply) {
  for (const auto& t : reply.value("history", json::array())) {
    std::cout << time_text(t.value("at", json())) << "  " << t.value("from", "") << " -> "
              << t.value("to", "")
              << (t.value("detail", "").empty() ? "" : "  " + t.value("detail", "")) << "\n";
  }
  return 0;
}

int finish(const OperatorOptions& o, const std::optional<json>& reply, int (*print)(const json&)) {
  if (!reply) return 1;
  if (o.json) {
    std::cout << reply->dump(2) << "\n";
    return 0;
  }
  return print(*reply);
}

int print_ok(const json& reply) {
  std::cout << reply.value("message", std::string("done")) << "\n";
  return 0;
}

}  // namespace

bool is_operator_command(const std::string& command) {
  return command == "alerts" || command == "groups" || command == "history" || command == "ack" ||
         command == "unack" || command == "silence" || command == "reload-rules";
}

int run_operator_command(const std::string& command, const OperatorOptions& o) {
  const auto& args = o.args;
  if (command == "alerts") {
    if (!args.empty()) return usage("alerts takes no arguments (filter with --state, --match)");
    std::string query;
    if (o.state) query += "&state=" + url_encode(*o.state);
    if (o.match) query += "&match=" + url_encode(*o.match);
    if (o.all) query += "&inactive=true";
    if (!query.empty()) query[0] = '?';
    return finish(o, call(o, "GET", "/api/v1/alerts" + query), print_alerts);
  }
  if (command == "groups") {
    if (!args.empty()) return usage("groups takes no arguments");
    return finish(o, call(o, "GET", "/api/v1/alerts/groups"), print_groups);
  }
  if (command == "history") {
    if (args.size() != 1) return usage("history needs one alert fingerprint: vigil history FP");
    return finish(o, call(o, "GET", "/api/v1/alerts/history?fingerprint=" + url_encode(args[0])),
                  print_history);
  }
  if (command == "ack" || command == "unack") {
    if (args.size() != 1)
      return usage(command + " needs one alert fingerprint (or a group key with --group)");
    json body = {{o.group ? "group" : "fingerprint", args[0]}, {"author", o.author}};
    if (o.comment) body["comment"] = *o.comment;
    if (command == "ack") {
      if (o.expires) body["expires"] = *o.expires;
      body["sticky"] = o.sticky;
    }
    return finish(o, call(o, "POST", "/api/v1/alerts/" + command, body), print_ok);
  }
  if (command == "reload-rules") {
    return finish(o, call(o, "POST", "/api/v1/rules/reload", json::object()), print_ok);
  }
  // silence add|list|expire
  if (args.empty()) return usage("silence needs a subcommand: add, list or expire");
  const std::string& sub = args[0];
  if (sub == "list") {
    return finish(o,
                  call(o, "GET", std::string("/api/v1/silences") + (o.all ? "?expired=true" : "")),
                  print_silences);
  }
  if (sub == "expire") {
    if (args.size() != 2) return usage("silence expire needs one silence id");
    return finish(o, call(o, "POST", "/api/v1/silences/expire", json{{"id", args[1]}}), print_ok);
  }
  if (sub == "add") {
    if (args.size() < 2)
      return usage(
          "silence add needs matchers: vigil silence add 'alertname=\"DiskFull\"' "
          "--duration 2h --comment \"...\"");
    if (!o.duration) return usage("silence add needs --duration (such as 2h)");
    if (o.starts && !config::parse_rfc3339(*o.starts))
      return usage("--starts: found \"" + *o.starts +
                   "\", expected an RFC 3339 time such as 2026-01-10T22:00:00Z");
    json body = {{"matchers", std::vector<std::string>(args.begin() + 1, args.end())},
                 {"duration", *o.duration},
                 {"author", o.author},
                 {"comment", o.comment.value_or("")},
                 {"end_on_resolve", o.end_on_resolve}};
    if (o.starts) body["starts"] = *o.starts;
    return finish(o, call(o, "POST", "/api/v1/silences", body), print_ok);
  }
  return usage("silence: found \"" + sub + "\", expected add, list or expire");
}

}  // namespace vigil::core
