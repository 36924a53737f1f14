// The aggregator on its own: the StatsD folding rules for each type, the per-interval reset of
// sets and quantiles, type conflicts, max_series, the set budget and expiry.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "aggregator.hpp"

using namespace vigil::collector_statsd;

namespace {

AggregatorOptions defaults() {
  AggregatorOptions o;
  o.buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  o.quantiles = {0.5, 0.95, 0.99};
  return o;
}

DropReason send(Aggregator& a, const std::string& line, std::int64_t now_ms = 0) {
  ParsedLine parsed;
  std::string error;
  INFO("line: " << line);
  REQUIRE(parse_line(line, parsed, error) == LineKind::sample);
  return a.apply(parsed, now_ms);
}

// The one series of `family` with these labels in the snapshot; fails the test when missing.
const SeriesSnapshot& find(const Snapshot& s, const std::string& family,
                           const TagList& labels = {}) {
  for (const SeriesSnapshot& x : s.series)
    if (x.key->family == family && x.key->labels == labels) return x;
  FAIL("no series " << family << " in the snapshot");
  throw 0;
}

}  // namespace

TEST_CASE("counters sum increments, scaled by the sample rate, under <name>_total") {
  Aggregator a(defaults());
  send(a, "deploys:1|c");
  send(a, "deploys:2|c");
  send(a, "hits:1|c|@0.1");
  send(a, "hits:3|c|@0.5");
  send(a, "errors_total:4|c");
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "deploys_total").value == 3);
  CHECK(find(s, "deploys_total").key->kind == Kind::counter);
  CHECK(find(s, "hits_total").value == Approx(16));
  CHECK(find(s, "errors_total").value == 4);  // no second _total

  SECTION("and keep counting across intervals") {
    send(a, "deploys:1|c");
    a.snapshot(0, s);
    CHECK(find(s, "deploys_total").value == 4);
  }
}

TEST_CASE("gauges are set, or moved by a signed value") {
  Aggregator a(defaults());
  send(a, "queue:+3|g");  // relative with nothing before: from 0
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "queue").value == 3);
  send(a, "queue:10|g");
  send(a, "queue:-2|g");
  send(a, "queue:+0.5|g");
  a.snapshot(0, s);
  CHECK(find(s, "queue").value == 8.5);
  a.snapshot(0, s);
  CHECK(find(s, "queue").value == 8.5);  // kept across intervals
}

TEST_CASE("timers land in second buckets, histograms as sent, quantiles per interval") {
  Aggregator a(defaults());
  for (int ms = 1; ms <= 100; ++ms) send(a, "latency:" + std::to_string(ms) + "|ms");
  send(a, "size:300|h");
  send(a, "size:7|d");
  Snapshot s;
  a.snapshot(0, s);
  const SeriesSnapshot& t = find(s, "latency");
  CHECK(t.key->kind == Kind::histogram);
  CHECK(t.key->timer);
  CHECK(t.key->summary_family == "latency_quantiles");
  CHECK(t.count == 100);
  CHECK(t.sum == Approx(5.05));
  // Bounds 0.005 0.01 0.025 0.05 0.1 ...: 5, 10, 25, 50, 100 of the timings fall at or below.
  REQUIRE(t.cumulative.size() == 11);
  CHECK(t.cumulative[0] == 5);
  CHECK(t.cumulative[1] == 10);
  CHECK(t.cumulative[2] == 25);
  CHECK(t.cumulative[3] == 50);
  CHECK(t.cumulative[4] == 100);
  CHECK(t.cumulative[10] == 100);
  REQUIRE(t.quantile_values.size() == 3);
  CHECK(t.quantile_values[0] == Approx(0.050).epsilon(0.0101));
  CHECK(t.quantile_values[1] == Approx(0.095).epsilon(0.0101));
  CHECK(t.quantile_values[2] == Approx(0.099).epsilon(0.0101));

  const SeriesSnapshot& h = find(s, "size");
  CHECK_FALSE(h.key->timer);
  CHECK(h.count == 2);
  CHECK(h.sum == 307);
  CHECK(h.cumulative[10] == 1);  // 7 <= 10, 300 only in +Inf

  SECTION("the next interval without samples keeps the buckets but has no quantiles") {
    a.snapshot(0, s);
    const SeriesSnapshot& again = find(s, "latency");
    CHECK(again.count == 100);
    CHECK(std::isnan(again.quantile_values[0]));
  }
}

TEST_CASE("a sampled timer counts 1/rate observations") {
  Aggregator a(defaults());
  send(a, "latency:20|ms|@0.25");
  Snapshot s;
  a.snapshot(0, s);
  const SeriesSnapshot& t = find(s, "latency");
  CHECK(t.count == 4);
  CHECK(t.sum == Approx(0.08));
  CHECK(t.cumulative[2] == 4);  // 0.02 <= 0.025
}

TEST_CASE("without quantiles there is no summary family") {
  AggregatorOptions o = defaults();
  o.quantiles.clear();
  Aggregator a(o);
  send(a, "latency:20|ms");
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "latency").key->summary_family.empty());
  CHECK(find(s, "latency").quantile_values.empty());
}

