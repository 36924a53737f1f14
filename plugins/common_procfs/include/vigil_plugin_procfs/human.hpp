// Numbers as the plugins' health messages and configuration errors show them to a person: sizes
// in binary units, percentages, measured durations, and configured durations written back the
// way the config file spells them.
//
// One way to print each kind of number, so the same quantity reads the same in every plugin's
// messages. Pure functions: they must never depend on the locale (snprintf in the "C" locale the
// host keeps) nor print a unit's rollover value ("1024.0 MiB" is "1.0 GiB").
#pragma once

#include <chrono>
#include <string>

namespace vigil::procfs {

// "%g": "80", "12.5", "0.25".
std::string format_number(double value);

// One decimal: "83.1".
std::string format_fixed1(double value);

// "6.6 GiB", "512.0 MiB", "12 B": binary units, one decimal (none for bytes); negative sizes
// print as "0 B".
std::string format_bytes(double bytes);

// "83.1% used (6.6 GiB of 7.9 GiB)": `used` of `total` bytes, as the memory and disk_space
// checks describe a resource. `total` must be positive.
std::string format_usage(double used, double total);

// "80 %", "80.5 %": a percentage with a decimal only where it is not whole.
std::string format_percent(double percent);

// A configured duration as the config file writes it: "5s", "250ms".
std::string format_config_duration(std::chrono::milliseconds duration);

// A measured duration to two or three significant figures: "0.4 ms", "9.9 ms", "12 ms",
// "999 ms", "2.50 s" (check_http, check_tcp).
std::string format_duration(double seconds);

// A round trip to a server on the same machine, finer below a millisecond: "0.12 ms",
// "150.4 ms", "2.50 s" (check_postgres, check_redis).
std::string format_latency(double seconds);

}  // namespace vigil::procfs
