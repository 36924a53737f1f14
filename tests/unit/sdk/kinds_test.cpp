// Plugins providing one or several kinds: collector + health check in one class, notifiers,
// push and pull exporters.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

using vigil::testing::FakeHost;

TEST_CASE("one class provides a collector and a health check") {
  const vigil_plugin_desc* d = sdk_test::duo_plugin();
  REQUIRE(d->collector != nullptr);
  REQUIRE(d->health_check != nullptr);
  CHECK(std::string(d->description) == "Measures a level and checks it.");
  CHECK(std::string(d->collector->description) == "Writes duo_level.");
  CHECK(std::string(d->health_check->description) == "Warns above the limit.");
  CHECK(d->exporter == nullptr);

  FakeHost host;
  auto inst = host.create(d, {{"limit", "60"}});
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_OK);
  REQUIRE(inst.collect().is_ok());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("duo_level") == 80);
  REQUIRE(inst.check().is_ok());
  CHECK(inst.health().status == VIGIL_HEALTH_WARNING);
  CHECK(inst.health().message == "level 80 above 60");
}

TEST_CASE("a notifier sees every field and answers retryable or permanent") {
  FakeHost host;
  auto inst = host.create(sdk_test::pager_plugin());
  vigil::Notification n;
  n.idempotency_key = "k-1";
  n.receiver = "oncall";
  n.status = "firing";
  n.group_key = "{}:{alertname=\"DiskFull\"}";
  n.payload_json = R"({"alerts":[]})";
  n.escalation_step = 1;
  n.attempt = 1;
  vigil::Status first = inst.notify(n);
  CHECK(first.code() == VIGIL_ERR_RETRYABLE);
  CHECK(first.message() == "pager gateway busy");
  n.attempt = 2;
  CHECK(inst.notify(n).is_ok());
  CHECK(host.logged("delivering k-1 to oncall (firing, step 1, attempt 2) {\"alerts\":[]}"));
  n.receiver = "nowhere";
  CHECK(inst.notify(n).code() == VIGIL_ERR_PERMANENT);
}

TEST_CASE("only exporter callbacks the class overrides are handed to the host") {
  const vigil_plugin_desc* pull = sdk_test::web_plugin();
  REQUIRE(pull->exporter != nullptr);
  CHECK(pull->exporter->push == nullptr);
  CHECK(pull->exporter->flush == nullptr);
  const vigil_plugin_desc* push = sdk_test::pusher_plugin();
  REQUIRE(push->exporter != nullptr);
  CHECK(push->exporter->push != nullptr);
  CHECK(push->exporter->flush != nullptr);

  FakeHost host;
  auto inst = host.create(pull);
  CHECK_FALSE(inst.push().is_ok());  // nothing to call: the fake host says so
}

TEST_CASE("descriptors carry the option table with sizes, types and defaults") {
  const vigil_plugin_desc* d = sdk_test::probe_plugin();
  REQUIRE(d->option_count == 9);
  CHECK(d->options[0].size == sizeof(vigil_option_desc));
  CHECK(std::string(d->options[1].name) == "count");
  CHECK(d->options[1].type == VIGIL_OPT_INT);
  CHECK(std::string(d->options[1].default_value) == "3");
  CHECK(d->options[4].type == VIGIL_OPT_DURATION);
  CHECK(d->options[5].type == VIGIL_OPT_STRING_LIST);
  CHECK(d->options[6].type == VIGIL_OPT_JSON);
  CHECK(d->options[6].default_value == nullptr);
  CHECK(d->options[0].required == 1);
  CHECK(d->options[1].required == 0);
}
