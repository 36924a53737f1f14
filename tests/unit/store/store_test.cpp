// The store's behaviour as exporters and plugins see it: ids, visit order and content, histogram
// and summary state, staleness, unregistering and garbage collection. Time is given explicitly
// (write timestamps and visit `now`) wherever a result depends on it, so no test depends on how
// fast the machine is.
#include "store/store.hpp"
#include "visit_helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace vigil::store;
using namespace vigil::store::test;

namespace {
constexpr int64_t kT0 = 1'700'000'000'000;  // an arbitrary wall-clock time, in ms
}

TEST_CASE("registering the same family or series twice returns the same id", "[store]") {
  Store store;
  std::string error;
  const auto f1 = store.register_family(family_desc("up", VIGIL_METRIC_GAUGE), error);
  const auto f2 =
      store.register_family(family_desc("up", VIGIL_METRIC_GAUGE, nullptr, 0, "other help"), error);
  REQUIRE(f1 != 0);
  CHECK(f1 == f2);
  CHECK(store.family_count() == 1);

  const auto s1 = store.register_series(f1, {{"b", "2"}, {"a", "1"}}, 0, 0, error);
  const auto s2 = store.register_series(f1, {{"a", "1"}, {"b", "2"}}, 0, 7, error);
  const auto s3 = store.register_series(f1, {{"a", "1"}}, 0, 0, error);
  REQUIRE(s1 != 0);
  CHECK(s1 == s2);
  CHECK(s3 != s1);
  CHECK(store.registered_series() == 2);

  SECTION("an empty label value is the same series as no label") {
    const auto bare = store.register_series(f1, {}, 0, 0, error);
    const auto empty = store.register_series(f1, {{"a", ""}}, 0, 0, error);
    CHECK(bare == empty);
  }
  SECTION("the same labels in another family are another series") {
    const auto other = store.register_family(family_desc("down", VIGIL_METRIC_GAUGE), error);
    CHECK(store.register_series(other, {{"a", "1"}}, 0, 0, error) != s3);
  }
}

TEST_CASE("a family registered again with another type or buckets is refused", "[store]") {
  Store store;
  std::string error;
  const double buckets[] = {0.1, 1};
  const double other_buckets[] = {0.1, 2};
  REQUIRE(store.register_family(family_desc("jobs", VIGIL_METRIC_COUNTER), error));
  CHECK(store.register_family(family_desc("jobs", VIGIL_METRIC_GAUGE), error) == 0);
  CHECK_THAT(error, Catch::Matchers::Contains("\"jobs\" is already registered as a counter") &&
                        Catch::Matchers::Contains("as a gauge"));

  const auto h =
      store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 2), error);
  REQUIRE(h);
  CHECK(store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 2), error) == h);
  CHECK(store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, other_buckets, 2),
                              error) == 0);
  CHECK_THAT(error, Catch::Matchers::Contains("[0.1, 1]") && Catch::Matchers::Contains("[0.1, 2]"));
}

