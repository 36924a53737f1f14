// Unit tests for vigil::scheduler: repeated runs, hung calls and the replacement workers (at a
// timeout and as soon as due runs find every worker hung), stop() with a call that never
// returns, run_now, exceptions, and first-run phases (shared per interval, random per scheduler).
//
// Timing is asserted only loosely (machines are noisy): tests wait for an outcome with a generous
// limit rather than sleeping a fixed time and counting. Tasks capture shared_ptrs, never stack
// references, because an abandoned call may outlive the test case.
#include "scheduler/scheduler.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using vigil::scheduler::Observer;
using vigil::scheduler::Scheduler;
using vigil::scheduler::TaskSpec;
using Clock = std::chrono::steady_clock;

namespace {

// Polls `done` until it holds or `limit` passes; returns whether it held.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto give_up = Clock::now() + limit;
  while (Clock::now() < give_up) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

TaskSpec counting_task(std::string name, std::chrono::milliseconds interval,
                       std::shared_ptr<std::atomic<int>> counter, double jitter = 0.0) {
  TaskSpec spec;
  spec.name = std::move(name);
  spec.interval = interval;
  spec.timeout = 1s;
  spec.jitter = jitter;
  spec.run = [counter] { ++*counter; };
  return spec;
}

// Counts observer events per task; shared so that late callbacks can never touch a dead object.
struct Events {
  std::mutex mutex;
  std::vector<int> finished = std::vector<int>(16, 0);
  std::vector<int> timeouts = std::vector<int>(16, 0);
  std::vector<int> skipped = std::vector<int>(16, 0);
  std::vector<std::chrono::nanoseconds> longest = std::vector<std::chrono::nanoseconds>(16);

  int get(std::vector<int>& which, size_t task) {
    std::lock_guard lock(mutex);
    return which[task];
  }
};

Observer observe(const std::shared_ptr<Events>& events) {
  Observer o;
  o.on_finished = [events](size_t task, std::chrono::nanoseconds d) {
    std::lock_guard lock(events->mutex);
    ++events->finished[task];
    events->longest[task] = std::max(events->longest[task], d);
  };
  o.on_timeout = [events](size_t task) {
    std::lock_guard lock(events->mutex);
    ++events->timeouts[task];
  };
  o.on_skipped = [events](size_t task) {
    std::lock_guard lock(events->mutex);
    ++events->skipped[task];
  };
  return o;
}

}  // namespace

TEST_CASE("tasks run repeatedly at about their interval, never in bursts", "[scheduler]") {
  auto fast = std::make_shared<std::atomic<int>>(0);
  auto slow = std::make_shared<std::atomic<int>>(0);
  Scheduler scheduler(2);
  const size_t f = scheduler.add(counting_task("fast", 100ms, fast));
  const size_t s = scheduler.add(counting_task("slow", 300ms, slow));
  const auto started = Clock::now();
  scheduler.start();

  REQUIRE(eventually([&] { return *fast >= 4; }));
  const auto elapsed = Clock::now() - started;
  // The first run is at start (jitter 0), then one per full interval: never more than that.
  CHECK(*fast <= elapsed / 100ms + 2);
  CHECK(*slow >= 1);
  CHECK(*slow <= elapsed / 300ms + 2);
  CHECK(*slow < *fast);

  CHECK(scheduler.stop(1s).empty());
  const auto stats = scheduler.stats(f);
  CHECK(stats.runs == static_cast<uint64_t>(fast->load()));
  CHECK(stats.ran_once);
  CHECK_FALSE(stats.running);
  CHECK(stats.timeouts == 0);
  CHECK(scheduler.stats(s).runs == static_cast<uint64_t>(slow->load()));

  // Nothing runs once stop() has returned.
  const int after_stop = *fast;
  std::this_thread::sleep_for(250ms);
  CHECK(*fast == after_stop);
}

