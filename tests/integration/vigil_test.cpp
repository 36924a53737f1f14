// The real vigil binary with real plugins on loopback: what a user sees when they run it.
#include "harness.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
using vigil::testing::http_request;
using vigil::testing::run_command;
using vigil::testing::sample_value;
using vigil::testing::VigilProcess;

namespace {

json base_config() {
  return json{{"plugin_dirs", {VIGIL_TEST_PLUGIN_DIR, VIGIL_PLUGIN_DIR}},
              {"scheduler", {{"interval", "200ms"}, {"timeout", "1s"}}},
              {"shutdown_timeout", "3s"}};
}

json exporter() {
  return json{{"plugin", "exporter_prometheus"}, {"name", "prometheus"}};
}

std::string metrics(VigilProcess& vigil) {
  auto reply = http_request(vigil.port(), "GET", "/metrics");
  REQUIRE(reply.status == 200);
  return reply.body;
}

// Polls /metrics until `series` reaches at least `minimum`.
bool wait_for_sample(VigilProcess& vigil, const std::string& series, double minimum,
                     std::chrono::milliseconds timeout = 10s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    auto reply = http_request(vigil.port(), "GET", "/metrics");
    auto value = sample_value(reply.body, series);
    if (value && *value >= minimum) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::string shell_quote(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace

TEST_CASE("vigil serves node_exporter-compatible metrics that promtool accepts") {
  auto cfg = base_config();
  cfg["instances"] = {
      {{"plugin", "collector_cpu"}, {"name", "cpu"}, {"labels", {{"role", "test"}}}},
      {{"plugin", "collector_memory"}, {"name", "memory"}},
      exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_status("/health/ready", 200, 10s));
  auto text = metrics(vigil);
  CHECK(text.find("# TYPE node_cpu_seconds_total counter") != std::string::npos);
  CHECK(text.find("node_cpu_seconds_total{cpu=\"0\",mode=\"idle\",role=\"test\"} ") !=
        std::string::npos);
  CHECK(text.find("# TYPE node_memory_MemTotal_bytes gauge") != std::string::npos);
  CHECK(text.find("vigil_build_info{abi_version=\"1.2\",version=\"") != std::string::npos);
  CHECK(text.find("vigil_plugin_call_duration_seconds_bucket{instance=\"cpu\",plugin=\"collector_"
                  "cpu\",le=\"+Inf\"}") != std::string::npos);

  SECTION("promtool check metrics reports no error") {
    if (std::string(PROMTOOL).empty()) {
      WARN("promtool not installed (Debian package prometheus); skipping");
      return;
    }
    auto file = vigil::testing::make_temp_dir("vigil-promtool") / "metrics.txt";
    std::ofstream(file) << text;
    auto result = run_command(std::string(PROMTOOL) + " check metrics < " + file.string());
    INFO(result.output);
    // Exit 1 is a parse error. Exit 3 is lint only: node_exporter's own meminfo names
    // (node_memory_MemTotal_bytes) are camelCase, and dashboards depend on them, so that one
    // lint is expected and nothing else is allowed.
    CHECK((result.exit_code == 0 || result.exit_code == 3));
    std::istringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line.rfind("  not 'camelCase'", 0) == 0) continue;
      INFO(line);
      CHECK(line.rfind("node_memory_", 0) == 0);
      CHECK(line.find("should be written in 'snake_case' not 'camelCase'") != std::string::npos);
    }
  }

  SECTION("gzip when the client accepts it") {
    auto reply = http_request(vigil.port(), "GET", "/metrics", {{"Accept-Encoding", "gzip"}});
    CHECK(reply.status == 200);
    CHECK(reply.headers["content-encoding"] == "gzip");
    REQUIRE(reply.body.size() > 2);
    CHECK(static_cast<unsigned char>(reply.body[0]) == 0x1f);
    CHECK(static_cast<unsigned char>(reply.body[1]) == 0x8b);
    CHECK(reply.body.size() < text.size());
  }

  SECTION("SIGTERM stops it cleanly with exit status 0") {
    auto code = vigil.stop(SIGTERM, 10s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(vigil.log().find("stopped") != std::string::npos);
  }
}

TEST_CASE("health endpoints: live at once, ready once every instance ran") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_tick"}, {"interval", "1s"}}};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  CHECK(http_request(vigil.port(), "GET", "/health/live").status == 200);
  CHECK(vigil.wait_for_status("/health/ready", 200, 10s));
  CHECK(http_request(vigil.port(), "GET", "/nowhere").status == 404);
  CHECK(http_request(vigil.port(), "POST", "/health/live").status == 405);
}

TEST_CASE("an instance that fails to start keeps the host up but not ready") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_tick"}},
                      {{"plugin", "exporter_prometheus"}, {"name", "a"}},
                      {{"plugin", "exporter_prometheus"}, {"name", "b"}}};  // same /metrics
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_log("not started", 10s));
  auto ready = http_request(vigil.port(), "GET", "/health/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find("instance \"b\" (plugin exporter_prometheus): failed to start") !=
        std::string::npos);
  CHECK(http_request(vigil.port(), "GET", "/metrics").status == 200);
}

