// vigil/notification_context.hpp — what a notifier's templates (vigil/template.hpp) see, so that
// every notifier offers its users the same variables.
//
// Header-only C++17; needs nlohmann_json, like vigil/template.hpp.
#pragma once

#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <utility>

namespace vigil {

// The context for rendering one notification:
// - every top-level field of the payload (status, alerts, groupLabels, commonLabels,
//   commonAnnotations, externalURL, vigil, ...), and the whole payload again as `payload`;
// - the notification's own fields: receiver, status, group_key, idempotency_key, attempt, and
//   escalation_step (null when no escalation policy applies);
// - `firing` and `resolved`: the payload's alerts split by their status.
// A payload that is not an object, or alerts that are not an array, give empty lists, never an
// exception.
inline nlohmann::json notification_context(const Notification& n, const nlohmann::json& payload) {
  using nlohmann::json;
  json context = json::object();
  if (payload.is_object())
    for (auto it = payload.begin(); it != payload.end(); ++it) context[it.key()] = *it;
  context["receiver"] = n.receiver;
  context["status"] = n.status;
  context["group_key"] = n.group_key;
  context["idempotency_key"] = n.idempotency_key;
  context["attempt"] = n.attempt;
  context["escalation_step"] = n.escalation_step >= 0 ? json(n.escalation_step) : json(nullptr);
  context["payload"] = payload;
  json firing = json::array(), resolved = json::array();
  if (payload.is_object()) {
    const auto alerts = payload.find("alerts");
    if (alerts != payload.end() && alerts->is_array()) {
      for (const json& alert : *alerts) {
        const bool is_resolved =
            alert.is_object() && alert.contains("status") && alert["status"] == "resolved";
        (is_resolved ? resolved : firing).push_back(alert);
      }
    }
  }
  context["firing"] = std::move(firing);
  context["resolved"] = std::move(resolved);
  return context;
}

}  // namespace vigil
