// Prometheus' own checker reads a rendered page: `promtool check metrics` must accept it with no
// complaint at all, lint included, so the page is what Prometheus and its tooling expect.
#include "exposition.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "promtool.hpp"

using namespace vigil::exporter_prometheus;

namespace {

vigil_family_view family(const char* name, vigil_metric_type type, const char* help) {
  vigil_family_view f{};
  f.size = sizeof f;
  f.name = name;
  f.help = help;
  f.unit = "";
  f.type = type;
  f.series_count = 1;
  return f;
}

vigil_series_view series(const std::string& labels_text, double value) {
  vigil_series_view s{};
  s.size = sizeof s;
  s.labels_text = labels_text.c_str();
  s.labels_text_len = labels_text.size();
  s.value = value;
  return s;
}

// A page with every type the renderer writes, named the way promtool's lint wants (counters end
// in _total, units are base units and spelled out).
std::string sample_page() {
  OutputBuffer out;
  Renderer r(out, {});

  auto cpu = family("node_cpu_seconds_total", VIGIL_METRIC_COUNTER,
                    "Seconds the CPUs spent in each mode.");
  std::string idle = R"({cpu="0",mode="idle"})", user = R"({cpu="0",mode="user"})";
  r.family(cpu);
  r.series(cpu, series(idle, 243517.2));
  r.series(cpu, series(user, 5643.21));

  // node_exporter's meminfo names (node_memory_MemTotal_bytes) are camelCase, which lint
  // rejects; they stay as they are for compatibility, so this page uses a snake_case gauge.
  auto boot = family("node_boot_time_seconds", VIGIL_METRIC_GAUGE, "Node boot time, in unixtime.");
  r.family(boot);
  r.series(boot, series("", 1700000000.0));

  auto odd =
      family("vigil_test_escapes", VIGIL_METRIC_GAUGE, "Help with a backslash \\ and a\nnewline.");
  std::string odd_labels = R"({path="C:\\dir",text="line\nbreak \"q\""})";
  r.family(odd);
  r.series(odd, series(odd_labels, std::numeric_limits<double>::infinity()));

  const double bounds[] = {0.005, 0.1, 1};
  const uint64_t counts[] = {3, 10, 12};
  auto hist =
      family("vigil_request_duration_seconds", VIGIL_METRIC_HISTOGRAM, "Time to answer a request.");
  hist.buckets = bounds;
  hist.bucket_count = 3;
  std::string hist_labels = R"({route="/metrics"})";
  auto hs = series(hist_labels, 0);
  hs.bucket_counts = counts;
  hs.sum = 2.5;
  hs.count = 13;
  r.family(hist);
  r.series(hist, hs);

  const double qs[] = {0.5, 0.9};
  const double qv[] = {0.01, 0.2};
  auto summ = family("vigil_rpc_duration_seconds", VIGIL_METRIC_SUMMARY, "Time of an RPC.");
  auto ss = series("", 0);
  ss.quantiles = qs;
  ss.quantile_values = qv;
  ss.quantile_count = 2;
  ss.sum = 4.0;
  ss.count = 40;
  r.family(summ);
  r.series(summ, ss);

  auto untyped = family("vigil_legacy_value", VIGIL_METRIC_UNTYPED, "A value of unknown type.");
  auto us = series("", std::nan(""));
  us.explicit_timestamp = 1;
  us.timestamp_ms = 1700000000000;
  r.family(untyped);
  r.series(untyped, us);
  return std::string(out.view());
}

}  // namespace

TEST_CASE("promtool check metrics accepts a rendered page without any complaint") {
  auto result = vigil_test::promtool_check_metrics(sample_page());
  if (!result) {
    WARN("promtool is not installed (Debian package 'prometheus'): skipping the check");
    return;
  }
  INFO("promtool said:\n" << result->output);
  CHECK(result->exit_code == 0);
  CHECK(result->output.empty());
}