TEST_CASE("a collector that throws is contained, logged with its names, and counted") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_throws"}, {"name", "thrower"}}, exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(wait_for_sample(
      vigil, "vigil_plugin_errors_total{instance=\"thrower\",plugin=\"test_throws\"}", 2));
  auto log = vigil.log();
  CHECK(log.find("[test_throws:thrower] collect failed: internal error: uncaught exception: boom "
                 "from collect") != std::string::npos);
  // The sample written before the throw stays.
  CHECK(sample_value(metrics(vigil), "test_throws_attempts_total").value_or(0) >= 1);
  CHECK(vigil.running());
}

TEST_CASE("a collector that returns an error is logged once and counted every time") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_error"}, {"name", "down"}}, exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(wait_for_sample(vigil,
                          "vigil_plugin_errors_total{instance=\"down\",plugin=\"test_error\"}", 3));
  auto log = vigil.log();
  const std::string line =
      "[test_error:down] collect failed: unavailable: the watched service at 127.0.0.1:1 is down";
  auto first = log.find(line);
  REQUIRE(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);
}

TEST_CASE("a collector that hangs past its timeout is counted and skipped, others keep time") {
  auto cfg = base_config();
  cfg["scheduler"]["workers"] = 1;
  cfg["instances"] = {
      {{"plugin", "test_hang"}, {"name", "stuck"}, {"interval", "300ms"}, {"timeout", "200ms"}},
      {{"plugin", "test_tick"}, {"name", "ticker"}, {"interval", "100ms"}},
      exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(wait_for_sample(
      vigil, "vigil_plugin_skipped_runs_total{instance=\"stuck\",plugin=\"test_hang\"}", 2));
  auto text = metrics(vigil);
  CHECK(sample_value(text,
                     "vigil_plugin_timeouts_total{instance=\"stuck\",plugin=\"test_hang\"}") == 1);
  // With one worker stuck, the ticker still ran: the pool replaced the hung worker.
  auto before = sample_value(text, "test_tick_ticks_total").value_or(0);
  std::this_thread::sleep_for(1s);
  auto after = sample_value(metrics(vigil), "test_tick_ticks_total").value_or(0);
  CHECK(after - before >= 4);  // 10 expected at 100 ms; generous for a loaded machine
  CHECK(vigil.log().find("test_hang:stuck: call still running after its timeout of 200ms") !=
        std::string::npos);

  // Shutdown abandons the hung call at the deadline instead of waiting for it.
  auto start = std::chrono::steady_clock::now();
  auto code = vigil.stop(SIGTERM, 20s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(std::chrono::steady_clock::now() - start < 15s);
  CHECK(vigil.log().find("abandon") != std::string::npos);
}

TEST_CASE("plugins from an older SDK minor and from another compiler load and run") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_old_minor"}}, exporter()};
  const bool clang =
      std::filesystem::exists(std::string(VIGIL_TEST_PLUGIN_DIR) + "/test_clang_tick.so");
  if (clang) cfg["instances"].push_back({{"plugin", "test_clang_tick"}});
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  CHECK(wait_for_sample(vigil, "test_old_minor_ticks_total", 2));
  if (clang)
    CHECK(wait_for_sample(vigil, "test_clang_tick_ticks_total", 2));
  else
    WARN("clang not installed; the clang-built plugin was not tested");
}

TEST_CASE("vigil plugins lists plugins and refuses bad ones in one clear line each") {
  auto result =
      run_command(std::string(VIGIL_BIN) + " plugins --plugin-dir " + VIGIL_TEST_PLUGIN_DIR);
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("test_old_minor 1.0.0 (collector)") != std::string::npos);
  CHECK(result.output.find("ABI 1.0") != std::string::npos);
  CHECK(result.output.find("hang  duration, default 1h") != std::string::npos);
  const std::string dir = VIGIL_TEST_PLUGIN_DIR;
  CHECK(result.output.find(dir + "/test_newer_minor.so: refused: built for a newer minor version "
                                 "(plugin ABI 1.99, host ABI 1.2)") != std::string::npos);
  CHECK(result.output.find(dir + "/test_other_major.so: refused: built for another major version "
                                 "(plugin ABI 2.0, host ABI 1.2)") != std::string::npos);
  CHECK(result.output.find(dir + "/test_no_entry.so: skipped: not a Vigil plugin") !=
        std::string::npos);
  CHECK(result.output.find(dir +
                           "/test_dup_b.so: refused: plugin name \"test_dup\" is already "
                           "provided by " +
                           dir + "/test_dup_a.so") != std::string::npos);
  // Each refusal is exactly one line.
  size_t refusals = 0;
  for (size_t at = result.output.find("refused:"); at != std::string::npos;
       at = result.output.find("refused:", at + 1))
    ++refusals;
  CHECK(refusals == 3);
}

