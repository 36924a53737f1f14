// Micro-benchmark of what rules read from the store: select() by one equality label among
// 100,000 series (with a stable store and right after another family changed), latest(),
// window() over a full ring, the gauge write with and without a ring, and the memory rings take.
// It prints figures only; it never fails a build or a test run, because shared machines make
// timings noisy. Run it on a quiet machine:
//   build/bin/bench_select
#include "store/store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using vigil::store::Labels;
using vigil::store::Sample;
using vigil::store::SeriesInfo;
using vigil::store::Store;
using vigil::store::WindowOptions;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRuns = 5;
constexpr long kWrites = 10'000'000;
constexpr int kSeries = 100'000;

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double median_ns_per_op(long ops, F&& body) {
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r) {
    const auto start = Clock::now();
    body();
    runs.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                   static_cast<double>(ops));
  }
  return median(runs);
}

template <class F>
double once_us(F&& body) {
  const auto start = Clock::now();
  body();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

vigil_family_desc desc(const char* name) {
  return vigil_family_desc{sizeof(vigil_family_desc), name,    "bench", "",
                           VIGIL_METRIC_GAUGE,        nullptr, 0};
}

}  // namespace

int main() {
  std::string error;
  Store store;
  const auto family = store.register_family(desc("bench_metric"), error);
  const auto other = store.register_family(desc("bench_other"), error);
  std::vector<vigil_series_id> ids;
  ids.reserve(kSeries);
  for (int i = 0; i < kSeries; ++i) {
    ids.push_back(store.register_series(family, Labels{{"host", "h1"}, {"id", std::to_string(i)}},
                                        0, 0, error));
    if (!ids.back()) {
      std::fprintf(stderr, "register_series failed: %s\n", error.c_str());
      return 1;
    }
    store.write(ids.back(), i * 0.5, 0);
  }

  // ---- select ---------------------------------------------------------------------------------
  size_t found = 0;
  auto count = [&](const SeriesInfo&) { ++found; };
  // The first select by a label builds the family's index: its time and memory, once.
  const long rss_before_index = rss_kib();
  const double first_us = once_us([&] { store.select("bench_metric", {{"id", "12345"}}, count); });
  const long index_kib = rss_kib() - rss_before_index;
  constexpr long kSelects = 100'000;
  std::vector<std::vector<std::pair<std::string, std::string>>> queries;
  for (long i = 0; i < 1000; ++i) queries.push_back({{"id", std::to_string((i * 7919) % kSeries)}});
  found = 0;
  const double select_ns = median_ns_per_op(kSelects, [&] {
    for (long i = 0; i < kSelects; ++i) store.select("bench_metric", queries[i % 1000], count);
  });
  if (found != static_cast<size_t>(kSelects) * kRuns) {
    std::fprintf(stderr, "select found %zu series, expected %ld\n", found, kSelects * kRuns);
    return 1;
  }
  // A registration elsewhere (a new label set in another family, as a scrape or a process
  // collector makes) must not make the next select of this family pay for the whole family.
  std::vector<double> churn_runs;
  for (int r = 0; r < kRuns; ++r) {
    const auto id = store.register_series(other, Labels{{"n", std::to_string(r)}}, 0, 0, error);
    store.write(id, 1, 0);
    churn_runs.push_back(once_us([&] { store.select("bench_metric", queries[r], count); }));
  }
  std::printf(
      "select bench_metric{id=\"N\"} among %d series: %.0f ns [median of %d x %ld]; right after "
      "a registration in another family %.1f us [median of %d]; the first select, which builds "
      "the family's label index: %.0f us, +%ld KiB RSS (%.0f bytes per series)\n",
      kSeries, select_ns, kRuns, kSelects, median(churn_runs), kRuns, first_us, index_kib,
      index_kib * 1024.0 / kSeries);

  // ---- latest ---------------------------------------------------------------------------------
  double sink = 0;
  const double latest_ns = median_ns_per_op(kWrites, [&] {
    Sample s;
    for (long i = 0; i < kWrites; ++i) {
      if (store.latest(ids[static_cast<size_t>(i) % 1024], s)) sink += s.v;
    }
  });
  std::printf("latest(): %.1f ns [median of %d x %ld]\n", latest_ns, kRuns, kWrites);

  // ---- writes ---------------------------------------------------------------------------------
  const vigil_series_id plain = ids[kSeries / 2];
  const double write_plain = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) store.write(plain, static_cast<double>(i), 0);
  });
  const vigil_series_id watched = ids[kSeries / 2 + 1];
  std::vector<Sample> window;
  store.window(watched, 0, 1, window);  // marks it watched: it gets a ring
  const double write_ring = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) store.write(watched, static_cast<double>(i), 0);
  });
  int64_t t = Store::now_ms() + 1000;  // after every "now" above, so each is newer
  const double write_ring_explicit = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) store.write(watched, static_cast<double>(i), ++t);
  });
  std::printf(
      "gauge write by handle: %.1f ns without a ring, %.1f ns with one (timestamp now: most "
      "writes replace the newest sample), %.1f ns with one and a new timestamp each time "
      "[median of %d x %ld; target <= 20 ns]\n",
      write_plain, write_ring, write_ring_explicit, kRuns, kWrites);

  // ---- window ---------------------------------------------------------------------------------
  constexpr long kReads = 100'000;
  size_t samples = 0;
  const double window_ns = median_ns_per_op(kReads, [&] {
    for (long i = 0; i < kReads; ++i) {
      window.clear();
      samples = store.window(watched, t - 3'600'000, t, window);
    }
  });
  std::printf("window() of %zu samples: %.0f ns [median of %d x %ld]\n", samples, window_ns, kRuns,
              kReads);

  // ---- ring memory ----------------------------------------------------------------------------
  // Every series with a full default ring: an hour at 5 s intervals.
  store.set_window_options(WindowOptions{3'600'000, 720, true});
  constexpr int kRingSeries = 10'000;
  const size_t before = store.window_bytes();
  for (int s = 0; s < 720; ++s) {
    for (int i = 0; i < kRingSeries; ++i) store.write(ids[i], s, 1'800'000'000'000 + s * 5000);
  }
  std::printf("rings: %.0f bytes per series with 720 samples (%d series, %zu bytes)\n",
              static_cast<double>(store.window_bytes() - before) / kRingSeries, kRingSeries,
              store.window_bytes() - before);
  if (sink == 42) std::puts("");
  return 0;
}
