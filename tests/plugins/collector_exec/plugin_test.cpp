// The built collector_exec.so, loaded with dlopen and run through the SDK's fake host, running
// real commands: scripts printing the Prometheus text format or Influx line protocol, commands
// that fail, write to stderr, print garbage, or hang with a child — which must die with them.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"
#include "process_probe.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using vigil::MetricType;
using vigil::testing::FakeHost;
using vigil::testing::InstanceSettings;
using vigil::testing::OptionMap;

namespace {

const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(PLUGIN_PATH);
  return desc;
}

// `command` as the JSON list a user writes: one shell script.
OptionMap shell(const std::string& script, OptionMap extra = {}) {
  std::string escaped;
  for (char c : script) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  extra["command"] = "[\"" + escaped + "\"]";
  extra["shell"] = "true";
  return extra;
}

InstanceSettings settings(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  InstanceSettings s{"job"};
  s.timeout = timeout;
  return s;
}

const vigil::Labels kSelf = {{"instance", "job"}};

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_exec");
  REQUIRE(d->collector != nullptr);
  std::vector<std::string> names;
  for (size_t i = 0; i < d->option_count; ++i) names.push_back(d->options[i].name);
  CHECK(names == std::vector<std::string>{"command", "shell", "timeout", "environment",
                                          "working_directory", "format", "influx_precision",
                                          "honor_timestamps", "max_output_bytes"});
}

TEST_CASE(
    "the Prometheus text a command prints is served, with the run's duration and exit "
    "code") {
  FakeHost host;
  auto inst = host.create(plugin(),
                          shell("printf '# HELP queue_jobs Jobs waiting.\\n'\n"
                                "printf '# TYPE queue_jobs gauge\\n'\n"
                                "printf 'queue_jobs{queue=\"mail\"} 4\\n'\n"
                                "printf '# TYPE job_seconds histogram\\n'\n"
                                "printf 'job_seconds_bucket{le=\"1\"} 2\\n'\n"
                                "printf 'job_seconds_bucket{le=\"+Inf\"} 3\\n'\n"
                                "printf 'job_seconds_sum 4.5\\njob_seconds_count 3\\n'\n"),
                          settings());
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("queue_jobs", {{"queue", "mail"}}) == 4);
  CHECK(host.family("queue_jobs")->help == "Jobs waiting.");
  CHECK(host.histogram("job_seconds").cumulative == std::vector<uint64_t>{2});
  CHECK(host.histogram("job_seconds").count == 3);
  CHECK(host.value("vigil_exec_exit_code", kSelf) == 0);
  double duration = host.value("vigil_exec_duration_seconds", kSelf);
  CHECK(duration > 0);
  CHECK(duration < 30);
  CHECK(host.family("vigil_exec_duration_seconds")->type == MetricType::gauge);
}

TEST_CASE("arguments reach the program as given, without a shell") {
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"command", R"(["printf", "arg_seen{value=\"%s\"} 1\n", "$HOME *"])"}},
                  settings());
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("arg_seen", {{"value", "$HOME *"}}) == 1);
  CHECK(host.family("arg_seen")->help == "Metric printed by printf.");
}

TEST_CASE("Influx line protocol output becomes gauges") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      shell("echo 'nginx,server=web1 active=12i,reading=1i,up=true 1700000000000000000'",
            {{"format", "influx"}, {"honor_timestamps", "true"}}),
      settings());
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("nginx_active", {{"server", "web1"}}) == 12);
  CHECK(host.value("nginx_up", {{"server", "web1"}}) == 1);
  CHECK(host.series("nginx_active").at(0).timestamp_ms == 1700000000000);
}

TEST_CASE("series the command stops printing are removed") {
  FakeHost host;
  auto inst = host.create(plugin(),
                          shell("if [ -e \"$MARK\" ]; then echo 'disk_ok{disk=\"a\"} 1'; else "
                                "touch \"$MARK\"; echo 'disk_ok{disk=\"a\"} 1'; "
                                "echo 'disk_ok{disk=\"b\"} 1'; fi",
                                {{"environment", R"(["MARK=/tmp/vigil_exec_test_mark"])"}}),
                          settings());
  std::remove("/tmp/vigil_exec_test_mark");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.series("disk_ok").size() == 2);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.series("disk_ok").size() == 1);
  CHECK_FALSE(host.has("disk_ok", {{"disk", "b"}}));
  std::remove("/tmp/vigil_exec_test_mark");
}

