// The text exposition renderer of exporter_prometheus, over hand-built store views: what
// Prometheus (and promtool) reads from /metrics, line by line.
#include "exposition.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace vigil::exporter_prometheus;

namespace {

vigil_family_view family(const char* name, vigil_metric_type type, const char* help,
                         std::size_t series_count = 1) {
  vigil_family_view f{};
  f.size = sizeof f;
  f.name = name;
  f.help = help;
  f.unit = "";
  f.type = type;
  f.series_count = series_count;
  return f;
}

vigil_series_view series(const std::string& labels_text, double value) {
  vigil_series_view s{};
  s.size = sizeof s;
  s.labels_text = labels_text.c_str();
  s.labels_text_len = labels_text.size();
  s.timestamp_ms = 1700000000123;
  s.value = value;
  return s;
}

std::string render_one(const vigil_family_view& f, const std::vector<vigil_series_view>& ss,
                       RenderOptions options = {}) {
  OutputBuffer out;
  Renderer r(out, options);
  r.family(f);
  for (const auto& s : ss) r.series(f, s);
  return std::string(out.view());
}

std::string fmt(double v) {
  char buf[kMaxFloatChars];
  return std::string(buf, format_float(buf, v));
}

}  // namespace

TEST_CASE("a counter family renders HELP, TYPE and one line per series with its labels") {
  std::string a = R"({cpu="0",mode="idle"})", b = R"({cpu="0",mode="user"})";
  auto f = family("node_cpu_seconds_total", VIGIL_METRIC_COUNTER,
                  "Seconds the CPUs spent in each mode.", 2);
  CHECK(render_one(f, {series(a, 243517.2), series(b, 5643.21)}) ==
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
        "# TYPE node_cpu_seconds_total counter\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 243517.2\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 5643.21\n");
}

TEST_CASE("a family without labels writes the bare name") {
  auto f =
      family("node_procs_running", VIGIL_METRIC_GAUGE, "Number of processes in runnable state.");
  CHECK(render_one(f, {series("", 3)}) ==
        "# HELP node_procs_running Number of processes in runnable state.\n"
        "# TYPE node_procs_running gauge\n"
        "node_procs_running 3\n");
}

TEST_CASE("HELP escapes backslash and newline, label values stay as the store escaped them") {
  auto f = family("odd_metric", VIGIL_METRIC_UNTYPED, "Path C:\\temp\nsecond line");
  std::string labels = R"({path="C:\\temp",quote="say \"hi\"",text="a\nb"})";
  CHECK(render_one(f, {series(labels, 1)}) ==
        "# HELP odd_metric Path C:\\\\temp\\nsecond line\n"
        "# TYPE odd_metric untyped\n"
        "odd_metric{path=\"C:\\\\temp\",quote=\"say \\\"hi\\\"\",text=\"a\\nb\"} 1\n");
}

TEST_CASE("an empty help leaves the HELP line out, a family without series leaves nothing") {
  CHECK(render_one(family("no_help", VIGIL_METRIC_GAUGE, ""), {series("", 1)}) ==
        "# TYPE no_help gauge\nno_help 1\n");
  CHECK(render_one(family("all_stale", VIGIL_METRIC_GAUGE, "Gone.", 0), {}).empty());
}

TEST_CASE("every type is named as the format expects") {
  CHECK(type_name(VIGIL_METRIC_COUNTER) == "counter");
  CHECK(type_name(VIGIL_METRIC_GAUGE) == "gauge");
  CHECK(type_name(VIGIL_METRIC_HISTOGRAM) == "histogram");
  CHECK(type_name(VIGIL_METRIC_SUMMARY) == "summary");
  CHECK(type_name(VIGIL_METRIC_UNTYPED) == "untyped");
  CHECK(type_name(99) == "untyped");
}

TEST_CASE("a histogram renders cumulative buckets with le inserted, +Inf, _sum and _count") {
  const double bounds[] = {0.1, 0.5, 1, 1e6};
  const uint64_t counts[] = {2, 5, 7, 8};
  auto f = family("req_duration_seconds", VIGIL_METRIC_HISTOGRAM, "Request time.");
  f.buckets = bounds;
  f.bucket_count = 4;

  SECTION("with labels") {
    std::string labels = R"({code="200"})";
    auto s = series(labels, 0);
    s.bucket_counts = counts;
    s.sum = 3.25;
    s.count = 9;
    CHECK(render_one(f, {s}) ==
          "# HELP req_duration_seconds Request time.\n"
          "# TYPE req_duration_seconds histogram\n"
          "req_duration_seconds_bucket{code=\"200\",le=\"0.1\"} 2\n"
          "req_duration_seconds_bucket{code=\"200\",le=\"0.5\"} 5\n"
          "req_duration_seconds_bucket{code=\"200\",le=\"1\"} 7\n"
          "req_duration_seconds_bucket{code=\"200\",le=\"1e+06\"} 8\n"
          "req_duration_seconds_bucket{code=\"200\",le=\"+Inf\"} 9\n"
          "req_duration_seconds_sum{code=\"200\"} 3.25\n"
          "req_duration_seconds_count{code=\"200\"} 9\n");
  }
  SECTION("without labels") {
    auto s = series("", 0);
    s.bucket_counts = counts;
    s.sum = 0.5;
    s.count = 8;
    std::string text = render_one(f, {s});
    CHECK(text.find("req_duration_seconds_bucket{le=\"0.5\"} 5\n") != std::string::npos);
    CHECK(text.find("req_duration_seconds_bucket{le=\"+Inf\"} 8\n") != std::string::npos);
    CHECK(text.find("req_duration_seconds_sum 0.5\n") != std::string::npos);
    CHECK(text.find("req_duration_seconds_count 8\n") != std::string::npos);
  }
}

