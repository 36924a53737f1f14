// Config: typed option accessors over what the host validated, including defaults, durations,
// lists, and errors that name the option when it is read the wrong way.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

using vigil::testing::FakeHost;

TEST_CASE("options given by the user are read with their types") {
  FakeHost host;
  vigil::testing::InstanceSettings settings("probe-1");
  settings.interval = std::chrono::seconds(15);
  settings.timeout = std::chrono::seconds(3);
  auto inst = host.create(sdk_test::probe_plugin(),
                          {{"path", "/var/log/syslog"},
                           {"count", "12"},
                           {"ratio", "0.5"},
                           {"verbose", "true"},
                           {"every", "250ms"},
                           {"tags", R"(["x", "y", "z"])"},
                           {"extra", R"({"a": [1, 2], "b": "c"})"}},
                          settings);
  REQUIRE(sdk_test::last_config);
  const vigil::Config& cfg = *sdk_test::last_config;
  CHECK(cfg.string("path") == "/var/log/syslog");
  CHECK(cfg.integer("count") == 12);
  CHECK(cfg.number("ratio") == 0.5);
  CHECK(cfg.boolean("verbose"));
  CHECK(cfg.duration("every") == std::chrono::milliseconds(250));
  CHECK(cfg.strings("tags") == std::vector<std::string>{"x", "y", "z"});
  CHECK(cfg.json("extra") == R"({"a":[1,2],"b":"c"})");
  CHECK(cfg.instance_name() == "probe-1");
  CHECK(cfg.interval() == std::chrono::seconds(15));
  CHECK(cfg.timeout() == std::chrono::seconds(3));
}

TEST_CASE("defaults apply when the user leaves an option out") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/tmp"}});
  const vigil::Config& cfg = *sdk_test::last_config;
  CHECK(cfg.integer("count") == 3);
  CHECK(cfg.number("ratio") == 0.25);
  CHECK_FALSE(cfg.boolean("verbose"));
  CHECK(cfg.duration("every") == std::chrono::seconds(90));
  CHECK(cfg.strings("tags") == std::vector<std::string>{"a", "b"});
  CHECK(cfg.string("label") == "quoted");
  CHECK(cfg.is_set("count"));
}

TEST_CASE("an option with neither value nor default reads empty and is not set") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/tmp"}});
  const vigil::Config& cfg = *sdk_test::last_config;
  CHECK_FALSE(cfg.is_set("unset"));
  CHECK(cfg.string("unset").empty());
  CHECK_FALSE(cfg.is_set("extra"));
  CHECK(cfg.json("extra").empty());
}

TEST_CASE("durations accept units, compound forms and plain seconds") {
  FakeHost host;
  for (auto [text, ms] : std::vector<std::pair<std::string, int64_t>>{
           {"10s", 10000}, {"1.5m", 90000}, {"1h30m", 5400000}, {"2", 2000}, {"0.25", 250}}) {
    auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}, {"every", text}});
    CHECK(sdk_test::last_config->duration("every").count() == ms);
  }
}

TEST_CASE("an integer option can also be read as a number") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}, {"count", "7"}});
  CHECK(sdk_test::last_config->number("count") == 7.0);
}

TEST_CASE("reading an option with the wrong accessor names the option and both types") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/tmp"}});
  const vigil::Config& cfg = *sdk_test::last_config;
  CHECK_THROWS_WITH(cfg.integer("path"), Catch::Contains("\"path\"") && Catch::Contains("string") &&
                                             Catch::Contains("integer()"));
  CHECK_THROWS_WITH(cfg.string("every"),
                    Catch::Contains("\"every\"") && Catch::Contains("duration()"));
  CHECK_THROWS_AS(cfg.boolean("tags"), vigil::Error);
  try {
    (void)cfg.duration("count");
    FAIL("expected a vigil::Error");
  } catch (const vigil::Error& e) {
    CHECK(e.code() == VIGIL_ERR_INVALID_ARGUMENT);
  }
}

TEST_CASE("reading an undeclared option lists the declared ones") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/tmp"}});
  CHECK_THROWS_WITH(sdk_test::last_config->string("pth"),
                    Catch::Contains("\"pth\"") && Catch::Contains("\"path\""));
}

TEST_CASE("a type error in configure() fails create() naming the option") {
  FakeHost host;
  auto inst = host.try_create(sdk_test::thrower_plugin(), {{"mode", "configure_bad_option"}});
  CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(inst.status().message(), Catch::Contains("\"mode\""));
}

TEST_CASE("the fake host refuses options the real host would refuse") {
  FakeHost host;
  SECTION("missing required option") {
    auto inst = host.try_create(sdk_test::probe_plugin(), {});
    CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
    CHECK_THAT(inst.status().message(), Catch::Contains("missing required option \"path\""));
  }
  SECTION("unknown option") {
    auto inst = host.try_create(sdk_test::probe_plugin(), {{"path", "/"}, {"cuont", "1"}});
    CHECK_THAT(inst.status().message(),
               Catch::Contains("unknown option \"cuont\"") && Catch::Contains("count"));
  }
  SECTION("wrong type") {
    auto inst = host.try_create(sdk_test::probe_plugin(), {{"path", "/"}, {"count", "many"}});
    CHECK_THAT(inst.status().message(),
               Catch::Contains("\"count\"") && Catch::Contains("expected an integer"));
    auto list = host.try_create(sdk_test::probe_plugin(), {{"path", "/"}, {"tags", "[1]"}});
    CHECK_THAT(list.status().message(), Catch::Contains("expected an array of strings"));
    auto dur = host.try_create(sdk_test::probe_plugin(), {{"path", "/"}, {"every", "soon"}});
    CHECK_THAT(dur.status().message(), Catch::Contains("expected a duration"));
  }
  CHECK_THROWS_AS(host.create(sdk_test::probe_plugin(), {}), vigil::Error);
}
