// notifier_exec running real commands: the notification arrives as JSON on stdin with the
// environment set, exit 0/75/other count as delivered/retryable/permanent, an overrunning command
// is killed with its process group, and no temporary file is left behind.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "host_results.hpp"
#include "load_plugin.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using vigil::Notification;
using vigil::testing::FakeHost;
using vigil::testing::plugin;
using vigil::testing::TempDir;

namespace {

Notification firing() {
  Notification n;
  n.idempotency_key = "k-1";
  n.receiver = "script";
  n.status = "firing";
  n.group_key = "0:{}";
  n.escalation_step = 2;
  n.attempt = 1;
  n.payload_json = R"({"version":"4","status":"firing","alerts":[{"labels":{"alertname":"X"}}]})";
  return n;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("the command reads the notification as JSON on stdin, with VIGIL_* in its environment") {
  TempDir dir("vigil_notifier_exec");
  const std::string out = dir.file("got.json"), env = dir.file("env.txt");
  FakeHost host;
  auto inst = host.create(
      plugin(),
      {{"command", nlohmann::json::array(
                       {"/bin/sh", "-c", "cat > " + out + "; env | grep ^VIGIL_ | sort > " + env})
                       .dump()}});
  REQUIRE(inst.notify(firing()).is_ok());
  auto doc = nlohmann::json::parse(slurp(out));
  CHECK(doc["idempotency_key"] == "k-1");
  CHECK(doc["escalation_step"] == 2);
  CHECK(doc["payload"]["alerts"][0]["labels"]["alertname"] == "X");  // embedded, not a string
  CHECK(
      slurp(env) ==
      "VIGIL_ATTEMPT=1\nVIGIL_ESCALATION_STEP=2\nVIGIL_IDEMPOTENCY_KEY=k-1\nVIGIL_RECEIVER=script\n"
      "VIGIL_STATUS=firing\n");
}

TEST_CASE("exit codes: 0 delivered, 75 retryable, others permanent, and stderr is quoted") {
  FakeHost host;
  auto run = [&](const std::string& script) {
    auto inst = host.create(
        plugin(), {{"command", nlohmann::json::array({script}).dump()}, {"shell", "true"}});
    return inst.notify(firing());
  };
  CHECK(run("exit 0").is_ok());
  auto later = run("echo 'queue full' >&2; exit 75");
  CHECK(later.code() == VIGIL_ERR_RETRYABLE);
  CHECK(later.message().find("exit 75 (EX_TEMPFAIL") != std::string::npos);
  CHECK(later.message().find("queue full") != std::string::npos);
  auto never = run("echo 'unknown user' >&2; exit 2");
  CHECK(never.code() == VIGIL_ERR_PERMANENT);
  CHECK(never.message().find("exit 2; expected 0 (delivered) or 75") != std::string::npos);
}

TEST_CASE("a command past its timeout is killed with its process group and retried") {
  TempDir dir("vigil_notifier_exec");
  const std::string marker = dir.file("child-survived");
  FakeHost host;
  auto inst = host.create(
      plugin(),
      {{"command", nlohmann::json::array({"(sleep 2; touch " + marker + ") & sleep 30"}).dump()},
       {"shell", "true"},
       {"timeout", "300ms"}});
  auto r = inst.notify(firing());
  CHECK(r.code() == VIGIL_ERR_RETRYABLE);
  CHECK(r.message().find("killed with its process group") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK_FALSE(std::filesystem::exists(marker));  // the background child died with the group
}

TEST_CASE("no temporary file is left behind, and a missing program is refused at start") {
  TempDir dir("vigil_notifier_exec");
  ::setenv("TMPDIR", dir.path().c_str(), 1);
  FakeHost host;
  auto inst = host.create(plugin(), {{"command", R"(["/bin/true"])"}});
  REQUIRE(inst.notify(firing()).is_ok());
  ::unsetenv("TMPDIR");
  CHECK(std::filesystem::is_empty(dir.path()));
  CHECK_FALSE(
      vigil::testing::refused_start(plugin(), {{"command", R"(["/no/such/program"])"}}).empty());
}
