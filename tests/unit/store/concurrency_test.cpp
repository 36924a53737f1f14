// The store under concurrent use: writers on their own threads, a visitor, and registrations and
// drops happening at the same time. It asserts what must hold whatever the interleaving (no lost
// final values, histograms never torn, counts exact at the end), never how long anything takes.
// It must never sleep to "let things happen": every thread runs to a fixed amount of work.
#include "store/store.hpp"
#include "visit_helpers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace vigil::store;
using namespace vigil::store::test;

namespace {

struct VisitChecks {
  std::atomic<int> torn{0};
  std::atomic<int> unsorted{0};
  std::atomic<int> visits{0};
};

struct VisitState {
  VisitChecks* checks;
  std::string previous;
  std::string family;
};

int check_family(void* user, const vigil_family_view* f) {
  auto& state = *static_cast<VisitState*>(user);
  if (!state.family.empty() && state.family >= f->name) state.checks->unsorted++;
  state.family = f->name;
  state.previous.clear();
  return 0;
}

int check_series(void* user, const vigil_family_view* f, const vigil_series_view* s) {
  auto& state = *static_cast<VisitState*>(user);
  const std::string name = f->name;
  if (f->type == VIGIL_METRIC_HISTOGRAM) {
    for (size_t i = 1; i < f->bucket_count; ++i) {
      if (s->bucket_counts[i] < s->bucket_counts[i - 1]) state.checks->torn++;
    }
    if (f->bucket_count && s->count < s->bucket_counts[f->bucket_count - 1]) state.checks->torn++;
    // "snap" is only ever replaced whole with {k, 2k, 3k}, count 4k, sum k: any mix of two
    // replacements breaks the proportions.
    if (name == "snap") {
      const uint64_t k = s->bucket_counts[0];
      if (s->bucket_counts[1] != 2 * k || s->bucket_counts[2] != 3 * k || s->count != 4 * k ||
          s->sum != static_cast<double>(k)) {
        state.checks->torn++;
      }
    }
  }
  std::string text(s->labels_text, s->labels_text_len);
  if (name == "reg" && !state.previous.empty() && text.size() == state.previous.size() &&
      text <= state.previous) {
    state.checks->unsorted++;  // same-length ids sort as text; only strict order is checked
  }
  state.previous = text;
  return 0;
}

}  // namespace

