// Naming rules and escaping as a plugin author meets them: which names are refused, and whether
// the message says which character at which position and what was expected. These tests must
// never pin whole messages word for word, only the facts a reader needs from them.
#include "store/store.hpp"
#include "visit_helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace vigil::store;
using Catch::Matchers::Contains;
using vigil::store::test::family_desc;

TEST_CASE("metric names follow Prometheus' rules", "[store][names]") {
  CHECK(valid_metric_name("http_requests_total"));
  CHECK(valid_metric_name("job:rate5m"));
  CHECK(valid_metric_name("_private"));
  CHECK(valid_metric_name(":leading_colon"));
  CHECK(valid_metric_name("a1"));

  std::string why;
  SECTION("bad first character names the character, position 0 and what may start a name") {
    CHECK_FALSE(valid_metric_name("1abc", &why));
    CHECK_THAT(why, Contains("\"1abc\"") && Contains("'1'") && Contains("position 0") &&
                        Contains("expected a letter, '_' or ':'"));
  }
  SECTION("bad later character names it and its position") {
    CHECK_FALSE(valid_metric_name("ab-c", &why));
    CHECK_THAT(why, Contains("\"ab-c\"") && Contains("'-'") && Contains("position 2") &&
                        Contains("expected letters, digits, '_' or ':'"));
  }
  SECTION("a space is described, not printed invisibly") {
    CHECK_FALSE(valid_metric_name("a b", &why));
    CHECK_THAT(why, Contains("a space") && Contains("position 1"));
  }
  SECTION("a control byte is shown escaped") {
    CHECK_FALSE(valid_metric_name(std::string("ab\x01", 3), &why));
    CHECK_THAT(why, Contains("\\x01") && Contains("position 2"));
  }
  SECTION("empty") {
    CHECK_FALSE(valid_metric_name("", &why));
    CHECK_THAT(why, Contains("empty") && Contains("[a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
}

TEST_CASE("label names follow Prometheus' rules", "[store][names]") {
  CHECK(valid_label_name("instance"));
  CHECK(valid_label_name("_x9"));

  std::string why;
  SECTION("colon is allowed in metric names but not in label names") {
    CHECK_FALSE(valid_label_name("a:b", &why));
    CHECK_THAT(why, Contains("label name \"a:b\"") && Contains("':'") && Contains("position 1"));
  }
  SECTION("a digit cannot start a label name") {
    CHECK_FALSE(valid_label_name("9lives", &why));
    CHECK_THAT(why, Contains("position 0") && Contains("expected a letter or '_'"));
  }
  SECTION("names starting with __ are reserved") {
    CHECK_FALSE(valid_label_name("__name__", &why));
    CHECK_THAT(why, Contains("\"__name__\"") && Contains("reserves"));
  }
  SECTION("empty") {
    CHECK_FALSE(valid_label_name("", &why));
    CHECK_THAT(why, Contains("label name is empty"));
  }
}

TEST_CASE("label values are escaped the way the text format wants", "[store][names]") {
  std::string out;
  append_escaped_label_value(out, "C:\\dir \"quoted\"\nnext");
  CHECK(out == "C:\\\\dir \\\"quoted\\\"\\nnext");
  out.clear();
  append_escaped_label_value(out, "plain ünïcode");
  CHECK(out == "plain ünïcode");
}

TEST_CASE("UTF-8 validation refuses malformed text and says where", "[store][names]") {
  size_t at = 99;
  CHECK(valid_utf8("héllo wörld €𝄞"));
  CHECK_FALSE(valid_utf8("ab\xff", &at));
  CHECK(at == 2);
  CHECK_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // a UTF-16 surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(valid_utf8("ok\xe2\x82", &at));   // truncated
  CHECK(at == 2);
}

TEST_CASE("family registration refuses bad families with actionable messages", "[store][names]") {
  Store store;
  std::string error;

  SECTION("bad name") {
    CHECK(store.register_family(family_desc("disk-usage", VIGIL_METRIC_GAUGE), error) == 0);
    CHECK_THAT(error, Contains("\"disk-usage\"") && Contains("'-'") && Contains("position 4"));
  }
  SECTION("unknown type") {
    CHECK(store.register_family(family_desc("x", 42), error) == 0);
    CHECK_THAT(error, Contains("\"x\"") && Contains("type 42") && Contains("gauge (2)"));
  }
  SECTION("buckets not strictly increasing") {
    const double buckets[] = {0.1, 1, 1};
    CHECK(store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 3), error) ==
          0);
    CHECK_THAT(error,
               Contains("\"lat\"") && Contains("bucket 2") && Contains("strictly increasing"));
  }
  SECTION("+Inf or NaN bucket") {
    const double inf[] = {1, std::numeric_limits<double>::infinity()};
    CHECK(store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, inf, 2), error) == 0);
    CHECK_THAT(error, Contains("bucket 1") && Contains("inf") && Contains("implicit"));
    const double nan[] = {std::nan("")};
    CHECK(store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, nan, 1), error) == 0);
    CHECK_THAT(error, Contains("bucket 0") && Contains("finite"));
  }
  SECTION("a name another histogram's lines already use") {
    const double buckets[] = {1, 2};
    REQUIRE(store.register_family(family_desc("req", VIGIL_METRIC_HISTOGRAM, buckets, 2), error));
    CHECK(store.register_family(family_desc("req_count", VIGIL_METRIC_GAUGE), error) == 0);
    CHECK_THAT(error, Contains("\"req_count\"") && Contains("histogram \"req\""));
    // ...and the other way round.
    REQUIRE(store.register_family(family_desc("resp_sum", VIGIL_METRIC_COUNTER), error));
    CHECK(store.register_family(family_desc("resp", VIGIL_METRIC_SUMMARY), error) == 0);
    CHECK_THAT(error, Contains("\"resp_sum\""));
    // A gauge named like a summary line is fine when no summary owns that base name.
    CHECK(store.register_family(family_desc("jobs_count", VIGIL_METRIC_GAUGE), error) != 0);
  }
  CHECK(store.family_count() <= 3);  // only the valid ones were kept
}

