// Parsing of one StatsD line (Etsy StatsD with DogStatsD tags) into a ParsedLine, and the
// Prometheus name rules the rest of the plugin relies on.
//
// Pure functions over text: no sockets, no SDK calls, no shared state, so the tests drive them
// directly and the listener threads call them without a lock. This file must never log or count:
// it reports a bad line through its return value and an error message that quotes what was found
// and says what was expected.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::collector_statsd {

// The StatsD type letter after the first '|'.
enum class SampleType { counter, gauge, timer, histogram, distribution, set };

const char* sample_type_name(SampleType type);

// One value of a line. `relative` is set for gauges written "+3" or "-2", which change the gauge
// instead of setting it.
struct SampleValue {
  double number = 0;
  bool relative = false;
};

// Label pairs sorted by name, each name once.
using TagList = std::vector<std::pair<std::string, std::string>>;

// A line such as "api.latency:12|ms|@0.5|#route:/users,method:get".
struct ParsedLine {
  std::string source_name;  // the name as sent, for messages and help texts
  std::string name;         // sanitized to Prometheus' rules, without the instance's prefix
  SampleType type = SampleType::counter;
  std::vector<SampleValue> values;  // one or more (DogStatsD packs "name:1:2:3|ms"); not for sets
  std::string set_member;           // sets only: the member, verbatim
  double sample_rate = 1.0;         // (0, 1]
  TagList tags;  // label names sanitized; empty values dropped (Prometheus treats them as absent)
};

enum class LineKind {
  sample,       // `out` holds the line
  blank,        // nothing but whitespace: skipped silently
  unsupported,  // a DogStatsD event ("_e{...}") or service check ("_sc|..."): not metrics
  error,        // `error` says what was wrong
};

// Parses one line (without its '\n'; a trailing '\r' and surrounding blanks are ignored). On
// LineKind::error, `error` holds a one-line reason naming what was found and what was expected.
LineKind parse_line(std::string_view line, ParsedLine& out, std::string& error);

// A metric name made valid for Prometheus ([a-zA-Z_:][a-zA-Z0-9_:]*): '.', '-' and every other
// character outside the set become '_', and a leading digit gets a '_' in front. "" stays "".
std::string sanitize_metric_name(std::string_view name);

// A label name made valid ([a-zA-Z_][a-zA-Z0-9_]*) the same way.
std::string sanitize_label_name(std::string_view name);

// True when `name` is a valid Prometheus metric name (used to check the prefix option).
bool valid_metric_name(std::string_view name);

// True when `text` is well-formed UTF-8 without NUL bytes.
bool valid_label_value(std::string_view text);

}  // namespace vigil::collector_statsd
