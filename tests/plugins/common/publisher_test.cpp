// The Publisher of vigil_plugin_text, inside a test plugin run by the SDK's fake host: what a
// parsed exposition looks like in the store (every type, help, buckets, quantiles), how a
// source's series follow its input (kept handles, removed series), and what it refuses
// (duplicates across sources, type conflicts) without touching what was there.
#include "vigil_plugin_text/publisher.hpp"
#include "vigil_plugin_text/exposition.hpp"

#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>

using vigil::Labels;
using vigil::MetricType;
using vigil::Status;
using vigil::plugin_text::Exposition;
using vigil::plugin_text::Publisher;
using vigil::plugin_text::PublishOptions;
using vigil::testing::FakeHost;
using vigil::testing::InstanceSettings;

namespace {

// A collector whose only job is to own a Publisher the test drives directly.
class PublishProbe final : public vigil::Collector {
 public:
  Status configure(const vigil::Config&) override {
    publisher = std::make_unique<Publisher>(host());
    return Status::ok();
  }
  Status collect(vigil::Emitter&) override { return Status::ok(); }
  std::unique_ptr<Publisher> publisher;
};

VIGIL_PLUGIN_DESCRIPTOR(probe_descriptor, "publish_probe", "1.0.0",
                        vigil::collector<PublishProbe>("Publishes what the test gives it"));

Publisher& publisher_of(vigil::testing::FakeInstance& inst) {
  auto* box = static_cast<vigil::detail::InstanceBox*>(inst.handle());
  auto* probe = dynamic_cast<PublishProbe*>(box->object.get());
  REQUIRE(probe != nullptr);
  return *probe->publisher;
}

Exposition parse(const std::string& text) {
  Exposition e;
  std::string error;
  INFO(text);
  bool ok = vigil::plugin_text::parse_prometheus(text, e, error);
  INFO(error);
  REQUIRE(ok);
  return e;
}

// A summary as an exporter sees it: quantile -> value, plus sum and count.
struct SummaryView {
  std::vector<std::pair<double, double>> quantiles;
  double sum = 0;
  uint64_t count = 0;
  bool found = false;
};

SummaryView read_summary(FakeHost& host, vigil::testing::FakeInstance& inst, const char* name) {
  struct Visitor {
    const char* name;
    SummaryView out;
  } v{name, {}};
  vigil_store_visitor visitor{};
  visitor.size = sizeof visitor;
  visitor.family = [](void*, const vigil_family_view*) { return 0; };
  visitor.series = [](void* user, const vigil_family_view* f, const vigil_series_view* s) {
    auto* self = static_cast<Visitor*>(user);
    if (std::string(f->name) != self->name) return 0;
    for (size_t i = 0; i < s->quantile_count; ++i)
      self->out.quantiles.emplace_back(s->quantiles[i], s->quantile_values[i]);
    self->out.sum = s->sum;
    self->out.count = s->count;
    self->out.found = true;
    return 0;
  };
  char buffer[256] = {0};
  vigil_error err{buffer, sizeof buffer};
  REQUIRE(host.api()->visit_store(inst.ctx(), &visitor, &v, &err) == VIGIL_OK);
  return v.out;
}

}  // namespace

TEST_CASE("publisher: every metric type lands in the store with its help and labels") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("a.prom",
                    parse("# HELP jobs_total Jobs run.\n"
                          "# TYPE jobs_total counter\n"
                          "jobs_total{queue=\"mail\"} 12\n"
                          "# TYPE temp gauge\n"
                          "temp 21.5\n"
                          "loose 7\n"
                          "# HELP lat Latency.\n"
                          "# TYPE lat histogram\n"
                          "lat_bucket{le=\"0.5\"} 3\n"
                          "lat_bucket{le=\"1\"} 5\n"
                          "lat_bucket{le=\"+Inf\"} 6\n"
                          "lat_sum 4.25\n"
                          "lat_count 6\n"
                          "# TYPE rpc summary\n"
                          "rpc{quantile=\"0.5\"} 0.1\n"
                          "rpc{quantile=\"0.9\"} 0.4\n"
                          "rpc_sum 9\n"
                          "rpc_count 30\n"),
                    PublishOptions{{}, true, {}, false, "Metric read from a.prom"})
              .to_string() == "ok");
  CHECK(host.value("jobs_total", {{"queue", "mail"}}) == 12);
  CHECK(host.family("jobs_total")->type == MetricType::counter);
  CHECK(host.family("jobs_total")->help == "Jobs run.");
  CHECK(host.value("temp") == 21.5);
  CHECK(host.family("temp")->help == "Metric read from a.prom");
  CHECK(host.family("loose")->type == MetricType::untyped);
  CHECK(host.value("loose") == 7);

  auto h = host.histogram("lat");
  CHECK(h.bounds == std::vector<double>{0.5, 1});
  CHECK(h.cumulative == std::vector<uint64_t>{3, 5});
  CHECK(h.sum == 4.25);
  CHECK(h.count == 6);

  SummaryView s = read_summary(host, inst, "rpc");
  REQUIRE(s.found);
  CHECK(s.quantiles == std::vector<std::pair<double, double>>{{0.5, 0.1}, {0.9, 0.4}});
  CHECK(s.sum == 9);
  CHECK(s.count == 30);
  CHECK(p.series_count("a.prom") == 5);
}

