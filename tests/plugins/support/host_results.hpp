// What a plugin test reads back from the SDK's fake host, in the words a user would see: a
// health check's "status: message" line, why an instance was refused at start, and how often the
// plugin logged something.
//
// Test helpers only: they must never change the fake host's state.
#pragma once

#include <vigil/plugin.h>
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <set>
#include <string>

namespace vigil::testing {

inline const char* status_name(vigil_health_status s) {
  switch (s) {
    case VIGIL_HEALTH_OK:
      return "ok";
    case VIGIL_HEALTH_WARNING:
      return "warning";
    case VIGIL_HEALTH_CRITICAL:
      return "critical";
    default:
      return "unknown";
  }
}

// Runs the check and returns "critical: <message>", so a failed assertion shows what the check
// said. REQUIREs that the call itself succeeded.
inline std::string run_check(FakeInstance& inst) {
  vigil::Status s = inst.check();
  REQUIRE(s.to_string() == "ok");
  return std::string(status_name(inst.health().status)) + ": " + inst.health().message;
}

// The message of a start the plugin refuses with these options (VIGIL_ERR_INVALID_ARGUMENT, what
// a user reads in the log when the instance does not start). REQUIREs the refusal.
inline std::string refused_start(const vigil_plugin_desc* desc, const OptionMap& options) {
  FakeHost host;
  auto inst = host.try_create(desc, options);
  REQUIRE_FALSE(inst);
  CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  return inst.status().message();
}

// The values one label takes across a family's series: which devices, groups or mount points a
// user would see.
inline std::set<std::string> label_values(const FakeHost& host, const std::string& family,
                                          const std::string& label) {
  std::set<std::string> out;
  for (const auto& s : host.series(family))
    for (const auto& [name, value] : s.labels)
      if (name == label) out.insert(value);
  return out;
}

// How many log lines contain `text` (at `level`, or at any level when none is given).
inline std::size_t count_logs(const FakeHost& host, const std::string& text) {
  std::size_t n = 0;
  for (const auto& line : host.logs())
    if (line.message.find(text) != std::string::npos) ++n;
  return n;
}
inline std::size_t count_logs(const FakeHost& host, vigil_log_level level,
                              const std::string& text) {
  std::size_t n = 0;
  for (const auto& line : host.logs())
    if (line.level == level && line.message.find(text) != std::string::npos) ++n;
  return n;
}

}  // namespace vigil::testing
