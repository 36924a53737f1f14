// Reading `vigil test-rules` files: a good file lands in the structures the runner uses, and
// each mistake names the file, the path inside the returned table, found and expected.
#include "core/rule_test_file.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace {

struct TempFile {
  std::filesystem::path path;
  explicit TempFile(const std::string& text) {
    path =
        std::filesystem::temp_directory_path() / ("vigil-rule-test-" + std::to_string(::getpid()) +
                                                  "-" + std::to_string(counter()++) + ".lua");
    std::ofstream(path) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

bool has(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a test file with series, health, expectations and actions is read in full") {
  TempFile f(R"(
    local cpu = 'node_load1{instance="db-1"}'
    return {
      rule_files = { "load.lua" },
      start = "2026-01-05T09:00:00Z",
      tests = {
        { name = "load fires", interval = "30s",
          series = { { cpu, "0+1x10" }, { series = 'up{job="node"}', values = "1x5 _ stale" } },
          health = { { check = "db", values = "ok criticalx2" } },
          alerts = { { at = "5m", firing = { { labels = { alertname = "HighLoad" },
                                              annotations = { summary = "x" },
                                              flags = { "acknowledged" } } },
                       pending = {} } },
          notifications = { { at = "5m", receiver = "ops", step = 0, alerts = { "HighLoad" } } },
          actions = { { at = "6m", ack = { alertname = "HighLoad" }, author = "bob", sticky = true },
                      { at = "7m", silence = { 'alertname="HighLoad"' }, duration = "1h" } },
        },
      },
    })");
  std::vector<std::string> errors;
  auto file = vigil::core::read_rule_test_file(f.path, errors);
  INFO((errors.empty() ? "" : errors[0]));
  REQUIRE(file);
  CHECK(file->rule_files[0] == f.path.parent_path() / "load.lua");
  CHECK(file->start_ms == 1767603600000);
  REQUIRE(file->tests.size() == 1);
  const auto& t = file->tests[0];
  CHECK(t.name == "load fires");
  CHECK(t.interval_ms == 30000);
  REQUIRE(t.series.size() == 2);
  CHECK(t.series[0].name == "node_load1");
  CHECK(t.series[0].labels.at("instance") == "db-1");
  CHECK(t.series[0].steps.size() == 11);
  CHECK(t.series[1].steps.size() == 8);
  REQUIRE(t.health.size() == 1);
  CHECK(t.health[0].steps.size() == 4);
  REQUIRE(t.alerts.size() == 1);
  CHECK(t.alerts[0].at_ms == 300000);
  CHECK(t.alerts[0].firing[0].labels.at("alertname") == "HighLoad");
  CHECK(t.alerts[0].pending->empty());
  CHECK(t.check_notifications);
  CHECK(t.notifications[0].step == 0);
  REQUIRE(t.actions.size() == 2);
  CHECK(t.actions[0].sticky);
  CHECK(t.actions[1].kind == vigil::core::TestAction::silence);
  CHECK(t.actions[1].duration_ms == 3600000);
  CHECK(t.duration_ms == 330000);  // the last expectation plus one interval
}

TEST_CASE("test file mistakes are all reported with their path") {
  TempFile f(R"(
    return {
      rule_files = { "x.lua" },
      tests = {
        { series = { { 'up{job=~"a"}', "1" }, { "up", "0+x3" } },
          health = { { check = "db", values = "ok down" } },
          alerts = { { at = "soon", firing = { { labels = 3 } } } },
          notifications = { { at = "1m", receiver = "ops", status = "sent" } },
          bogus = 1 },
      },
    })");
  std::vector<std::string> errors;
  CHECK_FALSE(vigil::core::read_rule_test_file(f.path, errors));
  const std::string n = f.path.string() + ": ";
  CHECK(has(errors, n + "tests[0].bogus: unknown key"));
  CHECK(has(errors, n + "tests[0].series[0].series: `up{job=~\"a\"}` uses a matcher other than ="));
  CHECK(has(errors, n + "tests[0].series[1].values: token 1 \"0+x3\""));
  CHECK(has(errors, n + "tests[0].health[0].values: token 2 \"down\""));
  CHECK(has(errors, n + "tests[0].alerts[0].at: found \"soon\""));
  CHECK(has(errors, n + "tests[0].alerts[0].firing[0].labels: found 3"));
  CHECK(has(errors, n + "tests[0].notifications[0].status: found \"sent\""));
}

TEST_CASE("a test file that is not data is refused with the file and line") {
  TempFile syntax("return { tests = {");
  std::vector<std::string> errors;
  CHECK_FALSE(vigil::core::read_rule_test_file(syntax.path, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find(syntax.path.string() + ":1:") == 0);

  TempFile loop("while true do end");
  errors.clear();
  CHECK_FALSE(vigil::core::read_rule_test_file(loop.path, errors));
  CHECK(has(errors, "expected plain data"));

  TempFile escape("return { rule_files = { io.open('/etc/passwd'):read('a') } }");
  errors.clear();
  CHECK_FALSE(vigil::core::read_rule_test_file(escape.path, errors));
  CHECK(has(errors, "attempt to index a nil value (global 'io')"));

  TempFile function("return { rule_files = { 'a.lua' }, tests = { { name = string.len } } }");
  errors.clear();
  CHECK_FALSE(vigil::core::read_rule_test_file(function.path, errors));
  CHECK(has(errors, "tests[0].name: found"));
}