TEST_CASE("visits show families by name and series by label set", "[store]") {
  Store store;
  std::string error;
  const auto zeta = store.register_family(family_desc("zeta", VIGIL_METRIC_GAUGE), error);
  const auto alpha = store.register_family(family_desc("alpha", VIGIL_METRIC_COUNTER), error);
  const auto mid = store.register_family(family_desc("mid", VIGIL_METRIC_GAUGE), error);
  (void)mid;  // registered but never given a series: not visited

  const std::vector<Labels> label_sets = {{{"host", "b"}},
                                          {{"host", "a"}, {"port", "2"}},
                                          {{"host", "a"}},
                                          {{"port", "1"}, {"host", "a"}},
                                          {},
                                          {{"env", "z"}}};
  for (const auto& labels : label_sets) {
    REQUIRE(store.write(store.register_series(zeta, labels, 0, 0, error), 1, kT0) == VIGIL_OK);
  }
  REQUIRE(store.write(store.register_series(alpha, {}, 0, 0, error), 3, kT0) == VIGIL_OK);

  auto seen = collect(store, kT0);
  CHECK(seen.completed);
  CHECK(seen.family_names() == std::vector<std::string>{"alpha", "zeta"});
  CHECK(seen.families[0].series_count == 1);
  CHECK(seen.families[1].series_count == 6);
  CHECK(seen.families[1].help == "help text");
  CHECK(seen.labels_texts() == std::vector<std::string>{"", "", "{env=\"z\"}", "{host=\"a\"}",
                                                        "{host=\"a\",port=\"1\"}",
                                                        "{host=\"a\",port=\"2\"}", "{host=\"b\"}"});
  CHECK(seen.series[0].value == 3);
  CHECK(seen.series[4].labels ==
        std::vector<std::pair<std::string, std::string>>{{"host", "a"}, {"port", "1"}});

  SECTION("series added later land in order too") {
    store.write(store.register_series(zeta, {{"host", "aa"}}, 0, 0, error), 1, kT0);
    store.write(store.register_series(zeta, {{"a", "x"}}, 0, 0, error), 1, kT0);
    seen = collect(store, kT0);
    CHECK(seen.labels_texts() == std::vector<std::string>{"", "", "{a=\"x\"}", "{env=\"z\"}",
                                                          "{host=\"a\"}", "{host=\"a\",port=\"1\"}",
                                                          "{host=\"a\",port=\"2\"}",
                                                          "{host=\"aa\"}", "{host=\"b\"}"});
  }
}

TEST_CASE("labels_text is escaped Prometheus syntax and labels keep the raw values", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("files", VIGIL_METRIC_GAUGE), error);
  const auto s = store.register_series(f, {{"path", "C:\\temp\\\"x\""}, {"note", "line1\nline2"}},
                                       0, 0, error);
  REQUIRE(store.write(s, 2, kT0) == VIGIL_OK);
  const auto seen = collect(store, kT0);
  REQUIRE(seen.series.size() == 1);
  CHECK(seen.series[0].labels_text == "{note=\"line1\\nline2\",path=\"C:\\\\temp\\\\\\\"x\\\"\"}");
  CHECK(seen.series[0].labels[0].second == "line1\nline2");
  CHECK(seen.series[0].labels[1].second == "C:\\temp\\\"x\"");
}

TEST_CASE("writes show their value and timestamp, with the explicit flag", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("g", VIGIL_METRIC_GAUGE), error);
  const auto explicit_id = store.register_series(f, {{"k", "explicit"}}, 0, 0, error);
  const auto implicit_id = store.register_series(f, {{"k", "now"}}, 0, 0, error);
  const int64_t before = Store::now_ms();
  REQUIRE(store.write(explicit_id, 1.5, kT0) == VIGIL_OK);
  REQUIRE(store.write(implicit_id, -2.25, 0) == VIGIL_OK);
  const int64_t after = Store::now_ms();

  const auto seen = collect(store);
  REQUIRE(seen.series.size() == 2);
  CHECK(seen.series[0].value == 1.5);
  CHECK(seen.series[0].timestamp_ms == kT0);
  CHECK(seen.series[0].explicit_timestamp);
  CHECK(seen.series[1].value == -2.25);
  CHECK_FALSE(seen.series[1].explicit_timestamp);
  CHECK(seen.series[1].timestamp_ms >= before);
  CHECK(seen.series[1].timestamp_ms <= after);
}

