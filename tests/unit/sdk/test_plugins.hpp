// Plugins used by the SDK's unit tests, compiled into unit_sdk and reached through their
// descriptor functions (a binary can hold only one vigil_plugin_entry).
//
// Each exercises one part of the SDK through the whole C ABI path; none may touch anything
// outside the fake host it is created in, except the probes below that tests read.
#pragma once

#include <vigil/sdk.hpp>

#include <atomic>
#include <optional>

namespace sdk_test {

// Counts plugin objects destroyed, to see that failed configure() and destroy() free them.
extern std::atomic<int> destroyed;
// The Config the probe plugin was configured with.
extern std::optional<vigil::Config> last_config;

const vigil_plugin_desc* thrower_plugin();  // collector; "mode" picks how collect() fails
const vigil_plugin_desc* probe_plugin();    // collector; one option of every type
const vigil_plugin_desc* meter_plugin();    // collector; gauges, counters, a histogram
const vigil_plugin_desc* web_plugin();      // pull exporter; HTTP routes and a store visit
const vigil_plugin_desc* duo_plugin();      // collector + health check in one class
const vigil_plugin_desc* pager_plugin();    // notifier
const vigil_plugin_desc* pusher_plugin();   // push exporter with flush
const vigil_plugin_desc* handles_plugin();  // collector holding handles, unregisters them

}  // namespace sdk_test
