// The built collector_process.so, loaded with dlopen and run through the SDK's fake host: the
// per-group series and the process check from a fixture procfs tree, and from the machine's own
// /proc with a child process this test starts and kills.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "files.hpp"
#include "load_plugin.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using vigil::testing::FakeHost;
using vigil::testing::fixture;
using vigil::testing::plugin;

extern char** environ;

namespace {

double hz() {
  return static_cast<double>(sysconf(_SC_CLK_TCK));
}

double page() {
  return static_cast<double>(sysconf(_SC_PAGESIZE));
}

vigil::Labels group(const char* name) {
  return {{"group", name}};
}

vigil::Labels cpu(const char* name, const char* mode) {
  return {{"group", name}, {"mode", mode}};
}

const char* kFixtureGroups = R"([
  {"name": "nginx", "comm": "nginx"},
  {"name": "nginx_workers", "comm": "nginx", "cmdline": "worker process"},
  {"name": "www", "user": "33"},
  {"name": "postgres", "cmdline": "^(/usr/lib/postgresql/[0-9]+/bin/postgres|postgres:) "},
  {"name": "weird", "comm": "weird ) name"},
  {"name": "root", "user": "root"},
  {"name": "redis", "comm": "redis-server", "min": 0}
])";

// A writable copy of the fixture tree, to make processes exit, appear or use CPU.
struct TempProc : vigil::testing::TempDir {
  TempProc() : TempDir("vigil_proc_test") { copy(fixture("basic")); }
  void set_stat(int pid, const std::string& comm, unsigned long utime, unsigned long stime,
                unsigned long start) {
    fs::create_directories(path() / std::to_string(pid));
    std::ofstream(path() / std::to_string(pid) / "stat")
        << pid << " (" << comm << ") S 1 " << pid << " " << pid << " 0 -1 4194560 0 0 0 0 " << utime
        << " " << stime << " 0 0 20 0 1 0 " << start << " 1000 10 18446744073709551615\n";
  }
  void remove(int pid) { TempDir::remove(std::to_string(pid)); }
};

// A child process with a command line nobody else has: `sleep 1000.<random>`, its standard
// streams on /dev/null so it holds exactly three descriptors of its own.
struct Sleeper {
  pid_t pid = -1;
  std::string seconds;
  Sleeper() {
    std::random_device rd;
    seconds = "1000." + std::to_string(getpid()) + std::to_string(rd() % 100000);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    for (int fd = 0; fd < 3; ++fd)
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
    std::string arg0 = "sleep";
    char* argv[] = {arg0.data(), seconds.data(), nullptr};
    int rc = posix_spawnp(&pid, "sleep", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
    // posix_spawn returns as soon as the child's exec has let go of the parent's memory: the
    // kernel renames the task and writes the new command line into the new stack only after
    // that. Wait until /proc shows both, or the scan could miss the child on a busy machine.
    const std::string proc = "/proc/" + std::to_string(pid);
    const std::string want_cmdline = "sleep" + std::string(1, '\0') + seconds + '\0';
    for (int i = 0; i < 1000; ++i) {
      std::ifstream comm_in(proc + "/comm");
      std::string comm;
      std::getline(comm_in, comm);
      std::ifstream cmdline_in(proc + "/cmdline", std::ios::binary);
      std::string cmdline((std::istreambuf_iterator<char>(cmdline_in)),
                          std::istreambuf_iterator<char>());
      if (comm == "sleep" && cmdline == want_cmdline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void kill_and_reap() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
  }
  ~Sleeper() { kill_and_reap(); }
  std::string groups_json() const {
    std::string escaped = seconds;
    return R"([{"name": "sleeper", "comm": "sleep", "cmdline": "^sleep 1000\\.)" +
           escaped.substr(5) + R"($"}])";
  }
};

}  // namespace

TEST_CASE("the plugin is a collector and a process health check with its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_process");
  CHECK(d->collector != nullptr);
  CHECK(d->health_check != nullptr);
  REQUIRE(d->option_count == 2);
  CHECK(std::string(d->options[0].name) == "groups");
  CHECK(d->options[0].required != 0);
  CHECK(std::string(d->options[1].name) == "proc_path");
}

TEST_CASE("a fixture procfs tree gives each group's count, memory, threads, files and CPU") {
  FakeHost host;
  auto inst = host.create(plugin(), {{"proc_path", fixture("basic")}, {"groups", kFixtureGroups}});
  REQUIRE(inst.collect().to_string() == "ok");

  // nginx: master 100 and workers 101, 102; the zombie 400 does not count.
  CHECK(host.value("vigil_process_num_procs", group("nginx")) == 3);
  CHECK(host.value("vigil_process_resident_memory_bytes", group("nginx")) ==
        (1000 + 2000 + 2100) * page());
  CHECK(host.value("vigil_process_threads", group("nginx")) == 6);
  CHECK(host.value("vigil_process_open_fds", group("nginx")) == 6 + 10 + 8);
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("nginx", "user")) ==
        Approx((500 + 1200 + 1100) / hz()));
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("nginx", "system")) ==
        Approx((200 + 300 + 250) / hz()));

  CHECK(host.value("vigil_process_num_procs", group("nginx_workers")) == 2);  // comm and cmdline
  CHECK(host.value("vigil_process_num_procs", group("www")) == 2);            // uid 33
  CHECK(host.value("vigil_process_num_procs", group("postgres")) == 2);       // by command line
  CHECK(host.value("vigil_process_resident_memory_bytes", group("postgres")) ==
        (5000 + 800) * page());
  CHECK(host.value("vigil_process_num_procs", group("weird")) == 1);
  CHECK(host.value("vigil_process_threads", group("weird")) == 2);
  CHECK(host.value("vigil_process_num_procs", group("root")) ==
        3);  // systemd, nginx master, kworker
  // A group with no process still answers "how many": 0.
  CHECK(host.value("vigil_process_num_procs", group("redis")) == 0);
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("redis", "user")) == 0);

  auto family = host.family("vigil_process_cpu_seconds_total");
  REQUIRE(family);
  CHECK(family->type == vigil::MetricType::counter);
  CHECK(host.family("vigil_process_resident_memory_bytes")->unit == "bytes");
  CHECK(host.family("vigil_process_num_procs")->type == vigil::MetricType::gauge);
}

