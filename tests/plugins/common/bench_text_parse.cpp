// Prints how long vigil_plugin_text takes to parse 100,000 lines of
// `bench_metric{host="h1",id="N"} 1` (the textfile figure), and the same through the
// Influx parser. A figure for the README, never pass/fail: run it on an idle machine.
//
//   ninja -C build bench_text_parse && build/bin/bench_text_parse [lines] [rounds]
#include "vigil_plugin_text/exposition.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace {

// CPU time of this thread: on a shared machine wall time mostly measures the neighbours.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

template <class Parse>
double best_ms(const std::string& text, int rounds, Parse&& parse) {
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    std::string copy = text;  // the parser takes the text over
    double start = cpu_ms();
    if (!parse(std::move(copy))) return -1;
    best = std::min(best, cpu_ms() - start);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int lines = argc > 1 ? std::atoi(argv[1]) : 100000;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  std::string prom = "# HELP bench_metric A benchmark gauge.\n# TYPE bench_metric gauge\n";
  std::string influx;
  for (int i = 0; i < lines; ++i) {
    prom += "bench_metric{host=\"h1\",id=\"" + std::to_string(i) + "\"} 1\n";
    influx += "bench,host=h1,id=" + std::to_string(i) + " metric=1\n";
  }
  std::string error;
  double prom_ms = best_ms(prom, rounds, [&](std::string text) {
    vigil::plugin_text::Exposition e;
    return vigil::plugin_text::parse_prometheus(std::move(text), e, error);
  });
  double influx_ms = best_ms(influx, rounds, [&](std::string text) {
    vigil::plugin_text::Exposition e;
    return vigil::plugin_text::parse_influx(std::move(text), e, error);
  });
  if (prom_ms < 0 || influx_ms < 0) {
    std::fprintf(stderr, "parse failed: %s\n", error.c_str());
    return 1;
  }
  std::printf("prometheus text: %d lines (%.1f MB) in %.2f ms CPU (best of %d), %.0f ns/line\n",
              lines, prom.size() / 1e6, prom_ms, rounds, prom_ms * 1e6 / lines);
  std::printf("influx line:     %d lines (%.1f MB) in %.2f ms CPU (best of %d), %.0f ns/line\n",
              lines, influx.size() / 1e6, influx_ms, rounds, influx_ms * 1e6 / lines);
  return 0;
}
