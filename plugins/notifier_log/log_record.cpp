// The JSON line and the template context of one notification; see log_record.hpp.
#include "log_record.hpp"

#include <vigil/notification_context.hpp>

#include <time.h>

#include <cstdio>

namespace vigil::notifier_log {

std::string rfc3339_utc(int64_t unix_ms) {
  int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  int64_t millis = unix_ms - seconds * 1000;
  time_t t = static_cast<time_t>(seconds);
  struct tm utc {};
  if (gmtime_r(&t, &utc) == nullptr) return "";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

bool parse_payload(const Notification& n, nlohmann::ordered_json& payload, std::string& error) {
  if (n.payload_json.empty()) {
    payload = nullptr;
    return true;
  }
  try {
    payload = nlohmann::ordered_json::parse(n.payload_json);
  } catch (const nlohmann::json::exception& e) {
    error = std::string("the payload is not valid JSON: ") + e.what();
    return false;
  }
  return true;
}

namespace {

template <class Json>
void put_fields(Json& out, const Notification& n, const std::string& time) {
  out["time"] = time;
  out["idempotency_key"] = n.idempotency_key;
  out["receiver"] = n.receiver;
  out["status"] = n.status;
  out["group_key"] = n.group_key;
  if (n.escalation_step >= 0)
    out["escalation_step"] = n.escalation_step;
  else
    out["escalation_step"] = nullptr;
  out["attempt"] = n.attempt;
}

}  // namespace

std::string json_line(const Notification& n, const std::string& time,
                      const nlohmann::ordered_json& payload) {
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  put_fields(line, n, time);
  line["payload"] = payload;
  // Invalid UTF-8 from the host becomes U+FFFD rather than a notification that can never be
  // written.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json template_context(const Notification& n, const std::string& time,
                                const nlohmann::ordered_json& payload) {
  nlohmann::json context = notification_context(n, payload);
  context["time"] = time;
  return context;
}

}  // namespace vigil::notifier_log
