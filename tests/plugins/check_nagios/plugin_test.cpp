// The built check_nagios.so, loaded with dlopen and run through the SDK's fake host, running the
// real programs of Debian's monitoring-plugins-basic: check_dummy for every exit status,
// check_disk on /, check_tcp against a listener the test opens (then closes), check_procs and
// check_load; plus scripts that hang with a child (the whole group must die), crash, or exit
// with a status Nagios does not define.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"
#include "process_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

using vigil::testing::FakeHost;
using vigil::testing::InstanceSettings;
using vigil::testing::OptionMap;

namespace {

const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(PLUGIN_PATH);
  return desc;
}

std::string check_program(const char* name) {
  return std::string(NAGIOS_PLUGINS) + "/" + name;
}

// `command` as the JSON list a user writes.
std::string json_list(std::initializer_list<std::string> items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ",";
    out += "\"";
    for (char c : item) {
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "]";
}

OptionMap shell(const std::string& script, OptionMap extra = {}) {
  extra["command"] = json_list({script});
  extra["shell"] = "true";
  return extra;
}

InstanceSettings named(const std::string& name) {
  InstanceSettings s{name};
  s.timeout = std::chrono::seconds(10);
  return s;
}

// A TCP listener on a free loopback port; the kernel completes handshakes from the backlog.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ~Listener() { close(); }
};

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "check_nagios");
  REQUIRE(d->health_check != nullptr);
  CHECK(d->collector == nullptr);
  std::vector<std::string> names;
  for (size_t i = 0; i < d->option_count; ++i) names.push_back(d->options[i].name);
  CHECK(names == std::vector<std::string>{"command", "shell", "timeout", "environment",
                                          "working_directory", "perfdata"});
}

TEST_CASE("check_dummy: exit statuses 0 to 3 are ok, warning, critical and unknown") {
  const std::pair<const char*, vigil_health_status> cases[] = {
      {"0", VIGIL_HEALTH_OK},
      {"1", VIGIL_HEALTH_WARNING},
      {"2", VIGIL_HEALTH_CRITICAL},
      {"3", VIGIL_HEALTH_UNKNOWN},
  };
  for (const auto& [code, status] : cases) {
    INFO("check_dummy " << code);
    FakeHost host;
    auto inst = host.create(
        plugin(), {{"command", json_list({check_program("check_dummy"), code, "all is well"})}},
        named("dummy"));
    REQUIRE(inst.check().is_ok());
    CHECK(inst.health().status == status);
    std::string word = status == VIGIL_HEALTH_OK         ? "OK"
                       : status == VIGIL_HEALTH_WARNING  ? "WARNING"
                       : status == VIGIL_HEALTH_CRITICAL ? "CRITICAL"
                                                         : "UNKNOWN";
    CHECK(inst.health().message == word + ": all is well");
  }
}

TEST_CASE("other exit statuses, signals and empty output are unknown") {
  FakeHost host;
  auto seven = host.create(plugin(), shell("echo 'half a result'; exit 7"), named("seven"));
  REQUIRE(seven.check().is_ok());
  CHECK(seven.health().status == VIGIL_HEALTH_UNKNOWN);
  CHECK(seven.health().message == "exit code 7 (expected 0-3): half a result");

  auto crash = host.create(plugin(), shell("echo 'OK so far'; kill -SEGV $$"), named("crash"));
  REQUIRE(crash.check().is_ok());
  CHECK(crash.health().status == VIGIL_HEALTH_UNKNOWN);
  CHECK(crash.health().message == "sh was killed by signal 11 (Segmentation fault)");

  auto silent = host.create(plugin(), shell("exit 0"), named("silent"));
  REQUIRE(silent.check().is_ok());
  CHECK(silent.health().status == VIGIL_HEALTH_OK);
  CHECK(silent.health().message == "(no output)");

  auto stderr_only =
      host.create(plugin(), shell("echo 'cannot open config' >&2; exit 3"), named("stderr"));
  REQUIRE(stderr_only.check().is_ok());
  CHECK(stderr_only.health().status == VIGIL_HEALTH_UNKNOWN);
  CHECK(stderr_only.health().message == "cannot open config");
}

TEST_CASE("check_disk on /: its perfdata in bytes, with thresholds and bounds") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      {{"command", json_list({check_program("check_disk"), "-w", "1%", "-c", "1%", "-p", "/"})}},
      named("root_disk"));
  REQUIRE(inst.check().is_ok());
  INFO(inst.health().message);
  CHECK(inst.health().message.rfind("DISK ", 0) == 0);
  vigil::Labels labels = {{"check", "root_disk"}, {"label", "/"}, {"uom", "bytes"}};
  double used = host.value("vigil_nagios_perfdata", labels);
  double max = host.value("vigil_nagios_perfdata_max", labels);
  struct statvfs vfs;
  REQUIRE(statvfs("/", &vfs) == 0);
  double total = static_cast<double>(vfs.f_blocks) * vfs.f_frsize;
  CHECK(max == Approx(total).epsilon(0.05));
  CHECK(used > 0);
  CHECK(used <= max);
  CHECK(host.value("vigil_nagios_perfdata_min", labels) == 0);
  vigil::Labels upper = labels;
  upper.emplace_back("bound", "upper");
  CHECK(host.value("vigil_nagios_perfdata_warning", upper) > 0);
  CHECK(host.value("vigil_nagios_perfdata_critical", upper) > 0);
}