TEST_CASE("series registration refuses bad labels with actionable messages", "[store][names]") {
  Store store;
  std::string error;
  const double buckets[] = {1, 2};
  const auto gauge = store.register_family(family_desc("temp", VIGIL_METRIC_GAUGE), error);
  const auto hist =
      store.register_family(family_desc("lat", VIGIL_METRIC_HISTOGRAM, buckets, 2), error);
  const auto summary = store.register_family(family_desc("sz", VIGIL_METRIC_SUMMARY), error);
  REQUIRE(gauge);
  REQUIRE(hist);
  REQUIRE(summary);

  SECTION("bad label name names the family and the character") {
    CHECK(store.register_series(gauge, {{"zone-id", "a"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"temp\"") && Contains("\"zone-id\"") && Contains("position 4"));
  }
  SECTION("reserved __ prefix") {
    CHECK(store.register_series(gauge, {{"__meta", "a"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"__meta\"") && Contains("__"));
  }
  SECTION("duplicate label names, whatever the order given") {
    CHECK(store.register_series(gauge, {{"a", "1"}, {"b", "x"}, {"a", "2"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"a\" is given twice") && Contains("\"1\"") && Contains("\"2\""));
  }
  SECTION("le on a histogram, quantile on a summary") {
    CHECK(store.register_series(hist, {{"le", "1"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"lat\"") && Contains("\"le\"") && Contains("reserved"));
    CHECK(store.register_series(summary, {{"quantile", "0.5"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"quantile\"") && Contains("reserved"));
    // Both are ordinary names elsewhere.
    CHECK(store.register_series(gauge, {{"le", "1"}, {"quantile", "q"}}, 0, 0, error) != 0);
  }
  SECTION("invalid UTF-8 in a value") {
    CHECK(store.register_series(gauge, {{"path", "/tmp/\xff"}}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("\"path\"") && Contains("UTF-8") && Contains("offset 5"));
  }
  SECTION("unknown family") {
    CHECK(store.register_series(999, {}, 0, 0, error) == 0);
    CHECK_THAT(error, Contains("unknown metric family id 999"));
    CHECK(store.register_series(0, {}, 0, 0, error) == 0);
  }
  CHECK(store.registered_series() <= 1);
}
