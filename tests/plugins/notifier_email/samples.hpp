// Notifications as the host hands them to notifier_email: Alertmanager webhook v4 payloads with
// Vigil's "vigil" object, one group (DiskFull) seen at several moments.
//
// Test data only: each function returns a fresh value and changes nothing.
#pragma once

#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace vigil::testing::email {

inline constexpr const char* kGroupKey = "0:{alertname=\"DiskFull\"}";

// Two firing alerts of the DiskFull group; the first acknowledged by alice, so the group as a
// whole is not (vigil.acknowledged is null). `sequence` makes the idempotency key.
inline nlohmann::json firing_payload(int sequence = 3) {
  return nlohmann::json::parse(R"({
    "version": "4", "receiver": "ops", "status": "firing",
    "alerts": [
      {"status": "firing",
       "labels": {"alertname": "DiskFull", "instance": "web1", "severity": "critical", "mountpoint": "/"},
       "annotations": {"summary": "/ on web1 is 95% full", "description": "Only 2 GiB left.\nClean up /var/log."},
       "startsAt": "2026-11-23T10:00:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
       "generatorURL": "http://vigil.example:9180/", "fingerprint": "9f2c1a7b3e4d5c6a", "value": 0.95,
       "acknowledged": {"author": "alice", "comment": "on it", "at": "2026-11-23T10:05:00.000Z"}},
      {"status": "firing",
       "labels": {"alertname": "DiskFull", "instance": "web2", "severity": "critical", "mountpoint": "/"},
       "annotations": {"summary": "/ on web2 is 97% full"},
       "startsAt": "2026-11-23T10:01:00.000Z", "endsAt": "0001-01-01T00:00:00Z",
       "generatorURL": "http://vigil.example:9180/", "fingerprint": "1a2b3c4d5e6f7a8b", "value": 0.97}
    ],
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "severity": "critical", "mountpoint": "/"},
    "commonAnnotations": {},
    "externalURL": "http://vigil.example:9180/",
    "groupKey": "0:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
    "vigil": {"escalation_step": 1, "iteration": 0, "policy": "oncall",
              "idempotency_key": "", "sequence": 0, "group_id": "5e1f", "acknowledged": null}
  })")
      .patch(nlohmann::json::array(
          {{{"op", "replace"}, {"path", "/vigil/sequence"}, {"value", sequence}},
           {{"op", "replace"},
            {"path", "/vigil/idempotency_key"},
            {"value", "5e1f-" + std::to_string(sequence) + "-ops"}}}));
}

inline Notification notification(const nlohmann::json& payload, int attempt = 1) {
  Notification n;
  n.idempotency_key = payload["vigil"]["idempotency_key"].get<std::string>();
  n.receiver = payload["receiver"].get<std::string>();
  n.status = payload["status"].get<std::string>();
  n.group_key = payload["groupKey"].get<std::string>();
  n.escalation_step = payload["vigil"]["escalation_step"].get<int>();
  n.attempt = attempt;
  n.payload_json = payload.dump();
  return n;
}

// The same group once every firing alert is acknowledged: vigil.acknowledged is set.
inline nlohmann::json acknowledged_payload(int sequence = 4) {
  nlohmann::json p = firing_payload(sequence);
  p["alerts"][1]["acknowledged"] = {
      {"author", "bob"}, {"comment", "freeing space"}, {"at", "2026-11-23T10:06:00.000Z"}};
  p["vigil"]["acknowledged"] = p["alerts"][1]["acknowledged"];
  return p;
}

// The group resolved: both alerts ended, no escalation.
inline nlohmann::json resolved_payload(int sequence = 5) {
  nlohmann::json p = firing_payload(sequence);
  p["status"] = "resolved";
  for (auto& a : p["alerts"]) {
    a["status"] = "resolved";
    a["endsAt"] = "2026-11-23T10:30:00.000Z";
  }
  p["vigil"]["escalation_step"] = -1;
  return p;
}

}  // namespace vigil::testing::email
