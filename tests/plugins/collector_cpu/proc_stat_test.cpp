// /proc/stat parsing and counter bookkeeping of collector_cpu, against fixture files: the values
// a user would see as node_cpu_seconds_total and the stat collector's series.
#include "proc_stat.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "files.hpp"

using vigil::collector_cpu::CpuTimes;
using vigil::collector_cpu::MonotonicCpuTimes;
using vigil::collector_cpu::parse_proc_stat;
using vigil::collector_cpu::ProcStat;
using vigil::testing::read_fixture;

namespace {

ProcStat parse_ok(const std::string& text, double user_hz = 100) {
  ProcStat stat;
  std::string error;
  INFO(error);
  REQUIRE(parse_proc_stat(text, user_hz, stat, error));
  return stat;
}

// Mode indices in kModes order.
enum { kUser, kNice, kSystem, kIdle, kIowait, kIrq, kSoftirq, kSteal };

}  // namespace

TEST_CASE("a four-CPU /proc/stat gives per-CPU seconds and skips the aggregate line") {
  ProcStat stat = parse_ok(read_fixture("four_cpus/stat"));
  REQUIRE(stat.cpus.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(stat.cpus[i].cpu == i);

  const CpuTimes& cpu0 = stat.cpus[0];
  CHECK(cpu0.modes[kUser] == Approx(5643.21));
  CHECK(cpu0.modes[kNice] == Approx(2.55));
  CHECK(cpu0.modes[kSystem] == Approx(1532.10));
  CHECK(cpu0.modes[kIdle] == Approx(243517.20));
  CHECK(cpu0.modes[kIowait] == Approx(113.02));
  CHECK(cpu0.modes[kIrq] == 0);
  CHECK(cpu0.modes[kSoftirq] == Approx(300.41));
  CHECK(cpu0.modes[kSteal] == Approx(3.01));
  CHECK(cpu0.guest[0] == Approx(1.00));
  CHECK(cpu0.guest[1] == Approx(0.03));

  CHECK(stat.cpus[3].modes[kIdle] == Approx(243545.48));
}

TEST_CASE("the stat collector's totals come from intr, ctxt, btime, processes and procs_*") {
  ProcStat stat = parse_ok(read_fixture("four_cpus/stat"));
  REQUIRE(stat.interrupts);
  CHECK(*stat.interrupts == 190834829.0);
  CHECK(*stat.context_switches == 412830914.0);
  CHECK(*stat.boot_time == 1700000000.0);
  CHECK(*stat.forks == 1803544.0);
  CHECK(*stat.procs_running == 3.0);
  CHECK(*stat.procs_blocked == 1.0);
}

TEST_CASE("jiffies are divided by the USER_HZ given") {
  ProcStat stat = parse_ok(read_fixture("four_cpus/stat"), 250);
  CHECK(stat.cpus[0].modes[kUser] == Approx(564321.0 / 250));
}

TEST_CASE("an old kernel's shorter cpu lines read the missing columns as zero") {
  ProcStat stat = parse_ok(read_fixture("old_kernel/stat"));
  REQUIRE(stat.cpus.size() == 2);
  CHECK(stat.cpus[1].modes[kSoftirq] == Approx(0.03));
  CHECK(stat.cpus[1].modes[kSteal] == 0);
  CHECK(stat.cpus[1].guest[0] == 0);
  CHECK(stat.cpus[1].guest[1] == 0);
  CHECK_FALSE(stat.procs_running);
  CHECK_FALSE(stat.procs_blocked);
  CHECK(*stat.forks == 4321.0);
}

TEST_CASE("malformed input is refused with the line and what was expected") {
  ProcStat stat;
  std::string error;
  CHECK_FALSE(parse_proc_stat("cpu 1 2 3\ncpu0 1 2 x 4\n", 100, stat, error));
  CHECK(error.find("line 2") != std::string::npos);
  CHECK(error.find("expected jiffy counts") != std::string::npos);
  CHECK(error.find("cpu0 1 2 x 4") != std::string::npos);

  CHECK_FALSE(parse_proc_stat("cpuX 1 2 3\n", 100, stat, error));
  CHECK(error.find("expected a CPU name like 'cpu0'") != std::string::npos);

  CHECK_FALSE(parse_proc_stat("cpu0 1 2 3\nctxt lots\n", 100, stat, error));
  CHECK(error.find("expected a number after 'ctxt'") != std::string::npos);

  CHECK_FALSE(parse_proc_stat("intr 5\nctxt 6\n", 100, stat, error));
  CHECK(error.find("expected at least one per-CPU line") != std::string::npos);
}

TEST_CASE("counters never go backwards across reads, except after a CPU was re-plugged") {
  MonotonicCpuTimes tracker;
  ProcStat first = parse_ok("cpu0 100 0 50 10000 40 0 0 0 0 0\ncpu1 100 0 50 10000 40 0 0 0 0 0\n");
  tracker.update(first.cpus);

  SECTION("iowait stepping back slightly keeps the previous value") {
    ProcStat second =
        parse_ok("cpu0 110 0 55 10100 39 0 0 0 0 0\ncpu1 110 0 55 10100 45 0 0 0 0 0\n");
    const auto& out = tracker.update(second.cpus);
    REQUIRE(out.size() == 2);
    CHECK(out[0].modes[kIowait] == Approx(0.40));  // kernel said 0.39: kept 0.40
    CHECK(out[0].modes[kUser] == Approx(1.10));
    CHECK(out[1].modes[kIowait] == Approx(0.45));
  }

  SECTION("idle dropping by 3 s or more starts that CPU over") {
    ProcStat second = parse_ok("cpu0 10 0 5 20 1 0 0 0 0 0\ncpu1 110 0 55 10100 40 0 0 0 0 0\n");
    const auto& out = tracker.update(second.cpus);
    CHECK(out[0].modes[kIdle] == Approx(0.20));
    CHECK(out[0].modes[kIowait] == Approx(0.01));
    CHECK(out[1].modes[kIdle] == Approx(101.00));
  }

  SECTION("a CPU that disappears is forgotten, and comes back with its fresh values") {
    tracker.update(parse_ok("cpu0 110 0 55 10100 40 0 0 0 0 0\n").cpus);
    const auto& out = tracker.update(
        parse_ok("cpu0 120 0 60 10200 40 0 0 0 0 0\ncpu1 1 0 1 5 1 0 0 0 0 0\n").cpus);
    REQUIRE(out.size() == 2);
    CHECK(out[1].cpu == 1);
    CHECK(out[1].modes[kIdle] == Approx(0.05));
  }
}
