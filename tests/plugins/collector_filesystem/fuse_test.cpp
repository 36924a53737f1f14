// A real hung mount: a FUSE filesystem whose server never answers, so statvfs on it blocks in the
// kernel exactly as on a dead NFS server. The built collector_filesystem.so must report it stale
// within stat_timeout and keep serving the other mounts.
//
// The mount lives in a child process's private mount namespace, so no other process on the
// machine (df, another test, another engineer's node_exporter) can ever block on it, and it
// disappears with the child. Needs root and /dev/fuse; elsewhere the test says so and passes.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using vigil::testing::plugin;

namespace {

constexpr int kSkip = 77;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Hands the report to the parent and ends the child without running the parent's destructors.
[[noreturn]] void finish_child(int out, const std::ostringstream& report, int code) {
  const std::string text = report.str();
  if (::write(out, text.data(), text.size()) < 0) code = 1;
  ::_exit(code);
}

// Runs in the child: mounts the silent FUSE filesystem, runs the plugin, writes "key=value"
// lines to `out`, and never returns.
[[noreturn]] void child(int out) {
  std::ostringstream report;
  auto finish = [&](int code) { finish_child(out, report, code); };
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    report << "skip=cannot make a private mount namespace (needs root)\n";
    finish(kSkip);
  }
  char tmpl[] = "/tmp/vigil_fuse_test_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) finish(1);
  const fs::path root = tmpl;
  const fs::path hung = root / "hung";
  const fs::path healthy = root / "healthy";
  fs::create_directories(hung);
  fs::create_directories(healthy);
  fs::create_directories(root / "proc" / "1");
  const int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse < 0) {
    report << "skip=cannot open /dev/fuse\n";
    finish(kSkip);
  }
  // Mounted, but nobody ever reads /dev/fuse: the kernel's INIT request is never answered, so
  // every statvfs waits until the descriptor is closed.
  const std::string options = "fd=" + std::to_string(fuse) + ",rootmode=40000,user_id=0,group_id=0";
  if (::mount("vigiltest", hung.c_str(), "fuse.vigiltest", MS_NOSUID | MS_NODEV, options.c_str()) !=
      0) {
    report << "skip=cannot mount FUSE: " << std::strerror(errno) << "\n";
    finish(kSkip);
  }
  std::ofstream(root / "proc" / "1" / "mounts")
      << "vigiltest " << hung.string() << " fuse.vigiltest rw,nosuid,nodev 0 0\n"
      << "/dev/healthy " << healthy.string() << " ext4 rw 0 0\n";
  const vigil::Labels hung_labels{
      {"device", "vigiltest"}, {"fstype", "fuse.vigiltest"}, {"mountpoint", hung.string()}};
  const vigil::Labels healthy_labels{
      {"device", "/dev/healthy"}, {"fstype", "ext4"}, {"mountpoint", healthy.string()}};
  {
    vigil::testing::FakeHost host;
    auto inst =
        host.create(plugin(), {{"proc_path", (root / "proc").string()}, {"stat_timeout", "300ms"}});
    auto start = std::chrono::steady_clock::now();
    report << "collect=" << inst.collect().to_string() << "\n";
    report << "collect_seconds=" << seconds_since(start) << "\n";
    report << "hung_error=" << host.value("node_filesystem_device_error", hung_labels) << "\n";
    report << "hung_size=" << host.has("node_filesystem_size_bytes", hung_labels) << "\n";
    report << "healthy_error=" << host.value("node_filesystem_device_error", healthy_labels)
           << "\n";
    report << "healthy_size=" << host.has("node_filesystem_size_bytes", healthy_labels) << "\n";

    start = std::chrono::steady_clock::now();
    report << "again=" << inst.collect().to_string() << "\n";
    report << "again_seconds=" << seconds_since(start) << "\n";
    report << "again_hung_error=" << host.value("node_filesystem_device_error", hung_labels)
           << "\n";

    start = std::chrono::steady_clock::now();
    report << "check=" << inst.check().to_string() << "\n";
    report << "check_seconds=" << seconds_since(start) << "\n";
    report << "check_status=" << inst.health().status << "\n";
    report << "check_names_mount="
           << (inst.health().message.find(hung.string() + " did not answer statvfs within 300ms") !=
               std::string::npos)
           << "\n";
    report << "warned_once=" << host.logged("did not answer statvfs within 300ms") << "\n";
    // Closing the descriptor aborts the connection: the stuck statvfs returns ENOTCONN.
    ::close(fuse);
  }
  ::umount2(hung.c_str(), MNT_DETACH);
  fs::remove_all(root);
  finish_child(out, report, 0);
}

}  // namespace

TEST_CASE("a real FUSE mount that never answers is reported stale and blocks nothing") {
  REQUIRE(plugin() != nullptr);  // loaded before fork, so the child inherits it
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    child(pipe_fds[1]);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) text.append(buffer, n);
  ::close(pipe_fds[0]);

  // The child reports and exits on its own; a child stuck for good is a failure, not a hang.
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 600 && !exited; ++i) {
    exited = ::waitpid(pid, &status, WNOHANG) == pid;
    if (!exited) std::this_thread::sleep_for(50ms);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  REQUIRE(exited);
  INFO(text);
  std::map<std::string, std::string> r;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) r[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kSkip) {
    WARN("skipped: " << r["skip"]);
    return;
  }
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  CHECK(r["collect"] == "ok");
  CHECK(std::stod(r["collect_seconds"]) < 5);  // generous: the hung call itself never returns
  CHECK(r["hung_error"] == "1");
  CHECK(r["hung_size"] == "0");
  CHECK(r["healthy_error"] == "0");
  CHECK(r["healthy_size"] == "1");
  CHECK(r["again"] == "ok");
  CHECK(std::stod(r["again_seconds"]) < 5);
  CHECK(r["again_hung_error"] == "1");
  CHECK(r["check"] == "ok");
  CHECK(std::stod(r["check_seconds"]) < 5);
  CHECK(r["check_status"] == std::to_string(VIGIL_HEALTH_UNKNOWN));
  CHECK(r["check_names_mount"] == "1");
  CHECK(r["warned_once"] == "1");
}