TEST_CASE(
    "publisher: a new version of a source keeps unchanged series' handles and removes "
    "series that are gone") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("src", parse("a{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n")).is_ok());
  uint64_t registrations = host.registrations();
  REQUIRE(p.publish("src", parse("a{x=\"1\"} 10\nb 30\n")).is_ok());
  CHECK(host.registrations() == registrations);  // nothing registered again
  CHECK(host.value("a", {{"x", "1"}}) == 10);
  CHECK(host.value("b") == 30);
  CHECK_FALSE(host.has("a", {{"x", "2"}}));
  CHECK(p.series_count("src") == 2);

  REQUIRE(p.publish("src", parse("a{x=\"3\"} 4\n")).is_ok());
  CHECK(host.registrations() == registrations + 1);
  CHECK(host.series("a").size() == 1);
  CHECK_FALSE(host.has("b"));

  p.remove("src");
  CHECK(host.series("a").empty());
  CHECK_FALSE(p.contains("src"));
}

TEST_CASE(
    "publisher: the same series again in the same order keep their handles, and the source's "
    "series stay known to the other sources") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("src", parse("a{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n")).is_ok());
  const uint64_t registrations = host.registrations();
  REQUIRE(p.publish("src", parse("a{x=\"1\"} 10\na{x=\"2\"} 20\nb 30\n")).is_ok());
  CHECK(host.registrations() == registrations);
  CHECK(host.value("a", {{"x", "1"}}) == 10);
  CHECK(host.value("a", {{"x", "2"}}) == 20);
  CHECK(host.value("b") == 30);

  // Another source still cannot expose them.
  Status s = p.publish("other", parse("b 5\n"));
  CHECK(s.to_string() == "invalid argument: line 1: series b is already exposed by src (line 3)");

  // Same series, another order; then one label value changed at its position.
  REQUIRE(p.publish("src", parse("b 4\na{x=\"2\"} 5\na{x=\"1\"} 6\n")).is_ok());
  CHECK(host.registrations() == registrations);
  CHECK(host.value("a", {{"x", "1"}}) == 6);
  CHECK(host.value("a", {{"x", "2"}}) == 5);
  CHECK(host.value("b") == 4);
  REQUIRE(p.publish("src", parse("b 7\na{x=\"3\"} 8\na{x=\"1\"} 9\n")).is_ok());
  CHECK(host.registrations() == registrations + 1);
  CHECK_FALSE(host.has("a", {{"x", "2"}}));
  CHECK(host.value("a", {{"x", "3"}}) == 8);
  CHECK(host.value("a", {{"x", "1"}}) == 9);
  CHECK(p.series_count("src") == 3);

  // A series that left the source can be taken by another one.
  REQUIRE(p.publish("src", parse("b 1\na{x=\"3\"} 1\na{x=\"1\"} 1\n")).is_ok());
  REQUIRE(p.publish("other", parse("a{x=\"2\"} 2\n")).is_ok());
  p.remove("src");
  CHECK_FALSE(host.has("b"));
  REQUIRE(p.publish("other", parse("a{x=\"2\"} 2\nb 5\n")).is_ok());
  CHECK(host.value("b") == 5);
}

TEST_CASE("publisher: refresh writes the values again, re-registering a series the host dropped") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  host.set_now_ms(1000);
  REQUIRE(p.publish("src", parse("a 1\n")).is_ok());
  REQUIRE(host.drop_series("a"));
  CHECK_FALSE(host.has("a"));
  host.set_now_ms(2000);
  REQUIRE(p.refresh("src").is_ok());
  CHECK(host.value("a") == 1);
  CHECK(host.series("a").at(0).timestamp_ms == 2000);
}

