// The Lua rule runtime alone, without the alert engine and SQLite (bench_alerting measures the
// whole path): 1,000 threshold rules over 100,000 series of one family in the real store,
//  - as `expr` rules (`bench_metric{id="N"}`, above 0.9, for 1m: thresholds in C++),
//  - as Lua `eval` functions reading s:last(),
//  - as Lua `eval` functions reading a window, s:avg("5m") over 10 samples,
// each as ms per evaluation of all 1,000 (median of 15), plus the time to load the file and the
// process's RSS. Issue 4's target is <= 10 ms per evaluation of all 1,000 (Prometheus 2.42: about
// 110 ms). A driver that prints figures: never part of pass/fail.
//
//   ninja -C build/default bench_rules && build/default/bin/bench_rules
#include "rules/rule_set.hpp"
#include "store/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRules = 1000;
constexpr int kSeries = 100'000;
constexpr int64_t kStartMs = 1'767'600'000'000;  // a fixed virtual clock

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Result {
  double load_ms = 0, eval_ms = 0;
};

Result run(const std::filesystem::path& dir, const std::string& name, const std::string& body,
           store::Store& store) {
  const auto file = dir / (name + ".lua");
  std::ofstream(file) << "for i = 1, " << kRules << " do\n" << body << "end\n";
  std::vector<std::string> errors;
  const auto t0 = Clock::now();
  auto set = rules::RuleSet::load({file}, rules::Limits{}, errors);
  Result r;
  r.load_ms = ms_since(t0);
  if (!set) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::exit(1);
  }
  rules::StoreSource source(store, {});
  std::vector<double> runs;
  for (int round = 0; round < 15; ++round) {
    // Each round a second later: a new time (no selection is reused from the last round), and
    // every 5m window still holds all ten samples.
    const int64_t now = kStartMs + round * 1'000;
    size_t entering = 0;
    const auto t1 = Clock::now();
    for (size_t i = 0; i < set->specs().size(); ++i) {
      auto e = set->evaluate(i, now, source);
      if (!e.ok) {
        std::fprintf(stderr, "%s\n", e.error.c_str());
        std::exit(1);
      }
      for (const auto& inst : e.instances) entering += inst.enter;
    }
    runs.push_back(ms_since(t1));
    if (entering != kRules / 10) std::fprintf(stderr, "unexpected: %zu alerts\n", entering);
  }
  r.eval_ms = median(runs);
  return r;
}

}  // namespace

int main() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("vigil-bench-rules-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const long rss_start = rss_kib();

  // 100,000 series; every 10th of the first 1,000 above 0.9. Ten samples each, 30 s apart; the
  // 1,000 series the rules read keep them in rings (asking for a window gives a series its ring,
  // as a rule's first s:avg does in the daemon), the other 99,000 only their latest sample.
  store::Store store;
  store.set_window_options({3'600'000, 64, false});
  vigil_family_desc d{};
  d.size = sizeof d;
  d.name = "bench_metric";
  d.help = "bench";
  d.type = VIGIL_METRIC_GAUGE;
  std::string error;
  auto family = store.register_family(d, error);
  std::vector<vigil_series_id> ids;
  for (int i = 1; i <= kSeries; ++i)
    ids.push_back(store.register_series(family, {{"id", std::to_string(i)}}, 0, 0, error));
  std::vector<store::Sample> scratch;
  for (int s = 9; s >= 0; --s) {
    for (int i = 1; i <= kSeries; ++i) {
      store.write(ids[i - 1], (i <= kRules && i % 10 == 0) ? 0.95 : 0.5, kStartMs - s * 30'000);
      if (s == 9 && i <= kRules) store.window(ids[i - 1], 0, 0, scratch);
    }
  }
  const long rss_store = rss_kib();

  const auto expr = run(dir, "expr",
                        "  rule { name = 'bench_' .. i, ['for'] = '1m', above = 0.9,\n"
                        "         expr = 'bench_metric{id=\"' .. i .. '\"}' }\n",
                        store);
  const auto last = run(dir, "eval_last",
                        "  local sel = 'bench_metric{id=\"' .. i .. '\"}'\n"
                        "  rule { name = 'bench_' .. i, ['for'] = '1m', above = 0.9,\n"
                        "    eval = function(q)\n"
                        "      local out = {}\n"
                        "      for _, s in ipairs(q.select(sel)) do\n"
                        "        out[#out + 1] = { labels = s.labels, value = s:last() }\n"
                        "      end\n"
                        "      return out\n"
                        "    end }\n",
                        store);
  const auto avg = run(dir, "eval_avg",
                       "  local sel = 'bench_metric{id=\"' .. i .. '\"}'\n"
                       "  rule { name = 'bench_' .. i, ['for'] = '1m', above = 0.9,\n"
                       "    eval = function(q)\n"
                       "      local out = {}\n"
                       "      for _, s in ipairs(q.select(sel)) do\n"
                       "        out[#out + 1] = { labels = s.labels, value = s:avg('5m') }\n"
                       "      end\n"
                       "      return out\n"
                       "    end }\n",
                       store);
  const long rss_end = rss_kib();

  std::printf(
      "1,000 threshold rules over 100,000 series, rule runtime only [median of 15; "
      "target <= 10 ms per evaluation of all 1,000]\n");
  std::printf("  %-44s %8.2f ms per evaluation  (load %.0f ms)\n",
              "expr = 'bench_metric{id=\"N\"}', above = 0.9", expr.eval_ms, expr.load_ms);
  std::printf("  %-44s %8.2f ms per evaluation  (load %.0f ms)\n", "eval: s:last() > 0.9",
              last.eval_ms, last.load_ms);
  std::printf("  %-44s %8.2f ms per evaluation  (load %.0f ms)\n",
              "eval: s:avg(\"5m\") > 0.9 (10 samples)", avg.eval_ms, avg.load_ms);
  std::printf(
      "RSS: %.1f MiB at start, %.1f MiB with the store, %.1f MiB with the three rule sets "
      "loaded\n",
      rss_start / 1024.0, rss_store / 1024.0, rss_end / 1024.0);
  std::filesystem::remove_all(dir);
  return 0;
}
