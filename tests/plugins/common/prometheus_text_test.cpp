// The Prometheus text format parser of vigil_plugin_text: every construct of format 0.0.4 read
// into families and series as a user would expect them, and bad inputs refused with the exact
// line and reason a user reads in the log.
#include "vigil_plugin_text/exposition.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

using vigil::MetricType;
using vigil::plugin_text::Exposition;
using vigil::plugin_text::Family;
using vigil::plugin_text::parse_prometheus;
using vigil::plugin_text::ParseOptions;
using vigil::plugin_text::Series;

namespace {

Exposition parse_ok(const std::string& text, const ParseOptions& options = {}) {
  Exposition e;
  std::string error;
  INFO(text);
  bool ok = parse_prometheus(text, e, error, options);
  INFO(error);
  REQUIRE(ok);
  REQUIRE(error.empty());
  return e;
}

std::string parse_error(const std::string& text, const ParseOptions& options = {}) {
  Exposition e;
  std::string error;
  INFO(text);
  REQUIRE_FALSE(parse_prometheus(text, e, error, options));
  CHECK(e.families().empty());
  return error;
}

const Family& family(const Exposition& e, const char* name) {
  const Family* f = e.find(name);
  INFO("family " << name);
  REQUIRE(f != nullptr);
  return *f;
}

// Every series of a family as text, in input order: `name{a="x"}`.
std::vector<std::string> series_texts(const Exposition& e, const char* name) {
  std::vector<std::string> out;
  const Family& f = family(e, name);
  for (const Series& s : f.series) out.push_back(e.series_text(f, s));
  return out;
}

}  // namespace

TEST_CASE("counters, gauges and untyped samples with HELP and TYPE") {
  Exposition e = parse_ok(
      "# HELP http_requests_total The total number of HTTP requests.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"post\",code=\"200\"} 1027\n"
      "http_requests_total{method=\"post\",code=\"400\"}    3\n"
      "\n"
      "# TYPE temperature gauge\n"
      "temperature -3.5\n"
      "# A plain comment is ignored.\n"
      "no_type_at_all 42\n");
  REQUIRE(e.families().size() == 3);
  const Family& requests = family(e, "http_requests_total");
  CHECK(requests.type == MetricType::counter);
  CHECK(requests.help == "The total number of HTTP requests.");
  REQUIRE(requests.series.size() == 2);
  // Labels come out sorted by name, whatever order the line gave.
  CHECK(series_texts(e, "http_requests_total") ==
        std::vector<std::string>{R"(http_requests_total{code="200",method="post"})",
                                 R"(http_requests_total{code="400",method="post"})"});
  CHECK(requests.series[0].value == 1027);
  CHECK(requests.series[1].value == 3);
  CHECK(requests.series[0].line == 3);

  CHECK(family(e, "temperature").type == MetricType::gauge);
  CHECK_FALSE(family(e, "temperature").has_help);
  CHECK(family(e, "temperature").series[0].value == -3.5);
  CHECK(family(e, "no_type_at_all").type == MetricType::untyped);
  CHECK(e.series_count() == 4);
}

TEST_CASE("values: integers, decimals, exponents, NaN and the infinities") {
  Exposition e = parse_ok(
      "a 1\nb -0.25\nc 1.5e3\nd 2E-2\ne +7\nf NaN\ng +Inf\nh -Inf\ni Inf\nj nan\nk .5\n"
      "l 123456789012345678901234567890\n");
  auto v = [&](const char* n) { return family(e, n).series.at(0).value; };
  CHECK(v("a") == 1);
  CHECK(v("b") == -0.25);
  CHECK(v("c") == 1500);
  CHECK(v("d") == Approx(0.02));
  CHECK(v("e") == 7);
  CHECK(std::isnan(v("f")));
  CHECK(v("g") == INFINITY);
  CHECK(v("h") == -INFINITY);
  CHECK(v("i") == INFINITY);
  CHECK(std::isnan(v("j")));
  CHECK(v("k") == 0.5);
  CHECK(v("l") == Approx(1.2345678901234568e29));
}

