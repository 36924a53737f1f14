// Matchers and selectors in Prometheus' notation, as users write them in rules, routes and
// silences: what matches, what does not, and the message a typo gets.
#include "alerts/matcher.hpp"

#include <catch2/catch.hpp>

using vigil::alerts::MatchOp;
using vigil::alerts::parse_matcher;
using vigil::alerts::parse_selector;

namespace {

vigil::alerts::Matcher must(std::string_view text) {
  std::string error;
  auto m = parse_matcher(text, error);
  INFO(error);
  REQUIRE(m);
  return *m;
}

}  // namespace

TEST_CASE("the four operators match as in Prometheus, a missing label as the empty string") {
  std::map<std::string, std::string> labels{{"severity", "critical"}, {"instance", "db-1:9100"}};
  CHECK(must(R"(severity="critical")").matches(labels));
  CHECK_FALSE(must(R"(severity!="critical")").matches(labels));
  CHECK(must(R"(instance=~"db-\d+:.*")").matches(labels));
  CHECK_FALSE(must(R"(instance=~"db")").matches(labels));  // anchored: no partial match
  CHECK(must(R"(instance!~"web-.*")").matches(labels));
  CHECK(must(R"(team="")").matches(labels));
  CHECK_FALSE(must(R"(team=~".+")").matches(labels));
}

TEST_CASE("quoted values take escapes and other quote styles") {
  CHECK(must(R"(a="say \"hi\"")").value() == "say \"hi\"");
  CHECK(must("a='single'").value() == "single");
  CHECK(must("a=`raw\\d`").value() == "raw\\d");
  CHECK(must(R"(  a  !=  "x" )").op() == MatchOp::not_equal);
  CHECK(must(R"(a="x\"y")").to_string() == R"(a="x\"y")");
}

TEST_CASE("a bad matcher says where and what was expected") {
  std::string error;
  CHECK_FALSE(parse_matcher(R"(severity>"x")", error));
  CHECK(error == R"(at 9 of `severity>"x"`: found '>', expected one of = != =~ !~)");
  CHECK_FALSE(parse_matcher(R"(a="open)", error));
  CHECK(error.find("found the end of the text, expected the closing \"") != std::string::npos);
  CHECK_FALSE(parse_matcher(R"(1a="x")", error));
  CHECK(error.find("expected a label name") != std::string::npos);
  CHECK_FALSE(parse_matcher(R"(a=~"(")", error));
  CHECK(error.find("is not a valid regular expression") != std::string::npos);
}

TEST_CASE("selectors give the metric name apart from the other matchers") {
  std::string error;
  auto s = parse_selector(R"(node_cpu_seconds_total{mode!="idle", cpu=~"0|1"})", error);
  REQUIRE(s);
  CHECK(s->name == "node_cpu_seconds_total");
  REQUIRE(s->matchers.size() == 2);
  CHECK(s->matchers[0].name() == "mode");
  s = parse_selector(R"({__name__="up",job="node"})", error);
  REQUIRE(s);
  CHECK(s->name == "up");
  CHECK(s->matchers.size() == 1);
  s = parse_selector("vigil:series_total", error);
  REQUIRE(s);
  CHECK(s->matchers.empty());
  CHECK_FALSE(parse_selector(R"(up{job="a" instance="b"})", error));
  CHECK(error.find("expected ',' or '}'") != std::string::npos);
  CHECK_FALSE(parse_selector("{}", error));
  CHECK(error.find("selects nothing") != std::string::npos);
}
