// The machine's floor for an idle agent: what waking a sleeping thread costs in CPU, measured the
// way run.sh measures vigil (on-CPU time of the process, every thread). A thread sleeps on a
// timerfd that fires 10 times a second and does nothing else; then the same with a hand-off to a
// second thread through a condition variable, as a timer thread hands a tick to a worker. The
// cadence is slow enough that each wake-up finds cold caches, as a 1 s collect or scrape does.
// vigil pays about one such wake-up per tick and one per scrape (tests/bench/README.md), so
// these figures bound from below what a collect + scrape cycle can cost on this machine.
//
// It prints figures only and never fails on a timing. Usage: bench_wakeup [seconds per run]
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kRuns = 3;
constexpr long kTickNs = 100'000'000;  // 10 wake-ups a second

double process_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// CPU per tick, in µs, of `seconds` of ticks; with `hand_off`, each tick also wakes a second
// thread that waits on a condition variable.
double cpu_per_tick(int seconds, bool hand_off) {
  std::mutex mutex;
  std::condition_variable ready;
  long pending = 0;
  bool done = false;
  std::thread worker;
  if (hand_off) {
    worker = std::thread([&] {
      std::unique_lock lock(mutex);
      for (;;) {
        ready.wait(lock, [&] { return pending > 0 || done; });
        if (done) return;
        --pending;
      }
    });
  }
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) {
    std::perror("bench_wakeup: timerfd_create");
    std::exit(1);
  }
  itimerspec period{};
  period.it_value.tv_nsec = kTickNs;
  period.it_interval.tv_nsec = kTickNs;
  timerfd_settime(fd, 0, &period, nullptr);
  const long ticks = seconds * (1'000'000'000 / kTickNs);
  uint64_t expirations = 0;
  if (read(fd, &expirations, sizeof expirations) < 0) std::exit(1);  // start on a tick
  const double before = process_cpu_us();
  for (long i = 0; i < ticks; ++i) {
    if (read(fd, &expirations, sizeof expirations) < 0) std::exit(1);
    if (hand_off) {
      {
        std::lock_guard lock(mutex);
        ++pending;
      }
      ready.notify_one();
    }
  }
  const double used = process_cpu_us() - before;
  close(fd);
  if (hand_off) {
    {
      std::lock_guard lock(mutex);
      done = true;
    }
    ready.notify_one();
    worker.join();
  }
  return used / static_cast<double>(ticks);
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  std::vector<double> alone, handed;
  for (int r = 0; r < kRuns; ++r) {
    alone.push_back(cpu_per_tick(seconds, false));
    handed.push_back(cpu_per_tick(seconds, true));
  }
  const double wake = median(alone);
  const double hand_off = median(handed) - wake;
  std::printf("timer wake-up of a sleeping thread: %.1f us CPU (runs:", wake);
  for (double v : alone) std::printf(" %.1f", v);
  std::printf(")\nhand-off to a second thread, on top: %.1f us CPU\n", hand_off);
  std::printf("RESULT wakeup_us %.1f\nRESULT handoff_us %.1f\n", wake, hand_off);
  return 0;
}
