// The built notifier_log.so, loaded with dlopen and driven through the SDK's fake host: the exact
// lines it appends to a real file, the template path, what happens when logrotate moves or
// truncates the file, and the errors a person reads when the file cannot be written.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::option_defaults;
using vigil::testing::OptionDefaults;
using vigil::testing::plugin;
using vigil::testing::refused_start;
using vigil::testing::TempDir;

namespace {

constexpr int64_t kNow = 1714564800123;  // 2024-05-01T12:00:00.123Z

Notification firing() {
  Notification n;
  n.idempotency_key = "g1:7:ops";
  n.receiver = "ops";
  n.status = "firing";
  n.group_key = "{}:{alertname=\"DiskFull\"}";
  n.escalation_step = 1;
  n.attempt = 2;
  n.payload_json =
      R"({"status":"firing","alerts":[{"labels":{"alertname":"DiskFull","device":"sda"},)"
      R"("value":0.934},{"labels":{"alertname":"DiskFull","device":"sdb"},"value":0.5}],)"
      R"("commonLabels":{"alertname":"DiskFull"}})";
  return n;
}

const std::string kFiringLine =
    R"({"time":"2024-05-01T12:00:00.123Z","idempotency_key":"g1:7:ops","receiver":"ops",)"
    R"("status":"firing","group_key":"{}:{alertname=\"DiskFull\"}","escalation_step":1,)"
    R"("attempt":2,"payload":{"status":"firing","alerts":[{"labels":{"alertname":"DiskFull",)"
    R"("device":"sda"},"value":0.934},{"labels":{"alertname":"DiskFull","device":"sdb"},)"
    R"("value":0.5}],"commonLabels":{"alertname":"DiskFull"}}})";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A fake host with its clock frozen at kNow.
struct Host : FakeHost {
  Host() { set_now_ms(kNow); }
};

}  // namespace

TEST_CASE("the plugin describes itself as a notifier with path, template and fsync") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "notifier_log");
  REQUIRE(d->notifier != nullptr);
  CHECK(d->collector == nullptr);
  CHECK(option_defaults(d) == OptionDefaults{{"path", ""}, {"template", ""}, {"fsync", "false"}});
}

TEST_CASE("a notification becomes one JSON line with every field and the payload as JSON") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("notifications.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}});
  REQUIRE(inst.notify(firing()).to_string() == "ok");
  CHECK(read_file(path) == kFiringLine + "\n");

  nlohmann::json line = nlohmann::json::parse(lines_of(path).at(0));
  CHECK(line["payload"]["alerts"][1]["labels"]["device"] == "sdb");  // embedded, not a string
}

TEST_CASE("lines are appended after what the file already holds") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("notifications.log");
  dir.write("notifications.log", "earlier line\n");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}});
  Notification n = firing();
  REQUIRE(inst.notify(n).is_ok());
  n.status = "resolved";
  n.idempotency_key = "g1:8:ops";
  n.attempt = 1;
  REQUIRE(inst.notify(n).is_ok());
  auto lines = lines_of(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "earlier line");
  CHECK(lines[1] == kFiringLine);
  auto second = nlohmann::json::parse(lines[2]);
  CHECK(second["status"] == "resolved");
  CHECK(second["idempotency_key"] == "g1:8:ops");
  CHECK(second["attempt"] == 1);
}

TEST_CASE("no escalation policy and no payload are written as null") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}});
  Notification n = firing();
  n.escalation_step = -1;
  n.payload_json = "";
  REQUIRE(inst.notify(n).is_ok());
  auto line = nlohmann::json::parse(lines_of(path).at(0));
  CHECK(line["escalation_step"].is_null());
  CHECK(line["payload"].is_null());
}

TEST_CASE("without a path each line goes to the host's log under the instance's name") {
  Host host;
  auto inst = host.create(plugin(), {}, vigil::testing::InstanceSettings("audit"));
  REQUIRE(inst.notify(firing()).is_ok());
  auto logs = host.logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].instance == "audit");
  CHECK(logs[0].level == VIGIL_LOG_INFO);
  CHECK(logs[0].message == kFiringLine);
}

TEST_CASE("a template renders each line from the payload and the notification's fields") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(
      plugin(),
      {{"path", path},
       {"template",
        "{{time}} [{{status | upper}}] {{receiver}} step {{escalation_step}} try {{attempt}}: "
        "{{#each alerts}}{{labels.device}}={{value | percent}}{{#unless @last}}, {{/unless}}"
        "{{/each}} ({{commonLabels.alertname}}, {{payload.alerts | count}} alerts)"}});
  REQUIRE(inst.notify(firing()).is_ok());
  CHECK(read_file(path) ==
        "2024-05-01T12:00:00.123Z [FIRING] ops step 1 try 2: sda=93.4%, sdb=50% "
        "(DiskFull, 2 alerts)\n");
}

TEST_CASE("a template's own newline is not doubled and it also serves the host's log") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto to_file = host.create(plugin(), {{"path", path}, {"template", "{{idempotency_key}}\n"}});
  REQUIRE(to_file.notify(firing()).is_ok());
  CHECK(read_file(path) == "g1:7:ops\n");

  auto to_log = host.create(plugin(), {{"template", "{{status}}: {{commonLabels.alertname}}"}});
  REQUIRE(to_log.notify(firing()).is_ok());
  CHECK(host.logs().back().message == "firing: DiskFull");
}

