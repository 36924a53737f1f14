// What rules read from the store: series selected by name and labels, the latest sample, and
// windows of recent samples kept in rings bounded by retention and count.
#include "store/store.hpp"

#include <catch2/catch.hpp>

#include <thread>

using vigil::store::Sample;
using vigil::store::Store;

namespace {

vigil_family_id gauge_family(Store& store, const char* name,
                             vigil_metric_type type = VIGIL_METRIC_GAUGE) {
  vigil_family_desc desc{};
  desc.size = sizeof desc;
  desc.name = name;
  desc.help = "test";
  desc.type = type;
  std::string error;
  auto id = store.register_family(desc, error);
  REQUIRE(id != 0);
  return id;
}

vigil_series_id series(Store& store, vigil_family_id family, vigil::store::Labels labels,
                       int64_t stale_after_ms = 0) {
  std::string error;
  auto id = store.register_series(family, std::move(labels), stale_after_ms, 0, error);
  REQUIRE(id != 0);
  return id;
}

std::vector<std::string> selected(const Store& store, const char* family,
                                  std::vector<std::pair<std::string, std::string>> equal,
                                  int64_t now_ms = 0) {
  std::vector<std::string> out;
  store.select(
      family, equal,
      [&](const vigil::store::SeriesInfo& s) {
        std::string text;
        for (size_t i = 0; i < s.label_count; ++i)
          text += std::string(i ? "," : "") + s.labels[i].name + "=" + s.labels[i].value;
        out.push_back(text);
      },
      now_ms);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("select finds live series by family and label equality, through the index") {
  Store store;
  auto f = gauge_family(store, "bench_metric");
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
  CHECK(selected(store, "bench_metric", {{"missing", ""}}).size() == 1000);
  CHECK(selected(store, "no_such_metric", {}).empty());
}

TEST_CASE("select skips stale series, and the generation moves with registrations") {
  Store store;
  auto f = gauge_family(store, "up");
  auto a = series(store, f, {{"job", "a"}}, 5000);
  const uint64_t before = store.generation();
  auto b = series(store, f, {{"job", "b"}}, 5000);
  CHECK(store.generation() != before);
  store.write(a, 1, 10'000);
  store.write(b, 1, 15'000);
  CHECK(selected(store, "up", {}, 14'000) == std::vector<std::string>{"job=a", "job=b"});
  CHECK(selected(store, "up", {}, 15'500) == std::vector<std::string>{"job=b"});
  const uint64_t mid = store.generation();
  store.unregister_series(a, 0);
  CHECK(store.generation() != mid);
  CHECK(selected(store, "up", {{"job", "a"}}, 10'500).empty());
}

TEST_CASE("latest gives the last sample of scalar series only") {
  Store store;
  auto g = series(store, gauge_family(store, "g"), {});
  auto h = series(store, gauge_family(store, "h", VIGIL_METRIC_COUNTER), {});
  Sample s;
  CHECK_FALSE(store.latest(g, s));
  store.write(g, 2.5, 1234);
  REQUIRE(store.latest(g, s));
  CHECK(s.t_ms == 1234);
  CHECK(s.v == 2.5);
  store.write(h, 7, 0);
  REQUIRE(store.latest(h, s));
  CHECK(s.v == 7);
  CHECK_FALSE(store.latest(0, s));
}

TEST_CASE("windows fill from the first request on, or from the first write with all_series") {
  Store store;
  auto f = gauge_family(store, "g");
  auto on_demand = series(store, f, {{"k", "1"}});
  store.write(on_demand, 1, 1000);
  store.write(on_demand, 2, 2000);
  std::vector<Sample> out;
  // No ring yet: only the latest sample answers.
  CHECK(store.window(on_demand, 0, 10'000, out) == 1);
  CHECK(out[0].v == 2);
  store.write(on_demand, 3, 3000);
  store.write(on_demand, 4, 4000);
  out.clear();
  CHECK(store.window(on_demand, 0, 10'000, out) == 2);
  CHECK(out[0].v == 3);
  CHECK(out[1].v == 4);

  store.set_window_options({3'600'000, 720, true});
  auto all = series(store, f, {{"k", "2"}});
  for (int i = 1; i <= 10; ++i) store.write(all, i, i * 1000);
  out.clear();
  CHECK(store.window(all, 3000, 7000, out) == 4);  // (3s, 7s]
  CHECK(out.front().v == 4);
  CHECK(out.back().v == 7);
  CHECK(store.window_bytes() > 0);
}

TEST_CASE("rings keep at most max_samples, nothing past the retention, and stay in time order") {
  Store store;
  store.set_window_options({10'000, 4, true});
  auto id = series(store, gauge_family(store, "g"), {});
  for (int i = 1; i <= 6; ++i) store.write(id, i, i * 1000);
  std::vector<Sample> out;
  CHECK(store.window(id, 0, 100'000, out) == 4);  // 3,4,5,6
  CHECK(out.front().v == 3);
  store.write(id, 99, 2500);  // older than the newest: not in the ring
  store.write(id, 20, 20'000);
  out.clear();
  CHECK(store.window(id, 0, 100'000, out) == 1);  // everything else is 10 s behind
  CHECK(out[0].v == 20);
}

TEST_CASE("a reader never sees a torn or out-of-order window while a writer writes") {
  Store store;
  store.set_window_options({3'600'000, 64, true});
  auto id = series(store, gauge_family(store, "g"), {});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int64_t t = 1; !stop.load(); ++t) store.write(id, static_cast<double>(t), t);
  });
  std::vector<Sample> out;
  bool ordered = true, consistent = true;
  for (int i = 0; i < 2000; ++i) {
    out.clear();
    store.window(id, 0, INT64_MAX, out);
    for (size_t j = 0; j < out.size(); ++j) {
      if (out[j].v != static_cast<double>(out[j].t_ms)) consistent = false;
      if (j && out[j].t_ms <= out[j - 1].t_ms) ordered = false;
    }
  }
  stop = true;
  writer.join();
  CHECK(ordered);
  CHECK(consistent);
}