TEST_CASE("a summary renders quantile lines, _sum and _count") {
  const double qs[] = {0.5, 0.99};
  const double vs[] = {0.012, std::numeric_limits<double>::quiet_NaN()};
  auto f = family("rpc_seconds", VIGIL_METRIC_SUMMARY, "RPC latency.");
  std::string labels = R"({svc="a"})";
  auto s = series(labels, 0);
  s.quantiles = qs;
  s.quantile_values = vs;
  s.quantile_count = 2;
  s.sum = 12.5;
  s.count = 1000;
  CHECK(render_one(f, {s}) ==
        "# HELP rpc_seconds RPC latency.\n"
        "# TYPE rpc_seconds summary\n"
        "rpc_seconds{svc=\"a\",quantile=\"0.5\"} 0.012\n"
        "rpc_seconds{svc=\"a\",quantile=\"0.99\"} NaN\n"
        "rpc_seconds_sum{svc=\"a\"} 12.5\n"
        "rpc_seconds_count{svc=\"a\"} 1000\n");
}

TEST_CASE(
    "floats are written in the shortest form that reads back, as Prometheus' Go client does") {
  CHECK(fmt(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(fmt(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(fmt(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(fmt(0) == "0");
  CHECK(fmt(-0.0) == "0");
  CHECK(fmt(1) == "1");
  CHECK(fmt(-1) == "-1");
  CHECK(fmt(42) == "42");
  CHECK(fmt(0.1) == "0.1");
  CHECK(fmt(0.0001) == "0.0001");
  CHECK(fmt(0.00001) == "1e-05");
  CHECK(fmt(999999) == "999999");
  CHECK(fmt(1e6) == "1e+06");
  CHECK(fmt(16663267328.0) == "1.6663267328e+10");
  CHECK(fmt(5643.21) == "5643.21");
  CHECK(fmt(1.0 / 3) == "0.3333333333333333");
  CHECK(fmt(-2.5e-300) == "-2.5e-300");
  CHECK(fmt(std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
  CHECK(fmt(std::numeric_limits<double>::denorm_min()) == "5e-324");
  CHECK(fmt(-std::numeric_limits<double>::min()).size() <= kMaxFloatChars);
  // Whatever the value, the text reads back to the same double.
  for (double v : {0.1 + 0.2, 123456.789, 1e-4 * 3, 7e22, 2.2250738585072014e-308}) {
    CHECK(std::stod(fmt(v)) == v);
  }
}

TEST_CASE("special values render as NaN, +Inf and -Inf in sample lines") {
  auto f = family("special", VIGIL_METRIC_GAUGE, "Special values.", 3);
  std::string a = R"({k="nan"})", b = R"({k="pinf"})", c = R"({k="ninf"})";
  CHECK(render_one(f, {series(a, std::nan("")), series(b, std::numeric_limits<double>::infinity()),
                       series(c, -std::numeric_limits<double>::infinity())}) ==
        "# HELP special Special values.\n"
        "# TYPE special gauge\n"
        "special{k=\"nan\"} NaN\n"
        "special{k=\"pinf\"} +Inf\n"
        "special{k=\"ninf\"} -Inf\n");
}

TEST_CASE("timestamps appear only when the writer gave one, or when forced") {
  auto f = family("ts_metric", VIGIL_METRIC_GAUGE, "", 2);
  std::string a = R"({k="a"})", b = R"({k="b"})";
  auto implicit = series(a, 1);
  auto explicit_ts = series(b, 2);
  explicit_ts.explicit_timestamp = 1;
  explicit_ts.timestamp_ms = 1690000000000;

  CHECK(render_one(f, {implicit, explicit_ts}) ==
        "# TYPE ts_metric gauge\n"
        "ts_metric{k=\"a\"} 1\n"
        "ts_metric{k=\"b\"} 2 1690000000000\n");
  RenderOptions forced;
  forced.force_timestamps = true;
  CHECK(render_one(f, {implicit, explicit_ts}, forced) ==
        "# TYPE ts_metric gauge\n"
        "ts_metric{k=\"a\"} 1 1700000000123\n"
        "ts_metric{k=\"b\"} 2 1690000000000\n");
}

TEST_CASE("the buffer grows past its reservation without losing what was written") {
  OutputBuffer out;
  out.reserve(16);
  Renderer r(out, {});
  auto f = family("grow_metric", VIGIL_METRIC_GAUGE, "Growth.", 5000);
  r.family(f);
  std::vector<std::string> labels;
  for (int i = 0; i < 5000; ++i) labels.push_back("{id=\"" + std::to_string(i) + "\"}");
  for (int i = 0; i < 5000; ++i) r.series(f, series(labels[i], i));
  std::string text(out.view());
  CHECK(r.series_rendered() == 5000);
  CHECK(text.rfind("grow_metric{id=\"4999\"} 4999\n") == text.size() - 28);
  CHECK(text.find("grow_metric{id=\"0\"} 0\n") != std::string::npos);
}