TEST_CASE("decimals are read to the same double as strtod, short and long, signed or not") {
  // Decimals of up to 15 digits take a shortcut; these sit on both sides of it.
  const char* values[] = {"0.1",
                          "0.3",
                          "-0.0",
                          "1.",
                          "00.5",
                          "49999.5",
                          "+2.5",
                          "9.99e-5",
                          "0.7071",
                          "1234567.891",
                          "123456789012345",
                          "1234567890123456",
                          "0.000000000000001",
                          "0.30000000000000004",
                          "99999999999999.9",
                          "999999999999999.9"};
  std::string text;
  for (std::size_t i = 0; i < std::size(values); ++i)
    text += "v{i=\"" + std::to_string(i) + "\"} " + values[i] + "\n";
  Exposition e = parse_ok(text);
  const Family& f = family(e, "v");
  REQUIRE(f.series.size() == std::size(values));
  for (std::size_t i = 0; i < std::size(values); ++i) {
    INFO(values[i]);
    double want = std::strtod(values[i], nullptr);
    CHECK(std::memcmp(&f.series[i].value, &want, sizeof want) == 0);  // -0.0 included
  }
}

TEST_CASE("timestamps are read as milliseconds, negative ones included") {
  Exposition e = parse_ok("a 1 1700000000123\nb{x=\"1\"} 2 -5\nc 3\n");
  CHECK(family(e, "a").series[0].has_timestamp());
  CHECK(family(e, "a").series[0].timestamp_ms == 1700000000123);
  CHECK(family(e, "b").series[0].timestamp_ms == -5);
  CHECK_FALSE(family(e, "c").series[0].has_timestamp());
}

TEST_CASE(
    "label values unescape backslash, quote and newline, and HELP unescapes backslash and "
    "newline") {
  Exposition e = parse_ok(
      "# HELP msg A \\\\ backslash,\\na newline and a \"quote\".\n"
      "msg{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",text=\"two\\nlines\",utf8=\"h\xc3\xa9\"} "
      "1\n");
  const Family& f = family(e, "msg");
  CHECK(f.help == "A \\ backslash,\na newline and a \"quote\".");
  std::vector<vigil::plugin_text::Label> l;
  e.labels(f.series[0], l);
  REQUIRE(f.series[0].labels_count == 4);
  CHECK(l[0].name == "path");
  CHECK(l[0].value == "C:\\dir");
  CHECK(l[1].value == "say \"hi\"");
  CHECK(l[2].value == "two\nlines");
  CHECK(l[3].value == "h\xc3\xa9");
  // Escaped again for display.
  CHECK(e.series_text(f, f.series[0]) ==
        "msg{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",text=\"two\\nlines\",utf8=\"h\xc3\xa9\"}");
}

TEST_CASE("whitespace, empty braces, trailing commas, CRLF and leading blanks are accepted") {
  Exposition e = parse_ok(
      "  a{ x = \"1\" , y=\"2\", } 1\r\n"
      "\tb{} 2\n"
      "c\t3\t\n"
      "   # TYPE d gauge\n"
      "d 4");  // no final newline: fine unless the caller requires one
  CHECK(series_texts(e, "a") == std::vector<std::string>{R"(a{x="1",y="2"})"});
  CHECK(family(e, "b").series[0].labels_count == 0);
  CHECK(family(e, "c").series[0].value == 3);
  CHECK(family(e, "d").type == MetricType::gauge);
  CHECK(family(e, "d").series[0].value == 4);
}

TEST_CASE("TYPE keywords are case-insensitive and HELP may be empty") {
  Exposition e = parse_ok("# HELP a\n# TYPE a COUNTER\na 1\n# TYPE b Gauge\nb 2\n");
  CHECK(family(e, "a").type == MetricType::counter);
  CHECK(family(e, "a").has_help);
  CHECK(family(e, "a").help.empty());
  CHECK(family(e, "b").type == MetricType::gauge);
}

TEST_CASE("an empty label value means the label is absent") {
  Exposition e = parse_ok("a{x=\"\",y=\"1\"} 1\n");
  CHECK(series_texts(e, "a") == std::vector<std::string>{R"(a{y="1"})"});
  // ...so these two lines are the same series.
  CHECK(parse_error("a{x=\"\"} 1\na 2\n") == "line 2: duplicate series a; first seen on line 1");
}

