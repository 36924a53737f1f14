// The StatsD line parser on its own: every type, sample rates, DogStatsD tags and value packing,
// name sanitizing, and a corpus of bad lines, each with the reason it must give.
#include <catch2/catch.hpp>

#include <string>

#include "line_parser.hpp"

using namespace vigil::collector_statsd;

namespace {

ParsedLine parse_ok(const std::string& line) {
  ParsedLine out;
  std::string error;
  INFO("line: " << line);
  LineKind kind = parse_line(line, out, error);
  INFO("error: " << error);
  REQUIRE(kind == LineKind::sample);
  return out;
}

std::string parse_error(const std::string& line) {
  ParsedLine out;
  std::string error;
  INFO("line: " << line);
  REQUIRE(parse_line(line, out, error) == LineKind::error);
  return error;
}

}  // namespace

TEST_CASE("a counter line gives its name, value and type") {
  ParsedLine p = parse_ok("deploys:1|c");
  CHECK(p.name == "deploys");
  CHECK(p.source_name == "deploys");
  CHECK(p.type == SampleType::counter);
  REQUIRE(p.values.size() == 1);
  CHECK(p.values[0].number == 1);
  CHECK(p.sample_rate == 1);
  CHECK(p.tags.empty());
}

TEST_CASE("every StatsD type letter is understood") {
  CHECK(parse_ok("a:1|c").type == SampleType::counter);
  CHECK(parse_ok("a:1|g").type == SampleType::gauge);
  CHECK(parse_ok("a:1|ms").type == SampleType::timer);
  CHECK(parse_ok("a:1|h").type == SampleType::histogram);
  CHECK(parse_ok("a:1|d").type == SampleType::distribution);
  ParsedLine set = parse_ok("users:alice@example.com|s");
  CHECK(set.type == SampleType::set);
  CHECK(set.set_member == "alice@example.com");
  CHECK(set.values.empty());
}

TEST_CASE("a sample rate is read from the @ field") {
  CHECK(parse_ok("hits:1|c|@0.1").sample_rate == Approx(0.1));
  CHECK(parse_ok("latency:12.5|ms|@0.25").sample_rate == Approx(0.25));
  CHECK(parse_ok("latency:12.5|ms|@1").sample_rate == 1);
}

TEST_CASE("gauges with a sign are relative, without one absolute") {
  ParsedLine set = parse_ok("queue:5|g");
  CHECK_FALSE(set.values[0].relative);
  CHECK(set.values[0].number == 5);
  ParsedLine up = parse_ok("queue:+3|g");
  CHECK(up.values[0].relative);
  CHECK(up.values[0].number == 3);
  ParsedLine down = parse_ok("queue:-2.5|g");
  CHECK(down.values[0].relative);
  CHECK(down.values[0].number == -2.5);
}

TEST_CASE("DogStatsD tags become sorted labels with Prometheus-safe names") {
  ParsedLine p = parse_ok("req:1|c|#route:/users,method:GET,http.status:200");
  REQUIRE(p.tags.size() == 3);
  CHECK(p.tags[0] == std::make_pair(std::string("http_status"), std::string("200")));
  CHECK(p.tags[1] == std::make_pair(std::string("method"), std::string("GET")));
  CHECK(p.tags[2] == std::make_pair(std::string("route"), std::string("/users")));

  SECTION("a value may contain ':' after the first one") {
    ParsedLine q = parse_ok("req:1|c|#url:http://x:80/");
    REQUIRE(q.tags.size() == 1);
    CHECK(q.tags[0].second == "http://x:80/");
  }
  SECTION("the last value of a repeated tag wins, empty values and valueless tags go") {
    ParsedLine q = parse_ok("req:1|c|#env:dev,canary,env:prod,zone:");
    REQUIRE(q.tags.size() == 1);
    CHECK(q.tags[0] == std::make_pair(std::string("env"), std::string("prod")));
  }
  SECTION("tags and sample rate come in either order") {
    ParsedLine q = parse_ok("req:1|c|#env:prod|@0.5");
    CHECK(q.sample_rate == 0.5);
    REQUIRE(q.tags.size() == 1);
  }
  SECTION("UTF-8 values are kept") {
    ParsedLine q = parse_ok("req:1|c|#city:Z\xC3\xBCrich");
    CHECK(q.tags[0].second == "Z\xC3\xBCrich");
  }
}

TEST_CASE("names are sanitized to Prometheus' rules") {
  CHECK(parse_ok("api.latency-ms:1|ms").name == "api_latency_ms");
  CHECK(parse_ok("api.latency-ms:1|ms").source_name == "api.latency-ms");
  CHECK(parse_ok("5xx.count:1|c").name == "_5xx_count");
  CHECK(parse_ok("a/b c:1|c").name == "a_b_c");
  CHECK(sanitize_label_name("http.status") == "http_status");
  CHECK(sanitize_label_name("1st") == "_1st");
  CHECK(valid_metric_name("myapp_"));
  CHECK(valid_metric_name("ns:sub_"));
  CHECK_FALSE(valid_metric_name("1app"));
  CHECK_FALSE(valid_metric_name("my-app"));
}

