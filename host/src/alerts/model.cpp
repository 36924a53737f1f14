// The few functions of the alerting vocabulary (model.hpp): state names and fingerprints.
//
// The fingerprint is persisted and shown to users (ack by fingerprint), so its algorithm must
// never change: FNV-1a 64 over "name\xffvalue\xff" for every label in name order.
#include "alerts/model.hpp"

#include <cstdio>

namespace vigil::alerts {

const char* to_string(State state) {
  switch (state) {
    case State::inactive:
      return "inactive";
    case State::pending:
      return "pending";
    case State::firing:
      return "firing";
    case State::resolved:
      return "resolved";
  }
  return "inactive";
}

bool Batch::empty() const {
  return alerts.empty() && deleted_alerts.empty() && transitions.empty() && silences.empty() &&
         groups.empty() && deleted_groups.empty() && notifications.empty();
}

std::string fingerprint(const Labels& labels) {
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](std::string_view text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
    hash ^= 0xff;
    hash *= 1099511628211ull;
  };
  for (const auto& [name, value] : labels) {
    mix(name);
    mix(value);
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

}  // namespace vigil::alerts
