// What notifier_log writes for one notification: the JSON line, and the context a user's
// template renders against. Kept apart from the plugin class so both shapes are defined once.
//
// It must never turn the payload into a string: the host's payload JSON is embedded as JSON, so
// `jq .payload.alerts` works on the file. A payload that is not JSON is an error, never guessed at.
#pragma once

#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace vigil::notifier_log {

// "2024-05-01T12:00:00.123Z" for a Unix time in milliseconds.
std::string rfc3339_utc(int64_t unix_ms);

// The parsed payload (null when the host sent none). False with `error` set when it is not JSON.
bool parse_payload(const Notification& n, nlohmann::ordered_json& payload, std::string& error);

// One JSON line without its newline: {"time", "idempotency_key", "receiver", "status",
// "group_key", "escalation_step" (null without a policy), "attempt", "payload"} in that order.
std::string json_line(const Notification& n, const std::string& time,
                      const nlohmann::ordered_json& payload);

// What a template sees: vigil::notification_context(), which every notifier uses, and the
// line's "time".
nlohmann::json template_context(const Notification& n, const std::string& time,
                                const nlohmann::ordered_json& payload);

}  // namespace vigil::notifier_log
