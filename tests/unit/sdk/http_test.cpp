// HTTP routes and store visits through the fake host: handlers see the request, write the
// response, and their failures and exceptions become 500s with the message.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

using vigil::testing::FakeHost;
using vigil::testing::FakeRequest;

TEST_CASE("a mounted handler sees method, target, headers and body") {
  FakeHost host;
  auto inst = host.create(sdk_test::web_plugin());
  CHECK(host.routes().size() == 5);
  FakeRequest req;
  req.target = "/hello?x=1";
  req.headers = {{"x-who", "ops"}};
  req.body = "ping";
  auto resp = host.request(req);
  CHECK(resp.result.is_ok());
  CHECK(resp.status == 201);
  CHECK(resp.header("content-type") == std::optional<std::string>("text/plain"));
  CHECK(resp.body == "GET /hello?x=1 from ops: ping");
}

TEST_CASE("a handler's error status becomes a 500 with the message") {
  FakeHost host;
  auto inst = host.create(sdk_test::web_plugin());
  auto resp = host.request("GET", "/fail");
  CHECK(resp.status == 500);
  CHECK(resp.body == "backend down");
  CHECK(resp.result.code() == VIGIL_ERR_UNAVAILABLE);
}

TEST_CASE("a handler's exception is caught and becomes a 500") {
  FakeHost host;
  auto inst = host.create(sdk_test::web_plugin());
  auto resp = host.request("GET", "/throw");
  CHECK(resp.status == 500);
  CHECK_THAT(resp.body, Catch::Contains("handler bug"));
  CHECK(resp.result.code() == VIGIL_ERR_INTERNAL);
}

TEST_CASE("a handler stops writing once the client went away") {
  FakeHost host;
  auto inst = host.create(sdk_test::web_plugin());
  FakeRequest req;
  req.target = "/stream";
  req.client_gone_after = 55;
  auto resp = host.request(req);
  CHECK(resp.body.size() == 55);
  FakeRequest gone;
  gone.target = "/stream";
  gone.cancelled = true;
  CHECK(host.request(gone).body.empty());
}

TEST_CASE("unknown routes are 404 and routes go away with their instance") {
  FakeHost host;
  {
    auto inst = host.create(sdk_test::web_plugin());
    CHECK(host.request("GET", "/nothing").status == 404);
    CHECK(host.request("POST", "/hello").status == 404);
  }
  CHECK(host.routes().empty());
  CHECK(host.request("GET", "/hello").status == 404);
}

TEST_CASE("a second instance cannot mount a path that is taken") {
  FakeHost host;
  auto first = host.create(sdk_test::web_plugin(), {}, {"first"});
  auto second = host.try_create(sdk_test::web_plugin(), {}, {"second"});
  CHECK(second.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(second.status().message(), Catch::Contains("/hello") && Catch::Contains("\"first\""));
  CHECK(host.routes().size() == 5);
}

TEST_CASE("mounting outside configure() is refused") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}});
  vigil::Host h(host.api(), inst.ctx());
  CHECK_THROWS_WITH(
      h.mount("GET", "/late",
              [](const vigil::HttpRequest&, vigil::HttpResponse&) { return vigil::Status::ok(); }),
      Catch::Contains("outside configure()"));
}

TEST_CASE("an exporter visits the store: families sorted, series with label text") {
  FakeHost host;
  auto meter = host.create(sdk_test::meter_plugin(), {{"cpus", "2"}}, {"meter"});
  auto web = host.create(sdk_test::web_plugin(), {}, {"web"});
  REQUIRE(meter.collect().is_ok());
  auto resp = host.request("GET", "/metrics");
  REQUIRE(resp.result.is_ok());
  CHECK_THAT(resp.body, Catch::Contains("# meter_cpu_seconds_total 2\n"
                                        "meter_cpu_seconds_total{cpu=\"0\"} 10.000000\n"
                                        "meter_cpu_seconds_total{cpu=\"1\"} 11.000000\n"));
  CHECK(resp.body.find("meter_cpu_seconds_total") < resp.body.find("meter_runs"));
}

TEST_CASE("an exception in a store visitor stops the visit and reaches the handler") {
  FakeHost host;
  auto web = host.create(sdk_test::web_plugin());
  vigil::Host h(host.api(), web.ctx());
  h.gauge("web_hits").set(3);
  auto resp = host.request("GET", "/metrics?skip");
  CHECK(resp.status == 500);
  CHECK_THAT(resp.body, Catch::Contains("visitor refused web_hits"));
}