TEST_CASE("DogStatsD value packing gives several values in one line") {
  ParsedLine p = parse_ok("latency:10:20:30|ms");
  REQUIRE(p.values.size() == 3);
  CHECK(p.values[2].number == 30);
}

TEST_CASE("DogStatsD container ids and timestamps are accepted and ignored") {
  ParsedLine p = parse_ok(
      "req:1|c|#env:prod|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d|"
      "T1656581400");
  CHECK(p.values[0].number == 1);
  REQUIRE(p.tags.size() == 1);
}

TEST_CASE("blank lines, a trailing CR and surrounding blanks are not errors") {
  ParsedLine out;
  std::string error;
  CHECK(parse_line("", out, error) == LineKind::blank);
  CHECK(parse_line("   \r", out, error) == LineKind::blank);
  CHECK(parse_ok("deploys:1|c\r").values[0].number == 1);
  CHECK(parse_ok("  deploys:1|c  ").name == "deploys");
}

TEST_CASE("DogStatsD events and service checks are recognised as unsupported") {
  ParsedLine out;
  std::string error;
  CHECK(parse_line("_e{5,4}:title|text", out, error) == LineKind::unsupported);
  CHECK(parse_line("_sc|db.up|0", out, error) == LineKind::unsupported);
}

TEST_CASE("bad lines are refused with what was found and what was expected") {
  using Catch::Matchers::Contains;
  CHECK_THAT(parse_error("deploys"),
             Contains("no ':'") && Contains("\"deploys\"") && Contains("expected name:value|type"));
  CHECK_THAT(parse_error(":1|c"), Contains("metric name before ':' is empty"));
  CHECK_THAT(parse_error("deploys:1"), Contains("no '|type'"));
  CHECK_THAT(parse_error("deploys:1|x"),
             Contains("unknown type \"x\"") && Contains("expected c, g, ms, h, d or s"));
  CHECK_THAT(parse_error("deploys:one|c"), Contains("value \"one\" is not a finite number"));
  CHECK_THAT(parse_error("deploys:|c"), Contains("value \"\" is not a finite number"));
  CHECK_THAT(parse_error("deploys:nan|c"), Contains("not a finite number"));
  CHECK_THAT(parse_error("deploys:inf|g"), Contains("not a finite number"));
  CHECK_THAT(parse_error("deploys:1 |c"), Contains("not a finite number"));
  CHECK_THAT(parse_error("deploys:-1|c"), Contains("negative") && Contains("never decreases"));
  CHECK_THAT(parse_error("latency:-5|ms"), Contains("negative") && Contains("duration"));
  CHECK_THAT(parse_error("hits:1|c|@0"), Contains("sample rate \"@0\"") && Contains("(0, 1]"));
  CHECK_THAT(parse_error("hits:1|c|@1.5"), Contains("sample rate \"@1.5\""));
  CHECK_THAT(parse_error("hits:1|c|@x"), Contains("sample rate \"@x\""));
  CHECK_THAT(parse_error("hits:1|c|oops"),
             Contains("unknown field \"oops\"") && Contains("@<sample rate> or #<tags>"));
  CHECK_THAT(parse_error("hits:1|c|#__name__:x"), Contains("\"__\""));
  CHECK_THAT(parse_error("hits:1|c|#:x"), Contains("no name before ':'"));
  CHECK_THAT(parse_error("latency:1|ms|#le:5"), Contains("tag \"le\" is reserved"));
  CHECK_THAT(parse_error("latency:1|h|#quantile:x"), Contains("tag \"quantile\" is reserved"));
  CHECK_THAT(parse_error("hits:1|c|#city:\xFF\xFE"), Contains("not UTF-8"));
  CHECK_THAT(parse_error("users:|s"), Contains("set member is empty"));
  CHECK_THAT(parse_error("latency:1::2|ms"), Contains("value \"\""));
}

TEST_CASE("a negative histogram value is fine, a long bad line is cut in the message") {
  CHECK(parse_ok("delta:-5|h").values[0].number == -5);
  std::string error = parse_error(std::string(500, 'x'));
  CHECK(error.size() < 300);
  CHECK(error.find("...") != std::string::npos);
}

TEST_CASE("label values must be UTF-8 without NUL") {
  CHECK(valid_label_value("plain"));
  CHECK(valid_label_value("\xE2\x82\xAC"));      // euro sign
  CHECK(valid_label_value("\xF0\x9F\x98\x80"));  // emoji
  CHECK_FALSE(valid_label_value(std::string("a\0b", 3)));
  CHECK_FALSE(valid_label_value("\xC3"));          // cut short
  CHECK_FALSE(valid_label_value("\xC0\xAF"));      // overlong
  CHECK_FALSE(valid_label_value("\xED\xA0\x80"));  // surrogate
  CHECK_FALSE(valid_label_value("\xF5\x80\x80\x80"));
}