TEST_CASE("concurrent writers, a visitor and registrations keep every value right",
          "[store][concurrency]") {
  Store store;
  std::string error;
  const double buckets[] = {1, 2, 3};
  const auto work = store.register_family(family_desc("work_total", VIGIL_METRIC_COUNTER), error);
  const auto lat =
      store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 3), error);
  const auto snap =
      store.register_family(family_desc("snap", VIGIL_METRIC_HISTOGRAM, buckets, 3), error);
  const auto reg = store.register_family(family_desc("reg", VIGIL_METRIC_GAUGE), error);
  REQUIRE(work);
  REQUIRE(lat);
  REQUIRE(snap);
  REQUIRE(reg);
  const auto lat_series = store.register_series(lat, {}, 0, 0, error);
  const auto snap_series = store.register_series(snap, {}, 0, 0, error);

  constexpr int kThreads = 4;
  constexpr int kSeriesPerThread = 50;
  constexpr int kWrites = 20'000;
  constexpr int kRegistrations = 2'000;

  std::vector<std::vector<vigil_series_id>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int j = 0; j < kSeriesPerThread; ++j) {
      ids[t].push_back(store.register_series(
          work, {{"thread", std::to_string(t)}, {"n", std::to_string(j)}}, 0, 0, error));
      REQUIRE(ids[t].back() != 0);
    }
  }

  std::atomic<bool> done{false};
  std::atomic<bool> visitor_started{false};
  std::atomic<int> failures{0};
  VisitChecks checks;

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // A busy machine may start the visitor last: the writes wait for it, so they race with
      // its walks instead of being over before the first one.
      while (!visitor_started.load()) std::this_thread::yield();
      for (int k = 1; k <= kWrites; ++k) {
        if (store.write(ids[t][k % kSeriesPerThread], k, 0) != VIGIL_OK) failures++;
        if (store.observe(lat_series, (k % 4) + 0.5) != VIGIL_OK) failures++;
        if (t == 0) {
          const uint64_t c = static_cast<uint64_t>(k);
          const uint64_t cumulative[] = {c, 2 * c, 3 * c};
          if (store.write_histogram(snap_series, cumulative, 3, static_cast<double>(c), 4 * c, 0) !=
              VIGIL_OK) {
            failures++;
          }
        }
      }
    });
  }
  std::thread visitor([&] {
    visitor_started = true;
    do {
      VisitState state{&checks, "", ""};
      vigil_store_visitor v{sizeof(vigil_store_visitor), check_family, check_series};
      store.visit(v, &state);
      checks.visits++;
      (void)store.live_series();
    } while (!done.load());
  });
  std::vector<vigil_series_id> registered(kRegistrations);
  std::thread registrar([&] {
    while (!visitor_started.load()) std::this_thread::yield();
    std::string err;
    for (int i = 0; i < kRegistrations; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "%06d", i);
      registered[i] = store.register_series(reg, {{"id", id}}, 0, 99, err);
      if (registered[i] == 0 || store.write(registered[i], i, 0) != VIGIL_OK) failures++;
      // Drop every other one again, so drops race with the visitor's walks too.
      if (i % 2 == 1 && store.unregister_series(registered[i], 99) != VIGIL_OK) failures++;
    }
  });

  for (auto& thread : threads) thread.join();
  registrar.join();
  done = true;
  visitor.join();

  CHECK(failures == 0);
  CHECK(checks.torn == 0);
  CHECK(checks.unsorted == 0);
  CHECK(checks.visits > 0);

  const auto seen = collect(store);
  std::map<std::string, double> work_values;
  size_t reg_count = 0;
  for (const auto& s : seen.series) {
    if (s.family == "work_total") work_values[s.labels_text] = s.value;
    if (s.family == "reg") {
      ++reg_count;
      const int i = std::stoi(s.labels[0].second);
      CHECK(i % 2 == 0);
      CHECK(s.value == i);
    }
    if (s.family == "lat") {
      // Values 0.5, 1.5, 2.5, 3.5 in turn: a quarter of all observations per bucket.
      constexpr uint64_t kQuarter = kThreads * kWrites / 4;
      CHECK(s.bucket_counts == std::vector<uint64_t>{kQuarter, 2 * kQuarter, 3 * kQuarter});
      CHECK(s.count == 4 * kQuarter);
      CHECK(s.sum == Approx(kThreads * kWrites * 2.0));
    }
    if (s.family == "snap") {
      CHECK(s.bucket_counts == std::vector<uint64_t>{kWrites, 2 * kWrites, 3 * kWrites});
    }
  }
  CHECK(reg_count == kRegistrations / 2);
  REQUIRE(work_values.size() == kThreads * kSeriesPerThread);
  for (int t = 0; t < kThreads; ++t) {
    for (int j = 0; j < kSeriesPerThread; ++j) {
      // The last k with k % 50 == j.
      const int last = kWrites - ((kWrites - j) % kSeriesPerThread);
      const std::string key =
          "{n=\"" + std::to_string(j) + "\",thread=\"" + std::to_string(t) + "\"}";
      CHECK(work_values[key] == last);
    }
  }
}

TEST_CASE("a reader never sees half of a histogram replacement", "[store][concurrency]") {
  Store store;
  std::string error;
  constexpr size_t kBuckets = 32;
  std::vector<double> bounds;
  for (size_t i = 0; i < kBuckets; ++i) bounds.push_back(static_cast<double>(i + 1));
  const auto f = store.register_family(
      family_desc("whole", VIGIL_METRIC_HISTOGRAM, bounds.data(), bounds.size()), error);
  const auto s = store.register_series(f, {}, 0, 0, error);
  REQUIRE(s);
  const uint64_t zero[kBuckets] = {};
  REQUIRE(store.write_histogram(s, zero, kBuckets, 0, 0, 0) == VIGIL_OK);

  // Replacement k has bucket i = k * (i + 1), count = k * (kBuckets + 1), sum = k.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    uint64_t cumulative[kBuckets];
    for (uint64_t k = 1; !done.load(std::memory_order_relaxed); ++k) {
      for (size_t i = 0; i < kBuckets; ++i) cumulative[i] = k * (i + 1);
      store.write_histogram(s, cumulative, kBuckets, static_cast<double>(k), k * (kBuckets + 1), 0);
    }
  });
  struct Torn {
    int torn = 0;
  } torn;
  vigil_store_visitor visitor{sizeof(vigil_store_visitor), nullptr,
                              [](void* u, const vigil_family_view*, const vigil_series_view* v) {
                                const uint64_t k = v->bucket_counts[0];
                                bool ok = v->count == k * (kBuckets + 1) &&
                                          v->sum == static_cast<double>(k);
                                for (size_t i = 0; i < kBuckets; ++i)
                                  ok = ok && v->bucket_counts[i] == k * (i + 1);
                                if (!ok) static_cast<Torn*>(u)->torn++;
                                return 0;
                              }};
  for (int i = 0; i < 200'000; ++i) store.visit(visitor, &torn);
  done = true;
  writer.join();
  CHECK(torn.torn == 0);
}