TEST_CASE("a histogram groups _bucket, _sum and _count lines into one series per label set") {
  Exposition e = parse_ok(
      "# HELP rpc_seconds RPC latency.\n"
      "# TYPE rpc_seconds histogram\n"
      "rpc_seconds_bucket{service=\"a\",le=\"0.1\"} 2\n"
      "rpc_seconds_bucket{service=\"b\",le=\"0.1\"} 0\n"
      "rpc_seconds_bucket{service=\"a\",le=\"+Inf\"} 5\n"
      "rpc_seconds_bucket{service=\"a\",le=\"1\"} 4\n"  // out of order: sorted by le
      "rpc_seconds_sum{service=\"a\"} 2.5\n"
      "rpc_seconds_count{service=\"a\"} 5\n"
      "rpc_seconds_bucket{service=\"b\",le=\"1\"} 1\n"
      "rpc_seconds_bucket{service=\"b\",le=\"+Inf\"} 1\n"
      "rpc_seconds_sum{service=\"b\"} 0.5\n"
      "rpc_seconds_count{service=\"b\"} 1\n");
  REQUIRE(e.families().size() == 1);
  const Family& f = family(e, "rpc_seconds");
  CHECK(f.type == MetricType::histogram);
  CHECK(f.help == "RPC latency.");
  REQUIRE(f.series.size() == 2);
  CHECK(series_texts(e, "rpc_seconds") ==
        std::vector<std::string>{R"(rpc_seconds{service="a"})", R"(rpc_seconds{service="b"})"});
  const auto& a = e.composite(f.series[0]);
  REQUIRE(a.points.size() == 3);
  CHECK(a.points[0].bound == 0.1);
  CHECK(a.points[0].value == 2);
  CHECK(a.points[1].bound == 1);
  CHECK(a.points[1].value == 4);
  CHECK(a.points[2].bound == INFINITY);
  CHECK(a.points[2].value == 5);
  CHECK(a.has_sum);
  CHECK(a.sum == 2.5);
  CHECK(a.count == 5);
  CHECK(e.composite(f.series[1]).count == 1);
}

TEST_CASE(
    "a summary groups quantile, _sum and _count lines, and _bucket stays a family of its own") {
  Exposition e = parse_ok(
      "# TYPE gc_seconds summary\n"
      "gc_seconds{quantile=\"0.99\"} 0.2\n"
      "gc_seconds{quantile=\"0.5\"} 0.05\n"
      "gc_seconds_sum 12\n"
      "gc_seconds_count 300\n"
      "gc_seconds_bucket 7\n");
  const Family& f = family(e, "gc_seconds");
  CHECK(f.type == MetricType::summary);
  REQUIRE(f.series.size() == 1);
  const auto& c = e.composite(f.series[0]);
  REQUIRE(c.points.size() == 2);
  CHECK(c.points[0].bound == 0.5);
  CHECK(c.points[0].value == 0.05);
  CHECK(c.points[1].bound == 0.99);
  CHECK(c.sum == 12);
  CHECK(c.count == 300);
  CHECK(family(e, "gc_seconds_bucket").type == MetricType::untyped);
}

TEST_CASE("without TYPE, _bucket/_sum/_count samples are untyped families of their own") {
  Exposition e = parse_ok("x_bucket{le=\"1\"} 1\nx_sum 2\nx_count 3\n");
  CHECK(e.families().size() == 3);
  CHECK(family(e, "x_bucket").type == MetricType::untyped);
  CHECK(series_texts(e, "x_bucket") == std::vector<std::string>{R"(x_bucket{le="1"})"});
}

TEST_CASE("a histogram with only _sum and _count, and one without +Inf, are accepted") {
  Exposition e = parse_ok(
      "# TYPE a histogram\na_sum 1\na_count 2\n"
      "# TYPE b histogram\nb_bucket{le=\"1\"} 3\nb_count 4\n");
  CHECK(e.composite(family(e, "a").series[0]).points.empty());
  CHECK(e.composite(family(e, "b").series[0]).points.size() == 1);
}

TEST_CASE("samples of one family may be spread over the input") {
  Exposition e = parse_ok("a{x=\"1\"} 1\nb 2\na{x=\"2\"} 3\n");
  CHECK(family(e, "a").series.size() == 2);
  CHECK(family(e, "a").series[1].line == 3);
}

TEST_CASE("HELP and TYPE without samples give a family without series") {
  Exposition e = parse_ok("# HELP lonely Nobody writes me.\n# TYPE lonely gauge\n");
  CHECK(family(e, "lonely").series.empty());
  CHECK(e.series_count() == 0);
}

TEST_CASE("an empty input and an input of comments parse to nothing") {
  CHECK(parse_ok("").families().empty());
  CHECK(parse_ok("\n\n# just a comment\n   \n").families().empty());
}