TEST_CASE("a hung call is reported once, its runs are skipped, the others keep running",
          "[scheduler]") {
  auto events = std::make_shared<Events>();
  auto release = std::make_shared<std::latch>(1);
  auto hung_calls = std::make_shared<std::atomic<int>>(0);
  auto other = std::make_shared<std::atomic<int>>(0);

  // One worker only: the other task can keep running during the hang only on a replacement.
  Scheduler scheduler(1, observe(events));
  TaskSpec hung;
  hung.name = "collector_hang:stuck";
  hung.interval = 30ms;
  hung.timeout = 50ms;
  hung.jitter = 0.0;
  hung.run = [release, hung_calls] {
    ++*hung_calls;
    release->wait();
  };
  const size_t h = scheduler.add(hung);
  const size_t o = scheduler.add(counting_task("collector_ok:fine", 20ms, other));
  scheduler.start();

  REQUIRE(eventually([&] { return events->get(events->timeouts, h) == 1; }));
  CHECK(scheduler.stats(h).timeouts == 1);
  CHECK(scheduler.stats(h).running);

  const int before = *other;
  REQUIRE(eventually([&] { return *other >= before + 5; }));
  CHECK(scheduler.worker_count() == 2);
  CHECK(scheduler.busy_workers() >= 1);

  REQUIRE(eventually([&] { return scheduler.stats(h).skipped >= 3; }));
  CHECK(events->get(events->skipped, h) >= 3);
  // Still one timeout: it belongs to the call, not to each skipped run.
  CHECK(events->get(events->timeouts, h) == 1);
  CHECK(*hung_calls == 1);
  CHECK(scheduler.stats(h).runs == 0);
  CHECK_FALSE(scheduler.stats(h).ran_once);
  CHECK(scheduler.stats(o).skipped <= scheduler.stats(o).runs);

  release->count_down();
  // The late call completes and the task runs again at a later slot.
  REQUIRE(eventually([&] { return scheduler.stats(h).runs >= 2; }));
  CHECK(*hung_calls >= 2);
  CHECK(events->get(events->finished, h) >= 2);
  {
    std::lock_guard lock(events->mutex);
    CHECK(events->longest[h] >= 50ms);
  }
  CHECK(scheduler.stats(h).timeouts == 1);
  // The replacement worker retires once the pool no longer needs it.
  CHECK(eventually([&] { return scheduler.worker_count() == 1; }));

  CHECK(scheduler.stop(2s).empty());
}

TEST_CASE("stop() gives up on a call that never returns, within its deadline", "[scheduler]") {
  auto events = std::make_shared<Events>();
  auto release = std::make_shared<std::latch>(1);
  auto entered = std::make_shared<std::atomic<bool>>(false);
  auto other = std::make_shared<std::atomic<int>>(0);
  auto released = std::make_shared<std::atomic<bool>>(false);

  auto scheduler = std::make_unique<Scheduler>(2, observe(events));
  TaskSpec hung;
  hung.name = "exporter_hang:forever";
  hung.interval = 50ms;
  hung.timeout = 100ms;
  hung.jitter = 0.0;
  hung.run = [release, entered, released] {
    *entered = true;
    release->wait();
    *released = true;
  };
  scheduler->add(hung);
  scheduler->add(counting_task("collector_ok:fine", 20ms, other));
  scheduler->start();
  REQUIRE(eventually([&] { return entered->load() && *other >= 2; }));

  const auto began = Clock::now();
  const auto abandoned = scheduler->stop(300ms);
  const auto took = Clock::now() - began;
  REQUIRE(abandoned == std::vector<std::string>{"exporter_hang:forever"});
  CHECK(took >= 300ms);  // it did wait for the call, as asked
  CHECK(took < 3s);      // and did not wait for the call to end (very loose for noisy machines)
  CHECK(scheduler->stop(1s).empty());

  const int finished_before = events->get(events->finished, 0);
  scheduler.reset();
  // The abandoned call returns after the scheduler is gone: nothing may crash, and the observer
  // is no longer called.
  release->count_down();
  REQUIRE(eventually([&] { return released->load(); }));
  std::this_thread::sleep_for(50ms);
  CHECK(events->get(events->finished, 0) == finished_before);
}