TEST_CASE("vigil run maps only the plugins its config names and refuses one whose entry crashes") {
  auto cfg = base_config();
  cfg["plugin_dirs"].push_back(std::string(VIGIL_TEST_PLUGIN_DIR) + "/crashing");
  cfg["instances"] = {{{"plugin", "test_tick"}}, exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  CHECK(wait_for_sample(vigil, "test_tick_ticks_total", 1));
  const std::string dir = VIGIL_TEST_PLUGIN_DIR;
  const std::string log = vigil.log();
  INFO(log);
  CHECK(log.find(dir + "/crashing/test_entry_crash.so: refused: checking its entry point ended the "
                       "checking process with signal 11 (Segmentation fault)") !=
        std::string::npos);
  // The other files are still checked, with the same one-line refusals as `vigil plugins`.
  CHECK(log.find(dir + "/test_newer_minor.so: refused: built for a newer minor version") !=
        std::string::npos);
  CHECK(log.find(dir + "/test_dup_b.so: refused: plugin name \"test_dup\" is already provided by " +
                 dir + "/test_dup_a.so") != std::string::npos);
  CHECK(vigil.running());
  // Only the configured plugins are loaded: not the others in the directories, nor what they
  // link (libcurl for the HTTP plugins).
  std::ifstream in("/proc/" + std::to_string(vigil.pid()) + "/maps");
  std::stringstream maps;
  maps << in.rdbuf();
  CHECK(maps.str().find("/test_tick.so") != std::string::npos);
  CHECK(maps.str().find("/exporter_prometheus.so") != std::string::npos);
  CHECK(maps.str().find("/test_old_minor.so") == std::string::npos);
  CHECK(maps.str().find("/check_http.so") == std::string::npos);
  CHECK(maps.str().find("libcurl") == std::string::npos);
}

TEST_CASE("check-config prints every error with its JSON path and exits 1") {
  auto dir = vigil::testing::make_temp_dir("vigil-check");
  auto file = dir / "vigil.json";
  json cfg = base_config();
  cfg["http"] = {{"port", "ninety"}};
  cfg["instances"] = {{{"plugin", "test_tick"}, {"options", {{"hang", "soon"}, {"colour", 1}}}},
                      {{"plugin", "no_such_plugin"}},
                      {{"plugin", "test_newer_minor"}}};
  std::ofstream(file) << cfg.dump(2);
  auto result =
      run_command(std::string(VIGIL_BIN) + " check-config -c " + shell_quote(file.string()));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  const std::string f = file.string();
  CHECK(result.output.find(f + ": http.port: found \"ninety\" (a string), expected an integer") !=
        std::string::npos);
  CHECK(result.output.find(
            f + ": instances[0].options.hang: found \"soon\" (a string), expected a duration") !=
        std::string::npos);
  CHECK(result.output.find(f + ": instances[0].options.colour: unknown option \"colour\" for "
                               "plugin \"test_tick\", expected one of: hang") != std::string::npos);
  CHECK(result.output.find(f + ": instances[1].plugin: found \"no_such_plugin\", expected one of "
                               "the plugins found in") != std::string::npos);
  CHECK(result.output.find(f + ": instances[2].plugin: found \"test_newer_minor\"") !=
        std::string::npos);
  CHECK(result.output.find("5 error(s)") != std::string::npos);

  cfg.erase("http");
  cfg["instances"] = {{{"plugin", "test_tick"}, {"options", {{"hang", "2s"}}}}};
  std::ofstream(file) << cfg.dump(2);
  auto ok = run_command(std::string(VIGIL_BIN) + " check-config -c " + shell_quote(file.string()));
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find(": OK (1 instance(s)") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("SIGHUP applies a valid config and keeps the running one on an invalid config") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_tick"}, {"name", "first"}}, exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(wait_for_sample(vigil, "test_tick_ticks_total", 1));

  auto broken = cfg;
  broken["instances"].push_back({{"plugin", "test_tick"}, {"interval", "never"}});
  vigil.rewrite_config(broken);
  vigil.signal(SIGHUP);
  REQUIRE(vigil.wait_for_log("reload rejected", 10s));
  CHECK(vigil.log().find("instances[2].interval: found \"never\"") != std::string::npos);
  CHECK(http_request(vigil.port(), "GET", "/metrics").status == 200);

  auto next = cfg;
  next["instances"] = {{{"plugin", "test_tick"}, {"name", "second"}, {"labels", {{"env", "b"}}}},
                       exporter()};
  vigil.rewrite_config(next);
  vigil.signal(SIGHUP);
  REQUIRE(vigil.wait_for_log("reloaded: 2 instance(s)", 10s));
  CHECK(wait_for_sample(vigil, "test_tick_ticks_total{env=\"b\"}", 1));
  CHECK(sample_value(metrics(vigil), "vigil_plugin_up{instance=\"second\",plugin=\"test_tick\"}") ==
        1);
  auto code = vigil.stop(SIGINT, 10s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("the CLI explains itself") {
  auto help = run_command(std::string(VIGIL_BIN) + " --help");
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("Usage: vigil <command> [options]") != std::string::npos);
  CHECK(help.output.find("check-config") != std::string::npos);
  auto version = run_command(std::string(VIGIL_BIN) + " version");
  CHECK(version.output.find("(plugin ABI 1.2)") != std::string::npos);
  auto bad = run_command(std::string(VIGIL_BIN) + " frobnicate");
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("unknown command \"frobnicate\"") != std::string::npos);
  auto level = run_command(std::string(VIGIL_BIN) + " run -c x.json --log-level loud");
  CHECK(level.output.find("--log-level: found \"loud\"") != std::string::npos);
}

TEST_CASE("JSON log lines carry the plugin and instance names") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_error"}, {"name", "db"}}};
  VigilProcess vigil(cfg, {"--log-format", "json"});
  REQUIRE(vigil.wait_for_log("collect failed", 10s));
  auto log = vigil.log();
  CHECK(log.find("\"plugin\":\"test_error\",\"instance\":\"db\"") != std::string::npos);
}