TEST_CASE("a template mistake refuses the instance with every error's line and column") {
  std::string why = refused_start(
      plugin(),
      {{"template", "{{ status | uper }}\n{{#each alerts}}{{ value | printf \"%d%d\" }}"}});
  CHECK_THAT(why, Catch::StartsWith("option \"template\": line 1, column 13: unknown function "
                                    "\"uper\" (did you mean \"upper\"?)"));
  CHECK_THAT(why, Catch::Contains("; line 2, column 1: {{#each alerts}} is never closed; "
                                  "expected {{/each}}"));
  CHECK_THAT(why, Catch::Contains("; line 2, column 35: printf format \"%d%d\" has 2 conversions"));
}

TEST_CASE("a relative path is refused with what is expected") {
  CHECK(refused_start(plugin(), {{"path", "notifications.log"}}) ==
        "option \"path\": found \"notifications.log\", expected an absolute path such as "
        "\"/var/log/vigil/notifications.log\" (or \"\" for the host's log)");
}

TEST_CASE("a file renamed away by logrotate is replaced by a new one at the path") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}, {"template", "{{idempotency_key}}"}});
  Notification n = firing();
  n.idempotency_key = "one";
  REQUIRE(inst.notify(n).is_ok());
  std::filesystem::rename(path, dir.file("n.log.1"));
  n.idempotency_key = "two";
  REQUIRE(inst.notify(n).is_ok());
  CHECK(read_file(dir.file("n.log.1")) == "one\n");
  CHECK(read_file(path) == "two\n");

  // logrotate's "create" already made the new file: the plugin appends to it, not to the old one.
  std::filesystem::rename(path, dir.file("n.log.2"));
  dir.write("n.log", "");
  n.idempotency_key = "three";
  REQUIRE(inst.notify(n).is_ok());
  CHECK(read_file(dir.file("n.log.2")) == "two\n");
  CHECK(read_file(path) == "three\n");
}

TEST_CASE("a deleted file is created again") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}, {"template", "{{receiver}}"}});
  REQUIRE(inst.notify(firing()).is_ok());
  std::filesystem::remove(path);
  REQUIRE(inst.notify(firing()).is_ok());
  CHECK(read_file(path) == "ops\n");
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0007) == 0);  // notifications are not for every user to read
}

TEST_CASE("a file truncated in place (copytruncate) gets the next line at its start") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}, {"template", "{{receiver}}"}});
  REQUIRE(inst.notify(firing()).is_ok());
  REQUIRE(inst.notify(firing()).is_ok());
  std::filesystem::resize_file(path, 0);
  REQUIRE(inst.notify(firing()).is_ok());
  CHECK(read_file(path) == "ops\n");  // no hole of zero bytes before it
}

TEST_CASE("a path whose directory is missing is a retryable error naming the file") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("later/n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}, {"template", "{{receiver}}"}});
  vigil::Status status = inst.notify(firing());
  CHECK(status.code() == VIGIL_ERR_RETRYABLE);
  CHECK(status.message() == "cannot open " + path + " for appending: No such file or directory");

  // Once the directory exists, the retry the host makes succeeds.
  std::filesystem::create_directory(dir.file("later"));
  REQUIRE(inst.notify(firing()).is_ok());
  CHECK(read_file(path) == "ops\n");
}

TEST_CASE("a path that is a directory is a retryable error naming it") {
  TempDir dir("vigil_notifier_log");
  Host host;
  auto inst = host.create(plugin(), {{"path", dir.path().string()}});
  vigil::Status status = inst.notify(firing());
  CHECK(status.code() == VIGIL_ERR_RETRYABLE);
  CHECK(status.message() ==
        "cannot open " + dir.path().string() + " for appending: Is a directory");
}

TEST_CASE("a full disk is a retryable write error naming the file") {
  Host host;
  auto inst = host.create(plugin(), {{"path", "/dev/full"}});
  vigil::Status status = inst.notify(firing());
  CHECK(status.code() == VIGIL_ERR_RETRYABLE);
  CHECK(status.message() == "cannot write to /dev/full: No space left on device");
  // And again on the retry: the error is not remembered, it is met again.
  CHECK(inst.notify(firing()).to_string() ==
        "retryable: cannot write to /dev/full: No space left on device");
}

TEST_CASE("a payload that is not JSON fails for good and writes nothing") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}});
  Notification n = firing();
  n.payload_json = "{\"alerts\": [";
  vigil::Status status = inst.notify(n);
  CHECK(status.code() == VIGIL_ERR_PERMANENT);
  CHECK_THAT(status.message(), Catch::StartsWith("the payload is not valid JSON: ") &&
                                   Catch::EndsWith("(notification g1:7:ops)"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("with fsync every line is still written whole") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto inst = host.create(plugin(), {{"path", path}, {"fsync", "true"}});
  REQUIRE(inst.notify(firing()).is_ok());
  REQUIRE(inst.notify(firing()).is_ok());
  CHECK(read_file(path) == kFiringLine + "\n" + kFiringLine + "\n");
}

TEST_CASE("two instances append to one file without mixing their lines") {
  TempDir dir("vigil_notifier_log");
  std::string path = dir.file("n.log");
  Host host;
  auto a = host.create(plugin(), {{"path", path}, {"template", "a {{receiver}}"}});
  auto b = host.create(plugin(), {{"path", path}, {"template", "b {{receiver}}"}});
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.notify(firing()).is_ok());
    REQUIRE(b.notify(firing()).is_ok());
  }
  CHECK(read_file(path) == "a ops\nb ops\na ops\nb ops\na ops\nb ops\n");
}