TEST_CASE("run_now adds an extra run, never concurrent with a running call", "[scheduler]") {
  SECTION("an idle task runs at once, without waiting for its interval") {
    auto count = std::make_shared<std::atomic<int>>(0);
    Scheduler scheduler(1);
    const size_t t = scheduler.add(counting_task("health_once:x", std::chrono::hours(1), count));
    scheduler.start();
    REQUIRE(eventually([&] { return *count == 1; }));
    scheduler.run_now(t);
    REQUIRE(eventually([&] { return *count == 2; }));
    scheduler.run_now(t);
    REQUIRE(eventually([&] { return *count == 3; }));
    CHECK(scheduler.stats(t).runs == 3);
  }

  SECTION("requests during a call wait for it, and never overlap") {
    auto in_flight = std::make_shared<std::atomic<int>>(0);
    auto most = std::make_shared<std::atomic<int>>(0);
    auto calls = std::make_shared<std::atomic<int>>(0);
    Scheduler scheduler(4);
    TaskSpec slow;
    slow.name = "collector_slow:x";
    slow.interval = 15ms;
    slow.timeout = 1s;
    slow.jitter = 0.0;
    slow.run = [in_flight, most, calls] {
      const int now = ++*in_flight;
      int seen = *most;
      while (now > seen && !most->compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(30ms);
      ++*calls;
      --*in_flight;
    };
    const size_t t = scheduler.add(slow);
    scheduler.start();
    const auto until = Clock::now() + 400ms;
    while (Clock::now() < until) {
      scheduler.run_now(t);
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(eventually([&] { return *calls >= 3; }));
    CHECK(scheduler.stop(2s).empty());
    CHECK(*most == 1);
    // Due runs that found the call still running were skipped and counted.
    CHECK(scheduler.stats(t).skipped > 0);
  }

  SECTION("a bad index is refused with a clear error") {
    Scheduler scheduler(1);
    CHECK_THROWS_WITH(scheduler.run_now(3), Catch::Contains("expected an index below 0"));
    CHECK_THROWS_AS(scheduler.stats(0), std::out_of_range);
  }
}

TEST_CASE("exceptions from a task are contained and do not kill the pool", "[scheduler]") {
  auto good = std::make_shared<std::atomic<int>>(0);
  auto thrown = std::make_shared<std::atomic<int>>(0);
  Scheduler scheduler(1);
  TaskSpec bad;
  bad.name = "collector_bad:std";
  bad.interval = 20ms;
  bad.timeout = 1s;
  bad.jitter = 0.0;
  bad.run = [thrown] {
    ++*thrown;
    throw std::runtime_error("cannot read /proc/nothing");
  };
  TaskSpec odd = bad;
  odd.name = "collector_bad:int";
  odd.run = [thrown] {
    ++*thrown;
    throw 42;
  };
  const size_t b = scheduler.add(bad);
  const size_t d = scheduler.add(odd);
  scheduler.add(counting_task("collector_ok:fine", 20ms, good));
  scheduler.start();

  REQUIRE(eventually([&] { return *thrown >= 8 && *good >= 5; }));
  CHECK(scheduler.stats(b).failures >= 3);
  CHECK(scheduler.stats(d).failures >= 3);
  CHECK(scheduler.stats(b).runs == scheduler.stats(b).failures);
  CHECK(scheduler.worker_count() == 1);
  CHECK(scheduler.stop(1s).empty());
}

TEST_CASE("tasks with the same interval share one random phase within the jitter budget",
          "[scheduler]") {
  struct FirstRuns {
    std::mutex mutex;
    std::vector<Clock::time_point> at = std::vector<Clock::time_point>(10);
    int seen = 0;
  };
  auto first = std::make_shared<FirstRuns>();
  Scheduler scheduler(4);
  for (int i = 0; i < 10; ++i) {
    TaskSpec spec;
    spec.name = "collector_j:" + std::to_string(i);
    spec.interval = 1s;
    spec.timeout = 1s;
    spec.jitter = 0.5;
    spec.run = [first, i] {
      std::lock_guard lock(first->mutex);
      if (first->at[i] == Clock::time_point{}) {
        first->at[i] = Clock::now();
        ++first->seen;
      }
    };
    scheduler.add(spec);
  }
  const auto started = Clock::now();
  scheduler.start();
  REQUIRE(eventually([&] {
    std::lock_guard lock(first->mutex);
    return first->seen == 10;
  }));
  scheduler.stop(1s);

  const auto [earliest, latest] = std::minmax_element(first->at.begin(), first->at.end());
  // Offsets are below jitter * interval = 500ms; the slack covers a slow machine.
  CHECK(*latest - started < 500ms + 1s);
  // One tick for all ten: they start together, not spread over the 500ms (the slack covers
  // four workers taking ten runs on a slow machine).
  CHECK(*latest - *earliest < 200ms);
}

TEST_CASE("each scheduler draws its own phase, so hosts do not all start at once", "[scheduler]") {
  struct FirstRun {
    std::mutex mutex;
    Clock::time_point at{};
  };
  std::vector<std::chrono::nanoseconds> offsets;
  for (int round = 0; round < 4; ++round) {
    auto first = std::make_shared<FirstRun>();
    Scheduler scheduler(1);
    TaskSpec spec;
    spec.name = "collector_phase:x";
    spec.interval = 200ms;
    spec.timeout = 1s;
    spec.jitter = 1.0;
    spec.run = [first] {
      std::lock_guard lock(first->mutex);
      if (first->at == Clock::time_point{}) first->at = Clock::now();
    };
    scheduler.add(spec);
    const auto started = Clock::now();
    scheduler.start();
    REQUIRE(eventually([&] {
      std::lock_guard lock(first->mutex);
      return first->at != Clock::time_point{};
    }));
    scheduler.stop(1s);
    offsets.push_back(first->at - started);
  }
  const auto [lo, hi] = std::minmax_element(offsets.begin(), offsets.end());
  // Four draws from [0, 200ms) all within 2ms of each other: about one chance in 10^5.
  CHECK(*hi - *lo > 2ms);
}

TEST_CASE(
    "when every worker is in a hung call, due runs start on a replacement before the "
    "calls time out",
    "[scheduler]") {
  auto events = std::make_shared<Events>();
  auto release = std::make_shared<std::latch>(1);
  auto other = std::make_shared<std::atomic<int>>(0);
  Scheduler scheduler(2, observe(events));
  for (int i = 0; i < 2; ++i) {
    TaskSpec hung;
    hung.name = "check_hang:" + std::to_string(i);
    hung.interval = 1h;
    hung.timeout = 1h;  // nothing relies on the timeout to free a worker
    hung.jitter = 0.0;
    hung.run = [release] { release->wait(); };
    scheduler.add(hung);
  }
  const size_t o = scheduler.add(counting_task("collector_ok:fine", 20ms, other));
  scheduler.start();

  REQUIRE(eventually([&] { return *other >= 5; }));
  CHECK(scheduler.busy_workers() >= 2);
  CHECK(scheduler.worker_count() >= 3);
  CHECK(scheduler.worker_count() <= 2 * (1 + Scheduler::kExtraWorkersPerWorker));
  CHECK(events->get(events->timeouts, 0) == 0);
  CHECK(events->get(events->timeouts, 1) == 0);
  CHECK(scheduler.stats(o).timeouts == 0);

  release->count_down();
  // Once the calls return the pool shrinks back to its size.
  CHECK(eventually([&] { return scheduler.worker_count() == 2; }));
  CHECK(scheduler.stop(2s).empty());
}

TEST_CASE("a timeout shorter than the time to the next run is still reported when it passes",
          "[scheduler]") {
  auto events = std::make_shared<Events>();
  auto release = std::make_shared<std::latch>(1);
  Scheduler scheduler(1, observe(events));
  TaskSpec hung;
  hung.name = "check_hang:rare";
  hung.interval = 1h;
  hung.timeout = 50ms;
  hung.jitter = 0.0;
  hung.run = [release] { release->wait(); };
  const size_t h = scheduler.add(hung);
  scheduler.start();
  // Nothing else is due for an hour: the timer must wake for this call's timeout alone.
  REQUIRE(eventually([&] { return events->get(events->timeouts, h) == 1; }));
  CHECK(scheduler.stats(h).running);
  release->count_down();
  REQUIRE(eventually([&] { return scheduler.stats(h).runs == 1; }));
  CHECK(scheduler.stop(1s).empty());
}

TEST_CASE("unusable task specs and misuse are refused with an actionable message", "[scheduler]") {
  Scheduler scheduler(1);
  TaskSpec spec;
  spec.name = "collector_cpu:cpu";
  spec.interval = 0ms;
  spec.timeout = 1s;
  spec.run = [] {};
  CHECK_THROWS_WITH(scheduler.add(spec),
                    Catch::Contains("collector_cpu:cpu") && Catch::Contains("interval 0ms"));
  spec.interval = 1s;
  spec.timeout = -5ms;
  CHECK_THROWS_AS(scheduler.add(spec), std::invalid_argument);
  spec.timeout = 1s;
  spec.jitter = 1.5;
  CHECK_THROWS_WITH(scheduler.add(spec), Catch::Contains("jitter"));
  spec.jitter = 0.1;
  spec.run = nullptr;
  CHECK_THROWS_AS(scheduler.add(spec), std::invalid_argument);
  spec.run = [] {};
  CHECK(scheduler.add(spec) == 0);
  scheduler.start();
  CHECK_THROWS_AS(scheduler.add(spec), std::logic_error);
  CHECK_THROWS_AS(scheduler.start(), std::logic_error);
  CHECK_THROWS_AS(Scheduler(0), std::invalid_argument);
}
