// What rules read from the store: series selected by name and labels through the label index,
// the latest sample, liveness, and windows of recent samples kept in rings bounded by retention
// and count. Each case asserts what a rule would get wrong if it broke: a series missing from or
// wrongly in a selection, a stale or dropped series still answering, a window with samples it
// should not have, out of order or torn under a concurrent writer, memory kept after a drop.
// It must never assert how long anything takes.
#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <string>
#include <thread>
#include <vector>

using vigil::store::Sample;
using vigil::store::SeriesInfo;
using vigil::store::Store;
using vigil::store::WindowOptions;
using Equal = std::vector<std::pair<std::string, std::string>>;

namespace {

vigil_family_id family(Store& store, const char* name,
                       vigil_metric_type type = VIGIL_METRIC_GAUGE) {
  vigil_family_desc desc{};
  desc.size = sizeof desc;
  desc.name = name;
  desc.help = "test";
  desc.type = type;
  std::string error;
  auto id = store.register_family(desc, error);
  INFO(error);
  REQUIRE(id != 0);
  return id;
}

vigil_series_id series(Store& store, vigil_family_id family, vigil::store::Labels labels,
                       int64_t stale_after_ms = 0) {
  std::string error;
  auto id = store.register_series(family, std::move(labels), stale_after_ms, 0, error);
  INFO(error);
  REQUIRE(id != 0);
  return id;
}

// The selected series as "name=value,..." texts, sorted (select() promises no order).
std::vector<std::string> selected(const Store& store, const char* family, const Equal& equal,
                                  int64_t now_ms = 0) {
  std::vector<std::string> out;
  store.select(
      family, equal,
      [&](const SeriesInfo& s) {
        std::string text;
        for (size_t i = 0; i < s.label_count; ++i) {
          text += std::string(i ? "," : "") + s.labels[i].name + "=" + s.labels[i].value;
        }
        out.push_back(text);
      },
      now_ms);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<vigil_series_id> selected_ids(const Store& store, const char* family,
                                          const Equal& equal, int64_t now_ms = 0) {
  std::vector<vigil_series_id> out;
  store.select(
      family, equal, [&](const SeriesInfo& s) { out.push_back(s.id); }, now_ms);
  return out;
}

std::vector<double> values(const std::vector<Sample>& samples) {
  std::vector<double> out;
  for (const Sample& s : samples) out.push_back(s.v);
  return out;
}

std::vector<Sample> window(const Store& store, vigil_series_id id, int64_t from_ms = 0,
                           int64_t to_ms = INT64_MAX) {
  std::vector<Sample> out;
  const size_t n = store.window(id, from_ms, to_ms, out);
  CHECK(n == out.size());
  return out;
}

}  // namespace

TEST_CASE("select finds live series by family and label equality") {
  Store store;
  auto f = family(store, "bench_metric");
  for (int i = 0; i < 1000; ++i) {
    auto id = series(store, f, {{"id", std::to_string(i)}, {"zone", i % 2 ? "a" : "b"}});
    store.write(id, i, 0);
  }
  series(store, f, {{"id", "never-written"}});
  CHECK(selected(store, "bench_metric", {{"id", "7"}}) == std::vector<std::string>{"id=7,zone=a"});
  CHECK(selected(store, "bench_metric", {{"id", "7"}, {"zone", "b"}}).empty());
  CHECK(selected(store, "bench_metric", {{"zone", "a"}}).size() == 500);
  CHECK(selected(store, "bench_metric", {}).size() == 1000);  // the unwritten one is not live
  CHECK(selected(store, "bench_metric", {{"id", "never-written"}}).empty());
  CHECK(selected(store, "bench_metric", {{"id", "1000"}}).empty());
  CHECK(selected(store, "bench_metric", {{"zone", "c"}}).empty());
  CHECK(selected(store, "no_such_metric", {}).empty());
  // A name that is a prefix of another, or a value split differently, is another label.
  CHECK(selected(store, "bench_metric", {{"i", "d7"}}).empty());
  CHECK(selected(store, "bench_metric", {{"id7", ""}, {"id", "7"}}).size() == 1);
}

TEST_CASE("an equality with an empty value matches only series without that label") {
  Store store;
  auto f = family(store, "up");
  store.write(series(store, f, {{"job", "a"}}), 1, 0);
  store.write(series(store, f, {{"job", "b"}, {"zone", "z1"}}), 1, 0);
  store.write(series(store, f, {{"job", "c"}, {"zone", ""}}), 1, 0);  // "" = no zone label
  CHECK(selected(store, "up", {{"zone", ""}}) == std::vector<std::string>{"job=a", "job=c"});
  CHECK(selected(store, "up", {{"zone", ""}, {"job", "b"}}).empty());
  CHECK(selected(store, "up", {{"zone", "z1"}}) == std::vector<std::string>{"job=b,zone=z1"});
}

TEST_CASE("the label index follows registrations, drops and slot reuse after the first select") {
  Store store;
  store.set_reuse_delay_ms(0);  // dropped slots are reused at once, the hardest case
  auto f = family(store, "m");
  std::vector<vigil_series_id> ids;
  for (int i = 0; i < 100; ++i) {
    ids.push_back(series(store, f, {{"id", std::to_string(i)}, {"host", "h1"}}));
    store.write(ids.back(), i, 0);
  }
  REQUIRE(selected(store, "m", {{"id", "5"}}).size() == 1);  // the index exists from here on

  // A series registered afterwards is found by its labels at once.
  auto late = series(store, f, {{"id", "late"}, {"host", "h2"}});
  store.write(late, 1, 0);
  CHECK(selected(store, "m", {{"id", "late"}}) == std::vector<std::string>{"host=h2,id=late"});
  CHECK(selected(store, "m", {{"host", "h2"}}).size() == 1);

  // Dropping most of them (enough to compact the lists) leaves exactly the rest.
  for (int i = 0; i < 90; ++i) REQUIRE(store.unregister_series(ids[i], 0) == VIGIL_OK);
  CHECK(selected(store, "m", {{"id", "5"}}).empty());
  CHECK(selected(store, "m", {{"host", "h1"}}).size() == 10);
  CHECK(selected(store, "m", {{"id", "95"}}) == std::vector<std::string>{"host=h1,id=95"});

  // The freed slots now hold other series: the old label values must not find them.
  for (int i = 0; i < 90; ++i) {
    store.write(series(store, f, {{"id", "new" + std::to_string(i)}, {"host", "h3"}}), 1, 0);
  }
  for (int i = 0; i < 90; ++i) {
    INFO("id " << i);
    REQUIRE(selected(store, "m", {{"id", std::to_string(i)}}).empty());
  }
  CHECK(selected(store, "m", {{"host", "h1"}}).size() == 10);
  CHECK(selected(store, "m", {{"host", "h3"}}).size() == 90);

  // Re-registering a dropped label set gives a new id, found by select; the old id is refused.
  auto again = series(store, f, {{"id", "3"}, {"host", "h1"}});
  store.write(again, 3, 0);
  CHECK(selected_ids(store, "m", {{"id", "3"}}) == std::vector<vigil_series_id>{again});
  Sample s;
  CHECK_FALSE(store.latest(ids[3], s));
}

TEST_CASE("garbage collection removes series from selections and moves the generation") {
  Store store;
  auto f = family(store, "g");
  auto old = series(store, f, {{"k", "old"}}, 1000);
  auto fresh = series(store, f, {{"k", "fresh"}}, 1000);
  store.write(old, 1, 10'000);
  store.write(fresh, 1, 60'000);
  REQUIRE(selected(store, "g", {{"k", "old"}}, 10'500).size() == 1);
  const uint64_t before = store.generation();
  CHECK(store.collect_garbage(60'000, 5000) == 1);
  CHECK(store.generation() != before);
  CHECK(selected(store, "g", {{"k", "old"}}, 10'500).empty());
  CHECK(selected(store, "g", {{"k", "fresh"}}, 60'500).size() == 1);
}

TEST_CASE("select skips stale series, and the generation moves with registrations only") {
  Store store;
  auto f = family(store, "up");
  auto a = series(store, f, {{"job", "a"}}, 5000);
  const uint64_t before = store.generation();
  auto b = series(store, f, {{"job", "b"}}, 5000);
  CHECK(store.generation() != before);
  const uint64_t registered = store.generation();
  store.write(a, 1, 10'000);
  store.write(b, 1, 15'000);
  series(store, f, {{"job", "b"}}, 5000);  // the same series again: nothing changes
  CHECK(store.generation() == registered);
  CHECK(selected(store, "up", {}, 14'000) == std::vector<std::string>{"job=a", "job=b"});
  CHECK(selected(store, "up", {}, 15'500) == std::vector<std::string>{"job=b"});
  CHECK(selected(store, "up", {{"job", "a"}}, 15'500).empty());
  store.unregister_series(a, 0);
  CHECK(store.generation() != registered);
  CHECK(selected(store, "up", {{"job", "a"}}, 10'500).empty());
}

TEST_CASE("families lists every registered family with its type") {
  Store store;
  family(store, "a_total", VIGIL_METRIC_COUNTER);
  family(store, "b", VIGIL_METRIC_GAUGE);
  std::vector<std::string> names;
  store.families([&](std::string_view name, vigil_metric_type type) {
    names.push_back(std::string(name) + "/" + std::to_string(type));
  });
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a_total/1", "b/2"});
}

TEST_CASE("latest gives the last sample of scalar series only") {
  Store store;
  auto g = series(store, family(store, "g"), {});
  auto c = series(store, family(store, "c_total", VIGIL_METRIC_COUNTER), {});
  auto u = series(store, family(store, "u", VIGIL_METRIC_UNTYPED), {});
  auto h = series(store, family(store, "h", VIGIL_METRIC_HISTOGRAM), {});
  Sample s;
  CHECK_FALSE(store.latest(g, s));  // never written
  store.write(g, 2.5, 1234);
  REQUIRE(store.latest(g, s));
  CHECK(s.t_ms == 1234);
  CHECK(s.v == 2.5);
  store.write(c, 7, 0);
  REQUIRE(store.latest(c, s));
  CHECK(s.v == 7);
  CHECK(s.t_ms > 1'600'000'000'000);  // "now" is the wall clock in ms
  store.write(u, -1, 5);
  REQUIRE(store.latest(u, s));
  CHECK(s.v == -1);
  store.observe(h, 1);
  CHECK_FALSE(store.latest(h, s));
  CHECK_FALSE(store.latest(0, s));
  store.unregister_series(g, 0);
  CHECK_FALSE(store.latest(g, s));
}

TEST_CASE("live says whether a dead-man check should see the series") {
  Store store;
  auto f = family(store, "heartbeat");
  auto id = series(store, f, {}, 10'000);
  CHECK_FALSE(store.live(id, 1000));  // never written
  store.write(id, 1, 100'000);
  CHECK(store.live(id, 105'000));
  CHECK_FALSE(store.live(id, 110'000));  // stale
  auto forever = series(store, f, {{"k", "forever"}}, 0);
  store.write(forever, 1, 100'000);
  CHECK(store.live(forever, 999'999'999));
  store.unregister_series(forever, 0);
  CHECK_FALSE(store.live(forever, 100'000));
  CHECK_FALSE(store.live(0, 100'000));
}

TEST_CASE("on demand, a window starts with the current sample and fills from the first request") {
  Store store;
  auto f = family(store, "g");
  auto id = series(store, f, {{"k", "1"}});
  std::vector<Sample> none;
  CHECK(store.window(id, 0, INT64_MAX, none) == 0);  // never written: nothing at all
  store.write(id, 1, 1000);
  store.write(id, 2, 2000);
  CHECK(store.window_bytes() > 0);  // the request above gave the series a ring
  // Written after the ring was made: both samples are there.
  CHECK(values(window(store, id)) == std::vector<double>{1, 2});

  auto later = series(store, f, {{"k", "2"}});
  store.write(later, 1, 1000);
  store.write(later, 2, 2000);
  // Nobody watched it: the ring starts now, with the sample it holds.
  CHECK(values(window(store, later)) == std::vector<double>{2});
  store.write(later, 3, 3000);
  store.write(later, 4, 4000);
  const auto w = window(store, later);
  CHECK(values(w) == std::vector<double>{2, 3, 4});
  CHECK(w.front().t_ms == 2000);
  CHECK(w.back().t_ms == 4000);
}

TEST_CASE("with all_series every scalar series keeps its window from its first write") {
  Store store;
  store.set_window_options({3'600'000, 720, true});
  auto f = family(store, "g");
  auto id = series(store, f, {});
  for (int i = 1; i <= 10; ++i) store.write(id, i, i * 1000);
  // Bounds: after `from`, up to and including `to`.
  CHECK(values(window(store, id, 3000, 7000)) == std::vector<double>{4, 5, 6, 7});
  CHECK(values(window(store, id, 9999, 10'000)) == std::vector<double>{10});
  CHECK(window(store, id, 10'000, 20'000).empty());
  CHECK(window(store, id, 0, 999).empty());
  // Appended to what the caller already has.
  std::vector<Sample> out{{1, 1}};
  CHECK(store.window(id, 8000, 10'000, out) == 2);
  CHECK(values(out) == std::vector<double>{1, 9, 10});
}

TEST_CASE("a counter's window holds its raw increasing values for rate and increase") {
  Store store;
  store.set_window_options({3'600'000, 720, true});
  auto c = series(store, family(store, "requests_total", VIGIL_METRIC_COUNTER), {{"code", "200"}});
  for (int i = 0; i <= 60; ++i) store.write(c, 100.0 + 10.0 * i, 1'000'000 + i * 5000);
  const auto w = window(store, c, 1'000'000 + 60 * 5000 - 300'000, 1'000'000 + 60 * 5000);
  REQUIRE(w.size() == 60);
  CHECK(w.back().v - w.front().v == 590);
  CHECK(w.back().t_ms - w.front().t_ms == 295'000);
  auto h = series(store, family(store, "h", VIGIL_METRIC_HISTOGRAM), {});
  store.observe(h, 1);
  CHECK(window(store, h).empty());  // histograms have no ring
}

TEST_CASE("rings keep at most max_samples, nothing past the retention, and stay in time order") {
  Store store;
  store.set_window_options({10'000, 4, true});
  auto id = series(store, family(store, "g"), {});
  for (int i = 1; i <= 6; ++i) store.write(id, i, i * 1000);
  CHECK(values(window(store, id)) == std::vector<double>{3, 4, 5, 6});
  store.write(id, 99, 2500);  // older than the newest: not in the ring
  CHECK(values(window(store, id)) == std::vector<double>{3, 4, 5, 6});
  store.write(id, 66, 6000);  // the newest's time again: its value is replaced
  CHECK(values(window(store, id)) == std::vector<double>{3, 4, 5, 66});
  store.write(id, 7, 15'000);  // 10 s of retention behind 15 s: 5 s and older go
  CHECK(values(window(store, id)) == std::vector<double>{66, 7});
  store.write(id, 20, 30'000);
  CHECK(values(window(store, id)) == std::vector<double>{20});
}

TEST_CASE("new window options bound existing rings from their next write") {
  Store store;
  store.set_window_options({3'600'000, 100, true});
  auto id = series(store, family(store, "g"), {});
  for (int i = 1; i <= 50; ++i) store.write(id, i, i * 1000);
  REQUIRE(window(store, id).size() == 50);
  store.set_window_options({3'600'000, 10, true});
  store.write(id, 51, 51'000);
  const auto w = window(store, id);
  CHECK(w.size() == 10);
  CHECK(w.front().v == 42);
  CHECK(w.back().v == 51);
}

TEST_CASE("a ring grows with its samples and is freed when its series is dropped") {
  Store store;
  store.set_reuse_delay_ms(0);
  store.set_window_options({3'600'000, 720, true});
  auto f = family(store, "g");
  auto a = series(store, f, {{"k", "a"}});
  auto b = series(store, f, {{"k", "b"}});
  CHECK(store.window_bytes() == 0);
  store.write(a, 1, 1000);
  const size_t one_small = store.window_bytes();
  CHECK(one_small > 0);
  for (int i = 2; i <= 720; ++i) store.write(a, i, i * 1000);
  const size_t one_full = store.window_bytes();
  CHECK(one_full >= 720 * sizeof(Sample));
  CHECK(one_full < 2 * 720 * sizeof(Sample) + 1024);  // replaced buffers are not kept
  for (int i = 1; i <= 10; ++i) store.write(b, i, i * 1000);
  CHECK(store.window_bytes() > one_full);
  CHECK(store.window_bytes() < one_full + one_small * 4);

  REQUIRE(store.unregister_series(a, 0) == VIGIL_OK);
  store.collect_garbage(0, 0);  // releases dropped slots whose reuse delay has passed
  CHECK(store.window_bytes() < one_full);
  CHECK(window(store, a).empty());
  REQUIRE(store.unregister_series(b, 0) == VIGIL_OK);
  store.collect_garbage(0, 0);
  CHECK(store.window_bytes() == 0);
}

TEST_CASE("readers never see a torn, out-of-order or out-of-range window while a writer writes") {
  Store store;
  // A small maximum makes the writer overwrite cells under the readers all the time; a ring
  // that starts small and grows makes buffers change under them too.
  const size_t max_samples = GENERATE(size_t{16}, size_t{4096});
  store.set_window_options({INT64_MAX / 4, max_samples, true});
  auto id = series(store, family(store, "g"), {});
  constexpr int64_t kWrites = 400'000;
  std::atomic<bool> done{false};
  // The writer starts once both readers run, so a busy machine that starts the writer first
  // cannot finish the writes before anyone reads (CI once saw no read at all).
  std::atomic<int> readers_started{0};
  std::thread writer([&] {
    while (readers_started.load() < 2) std::this_thread::yield();
    for (int64_t t = 1; t <= kWrites; ++t) store.write(id, static_cast<double>(t) * 3, t);
    done = true;
  });
  std::atomic<int> torn{0}, unordered{0}, out_of_range{0}, too_many{0}, reads{0};
  auto reader = [&](bool narrow) {
    std::vector<Sample> out;
    readers_started++;
    do {
      out.clear();
      Sample last;
      int64_t from = 0, to = INT64_MAX;
      if (narrow && store.latest(id, last)) {
        from = last.t_ms - 8;
        to = last.t_ms - 2;
      }
      store.window(id, from, to, out);
      reads++;
      if (out.size() > max_samples) too_many++;
      for (size_t j = 0; j < out.size(); ++j) {
        if (out[j].v != static_cast<double>(out[j].t_ms) * 3) torn++;
        if (j && out[j].t_ms <= out[j - 1].t_ms) unordered++;
        if (out[j].t_ms <= from || out[j].t_ms > to) out_of_range++;
      }
    } while (!done.load());
  };
  std::thread whole([&] { reader(false); });
  reader(true);
  writer.join();
  whole.join();
  CHECK(reads > 0);
  CHECK(torn == 0);
  CHECK(unordered == 0);
  CHECK(out_of_range == 0);
  CHECK(too_many == 0);
  // The writer's last samples are all there once it is done.
  const auto w = window(store, id, kWrites - 10, kWrites);
  REQUIRE(w.size() == 10);
  CHECK(w.back().t_ms == kWrites);
}

TEST_CASE("writers of one series take turns without losing the ring's time order") {
  Store store;
  store.set_window_options({INT64_MAX / 4, 1024, true});
  auto id = series(store, family(store, "g"), {});
  constexpr int64_t kPerThread = 100'000;
  auto write = [&](int64_t odd) {
    for (int64_t i = 0; i < kPerThread; ++i) {
      const int64_t t = 2 * i + odd + 1;
      store.write(id, static_cast<double>(t), t);
    }
  };
  std::thread other([&] { write(1); });
  write(0);
  other.join();
  const auto w = window(store, id);
  REQUIRE_FALSE(w.empty());
  bool ordered = true, whole = true;
  for (size_t j = 0; j < w.size(); ++j) {
    if (j && w[j].t_ms <= w[j - 1].t_ms) ordered = false;
    if (w[j].v != static_cast<double>(w[j].t_ms)) whole = false;
  }
  CHECK(ordered);
  CHECK(whole);
  CHECK(w.back().t_ms >= 2 * kPerThread - 1);
}