TEST_CASE(
    "publisher: a series another source already exposes is refused, and nothing of the "
    "refused input is written") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("a.prom", parse("shared{k=\"v\"} 1\n")).is_ok());
  REQUIRE(p.publish("b.prom", parse("mine 5\n")).is_ok());
  Status s = p.publish("b.prom", parse("mine 6\nother 1\nshared{k=\"v\"} 2\n"));
  CHECK(s.to_string() ==
        R"(invalid argument: line 3: series shared{k="v"} is already exposed by a.prom (line 1))");
  CHECK(host.value("shared", {{"k", "v"}}) == 1);
  CHECK(host.value("mine") == 5);  // b.prom's previous version stays until the caller drops it
  CHECK_FALSE(host.has("other"));
  CHECK(p.series_count("b.prom") == 1);
}

TEST_CASE("publisher: a family the store refuses fails the publish with the line") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("a.prom", parse("# TYPE jobs gauge\njobs 1\n")).is_ok());
  Status s = p.publish("b.prom", parse("x 1\n# TYPE jobs counter\njobs{queue=\"b\"} 2\n"));
  CHECK_FALSE(s.is_ok());
  CHECK(s.message().rfind("line 2: the host refused counter jobs: ", 0) == 0);
  CHECK_FALSE(p.contains("b.prom"));
  CHECK_FALSE(host.has("x"));
}

TEST_CASE("publisher: extra labels, with and without honor_labels") {
  FakeHost host;
  auto inst = host.create(probe_descriptor(), {}, InstanceSettings{"scrape"});
  Publisher& p = publisher_of(inst);
  PublishOptions rename;
  rename.extra = {{"target", "http://a/metrics"}};
  rename.honor_labels = false;
  rename.protected_names = {"job"};
  REQUIRE(
      p.publish("a", parse("up_like{target=\"inner\",job=\"app\",x=\"1\"} 1\nplain 2\n"), rename)
          .is_ok());
  CHECK(host.value("up_like", {{"exported_target", "inner"},
                               {"exported_job", "app"},
                               {"target", "http://a/metrics"},
                               {"x", "1"}}) == 1);
  CHECK(host.value("plain", {{"target", "http://a/metrics"}}) == 2);

  PublishOptions honor = rename;
  honor.honor_labels = true;
  REQUIRE(p.publish("b", parse("other{target=\"inner\",job=\"app\"} 3\n"), honor).is_ok());
  CHECK(host.value("other", {{"target", "inner"}, {"job", "app"}}) == 3);
}

TEST_CASE("publisher: two series that become one after relabelling are refused") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  PublishOptions honor;
  honor.extra = {{"target", "t"}};
  honor.honor_labels = true;
  Status s = p.publish("a", parse("m{target=\"t\"} 1\nm 2\n"), honor);
  CHECK(
      s.to_string() ==
      R"(invalid argument: line 2: series m{target="t"} appears twice after relabelling (also on line 1))");
  CHECK_FALSE(host.has("m", {{"target", "t"}}));
}

TEST_CASE("publisher: timestamps are written only when honored") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  host.set_now_ms(5000);
  REQUIRE(p.publish("a", parse("t 1 1234\n")).is_ok());
  CHECK(host.series("t").at(0).timestamp_ms == 5000);
  CHECK_FALSE(host.series("t").at(0).explicit_timestamp);
  PublishOptions honor;
  honor.honor_timestamps = true;
  REQUIRE(p.publish("a", parse("t 1 1234\n"), honor).is_ok());
  CHECK(host.series("t").at(0).timestamp_ms == 1234);
  CHECK(host.series("t").at(0).explicit_timestamp);
}

TEST_CASE("publisher: instance labels from the config are added by the host") {
  FakeHost host;
  InstanceSettings settings{"tf"};
  settings.labels = {{"env", "prod"}};
  auto inst = host.create(probe_descriptor(), {}, settings);
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish("a", parse("m{x=\"1\"} 1\nn{env=\"dev\"} 2\n")).is_ok());
  CHECK(host.value("m", {{"x", "1"}, {"env", "prod"}}) == 1);
  CHECK(host.value("n", {{"env", "dev"}}) == 2);  // the series' own label wins
}

// ---- publish_prometheus: a new version of a text input, read the fast way when it can be ----

namespace {

vigil::plugin_text::ParseOptions file_options() {
  vigil::plugin_text::ParseOptions o;
  o.allow_timestamps = false;
  o.require_final_newline = true;
  return o;
}

}  // namespace