TEST_CASE("histograms: observe fills cumulative buckets and +Inf equals count", "[store]") {
  Store store;
  std::string error;
  const double buckets[] = {0.1, 0.5, 1};
  const auto f =
      store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 3), error);
  const auto s = store.register_series(f, {{"op", "read"}}, 0, 0, error);
  REQUIRE(s);

  for (double v : {0.05, 0.1, 0.3, 0.7, 1.0, 5.0, 7.0}) REQUIRE(store.observe(s, v) == VIGIL_OK);
  auto seen = collect(store);
  REQUIRE(seen.series.size() == 1);
  CHECK(seen.families[0].buckets == std::vector<double>{0.1, 0.5, 1});
  // le is inclusive: 0.1 counts in the 0.1 bucket and 1.0 in the 1 bucket.
  CHECK(seen.series[0].bucket_counts == std::vector<uint64_t>{2, 3, 5});
  CHECK(seen.series[0].count == 7);
  CHECK(seen.series[0].sum == Approx(14.15));

  SECTION("NaN lands only in +Inf") {
    REQUIRE(store.observe(s, std::nan("")) == VIGIL_OK);
    seen = collect(store);
    CHECK(seen.series[0].bucket_counts == std::vector<uint64_t>{2, 3, 5});
    CHECK(seen.series[0].count == 8);
  }
  SECTION("write_histogram replaces the state") {
    const uint64_t cumulative[] = {1, 4, 4};
    REQUIRE(store.write_histogram(s, cumulative, 3, 2.5, 6, kT0) == VIGIL_OK);
    seen = collect(store, kT0);
    CHECK(seen.series[0].bucket_counts == std::vector<uint64_t>{1, 4, 4});
    CHECK(seen.series[0].count == 6);
    CHECK(seen.series[0].sum == 2.5);
    CHECK(seen.series[0].timestamp_ms == kT0);
    CHECK(seen.series[0].explicit_timestamp);
    // Observing afterwards builds on the replaced state.
    REQUIRE(store.observe(s, 0.2) == VIGIL_OK);
    seen = collect(store);
    CHECK(seen.series[0].bucket_counts == std::vector<uint64_t>{1, 5, 5});
    CHECK(seen.series[0].count == 7);
  }
  SECTION("write_histogram refuses counts that cannot be a histogram") {
    const uint64_t decreasing[] = {3, 2, 4};
    const uint64_t fine[] = {1, 2, 4};
    CHECK(store.write_histogram(s, decreasing, 3, 1, 4, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
    CHECK(store.write_histogram(s, fine, 2, 1, 4, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
    CHECK(store.write_histogram(s, fine, 3, 1, 3, kT0) == VIGIL_ERR_INVALID_ARGUMENT);  // count<4
    seen = collect(store);
    CHECK(seen.series[0].count == 7);  // untouched
  }
  SECTION("calls meant for other types are refused") {
    CHECK(store.write(s, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);
    const double q[] = {0.5};
    CHECK(store.write_summary(s, q, q, 1, 1, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);
  }
}

TEST_CASE("a histogram without buckets has only +Inf", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("h", VIGIL_METRIC_HISTOGRAM), error);
  const auto s = store.register_series(f, {}, 0, 0, error);
  REQUIRE(store.observe(s, 3) == VIGIL_OK);
  REQUIRE(store.write_histogram(s, nullptr, 0, 10, 4, 0) == VIGIL_OK);
  const auto seen = collect(store);
  REQUIRE(seen.series.size() == 1);
  CHECK(seen.series[0].bucket_counts.empty());
  CHECK(seen.series[0].count == 4);
  CHECK(seen.series[0].sum == 10);
}

TEST_CASE("summaries copy their quantiles per write", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("rpc", VIGIL_METRIC_SUMMARY), error);
  const auto s = store.register_series(f, {}, 0, 0, error);
  std::vector<double> q = {0.5, 0.9, 0.99};
  std::vector<double> v = {1, 2, 3};
  REQUIRE(store.write_summary(s, q.data(), v.data(), 3, 60, 30, kT0) == VIGIL_OK);
  q = {0, 0, 0};  // the caller's buffers are free again after the call
  auto seen = collect(store, kT0);
  REQUIRE(seen.series.size() == 1);
  CHECK(seen.series[0].quantiles == std::vector<double>{0.5, 0.9, 0.99});
  CHECK(seen.series[0].quantile_values == std::vector<double>{1, 2, 3});
  CHECK(seen.series[0].sum == 60);
  CHECK(seen.series[0].count == 30);

  std::vector<double> many(kMaxQuantiles + 1, 0.5);
  CHECK(store.write_summary(s, many.data(), many.data(), many.size(), 1, 1, kT0) ==
        VIGIL_ERR_INVALID_ARGUMENT);
  const double bad_q[] = {1.5};
  CHECK(store.write_summary(s, bad_q, bad_q, 1, 1, 1, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write_summary(s, many.data(), many.data(), kMaxQuantiles, 1, 1, kT0) == VIGIL_OK);
  CHECK(store.observe(s, 1) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(s, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);
}

TEST_CASE("series never written are not visited", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("g", VIGIL_METRIC_GAUGE), error);
  const auto written = store.register_series(f, {{"n", "1"}}, 0, 0, error);
  store.register_series(f, {{"n", "2"}}, 0, 0, error);
  const auto other = store.register_family(family_desc("quiet", VIGIL_METRIC_GAUGE), error);
  store.register_series(other, {}, 0, 0, error);
  REQUIRE(store.write(written, 1, kT0) == VIGIL_OK);

  const auto seen = collect(store, kT0);
  CHECK(seen.family_names() == std::vector<std::string>{"g"});
  CHECK(seen.families[0].series_count == 1);
  CHECK(seen.labels_texts() == std::vector<std::string>{"{n=\"1\"}"});
  CHECK(store.live_series(kT0) == 1);
  CHECK(store.registered_series() == 3);
}

TEST_CASE("stale series leave the visit and come back when written again", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("g", VIGIL_METRIC_GAUGE), error);
  const auto stale = store.register_series(f, {{"s", "stale"}}, 30'000, 0, error);
  const auto forever = store.register_series(f, {{"s", "forever"}}, 0, 0, error);
  REQUIRE(store.write(stale, 1, kT0) == VIGIL_OK);
  REQUIRE(store.write(forever, 2, kT0) == VIGIL_OK);

  CHECK(collect(store, kT0 + 29'999).series.size() == 2);
  CHECK(store.live_series(kT0 + 29'999) == 2);

  auto seen = collect(store, kT0 + 30'000);
  CHECK(seen.labels_texts() == std::vector<std::string>{"{s=\"forever\"}"});
  CHECK(seen.families[0].series_count == 1);
  CHECK(store.live_series(kT0 + 30'000) == 1);

  REQUIRE(store.write(stale, 5, kT0 + 40'000) == VIGIL_OK);
  seen = collect(store, kT0 + 41'000);
  REQUIRE(seen.series.size() == 2);
  CHECK(seen.series[1].labels_text == "{s=\"stale\"}");
  CHECK(seen.series[1].value == 5);

  SECTION("a family whose only series went stale is not visited") {
    const auto g = store.register_family(family_desc("lonely", VIGIL_METRIC_GAUGE), error);
    REQUIRE(store.write(store.register_series(g, {}, 1'000, 0, error), 1, kT0 + 40'000) ==
            VIGIL_OK);
    CHECK(collect(store, kT0 + 40'500).families.size() == 2);
    CHECK(collect(store, kT0 + 41'000).family_names() == std::vector<std::string>{"g"});
  }
}

TEST_CASE("unregistering checks the owner and invalidates the handle", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("procs", VIGIL_METRIC_GAUGE), error);
  const auto mine = store.register_series(f, {{"pid", "1"}}, 0, 11, error);
  const auto theirs = store.register_series(f, {{"pid", "2"}}, 0, 22, error);
  REQUIRE(store.write(mine, 1, kT0) == VIGIL_OK);
  REQUIRE(store.write(theirs, 2, kT0) == VIGIL_OK);

  CHECK(store.unregister_series(theirs, 11) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(theirs, 3, kT0) == VIGIL_OK);  // still there

  CHECK(store.unregister_series(mine, 11) == VIGIL_OK);
  CHECK(store.write(mine, 4, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.unregister_series(mine, 11) == VIGIL_ERR_INVALID_ARGUMENT);
  auto seen = collect(store, kT0);
  CHECK(seen.labels_texts() == std::vector<std::string>{"{pid=\"2\"}"});
  CHECK(seen.families[0].series_count == 1);

  SECTION("registering it again gives a new handle that works; the old one stays dead") {
    const auto again = store.register_series(f, {{"pid", "1"}}, 0, 11, error);
    REQUIRE(again != 0);
    CHECK(again != mine);
    CHECK(store.write(again, 9, kT0) == VIGIL_OK);
    CHECK(store.write(mine, 4, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
    seen = collect(store, kT0);
    REQUIRE(seen.series.size() == 2);
    CHECK(seen.series[0].value == 9);
  }
  SECTION("unregister_owner drops exactly that owner's series") {
    const auto more = store.register_series(f, {{"pid", "3"}}, 0, 22, error);
    const auto host = store.register_series(f, {{"pid", "4"}}, 0, 0, error);
    store.write(more, 1, kT0);
    store.write(host, 1, kT0);
    store.unregister_owner(22);
    CHECK(store.write(theirs, 1, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
    CHECK(store.write(more, 1, kT0) == VIGIL_ERR_INVALID_ARGUMENT);
    CHECK(store.write(host, 1, kT0) == VIGIL_OK);
    CHECK(collect(store, kT0).labels_texts() == std::vector<std::string>{"{pid=\"4\"}"});
  }
}

TEST_CASE("handles that were never issued are refused", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("g", VIGIL_METRIC_GAUGE), error);
  const auto s = store.register_series(f, {}, 0, 0, error);
  CHECK(store.write(0, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(~uint64_t{0}, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(s + 1, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);  // next slot, unused
  CHECK(store.write(s + (uint64_t{2} << 32), 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);  // future gen
  CHECK(store.write(s & 0xffffffffu, 1, 0) == VIGIL_ERR_INVALID_ARGUMENT);          // generation 0
  CHECK(store.observe(12345, 1) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(s, 1, 0) == VIGIL_OK);
}

TEST_CASE("garbage collection frees long-stale series and invalidates their handles", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("conn", VIGIL_METRIC_GAUGE), error);
  const auto old_id = store.register_series(f, {{"peer", "a"}}, 10'000, 0, error);
  const auto fresh = store.register_series(f, {{"peer", "b"}}, 10'000, 0, error);
  const auto forever = store.register_series(f, {{"peer", "c"}}, 0, 0, error);
  const auto unwritten = store.register_series(f, {{"peer", "d"}}, 10'000, 0, error);
  REQUIRE(store.write(old_id, 1, kT0) == VIGIL_OK);
  REQUIRE(store.write(fresh, 2, kT0 + 50'000) == VIGIL_OK);
  REQUIRE(store.write(forever, 3, kT0) == VIGIL_OK);

  // Stale at kT0 + 10 s; dropped once stale for 40 s more.
  CHECK(store.collect_garbage(kT0 + 49'999, 40'000) == 0);
  CHECK(store.write(old_id, 1, kT0) == VIGIL_OK);
  CHECK(store.collect_garbage(kT0 + 50'000, 40'000) == 1);
  CHECK(store.write(old_id, 1, kT0 + 50'000) == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK(store.write(fresh, 2, kT0 + 50'000) == VIGIL_OK);
  CHECK(store.write(forever, 3, kT0 + 50'000) == VIGIL_OK);
  CHECK(store.registered_series() == 3);

  const auto again = store.register_series(f, {{"peer", "a"}}, 10'000, 0, error);
  REQUIRE(again != 0);
  CHECK(again != old_id);
  CHECK(store.write(again, 7, kT0 + 50'000) == VIGIL_OK);
  const auto seen = collect(store, kT0 + 50'000);
  CHECK(seen.labels_texts() ==
        std::vector<std::string>{"{peer=\"a\"}", "{peer=\"b\"}", "{peer=\"c\"}"});
  CHECK(seen.series[0].value == 7);
  (void)unwritten;
}

TEST_CASE("a reused slot never takes writes meant for its previous series", "[store]") {
  Store store;
  store.set_reuse_delay_ms(0);
  std::string error;
  const auto f = store.register_family(family_desc("churn", VIGIL_METRIC_GAUGE), error);
  std::vector<vigil_series_id> old_ids;
  for (int i = 0; i < 100; ++i) {
    old_ids.push_back(
        store.register_series(f, {{"id", "old" + std::to_string(i)}}, 1'000, 0, error));
    REQUIRE(store.write(old_ids.back(), 1, kT0) == VIGIL_OK);
  }
  REQUIRE(store.collect_garbage(kT0 + 10'000, 0) == 100);

  std::vector<vigil_series_id> new_ids;
  for (int i = 0; i < 100; ++i) {
    new_ids.push_back(
        store.register_series(f, {{"id", "new" + std::to_string(i)}}, 1'000, 0, error));
    REQUIRE(store.write(new_ids.back(), 2, kT0 + 10'000) == VIGIL_OK);
  }
  // Slots were reused (the low 32 bits name the slot) but with a new generation.
  CHECK((new_ids[0] & 0xffffffffu) <= 100);
  for (auto id : old_ids) CHECK(store.write(id, 666, kT0 + 10'000) == VIGIL_ERR_INVALID_ARGUMENT);
  const auto seen = collect(store, kT0 + 10'000);
  REQUIRE(seen.series.size() == 100);
  for (const auto& s : seen.series) {
    CHECK(s.value == 2);
    CHECK(s.labels_text.find("new") != std::string::npos);
  }
  CHECK(store.registered_series() == 100);
}

TEST_CASE("a visitor can stop the visit early", "[store]") {
  Store store;
  std::string error;
  for (const char* name : {"a", "b", "c"}) {
    const auto f = store.register_family(family_desc(name, VIGIL_METRIC_GAUGE), error);
    for (int i = 0; i < 3; ++i) {
      store.write(store.register_series(f, {{"i", std::to_string(i)}}, 0, 0, error), 1, kT0);
    }
  }
  SECTION("from the family callback") {
    const auto seen = collect(store, kT0, 1);
    CHECK_FALSE(seen.completed);
    CHECK(seen.families.size() == 1);
    CHECK(seen.series.empty());
  }
  SECTION("from a series callback") {
    const auto seen = collect(store, kT0, 3);  // family a, a{0}, a{1}
    CHECK_FALSE(seen.completed);
    CHECK(seen.families.size() == 1);
    CHECK(seen.series.size() == 2);
  }
  SECTION("a full visit reports completion") {
    const auto seen = collect(store, kT0);
    CHECK(seen.completed);
    CHECK(seen.series.size() == 9);
  }
  SECTION("a visitor with only a family callback still sees every family") {
    struct Count {
      int families = 0;
    } count;
    vigil_store_visitor visitor{offsetof(vigil_store_visitor, series),
                                [](void* u, const vigil_family_view*) {
                                  static_cast<Count*>(u)->families++;
                                  return 0;
                                },
                                // Beyond the declared size: must be ignored.
                                [](void*, const vigil_family_view*, const vigil_series_view*) {
                                  FAIL("series callback past the visitor's size was called");
                                  return 1;
                                }};
    CHECK(store.visit(visitor, &count, kT0));
    CHECK(count.families == 3);
  }
}

TEST_CASE("registering from inside a visit is refused instead of deadlocking", "[store]") {
  Store store;
  std::string error;
  const auto f = store.register_family(family_desc("g", VIGIL_METRIC_GAUGE), error);
  store.write(store.register_series(f, {}, 0, 0, error), 1, kT0);
  struct Ctx {
    Store* store;
    vigil_family_id family;
    std::string family_error;
    std::string series_error;
    size_t live = 0;
  } ctx{&store, f, "", "", 0};
  vigil_store_visitor visitor{
      sizeof(vigil_store_visitor),
      [](void* u, const vigil_family_view*) {
        auto& c = *static_cast<Ctx*>(u);
        c.store->register_family(family_desc("x", VIGIL_METRIC_GAUGE), c.family_error);
        c.store->register_series(c.family, {{"a", "b"}}, 0, 0, c.series_error);
        c.live = c.store->live_series(kT0);
        return 0;
      },
      nullptr};
  CHECK(store.visit(visitor, &ctx, kT0));
  CHECK_THAT(ctx.family_error, Catch::Matchers::Contains("inside a store visit"));
  CHECK_THAT(ctx.series_error, Catch::Matchers::Contains("inside a store visit"));
  CHECK(ctx.live == 1);
  CHECK(store.family_count() == 1);
}