TEST_CASE("CPU counters never go backwards when processes exit, and count new ones whole") {
  TempProc proc;
  FakeHost host;
  auto inst =
      host.create(plugin(), {{"proc_path", proc.path().string()}, {"groups", kFixtureGroups}});
  REQUIRE(inst.collect().is_ok());
  const double start = host.value("vigil_process_cpu_seconds_total", cpu("nginx", "user"));
  CHECK(start == Approx(2800 / hz()));

  proc.remove(102);                              // a worker exits: its 1100 ticks stay counted
  proc.set_stat(101, "nginx", 1250, 300, 5010);  // the other used 50 more ticks
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_process_num_procs", group("nginx")) == 2);
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("nginx", "user")) == Approx(2850 / hz()));

  proc.set_stat(103, "nginx", 40, 5, 9000);  // a new worker: all of its CPU counts
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_process_num_procs", group("nginx")) == 3);
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("nginx", "user")) == Approx(2890 / hz()));

  proc.set_stat(101, "nginx", 10, 1, 9500);  // pid 101 reused by a new process
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("nginx", "user")) == Approx(2900 / hz()));
}

TEST_CASE("the process check: ok within bounds, critical outside, naming group and count") {
  FakeHost host;
  auto ok = host.create(plugin(), {{"proc_path", fixture("basic")}, {"groups", kFixtureGroups}},
                        vigil::testing::InstanceSettings{"ok"});
  REQUIRE(ok.check().is_ok());
  CHECK(ok.health().status == VIGIL_HEALTH_OK);
  CHECK(ok.health().message ==
        "all 7 groups within bounds: nginx 3, nginx_workers 2, www 2, postgres 2, weird 1, root "
        "3, redis 0");

  auto bounds = host.create(
      plugin(),
      {{"proc_path", fixture("basic")}, {"groups", R"([{"name": "redis", "comm": "redis-server"},
                                           {"name": "nginx", "comm": "nginx", "max": 2},
                                           {"name": "pg", "comm": "postgres", "min": 2}])"}},
      vigil::testing::InstanceSettings{"bounds"});
  REQUIRE(bounds.check().is_ok());
  CHECK(bounds.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK(bounds.health().message ==
        "redis has 0 processes, expected at least 1; nginx has 3 processes, expected 1 to 2; 1 "
        "other group within bounds");
}

TEST_CASE("wrong options are refused with the place and what was expected") {
  FakeHost host;
  auto missing = host.try_create(plugin(), {});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.status().message(), Catch::Contains("missing required option \"groups\""));

  auto bad =
      host.try_create(plugin(), {{"groups", R"([{"name": "x", "user": "no-such-user-x"}])"}});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.status().message(),
             Catch::Contains("option \"groups\"[0].user: there is no user \"no-such-user-x\""));

  auto no_proc = host.try_create(
      plugin(), {{"proc_path", "/nonexistent/vigil/proc"}, {"groups", kFixtureGroups}});
  REQUIRE_FALSE(no_proc);
  CHECK_THAT(no_proc.status().message(), Catch::Contains("cannot list /nonexistent/vigil/proc") &&
                                             Catch::Contains("proc_path"));
}

TEST_CASE("the machine's own /proc: a child this test starts is counted, then not") {
  Sleeper child;
  FakeHost host;
  auto inst = host.create(plugin(), {{"groups", child.groups_json()}});
  REQUIRE(inst.collect().to_string() == "ok");
  CHECK(host.value("vigil_process_num_procs", group("sleeper")) == 1);
  CHECK(host.value("vigil_process_threads", group("sleeper")) == 1);
  CHECK(host.value("vigil_process_resident_memory_bytes", group("sleeper")) > 0);
  CHECK(host.value("vigil_process_open_fds", group("sleeper")) >= 3);
  CHECK(host.value("vigil_process_cpu_seconds_total", cpu("sleeper", "user")) >= 0);
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  CHECK(inst.health().message == "sleeper has 1 process, expected at least 1");

  child.kill_and_reap();
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("vigil_process_num_procs", group("sleeper")) == 0);
  CHECK(host.value("vigil_process_open_fds", group("sleeper")) == 0);
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
  CHECK(inst.health().message == "sleeper has 0 processes, expected at least 1");
}

TEST_CASE("the check scans by itself when no collect ran just before it") {
  Sleeper child;
  FakeHost host;
  auto inst = host.create(plugin(), {{"groups", child.groups_json()}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  REQUIRE(inst.collect().is_ok());
  REQUIRE(inst.check().is_ok());  // uses that collect's counts
  child.kill_and_reap();
  REQUIRE(inst.check().is_ok());  // the collect's counts were used once: this one scans
  CHECK(inst.health().status == VIGIL_HEALTH_CRITICAL);
}