TEST_CASE(
    "publisher: a text input rewritten with new values keeps every handle and serves every new "
    "value, whatever their lengths") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  const auto version = [](const std::string& a1, const std::string& a2, const std::string& b,
                          const std::string& buckets, const std::string& q) {
    return "# HELP a Things.\n"
           "# TYPE a gauge\n"
           "a{x=\"1\"} " +
           a1 +
           "\n"
           "\n"
           "  a{x=\"2\"}\t" +
           a2 +
           "\r\n"
           "# a comment\n"
           "b " +
           b +
           "\n"
           "# TYPE lat histogram\n"
           "lat_bucket{le=\"1\"} " +
           buckets +
           "\n"
           "lat_bucket{le=\"+Inf\"} " +
           buckets +
           "\n"
           "lat_sum 2.5\n"
           "lat_count " +
           buckets +
           "\n"
           "# TYPE rpc summary\n"
           "rpc{quantile=\"0.5\"} " +
           q +
           "\n"
           "rpc_count 3\n";
  };
  REQUIRE(p.publish_prometheus("f", version("1", "2", "3", "4", "0.5"), file_options()).is_ok());
  const uint64_t registrations = host.registrations();
  CHECK(host.value("a", {{"x", "1"}}) == 1);
  CHECK(host.value("a", {{"x", "2"}}) == 2);

  for (int round = 0; round < 3; ++round) {
    const std::string n = std::to_string(round);
    REQUIRE(p.publish_prometheus("f", version("1e3", "-0.125", "12345678.5" + n, "1" + n, "+Inf"),
                                 file_options())
                .is_ok());
    CHECK(host.value("a", {{"x", "1"}}) == 1000);
    CHECK(host.value("a", {{"x", "2"}}) == -0.125);
    CHECK(host.value("b") == std::stod("12345678.5" + n));
    CHECK(host.histogram("lat").cumulative == std::vector<uint64_t>{10u + round});
    CHECK(host.histogram("lat").count == 10u + round);
    CHECK(read_summary(host, inst, "rpc").quantiles.at(0).second == HUGE_VAL);
    REQUIRE(p.publish_prometheus("f", version("7", "8", "9", "5", "NaN"), file_options()).is_ok());
    CHECK(host.value("a", {{"x", "1"}}) == 7);
    CHECK(host.value("a", {{"x", "2"}}) == 8);
    CHECK(host.value("b") == 9);
    CHECK(host.histogram("lat").count == 5);
    CHECK(std::isnan(read_summary(host, inst, "rpc").quantiles.at(0).second));
  }
  CHECK(host.registrations() == registrations);
  CHECK(p.series_count("f") == 5);
}

TEST_CASE(
    "publisher: a text input whose series moved, went or came between versions is published "
    "series by series") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish_prometheus("f", "m{i=\"1\"} 1\nm{i=\"2\"} 2\nm{i=\"3\"} 3\n", file_options())
              .is_ok());
  const uint64_t registrations = host.registrations();

  // Order changed: each value still lands on its own series.
  REQUIRE(p.publish_prometheus("f", "m{i=\"3\"} 30\nm{i=\"1\"} 10\nm{i=\"2\"} 20\n", file_options())
              .is_ok());
  CHECK(host.value("m", {{"i", "1"}}) == 10);
  CHECK(host.value("m", {{"i", "2"}}) == 20);
  CHECK(host.value("m", {{"i", "3"}}) == 30);
  CHECK(host.registrations() == registrations);

  // Removed in the middle, then the next version the same but for its values.
  REQUIRE(p.publish_prometheus("f", "m{i=\"3\"} 31\nm{i=\"2\"} 21\n", file_options()).is_ok());
  CHECK_FALSE(host.has("m", {{"i", "1"}}));
  REQUIRE(p.publish_prometheus("f", "m{i=\"3\"} 32\nm{i=\"2\"} 22\n", file_options()).is_ok());
  CHECK(host.value("m", {{"i", "3"}}) == 32);
  CHECK(host.value("m", {{"i", "2"}}) == 22);

  // Added in the middle, and a label value of the same length changed in place.
  REQUIRE(p.publish_prometheus("f", "m{i=\"3\"} 33\nm{i=\"4\"} 43\nm{i=\"5\"} 53\n", file_options())
              .is_ok());
  CHECK(host.value("m", {{"i", "3"}}) == 33);
  CHECK(host.value("m", {{"i", "4"}}) == 43);
  CHECK(host.value("m", {{"i", "5"}}) == 53);
  CHECK_FALSE(host.has("m", {{"i", "2"}}));
  REQUIRE(p.publish_prometheus("f", "m{i=\"3\"} 34\nm{i=\"4\"} 44\nm{i=\"5\"} 54\n", file_options())
              .is_ok());
  CHECK(host.value("m", {{"i", "4"}}) == 44);
  CHECK(host.series("m").size() == 3);

  // A line that only differs in its blanks, or a value now followed by a timestamp.
  REQUIRE(
      p.publish_prometheus("f", "m{i=\"3\"}   35\nm{i=\"4\"} 45\nm{i=\"5\"} 55\n", file_options())
          .is_ok());
  CHECK(host.value("m", {{"i", "3"}}) == 35);
  Status s = p.publish_prometheus("f", "m{i=\"3\"} 36\nm{i=\"4\"} 46 1000\nm{i=\"5\"} 56\n",
                                  file_options());
  CHECK(s.to_string() ==
        "invalid argument: line 2: timestamps are not supported here, found \"1000\" after the "
        "value; remove the timestamp (the sample is taken when read)");
}