TEST_CASE("sets count distinct members per interval") {
  Aggregator a(defaults());
  for (const char* user : {"alice", "bob", "alice", "carol", "bob"})
    send(a, std::string("users:") + user + "|s");
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "users").value == 3);
  CHECK(find(s, "users").key->kind == Kind::set);
  a.snapshot(0, s);
  CHECK(find(s, "users").value == 0);
  send(a, "users:alice|s");
  a.snapshot(0, s);
  CHECK(find(s, "users").value == 1);
}

TEST_CASE("tags make separate series of one family") {
  Aggregator a(defaults());
  send(a, "req:1|c|#method:get");
  send(a, "req:1|c|#method:post");
  send(a, "req:1|c|#method:get");
  send(a, "req:1|c");
  Snapshot s;
  a.snapshot(0, s);
  CHECK(s.series.size() == 3);
  CHECK(find(s, "req_total", {{"method", "get"}}).value == 2);
  CHECK(find(s, "req_total", {{"method", "post"}}).value == 1);
  CHECK(find(s, "req_total").value == 1);
}

TEST_CASE("the prefix goes before every name") {
  AggregatorOptions o = defaults();
  o.prefix = "app_";
  Aggregator a(o);
  send(a, "deploys:1|c");
  send(a, "api.latency:5|ms");
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "app_deploys_total").value == 1);
  CHECK(find(s, "app_api_latency").key->summary_family == "app_api_latency_quantiles");
}

TEST_CASE("one name cannot be two kinds") {
  Aggregator a(defaults());
  CHECK(send(a, "x:1|g") == DropReason::none);
  CHECK(send(a, "x:1|ms") == DropReason::type_conflict);
  CHECK(send(a, "x:1|s") == DropReason::type_conflict);
  CHECK(send(a, "x:1|c") == DropReason::none);  // x_total is another family
  CHECK(send(a, "x_total:1|g") == DropReason::type_conflict);
  CHECK(send(a, "x:1|g|#k:v") == DropReason::none);  // same kind, other labels
  CHECK(send(a, "x:2|g") == DropReason::none);

  SECTION("a histogram holds its _quantiles name") {
    CHECK(send(a, "lat:1|ms") == DropReason::none);
    CHECK(send(a, "lat_quantiles:1|g") == DropReason::type_conflict);
    CHECK(send(a, "lat:1|h") == DropReason::none);  // timers and histograms share the kind
  }
  SECTION("a gauge taking a name first keeps a histogram from it") {
    CHECK(send(a, "lat2_quantiles:1|g") == DropReason::none);
    CHECK(send(a, "lat2:1|ms") == DropReason::type_conflict);
  }
}

TEST_CASE("names in the agent's vigil_ namespace are refused") {
  Aggregator a(defaults());
  CHECK(send(a, "vigil_statsd_packets:1|c") == DropReason::reserved_name);
  CHECK(send(a, "vigil.up:1|g") == DropReason::reserved_name);
  CHECK(a.series_count() == 0);
}

TEST_CASE("beyond max_series new series are dropped, existing ones still count") {
  AggregatorOptions o = defaults();
  o.max_series = 2;
  Aggregator a(o);
  CHECK(send(a, "a:1|c") == DropReason::none);
  CHECK(send(a, "b:1|c") == DropReason::none);
  CHECK(send(a, "c:1|c") == DropReason::max_series);
  CHECK(send(a, "a:1|c|#k:v") == DropReason::max_series);
  CHECK(send(a, "a:1|c") == DropReason::none);
  CHECK(a.series_count() == 2);
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "a_total").value == 2);
}

TEST_CASE("the set-member budget is per interval, across all sets") {
  AggregatorOptions o = defaults();
  o.max_set_values = 3;
  Aggregator a(o);
  CHECK(send(a, "s1:a|s") == DropReason::none);
  CHECK(send(a, "s1:b|s") == DropReason::none);
  CHECK(send(a, "s2:a|s") == DropReason::none);
  CHECK(send(a, "s2:b|s") == DropReason::set_full);
  CHECK(send(a, "s1:a|s") == DropReason::none);  // already a member: costs nothing
  Snapshot s;
  a.snapshot(0, s);
  CHECK(find(s, "s2").value == 1);
  CHECK(send(a, "s2:b|s") == DropReason::none);  // a new interval, a new budget
}

TEST_CASE("series not updated within expire_after leave, and their names are free again") {
  AggregatorOptions o = defaults();
  o.expire_after_ms = 1000;
  Aggregator a(o);
  send(a, "old:1|g", 0);
  send(a, "lat:1|ms", 0);
  send(a, "fresh:1|g", 900);
  Snapshot s;
  a.snapshot(999, s);
  CHECK(s.series.size() == 3);
  CHECK(s.expired.empty());
  a.snapshot(1500, s);
  REQUIRE(s.series.size() == 1);
  CHECK(s.series[0].key->family == "fresh");
  CHECK(s.expired.size() == 2);
  CHECK(s.expired_families.size() == 3);  // old, lat, lat_quantiles
  CHECK(a.series_count() == 1);
  CHECK(send(a, "old:1|ms", 1600) == DropReason::none);  // another kind now
}