TEST_CASE("stderr lines go to the log at warning level, prefixed with the command") {
  FakeHost single;
  auto one = single.create(plugin(), shell("ls /vigil-no-such-dir"), settings());
  CHECK_FALSE(one.collect().is_ok());
  CHECK(single.logged("ls: ls: cannot access '/vigil-no-such-dir'"));

  FakeHost host;
  auto inst = host.create(
      plugin(), shell("echo 'disk sdb is slow' >&2; echo 'retrying' >&2; echo 'ok 1'"), settings());
  REQUIRE(inst.collect().is_ok());
  bool found = false;
  for (const auto& line : host.logs())
    if (line.message == "sh: disk sdb is slow" && line.level == VIGIL_LOG_WARN) found = true;
  CHECK(found);
  CHECK(host.logged("sh: retrying"));
  CHECK(host.value("ok") == 1);
}

TEST_CASE("a failing command's output is not used and its series are removed") {
  FakeHost host;
  auto inst =
      host.create(plugin(),
                  shell("if [ -e /tmp/vigil_exec_test_fail ]; then echo 'half 1'; exit 3; fi; "
                        "echo 'half 1'; echo 'whole 2'"),
                  settings());
  std::remove("/tmp/vigil_exec_test_fail");
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("whole"));
  { std::ofstream("/tmp/vigil_exec_test_fail") << "x"; }
  CHECK(inst.collect().to_string() ==
        "unavailable: sh exited with status 3; its output was not used");
  std::remove("/tmp/vigil_exec_test_fail");
  CHECK_FALSE(host.has("whole"));
  CHECK_FALSE(host.has("half"));
  CHECK(host.value("vigil_exec_exit_code", kSelf) == 3);
}

TEST_CASE("output that does not parse fails the collect with the line") {
  FakeHost host;
  auto inst = host.create(plugin(), shell("echo 'good 1'; echo 'bad{x=1} 2'"), settings());
  CHECK(
      inst.collect().to_string() ==
      R"(invalid argument: output of sh, line 2: expected a quoted label value after x=, found "1}")");
  CHECK_FALSE(host.has("good"));
  CHECK(host.value("vigil_exec_exit_code", kSelf) == 0);
}

TEST_CASE("a timeout kills the command and the child it started") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      shell("sleep 1000 & echo $! > /tmp/vigil_exec_test_child; wait", {{"timeout", "400ms"}}),
      settings());
  std::remove("/tmp/vigil_exec_test_child");
  CHECK(inst.collect().to_string() ==
        "timeout: sh timed out after 400ms and was killed with its process group");
  CHECK(host.value("vigil_exec_exit_code", kSelf) == 143);
  std::ifstream in("/tmp/vigil_exec_test_child");
  pid_t child = 0;
  REQUIRE(in >> child);
  CHECK(vigil::testing::eventually_gone(child));
  std::remove("/tmp/vigil_exec_test_child");
}

TEST_CASE("the default timeout is the instance's less a kill grace") {
  FakeHost host;
  auto inst = host.create(plugin(), shell("sleep 1000"), settings(std::chrono::milliseconds(1000)));
  // 1 s instance timeout: the command gets 800 ms, then SIGTERM, and SIGKILL 200 ms later.
  CHECK(inst.collect().to_string() ==
        "timeout: sleep timed out after 800ms and was killed with its process group");
}

TEST_CASE("output beyond max_output_bytes is refused") {
  FakeHost host;
  auto inst = host.create(
      plugin(), shell("yes 'm 1' | head -n 1000", {{"max_output_bytes", "100"}}), settings());
  CHECK(inst.collect().to_string() ==
        "invalid argument: sh printed more than max_output_bytes (100 bytes); its output was "
        "not used");
}

TEST_CASE("a command that cannot start is refused when the instance is created") {
  FakeHost host;
  auto missing = host.try_create(plugin(), {{"command", R"(["vigil-no-such-command"])"}});
  CHECK(missing.status().message().rfind(
            "option \"command\": command \"vigil-no-such-command\" was not found in PATH (", 0) ==
        0);
  auto two = host.try_create(plugin(), {{"command", R"(["echo a", "b"])"}, {"shell", "true"}});
  CHECK(two.status().to_string() ==
        "invalid argument: option \"command\" has 2 entries but \"shell\" is true; expected one "
        "entry, the script for /bin/sh -c");
  auto format = host.try_create(plugin(), {{"command", R"(["true"])"}, {"format", "json"}});
  CHECK(format.status().to_string() ==
        "invalid argument: option \"format\" is \"json\"; expected \"prometheus\" or \"influx\"");
  auto env = host.try_create(plugin(), {{"command", R"(["true"])"}, {"environment", R"(["X"])"}});
  CHECK(env.status().to_string() ==
        "invalid argument: option \"environment\": entry \"X\" is not NAME=value");
  auto empty = host.try_create(plugin(), {{"command", "[]"}});
  CHECK(empty.status().message().rfind("option \"command\" is empty", 0) == 0);
}
