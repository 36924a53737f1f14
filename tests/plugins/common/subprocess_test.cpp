// vigil_plugin_subprocess against real processes: output capture and its limits, exit codes and
// signals, the timeout killing the whole process group (a shell and the child it spawned), a
// command that ignores SIGTERM, leftovers killed after a normal exit, and the child's clean
// start (no inherited descriptors, no blocked signals, the environment it was given).
#include "vigil_plugin_subprocess/subprocess.hpp"

#include "process_probe.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using vigil::plugin_subprocess::Command;
using vigil::plugin_subprocess::Result;
using vigil::plugin_subprocess::run;
using vigil::plugin_subprocess::shell_command;

namespace {

Command sh(const std::string& script, std::chrono::milliseconds timeout = 10s) {
  Command c;
  c.argv = shell_command(script);
  c.timeout = timeout;
  return c;
}

}  // namespace

TEST_CASE("subprocess: stdout, stderr lines and the exit code of a command") {
  Result r = run(sh("echo out; echo line one >&2; printf 'line two' >&2; exit 3"));
  REQUIRE(r.started());
  CHECK(r.exited);
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err_lines == std::vector<std::string>{"line one", "line two"});
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.succeeded());
  CHECK(r.status_number() == 3);
  CHECK(r.describe(10s) == "exited with status 3");
}

TEST_CASE("subprocess: argv is passed as is, without a shell") {
  Command c;
  c.argv = {"printf", "%s|", "a b", "$HOME", "*"};
  Result r = run(c);
  REQUIRE(r.succeeded());
  CHECK(r.out == "a b|$HOME|*|");
}

TEST_CASE("subprocess: a command that does not exist is reported, not run") {
  Command c;
  c.argv = {"/nonexistent/vigil-test-command", "x"};
  Result r = run(c);
  CHECK_FALSE(r.started());
  CHECK(r.start_error ==
        "cannot run \"/nonexistent/vigil-test-command\": No such file or directory");
  CHECK(r.status_number() == -1);
  Command empty;
  CHECK(run(empty).start_error == "no command to run: the command list is empty");
}

TEST_CASE("subprocess: stdout beyond the limit is dropped, and so are stderr lines") {
  Command c = sh("head -c 100000 /dev/zero; for i in 1 2 3 4 5; do echo err$i >&2; done");
  c.max_stdout_bytes = 1000;
  c.max_stderr_lines = 2;
  Result r = run(c);
  REQUIRE(r.succeeded());
  CHECK(r.out.size() == 1000);
  CHECK(r.stdout_truncated);
  CHECK(r.err_lines == std::vector<std::string>{"err1", "err2"});
  CHECK(r.err_lines_dropped == 3);
}

TEST_CASE("subprocess: a timeout kills the whole process group, children included") {
  // The shell starts a child that would outlive it, prints the child's pid and waits forever.
  Result r = run(sh("sleep 1000 & echo $!; echo $$; wait", 500ms));
  CHECK(r.timed_out);
  CHECK_FALSE(r.exited);
  CHECK(r.signal == SIGTERM);
  CHECK(r.describe(500ms) == "timed out after 500ms and was killed with its process group");
  auto pids = vigil::testing::numbers_in(r.out);
  REQUIRE(pids.size() == 2);
  CHECK(vigil::testing::eventually_gone(pids[0]));  // the child too, not only the shell
  CHECK(vigil::testing::eventually_gone(pids[1]));
  CHECK(r.duration < 30s);
}

TEST_CASE("subprocess: a command that ignores SIGTERM gets SIGKILL after the grace period") {
  Command c = sh("trap '' TERM; echo $$; while :; do sleep 1; done", 300ms);
  c.kill_grace = 300ms;
  Result r = run(c);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  auto pids = vigil::testing::numbers_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK(vigil::testing::eventually_gone(pids[0]));
}

TEST_CASE("subprocess: what a command leaves running when it exits is killed") {
  // The background sleep keeps stdout open; without the group kill the runner would wait for it.
  Result r = run(sh("sleep 1000 & echo $!", 20s));
  REQUIRE(r.succeeded());
  CHECK(r.duration < 15s);
  auto pids = vigil::testing::numbers_in(r.out);
  REQUIRE(pids.size() == 1);
  CHECK(vigil::testing::eventually_gone(pids[0]));
}

TEST_CASE(
    "subprocess: the child starts with no signals blocked, even from a thread that blocks "
    "them") {
  // The host's threads block SIGTERM for its own signal handling; a child inheriting that mask
  // could only be stopped with SIGKILL.
  Result r;
  std::thread t([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    r = run(sh("grep SigBlk /proc/self/status; sleep 1000", 400ms));
  });
  t.join();
  CHECK(r.out == "SigBlk:\t0000000000000000\n");
  CHECK(r.signal == SIGTERM);
}

TEST_CASE("subprocess: descriptors without O_CLOEXEC do not leak into the child") {
  int null_fd = ::open("/dev/null", O_RDONLY);
  REQUIRE(null_fd >= 0);
  REQUIRE(::dup2(null_fd, 57) == 57);  // dup2 leaves O_CLOEXEC off: inheritable
  ::close(null_fd);
  Command c;
  c.argv = {"ls", "/proc/self/fd"};
  Result r = run(c);
  ::close(57);
  REQUIRE(r.succeeded());
  // 0, 1, 2 and the directory ls itself is reading; not 57.
  CHECK(vigil::testing::numbers_in(r.out) == std::vector<pid_t>{0, 1, 2, 3});
}

TEST_CASE("subprocess: environment entries and the working directory are applied") {
  Command c = sh("echo \"$VIGIL_TEST_VAR|$HOME\"; pwd");
  c.environment = {"VIGIL_TEST_VAR=hello world", "HOME=/nowhere"};
  c.working_directory = "/tmp";
  Result r = run(c);
  REQUIRE(r.succeeded());
  CHECK(r.out == "hello world|/nowhere\n/tmp\n");
}

TEST_CASE("subprocess: a signal that ends the command is reported") {
  Result r = run(sh("kill -9 $$"));
  CHECK_FALSE(r.exited);
  CHECK(r.signal == SIGKILL);
  CHECK(r.status_number() == 137);
  CHECK(r.describe(10s) == "was killed by signal 9 (Killed)");
}

TEST_CASE("subprocess: durations are written as a user would write them") {
  using vigil::plugin_subprocess::default_timeout;
  using vigil::plugin_subprocess::format_duration;
  CHECK(format_duration(5000ms) == "5s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(1050ms) == "1.05s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(default_timeout(5000ms) == 4000ms);
  CHECK(default_timeout(1000ms) == 800ms);
  CHECK(default_timeout(0ms) == 10000ms);
}
