// Compatibility with a 1.0 host, whose services table ends before unregister_series: the SDK must
// check the slot is inside the table before calling it, and degrade to letting series go stale.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

using vigil::testing::FakeHost;

TEST_CASE("on a 1.1 host, unregister removes the series at once") {
  FakeHost host;
  auto inst = host.create(sdk_test::handles_plugin());
  CHECK(host.logged("can unregister: yes"));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.has("disk_free_bytes", {{"disk", "sdb"}}));
  CHECK(host.has("proc_up", {{"pid", "7"}}));
  REQUIRE(inst.collect().is_ok());  // second run unregisters sdb and forgets proc_up
  CHECK(host.value("disk_free_bytes", {{"disk", "sda"}}) == 2000);
  CHECK_FALSE(host.has("disk_free_bytes", {{"disk", "sdb"}}));
  CHECK_FALSE(host.has("proc_up", {{"pid", "7"}}));
  CHECK(host.unregister_calls() == 2);
}

TEST_CASE("on a 1.0 host, unregister is a no-op and nothing crashes") {
  FakeHost host(FakeHost::api_size_1_0);
  REQUIRE(host.api()->size < sizeof(vigil_host_api));
  REQUIRE(VIGIL_ABI_VERSION_MINOR(host.api()->abi_version) == 0);
  auto inst = host.create(sdk_test::handles_plugin());
  CHECK(host.logged("can unregister: no"));
  REQUIRE(inst.collect().is_ok());
  REQUIRE(inst.collect().is_ok());
  REQUIRE(inst.collect().is_ok());
  CHECK(host.unregister_calls() == 0);  // the slot pointer is there, but outside the table
  CHECK(host.value("disk_free_bytes", {{"disk", "sda"}}) == 3000);
  // The series were not removed; the host lets them go stale instead.
  CHECK(host.has("disk_free_bytes", {{"disk", "sdb"}}));
  CHECK(host.has("proc_up", {{"pid", "7"}}));
}

TEST_CASE("a gauge written after unregister registers its series again") {
  FakeHost host;
  auto inst = host.create(sdk_test::probe_plugin(), {{"path", "/"}});
  vigil::Host h(host.api(), inst.ctx());
  vigil::Gauge g = h.gauge("temp_celsius", {{"zone", "0"}});
  REQUIRE(g.set(40));
  h.unregister(g);
  CHECK_FALSE(host.has("temp_celsius", {{"zone", "0"}}));
  REQUIRE(g.set(41));
  CHECK(host.value("temp_celsius", {{"zone", "0"}}) == 41);
}

TEST_CASE("a plugin built for a newer minor ABI is refused by the fake host too") {
  vigil_plugin_desc newer = *sdk_test::probe_plugin();
  newer.abi_version = VIGIL_MAKE_ABI_VERSION(VIGIL_ABI_MAJOR, VIGIL_ABI_MINOR + 1);
  FakeHost host;
  auto inst = host.try_create(&newer, {{"path", "/"}});
  CHECK_FALSE(inst);
  CHECK_THAT(inst.status().message(), Catch::Contains("built for ABI"));
}
