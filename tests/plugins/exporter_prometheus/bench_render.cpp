// Benchmark (not a test): CPU time to render and to gzip a 100,000-series scrape page of
// `bench_metric{host="h1",id="N"} <value>`, the figure the README quotes. Prints numbers only;
// machines are noisy, so nothing here passes or fails.
//
// Run: ninja -C build-plugins bench_exporter_prometheus &&
// build-plugins/bin/bench_exporter_prometheus
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "body_writer.hpp"
#include "exposition.hpp"

using namespace vigil::exporter_prometheus;

namespace {

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Result {
  double best, median;
};

template <class Fn>
Result measure(int runs, Fn&& fn) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    double start = cpu_ms();
    fn();
    times.push_back(cpu_ms() - start);
  }
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2]};
}

}  // namespace

int main() {
  constexpr std::size_t kSeries = 100000;
  constexpr int kRuns = 30;

  std::vector<std::string> labels;
  labels.reserve(kSeries);
  for (std::size_t i = 0; i < kSeries; ++i)
    labels.push_back("{host=\"h1\",id=\"" + std::to_string(i) + "\"}");

  vigil_family_view family{};
  family.size = sizeof family;
  family.name = "bench_metric";
  family.help = "A benchmark gauge.";
  family.unit = "";
  family.type = VIGIL_METRIC_GAUGE;
  family.series_count = kSeries;

  std::vector<vigil_series_view> series(kSeries);
  for (std::size_t i = 0; i < kSeries; ++i) {
    vigil_series_view& s = series[i];
    s.size = sizeof s;
    s.labels_text = labels[i].c_str();
    s.labels_text_len = labels[i].size();
    s.timestamp_ms = 1700000000000;
  }

  std::size_t page_bytes = 0;
  auto render_with = [&](auto value_of) {
    for (std::size_t i = 0; i < kSeries; ++i) series[i].value = value_of(i);
    return measure(kRuns, [&] {
      OutputBuffer out;
      out.reserve(page_bytes + page_bytes / 8 + 4096);
      Renderer r(out, {});
      r.family(family);
      for (const auto& s : series) r.series(family, s);
      page_bytes = out.size();
    });
  };

  Result ints = render_with([](std::size_t i) { return static_cast<double>(i); });
  Result fractions =
      render_with([](std::size_t i) { return static_cast<double>(i) * 0.37 + 0.001; });
  Result large = render_with([](std::size_t i) { return 1.6e10 + static_cast<double>(i) * 4096; });

  std::printf("render %zu series (reserved buffer), CPU ms, best / median of %d runs:\n", kSeries,
              kRuns);
  std::printf("  integer values    %7.2f / %7.2f\n", ints.best, ints.median);
  std::printf("  fractional values %7.2f / %7.2f\n", fractions.best, fractions.median);
  std::printf("  large values      %7.2f / %7.2f\n", large.best, large.median);

  // The first scrape of an exporter has no size hint from the previous page.
  Result cold = measure(kRuns, [&] {
    OutputBuffer out;
    Renderer r(out, {});
    r.family(family);
    for (const auto& s : series) r.series(family, s);
  });
  std::printf("  large values, no size hint (first scrape) %7.2f / %7.2f\n", cold.best,
              cold.median);

  OutputBuffer page;
  Renderer r(page, {});
  r.family(family);
  for (const auto& s : series) r.series(family, s);
  std::printf("page size: %zu bytes\n", page.size());

  for (int level : {1, 6}) {
    std::size_t compressed = 0;
    std::string error;
    Result gz = measure(5, [&] {
      compressed = 0;
      write_gzip(
          page.view(), level, kChunkSize,
          [&](std::string_view c) {
            compressed += c.size();
            return true;
          },
          error);
    });
    std::printf("gzip level %d: %zu bytes, CPU ms best / median of 5: %7.2f / %7.2f\n", level,
                compressed, gz.best, gz.median);
  }
  return 0;
}