TEST_CASE("check_tcp against a listener the test opens, then after it closed") {
  Listener listener;
  FakeHost host;
  auto inst = host.create(plugin(),
                          {{"command", json_list({check_program("check_tcp"), "-H", "127.0.0.1",
                                                  "-p", std::to_string(listener.port)})}},
                          named("tcp"));
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK(inst.health().message.rfind("TCP OK", 0) == 0);
  vigil::Labels time = {{"check", "tcp"}, {"label", "time"}, {"uom", "seconds"}};
  double seconds = host.value("vigil_nagios_perfdata", time);
  CHECK(seconds >= 0);
  CHECK(seconds < 10);
  CHECK(host.value("vigil_nagios_perfdata_max", time) == 10);

  listener.close();
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK(inst.health().message == "connect to address 127.0.0.1 and port " +
                                     std::to_string(listener.port) + ": Connection refused");
  // No perfdata this time: the series are gone.
  CHECK_FALSE(host.has("vigil_nagios_perfdata", time));
  CHECK_FALSE(host.has("vigil_nagios_perfdata_max", time));
}

TEST_CASE("check_procs and check_load: perfdata without a unit and with lower-bound ranges") {
  FakeHost host;
  auto procs = host.create(
      plugin(),
      {{"command", json_list({check_program("check_procs"), "-w", "1:100000", "-c", "1:200000"})}},
      named("procs"));
  REQUIRE(procs.check().is_ok());
  CHECK(procs.health().status == VIGIL_HEALTH_OK);
  vigil::Labels labels = {{"check", "procs"}, {"label", "procs"}};
  CHECK(host.value("vigil_nagios_perfdata", labels) >= 1);
  vigil::Labels lower = labels;
  lower.emplace_back("bound", "lower");
  CHECK(host.value("vigil_nagios_perfdata_warning", lower) == 1);
  vigil::Labels upper = labels;
  upper.emplace_back("bound", "upper");
  CHECK(host.value("vigil_nagios_perfdata_critical", upper) == 200000);

  auto load = host.create(plugin(),
                          {{"command", json_list({check_program("check_load"), "-w",
                                                  "1000,1000,1000", "-c", "2000,2000,2000"})}},
                          named("load"));
  REQUIRE(load.check().is_ok());
  CHECK(load.health().status == VIGIL_HEALTH_OK);
  CHECK(host.value("vigil_nagios_perfdata", {{"check", "load"}, {"label", "load1"}}) >= 0);
  CHECK(host.has("vigil_nagios_perfdata", {{"check", "load"}, {"label", "load15"}}));
}

TEST_CASE("a check that overruns its timeout is killed with its process group and is unknown") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      shell("sleep 1000 & echo $! > /tmp/vigil_nagios_test_child; wait", {{"timeout", "400ms"}}),
      named("hang"));
  std::remove("/tmp/vigil_nagios_test_child");
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_UNKNOWN);
  CHECK(inst.health().message == "sh timed out after 400ms and was killed with its process group");
  std::ifstream in("/tmp/vigil_nagios_test_child");
  pid_t child = 0;
  REQUIRE(in >> child);
  CHECK(vigil::testing::eventually_gone(child));
  std::remove("/tmp/vigil_nagios_test_child");
}

TEST_CASE("perfdata labels with spaces, several lines, and series that disappear") {
  FakeHost host;
  auto inst = host.create(
      plugin(),
      shell("if [ -e /tmp/vigil_nagios_test_second ]; then echo 'OK | one=1'; exit 0; fi\n"
            "echo \"OK - queues fine | 'mail queue'=3;10;20;0;100 one=1\"\n"
            "echo 'mail: 3 messages'\n"
            "echo \"print: 0 messages | 'print queue'=0c\"\n"
            "echo 'rt=250ms;500;1000'"),
      named("queues"));
  std::remove("/tmp/vigil_nagios_test_second");
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK(inst.health().message == "OK - queues fine");
  vigil::Labels mail = {{"check", "queues"}, {"label", "mail queue"}};
  CHECK(host.value("vigil_nagios_perfdata", mail) == 3);
  CHECK(host.value("vigil_nagios_perfdata_max", mail) == 100);
  CHECK(host.value("vigil_nagios_perfdata",
                   {{"check", "queues"}, {"label", "print queue"}, {"uom", "counter"}}) == 0);
  vigil::Labels rt = {{"check", "queues"}, {"label", "rt"}, {"uom", "seconds"}};
  CHECK(host.value("vigil_nagios_perfdata", rt) == Approx(0.25));
  vigil::Labels rt_upper = rt;
  rt_upper.emplace_back("bound", "upper");
  CHECK(host.value("vigil_nagios_perfdata_critical", rt_upper) == Approx(1.0));

  { std::ofstream("/tmp/vigil_nagios_test_second") << "x"; }
  REQUIRE(inst.check().is_ok());
  std::remove("/tmp/vigil_nagios_test_second");
  CHECK(host.value("vigil_nagios_perfdata", {{"check", "queues"}, {"label", "one"}}) == 1);
  CHECK_FALSE(host.has("vigil_nagios_perfdata", mail));
  CHECK_FALSE(host.has("vigil_nagios_perfdata_max", mail));
  CHECK_FALSE(host.has("vigil_nagios_perfdata", rt));
}

TEST_CASE("perfdata can be turned off") {
  FakeHost host;
  auto inst =
      host.create(plugin(), shell("echo 'OK | a=1'", {{"perfdata", "false"}}), named("quiet"));
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK_FALSE(host.family("vigil_nagios_perfdata"));
}

TEST_CASE("a program that does not exist is refused when the instance is created") {
  FakeHost host;
  auto inst =
      host.try_create(plugin(), {{"command", json_list({"/usr/lib/nagios/plugins/check_nope"})}});
  CHECK(inst.status().to_string() ==
        "invalid argument: option \"command\": command \"/usr/lib/nagios/plugins/check_nope\" "
        "cannot be run: No such file or directory");
}