TEST_CASE(
    "publisher: a new version of a text input with a bad value or histogram is refused with "
    "the full parse's error and changes nothing") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  const std::string good =
      "# TYPE lat histogram\n"
      "lat_bucket{le=\"1\"} 2\n"
      "lat_bucket{le=\"+Inf\"} 3\n"
      "lat_count 3\n"
      "g{k=\"v\"} 1\n";
  REQUIRE(p.publish_prometheus("f", good, file_options()).is_ok());

  Status s = p.publish_prometheus("f",
                                  "# TYPE lat histogram\n"
                                  "lat_bucket{le=\"1\"} 5\n"
                                  "lat_bucket{le=\"+Inf\"} 4\n"
                                  "lat_count 4\n"
                                  "g{k=\"v\"} 9\n",
                                  file_options());
  CHECK(s.to_string() ==
        "invalid argument: line 3: bucket le=\"+Inf\" of lat counts 4, fewer than bucket "
        "le=\"1\" (5 on line 2); expected cumulative counts");
  s = p.publish_prometheus("f",
                           "# TYPE lat histogram\n"
                           "lat_bucket{le=\"1\"} 2\n"
                           "lat_bucket{le=\"+Inf\"} 3\n"
                           "lat_count 3\n"
                           "g{k=\"v\"} nine\n",
                           file_options());
  CHECK(s.to_string() ==
        "invalid argument: line 5: expected a value after the labels, found \"nine\"");
  s = p.publish_prometheus("f", good.substr(0, good.size() - 1), file_options());
  CHECK(s.to_string() ==
        "invalid argument: line 5: the last line does not end with a newline; the file may be in "
        "the middle of being written (write it to a temporary file and rename it into place)");

  // Nothing of the refused versions was written, and what is kept is the good version.
  CHECK(host.value("g", {{"k", "v"}}) == 1);
  CHECK(host.histogram("lat").cumulative == std::vector<uint64_t>{2});
  REQUIRE(p.refresh("f").is_ok());
  CHECK(host.value("g", {{"k", "v"}}) == 1);
  CHECK(host.histogram("lat").count == 3);

  // The next good version is read against the kept one.
  REQUIRE(p.publish_prometheus("f",
                               "# TYPE lat histogram\n"
                               "lat_bucket{le=\"1\"} 20\n"
                               "lat_bucket{le=\"+Inf\"} 30\n"
                               "lat_count 30\n"
                               "g{k=\"v\"} 10\n",
                               file_options())
              .is_ok());
  CHECK(host.value("g", {{"k", "v"}}) == 10);
  CHECK(host.histogram("lat").cumulative == std::vector<uint64_t>{20});
  CHECK(host.histogram("lat").count == 30);
}

TEST_CASE(
    "publisher: a text input another source's series joined is refused, also when only its "
    "values changed") {
  FakeHost host;
  auto inst = host.create(probe_descriptor());
  Publisher& p = publisher_of(inst);
  REQUIRE(p.publish_prometheus("a", "x 1\n", file_options()).is_ok());
  CHECK(p.publish_prometheus("b", "y 1\nx 2\n", file_options()).to_string() ==
        "invalid argument: line 2: series x is already exposed by a (line 1)");
  REQUIRE(p.publish_prometheus("b", "y 1\n", file_options()).is_ok());
  REQUIRE(p.publish_prometheus("a", "x 3\n", file_options()).is_ok());
  CHECK(host.value("x") == 3);
  CHECK(host.value("y") == 1);
  // Options that change (e.g. relabelling) start the source over, values included.
  PublishOptions extra;
  extra.extra = {{"job", "j"}};
  REQUIRE(p.publish_prometheus("a", "x 4\n", file_options(), extra).is_ok());
  CHECK(host.value("x", {{"job", "j"}}) == 4);
  CHECK_FALSE(host.has("x"));
}
