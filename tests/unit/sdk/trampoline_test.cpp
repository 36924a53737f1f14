// Exceptions and statuses crossing the C boundary: whatever a plugin throws or returns reaches the
// host as a status plus a readable message, and nothing escapes.
#include "test_plugins.hpp"

#include <vigil/testing/fake_host.hpp>

#include <catch2/catch.hpp>

#include <cstring>

using vigil::testing::FakeHost;

TEST_CASE("an exception thrown in collect() becomes INTERNAL with its message") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "std"}});
  vigil::Status s = inst.collect();
  CHECK(s.code() == VIGIL_ERR_INTERNAL);
  CHECK_THAT(s.message(), Catch::Contains("disk on fire"));
}

TEST_CASE("an exception of a non-standard type still becomes INTERNAL") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "int"}});
  vigil::Status s = inst.collect();
  CHECK(s.code() == VIGIL_ERR_INTERNAL);
  CHECK_THAT(s.message(), Catch::Contains("not derived from std::exception"));
}

TEST_CASE("a vigil::Error keeps its own status code") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "vigil"}});
  vigil::Status s = inst.collect();
  CHECK(s.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK(s.message() == "sensor offline");
}

TEST_CASE("a returned error status passes through with its code and message") {
  FakeHost host;
  auto unavailable = host.create(sdk_test::thrower_plugin(), {{"mode", "status"}});
  vigil::Status s = unavailable.collect();
  CHECK(s.code() == VIGIL_ERR_UNAVAILABLE);
  CHECK(s.message() == "cannot read /proc/nope");

  auto timeout = host.create(sdk_test::thrower_plugin(), {{"mode", "timeout"}}, {"second"});
  CHECK(timeout.collect().code() == VIGIL_ERR_TIMEOUT);

  auto fine = host.create(sdk_test::thrower_plugin(), {}, {"third"});
  CHECK(fine.collect().is_ok());
  CHECK(host.value("thrower_ok") == 1);
}

TEST_CASE("a message longer than the host's buffer is truncated, not overflowed") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "long"}});
  const vigil_plugin_desc* desc = sdk_test::thrower_plugin();
  char buffer[32];
  std::memset(buffer, '#', sizeof buffer);
  char guard_after[8];
  std::memset(guard_after, '#', sizeof guard_after);
  vigil_error err{buffer, 16};
  CHECK(desc->collector->collect(inst.handle(), &err) == VIGIL_ERR_INTERNAL);
  CHECK(std::strlen(buffer) == 15);
  CHECK(buffer[16] == '#');  // nothing written past capacity
}

TEST_CASE("truncation never splits a UTF-8 character") {
  char buffer[8];
  // "ab" + 3 x "é" (2 bytes each) = 8 bytes; 7 fit, so the last é must go entirely.
  vigil::detail::copy_to_buffer(buffer, sizeof buffer, "ab\xc3\xa9\xc3\xa9\xc3\xa9");
  CHECK(std::string(buffer) == "ab\xc3\xa9\xc3\xa9");
  vigil::detail::copy_to_buffer(buffer, sizeof buffer, "abcdef", "\xe2\x82\xac");  // €: 3 bytes
  CHECK(std::string(buffer) == "abcdef");
  vigil::detail::copy_to_buffer(buffer, 1, "abc");
  CHECK(std::string(buffer).empty());
}

TEST_CASE("a null error buffer is tolerated") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "std"}});
  CHECK(sdk_test::thrower_plugin()->collector->collect(inst.handle(), nullptr) ==
        VIGIL_ERR_INTERNAL);
}

TEST_CASE("a failing configure() destroys the object and reports its status") {
  FakeHost host;
  int before = sdk_test::destroyed;
  auto inst = host.try_create(sdk_test::thrower_plugin(), {{"mode", "configure_status"}});
  CHECK_FALSE(inst);
  CHECK(inst.status().code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(inst.status().message(), Catch::Contains("path must be absolute"));
  CHECK(sdk_test::destroyed == before + 1);
  CHECK_FALSE(inst.collect().is_ok());
}

TEST_CASE("an exception in configure() fails create() with its message") {
  FakeHost host;
  int before = sdk_test::destroyed;
  auto inst = host.try_create(sdk_test::thrower_plugin(), {{"mode", "configure_throw"}});
  CHECK(inst.status().code() == VIGIL_ERR_INTERNAL);
  CHECK_THAT(inst.status().message(), Catch::Contains("cannot open /dev/nothing"));
  CHECK(sdk_test::destroyed == before + 1);
  CHECK_THROWS_WITH(host.create(sdk_test::thrower_plugin(), {{"mode", "configure_throw"}}),
                    Catch::Contains("cannot open /dev/nothing"));
}

TEST_CASE("destroying an instance frees the plugin object once") {
  FakeHost host;
  int before = sdk_test::destroyed;
  {
    auto inst = host.create(sdk_test::thrower_plugin());
    auto moved = std::move(inst);
    CHECK(moved.collect().is_ok());
  }
  CHECK(sdk_test::destroyed == before + 1);
}

TEST_CASE("a metric name the host refuses fails collect() with the host's reason") {
  FakeHost host;
  auto inst = host.create(sdk_test::thrower_plugin(), {{"mode", "bad_name"}});
  vigil::Status s = inst.collect();
  CHECK(s.code() == VIGIL_ERR_INVALID_ARGUMENT);
  CHECK_THAT(s.message(), Catch::Contains("bad-name") && Catch::Contains("\"-\""));
}

TEST_CASE("VIGIL_PLUGIN exports a descriptor for this ABI") {
  const vigil_plugin_desc* d = vigil_plugin_entry();
  REQUIRE(d != nullptr);
  CHECK(d == vigil_plugin_entry());  // built once, static storage
  CHECK(d->size == sizeof(vigil_plugin_desc));
  CHECK(d->abi_version == VIGIL_ABI_VERSION);
  CHECK(std::string(d->name) == "entry_test");
  CHECK(std::string(d->version) == "2.3.4");
  REQUIRE(d->collector != nullptr);
  CHECK(d->collector->size == sizeof(vigil_collector_desc));
  CHECK(std::string(d->collector->description) == "Entry point test.");
  CHECK(d->health_check == nullptr);
  CHECK(d->exporter == nullptr);
  CHECK(d->notifier == nullptr);
  REQUIRE(d->option_count == 1);
  CHECK(d->options[0].size == sizeof(vigil_option_desc));
  CHECK(std::string(d->options[0].name) == "path");
  CHECK(d->options[0].type == VIGIL_OPT_STRING);
  CHECK(d->options[0].required == 1);
  CHECK(d->options[0].default_value == nullptr);
}
