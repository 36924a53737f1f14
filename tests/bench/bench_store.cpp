// Micro-benchmark of the metric store: the cost of a write by handle and of a histogram
// observation, the time to render 100,000 series the way a /metrics scrape does, and the
// memory 100,000 registered series take. It prints figures only; it never fails a build or a
// test run, because shared machines make timings noisy. Run it on a quiet machine:
//   build/bin/bench_store
#include "store/store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using vigil::store::Labels;
using vigil::store::Store;
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

struct Render {
  std::string out;
  const char* family = nullptr;
  size_t family_len = 0;
};

int render_family(void* user, const vigil_family_view* f) {
  auto& r = *static_cast<Render*>(user);
  r.family = f->name;
  r.family_len = std::strlen(f->name);
  return 0;
}

int render_series(void* user, const vigil_family_view*, const vigil_series_view* s) {
  auto& r = *static_cast<Render*>(user);
  r.out.append(r.family, r.family_len);
  r.out.append(s->labels_text, s->labels_text_len);
  r.out.push_back(' ');
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, s->value);
  r.out.append(buf, res.ptr);
  r.out.push_back('\n');
  return 0;
}

vigil_family_desc desc(const char* name, vigil_metric_type type, const double* buckets = nullptr,
                       size_t bucket_count = 0) {
  return vigil_family_desc{
      sizeof(vigil_family_desc), name, "bench", "", type, buckets, bucket_count};
}

}  // namespace

int main() {
  std::string error;
  const long rss_start = rss_kib();
  Store store;
  const auto family = store.register_family(desc("bench_metric", VIGIL_METRIC_GAUGE), error);
  const long rss_before = rss_kib();

  // ---- memory: 100k series with two short labels ----------------------------------------------
  std::vector<vigil_series_id> ids;
  ids.reserve(kSeries);
  size_t label_bytes = 0;  // labels text plus names and values, each NUL-terminated
  for (int i = 0; i < kSeries; ++i) {
    Labels labels{{"host", "h1"}, {"id", std::to_string(i)}};
    label_bytes += ("{host=\"h1\",id=\"" + labels[1].second + "\"}").size() + 1;
    for (const auto& [n, v] : labels) label_bytes += n.size() + v.size() + 2;
    ids.push_back(store.register_series(family, std::move(labels), 0, 0, error));
    if (!ids.back()) {
      std::fprintf(stderr, "register_series failed: %s\n", error.c_str());
      return 1;
    }
  }
  const long rss_after = rss_kib();
  const double per_series = (rss_after - rss_before) * 1024.0 / kSeries;
  const double label_per_series = static_cast<double>(label_bytes) / kSeries;
  std::printf(
      "store memory: RSS %ld KiB at start, +%ld KiB for the empty store, +%ld KiB for "
      "%d series\n",
      rss_start, rss_before - rss_start, rss_after - rss_before, kSeries);
  std::printf(
      "  %.0f bytes per series in all, of which %.0f are the label strings: %.0f bytes "
      "per series beyond them (target: well under 200)\n",
      per_series, label_per_series, per_series - label_per_series);

  for (int i = 0; i < kSeries; ++i) store.write(ids[i], i * 0.5, 0);

  // ---- hot path -------------------------------------------------------------------------------
  const vigil_series_id gauge = ids[kSeries / 2];
  const double write_now = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) store.write(gauge, static_cast<double>(i), 0);
  });
  const double write_explicit = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) {
      store.write(gauge, static_cast<double>(i), 1'700'000'000'000 + i);
    }
  });
  std::printf(
      "gauge write by handle: %.1f ns (timestamp 0 = now), %.1f ns (explicit timestamp)"
      " [median of %d x %ld; target <= 20 ns]\n",
      write_now, write_explicit, kRuns, kWrites);

  const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  const auto hist_family = store.register_family(
      desc("bench_seconds", VIGIL_METRIC_HISTOGRAM, buckets, std::size(buckets)), error);
  const auto hist = store.register_series(hist_family, {}, 0, 0, error);
  const double observe = median_ns_per_op(kWrites, [&] {
    for (long i = 0; i < kWrites; ++i) store.observe(hist, static_cast<double>(i % 1000) * 0.01);
  });
  std::printf("histogram observe (11 buckets): %.1f ns [median of %d x %ld]\n", observe, kRuns,
              kWrites);

  const double clock = median_ns_per_op(kWrites, [&] {
    int64_t sink = 0;
    for (long i = 0; i < kWrites; ++i) sink += Store::now_ms();
    if (sink == 42) std::puts("");
  });
  std::printf("Store::now_ms(): %.1f ns\n", clock);

  // ---- visit ----------------------------------------------------------------------------------
  // The first visit sorts the series once; later ones are linear walks, which is what a scrape
  // of a stable store costs.
  Render warm;
  vigil_store_visitor visitor{sizeof(vigil_store_visitor), render_family, render_series};
  const auto sort_start = Clock::now();
  store.visit(visitor, &warm);
  const double first_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - sort_start).count();
  std::vector<double> runs;
  size_t bytes = 0;
  for (int r = 0; r < kRuns; ++r) {
    Render render;
    render.out.reserve(warm.out.size());
    const auto start = Clock::now();
    store.visit(visitor, &render);
    runs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    bytes = render.out.size();
  }
  std::printf(
      "visit + render %zu series: %.2f ms [median of %d; %zu bytes of text; first visit "
      "including the sort: %.2f ms]\n",
      store.live_series(), median(runs), kRuns, bytes, first_ms);
  return 0;
}
