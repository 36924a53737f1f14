// The built collector_filesystem.so keeps the parsed mount table between collects and reads it
// again only when the kernel says it changed (POLLPRI on an open procfs mounts file). This test
// makes real mount changes and checks that each one shows at the very next collect.
//
// The mounts happen in a child process's own user and mount namespaces (no root needed where
// unprivileged user namespaces are allowed), so nothing else on the machine sees them. The
// plugin's proc_path is a directory whose "1" links to /proc/self, so "<proc_path>/1/mounts" is
// the child's real procfs mount table. Where user namespaces are not allowed the test says so
// and passes.
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

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

// Hands the report to the parent and ends the child without running the parent's destructors.
[[noreturn]] void finish_child(int out, const std::ostringstream& report, int code) {
  const std::string text = report.str();
  if (::write(out, text.data(), text.size()) < 0) code = 1;
  ::_exit(code);
}

// Runs in the (single-threaded) child: writes "key=value" lines to `out` and never returns.
[[noreturn]] void child(int out) {
  std::ostringstream report;
  auto finish = [&](int code) { finish_child(out, report, code); };
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    report << "skip=cannot make a user and mount namespace: " << std::strerror(errno) << "\n";
    finish(kSkip);
  }
  // Root inside the namespace, so it may mount tmpfs there.
  write_file("/proc/self/setgroups", "deny");
  if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1\n") ||
      !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1\n")) {
    report << "skip=cannot map the user into the namespace\n";
    finish(kSkip);
  }
  char tmpl[] = "/tmp/vigil_mount_watch_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) finish(1);
  const fs::path root = tmpl;
  const fs::path target = root / "target";
  fs::create_directories(target);
  fs::create_directories(root / "proc");
  fs::create_symlink("/proc/self", root / "proc" / "1");
  const vigil::Labels labels{
      {"device", "vigilwatch"}, {"fstype", "tmpfs"}, {"mountpoint", target.string()}};
  {
    vigil::testing::FakeHost host;
    auto inst = host.create(plugin(), {{"proc_path", (root / "proc").string()}});
    report << "before=" << inst.collect().to_string() << "\n";
    report << "before_has=" << host.has("node_filesystem_size_bytes", labels) << "\n";
    report << "unchanged=" << inst.collect().to_string() << "\n";

    if (::mount("vigilwatch", target.c_str(), "tmpfs", 0, "size=1m") != 0) {
      report << "skip=cannot mount tmpfs in the namespace: " << std::strerror(errno) << "\n";
      fs::remove_all(root);
      finish(kSkip);
    }
    report << "mounted=" << inst.collect().to_string() << "\n";
    report << "mounted_has=" << host.has("node_filesystem_size_bytes", labels) << "\n";
    report << "mounted_size="
           << static_cast<long long>(host.value("node_filesystem_size_bytes", labels)) << "\n";
    report << "still=" << inst.collect().to_string() << "\n";
    report << "still_has=" << host.has("node_filesystem_size_bytes", labels) << "\n";

    ::umount2(target.c_str(), MNT_DETACH);
    report << "unmounted=" << inst.collect().to_string() << "\n";
    report << "unmounted_has=" << host.has("node_filesystem_device_error", labels) << "\n";
  }
  fs::remove_all(root);
  finish_child(out, report, 0);
}

}  // namespace

TEST_CASE("a mount made or removed between collects shows at the next collect (real procfs)") {
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

  CHECK(r["before"] == "ok");
  CHECK(r["before_has"] == "0");
  CHECK(r["unchanged"] == "ok");
  CHECK(r["mounted"] == "ok");
  CHECK(r["mounted_has"] == "1");
  CHECK(r["mounted_size"] == "1048576");
  CHECK(r["still"] == "ok");
  CHECK(r["still_has"] == "1");
  CHECK(r["unmounted"] == "ok");
  CHECK(r["unmounted_has"] == "0");
}
