// The test files of `vigil test-rules`: a Lua chunk that returns a table of plain data (so users
// can comment, loop and share values), read in a bare Lua state with no libraries but string,
// table and math, then checked in full. Every problem names the file and the path inside the
// returned table (`tests[2].alerts[1].at`), what was found and what was expected.
//
// This file only reads and validates; running the tests lives in rule_tests.cpp.
#pragma once

#include "core/series_notation.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::core {

struct TestSeries {
  std::string path;      // "tests[0].series[1]", for messages
  std::string selector;  // `metric{a="b"}`: the name and equality labels of the series
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<Step> steps;  // one per `interval`, from the test's start
};

struct TestHealth {
  std::string path;
  std::string check;
  std::vector<Step> steps;
};

struct ExpectedAlert {
  std::string path;
  std::map<std::string, std::string> labels;       // must equal the alert's labels exactly
  std::map<std::string, std::string> annotations;  // each given one must equal
  std::optional<std::vector<std::string>> flags;   // e.g. {"acknowledged"}; unset = not checked
};

// At `at_ms` (from the start) the firing alerts are exactly `firing` (none when empty), and, when
// given, the pending ones exactly `pending`; order does not matter.
struct AlertCheck {
  std::string path;
  int64_t at_ms = 0;
  std::vector<ExpectedAlert> firing;
  std::optional<std::vector<ExpectedAlert>> pending;
};

// A notification that must leave the outbox at exactly `at_ms` (from the start).
struct ExpectedNotification {
  std::string path;
  int64_t at_ms = 0;
  std::string receiver;
  std::string status = "firing";
  std::optional<int> step;                             // escalation step; unset = not checked
  std::optional<std::vector<std::string>> alertnames;  // sorted; unset = not checked
};

// An operator action at a time: acknowledge or silence.
struct TestAction {
  std::string path;
  int64_t at_ms = 0;
  enum Kind { ack, unack, silence } kind = ack;
  std::map<std::string, std::string> labels;  // ack: the alert with these labels (subset match)
  std::vector<std::string> matchers;          // silence
  int64_t duration_ms = 0;                    // silence length, ack expiry (0 = none)
  std::string author = "test", comment;
  bool sticky = false;
};

struct RuleTest {
  std::string path;  // "tests[0]"
  std::string name;
  int64_t interval_ms = 60'000;  // between series steps
  int64_t duration_ms = 0;       // how long to run; default: the last expectation + interval
  std::vector<TestSeries> series;
  std::vector<TestHealth> health;
  std::vector<AlertCheck> alerts;
  bool check_notifications = false;  // "notifications" given: the list must match exactly
  std::vector<ExpectedNotification> notifications;
  std::vector<TestAction> actions;
  std::vector<std::string> failing_receivers;  // deliveries to these fail (fallback tests)
};

struct RuleTestFile {
  std::filesystem::path file;
  std::vector<std::filesystem::path> rule_files;  // resolved against the test file's folder
  // The virtual clock at the start of every test ("start" in RFC 3339); by default Monday
  // 2026-01-05 00:00 UTC, so time-of-day and weekday rules have a known place to start.
  int64_t start_ms = 1'767'571'200'000;
  std::vector<RuleTest> tests;
};

// Reads and checks `file`. On failure returns nullopt and appends messages
// ("FILE: PATH: found ..., expected ...") to `errors`.
std::optional<RuleTestFile> read_rule_test_file(const std::filesystem::path& file,
                                                std::vector<std::string>& errors);

}  // namespace vigil::core