TEST_CASE("options: timestamps refused and the final newline required") {
  ParseOptions strict;
  strict.allow_timestamps = false;
  strict.require_final_newline = true;
  parse_ok("a 1\n", strict);
  CHECK(parse_error("a 1\nb 2 1700000000000\n", strict) ==
        "line 2: timestamps are not supported here, found \"1700000000000\" after the value; "
        "remove the timestamp (the sample is taken when read)");
  CHECK(parse_error("a 1\nb 2", strict) ==
        "line 2: the last line does not end with a newline; the file may be in the middle of "
        "being written (write it to a temporary file and rename it into place)");
}

// Each bad input and the exact message a user gets.
TEST_CASE("bad inputs are refused with their line and reason") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a 1\n{x=\"1\"} 2\n", R"(line 2: expected a metric name, found "{x=\"1\"}")"},
      {"9lives 1\n", R"(line 1: invalid metric name "9lives": it must not start with a digit)"},
      {"foo-bar 1\n",
       R"(line 1: invalid character "-" in metric name "foo-bar"; expected [a-zA-Z_:][a-zA-Z0-9_:]*)"},
      {"a\n", "line 1: expected a value after the metric name, found end of line"},
      {"a{x=\"1\"} abc\n", R"(line 1: expected a value after the labels, found "abc")"},
      {"a 1,5\n", R"(line 1: expected a value after the metric name, found "1,5")"},
      {"a 1e999\n", R"(line 1: expected a value after the metric name, found "1e999")"},
      {"a 1 12.5\n",
       R"(line 1: expected a timestamp (integer milliseconds) after the value, found "12.5")"},
      {"a 1 2 3\n", R"(line 1: unexpected text after the timestamp: "3")"},
      {"a{x=\"1\" 1\n", R"(line 1: expected ',' or '}' after the value of label "x", found "1")"},
      {"a{x=1} 1\n", R"(line 1: expected a quoted label value after x=, found "1}")"},
      {"a{x \"1\"} 1\n", R"(line 1: expected '=' after label name "x", found "\"1\"}")"},
      {"a{-x=\"1\"} 1\n", R"(line 1: expected a label name, found "-x=\"1\"}")"},
      {"a{1x=\"1\"} 1\n", R"(line 1: invalid label name "1x": it must not start with a digit)"},
      {"a{__name__=\"b\"} 1\n",
       "line 1: label name \"__name__\" is reserved: names starting with \"__\" are for "
       "Prometheus' internal use"},
      {"a{x=\"1\"\n",
       "line 1: expected ',' or '}' after the value of label \"x\", found end of line"},
      {"a{x=\"1} 1\n",
       "line 1: the value of label \"x\" is not terminated; expected a closing '\"' before the "
       "end of the line"},
      {"a{x=\"a\\tb\"} 1\n",
       R"(line 1: invalid escape sequence "\\t" in the value of label "x"; expected \\, \" or \n)"},
      {"a{x=\"\xff\"} 1\n",
       "line 1: the value of label \"x\" is not valid UTF-8 (byte 0 of the value); expected "
       "UTF-8 text"},
      {"a{x=\"1\",x=\"2\"} 1\n", R"(line 1: label "x" is given twice)"},
      {"a{x=\"1\"} 1\na{x=\"1\"} 2\n",
       R"(line 2: duplicate series a{x="1"}; first seen on line 1)"},
      {"a{y=\"2\",x=\"1\"} 1\na{x=\"1\",y=\"2\"} 2\n",
       R"(line 2: duplicate series a{x="1",y="2"}; first seen on line 1)"},
      {"# HELP a one\n# HELP a two\n", "line 2: second HELP line for a; the first is on line 1"},
      {"# TYPE a gauge\n# TYPE a counter\n",
       "line 2: second TYPE line for a; the first is on line 1"},
      {"a 1\n# TYPE a gauge\n",
       "line 2: TYPE line for a comes after its first sample on line 1; expected TYPE before the "
       "samples"},
      {"# TYPE a gauges\n",
       R"(line 1: unknown metric type "gauges" for a; expected counter, gauge, histogram, summary or untyped)"},
      {"# TYPE a\n",
       "line 1: TYPE line for a without a type; expected counter, gauge, histogram, summary or "
       "untyped"},
      {"# TYPE a gauge extra\n", R"(line 1: unexpected text after the type of a: "extra")"},
      {"# HELP\n",
       "line 1: HELP line without a metric name; expected # HELP <metric name> <help text>"},
      {"# HELP 1a x\n",
       R"(line 1: invalid metric name "1a" in HELP line; expected [a-zA-Z_:][a-zA-Z0-9_:]*)"},
      {"# HELP a bad \\t escape\n",
       R"(line 1: invalid escape sequence "\\t" in the HELP text of a; expected \\ or \n)"},
      {"# TYPE h histogram\nh 1\n",
       "line 2: histogram h: a sample named h is not allowed; expected h_bucket, h_sum or h_count"},
      {"# TYPE h histogram\nh_bucket 1\n", R"(line 2: histogram h needs a "le" label on h_bucket)"},
      {"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
       R"(line 2: invalid "le" value "x" on h_bucket; expected a number or +Inf)"},
      {"# TYPE h histogram\nh_bucket{le=\"-Inf\"} 1\n",
       R"(line 2: invalid "le" value "-Inf" on h_bucket; expected a finite upper bound or +Inf)"},
      {"# TYPE h histogram\nh_sum{le=\"1\"} 1\n",
       R"(line 2: unexpected label "le" on h_sum; it belongs on h_bucket)"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\n",
       R"(line 3: duplicate bucket le="1" for h; first seen on line 2)"},
      {"# TYPE h histogram\nh_sum 1\nh_sum 2\n",
       "line 3: duplicate h_sum for h; first seen on line 2"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\n",
       R"(line 3: bucket le="2" of h counts 3, fewer than bucket le="1" (5 on line 2); expected cumulative counts)"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1.5\n",
       R"(line 2: bucket le="1" of h counts 1.5; expected a whole, non-negative number of observations)"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 9\nh_count 10\n",
       "line 3: h_count of h is 10 but its +Inf bucket (line 2) counts 9; expected the same "
       "number"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 9\nh_count 4\n",
       R"(line 3: h_count of h is 4, fewer than bucket le="1" (9); expected at least as many)"},
      {"# TYPE h histogram\nh_count -1\n",
       "line 2: h_count of h is -1; expected a whole, non-negative number"},
      {"# TYPE h histogram\n"
       "h_bucket{x=\"a\",le=\"1\"} 1\n"
       "h_bucket{x=\"b\",le=\"2\"} 1\n",
       "line 3: histogram h: h{x=\"b\"} has buckets [2] but h{x=\"a\"} (line 2) has [1]; every "
       "series of a histogram needs the same buckets"},
      {"# TYPE s summary\ns 1\n", R"(line 2: summary s needs a "quantile" label on s)"},
      {"# TYPE s summary\ns{quantile=\"1.5\"} 1\n",
       R"(line 2: quantile "1.5" on s is out of range; expected a number between 0 and 1)"},
      {"# TYPE s summary\ns_count{quantile=\"0.5\"} 1\n",
       R"(line 2: unexpected label "quantile" on s_count; it belongs on s)"},
      {"# TYPE s summary\ns_count 2.5\n",
       "line 2: s_count of s is 2.5; expected a whole, non-negative number"},
      {"# TYPE h histogram\n# TYPE h_bucket gauge\n",
       "line 2: metric h_bucket conflicts with histogram h (line 1), which exposes h_bucket "
       "itself"},
      {"h_count 1\n# TYPE h histogram\n",
       "line 2: TYPE histogram for h conflicts with metric h_count (line 1): a histogram exposes "
       "h_count itself"},
      {"# TYPE s summary\n# HELP s_sum the sum\n",
       "line 2: metric s_sum conflicts with summary s (line 1), which exposes s_sum itself"},
  };
  for (const auto& [input, expected] : cases) {
    INFO(input);
    CHECK(parse_error(input) == expected);
  }
}

TEST_CASE("a summary with more quantiles than the store keeps is refused") {
  std::string text = "# TYPE s summary\n";
  for (int i = 0; i <= 16; ++i) text += "s{quantile=\"0." + std::to_string(10 + i) + "\"} 1\n";
  CHECK(parse_error(text) == "line 18: s has 17 quantiles; at most 16 are supported");
}

TEST_CASE("a large input parses completely, with every series distinct") {
  std::string text = "# TYPE bench_metric gauge\n";
  for (int i = 0; i < 100000; ++i)
    text += "bench_metric{host=\"h1\",id=\"" + std::to_string(i) + "\"} 1\n";
  Exposition e = parse_ok(text);
  const Family& f = family(e, "bench_metric");
  REQUIRE(f.series.size() == 100000);
  CHECK(e.series_text(f, f.series[99999]) == R"(bench_metric{host="h1",id="99999"})");
  // A duplicate far from its twin is still found.
  text += "bench_metric{id=\"5\",host=\"h1\"} 2\n";
  CHECK(parse_error(text) ==
        R"(line 100002: duplicate series bench_metric{host="h1",id="5"}; first seen on line 7)");
}