TEST_CASE("the optional log file receives every line, and an unwritable one is reported") {
  auto dir = vigil::testing::make_temp_dir("vigil-logfile");
  auto cfg = base_config();
  cfg["log"] = {
      {"file", (dir / "vigil.log").string()}, {"max_file_bytes", 65536}, {"max_files", 2}};
  cfg["instances"] = {{{"plugin", "test_error"}, {"name", "db"}}};
  {
    VigilProcess vigil(cfg);
    REQUIRE(vigil.wait_for_log("collect failed", 10s));
    REQUIRE(vigil.stop(SIGTERM, 10s) == 0);
  }
  std::ifstream in(dir / "vigil.log");
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("[test_error:db] collect failed: unavailable") != std::string::npos);

  cfg["log"] = {{"file", "/proc/vigil-cannot-write-here.log"}};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  CHECK(vigil.log().find("log.file: cannot write \"/proc/vigil-cannot-write-here.log\"") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("health checks: /api/v1/health, readiness gated by marked checks, changes logged once") {
  auto dir = vigil::testing::make_temp_dir("vigil-health");
  auto write_status = [&](const std::string& name, const std::string& line) {
    std::ofstream(dir / (name + ".tmp")) << line << "\n";
    std::filesystem::rename(dir / (name + ".tmp"), dir / name);
  };
  write_status("db", "0 accepting connections");
  write_status("cache", "1 memory 85% used");
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "test_check"},
                       {"name", "db"},
                       {"gates_readiness", true},
                       {"options", {{"status_file", (dir / "db").string()}}}},
                      {{"plugin", "test_check"},
                       {"name", "cache"},
                       {"options", {{"status_file", (dir / "cache").string()}}}},
                      exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_status("/health/ready", 200, 10s));

  auto reply = http_request(vigil.port(), "GET", "/api/v1/health");
  REQUIRE(reply.status == 200);
  CHECK(reply.headers["content-type"] == "application/json");
  auto health = json::parse(reply.body);
  CHECK(health["status"] == "warning");
  CHECK(health["score"] == 75);
  REQUIRE(health["checks"].size() == 2);
  CHECK(health["checks"][0]["name"] == "db");
  CHECK(health["checks"][0]["status"] == "ok");
  CHECK(health["checks"][0]["message"] == "accepting connections");
  CHECK(health["checks"][0]["gates_readiness"] == true);
  CHECK(health["checks"][0]["last_success"].is_string());
  CHECK(health["checks"][0]["duration_seconds"].is_number());
  CHECK(health["checks"][1]["status"] == "warning");
  CHECK(health["checks"][1]["last_success"].is_null());
  const std::string since = health["checks"][0]["since"];

  // The gating check goes critical: not ready, and it says why. The other one never gates.
  write_status("db", "2 connection refused");
  REQUIRE(vigil.wait_for_status("/health/ready", 503, 10s));
  auto ready = http_request(vigil.port(), "GET", "/health/ready");
  CHECK(
      ready.body.find("instance \"db\" (plugin test_check): health critical: connection refused") !=
      std::string::npos);
  CHECK(wait_for_sample(vigil, "vigil_health_status{check=\"db\"}", 2));
  health = json::parse(http_request(vigil.port(), "GET", "/api/v1/health").body);
  CHECK(health["status"] == "critical");
  CHECK(health["checks"][0]["since"] != since);

  write_status("db", "0 accepting connections");
  REQUIRE(vigil.wait_for_status("/health/ready", 200, 10s));
  std::this_thread::sleep_for(500ms);  // several more runs at 200 ms
  auto log = vigil.log();
  auto count = [&](const std::string& text) {
    size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  };
  CHECK(count("[test_check:db] health critical: connection refused") == 1);
  CHECK(count("[test_check:db] health ok: accepting connections") == 2);
  CHECK(count("[test_check:cache] health warning: memory 85% used") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kinds narrows a plugin that provides several kinds") {
  auto cfg = base_config();
  cfg["instances"] = {{{"plugin", "collector_memory"}, {"name", "mem"}, {"kinds", {"collector"}}},
                      exporter()};
  VigilProcess vigil(cfg);
  REQUIRE(vigil.port() != 0);
  REQUIRE(vigil.wait_for_status("/health/ready", 200, 10s));
  auto health = json::parse(http_request(vigil.port(), "GET", "/api/v1/health").body);
  CHECK(health["checks"].empty());
  CHECK(metrics(vigil).find("node_memory_MemTotal_bytes") != std::string::npos);
  CHECK(vigil.log().find("[collector_memory:mem] started (collector, every") != std::string::npos);

  auto dir = vigil::testing::make_temp_dir("vigil-kinds");
  auto file = dir / "vigil.json";
  cfg["instances"] = {{{"plugin", "collector_memory"}, {"kinds", {"notifier"}}}};
  std::ofstream(file) << cfg.dump();
  auto result =
      run_command(std::string(VIGIL_BIN) + " check-config -c " + shell_quote(file.string()));
  INFO(result.output);
  CHECK(result.exit_code == 1);
  CHECK(
      result.output.find("instances[0].kinds: found \"notifier\", but plugin \"collector_memory\" "
                         "provides only: collector, health_check") != std::string::npos);
  std::filesystem::remove_all(dir);
}
