// `vigil test-rules FILE...`: rule unit tests on a virtual clock.
//
// Each test writes its synthetic series into a real store (windows kept for every series), loads
// the rule files with the real Lua runtime, and drives the real alert engine and outbox
// (SQLite in memory) from one clock that jumps from event to event, so what passes here is what
// the daemon does. Expected alerts are compared at their times; expected notifications as the
// exact list of what left the outbox, when, to whom and at which escalation step.
#pragma once

#include "core/plan.hpp"

#include <string>
#include <vector>

namespace vigil::core {

// Runs every test in every file, prints one line per test and every difference; returns 0 when
// all passed, 1 when any failed or a file could not be read.
int run_rule_tests(const std::vector<std::string>& files, const Overrides& overrides);

}  // namespace vigil::core
