// collector_uptime's helpers against fixture text: the boot time from procfs' stat file, the
// clocksource lists from sysfs, and the local time zone under a given TZ.
#include "uptime.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "tz_guard.hpp"

#include "files.hpp"

using vigil::collector_uptime::local_time_zone;
using vigil::collector_uptime::parse_boot_time;
using vigil::collector_uptime::parse_clocksource_list;
using vigil::testing::read_fixture;

TEST_CASE("the boot time is the btime line of the stat file") {
  double boot = 0;
  std::string error;
  REQUIRE(parse_boot_time(read_fixture("typical/proc/stat"), boot, error));
  CHECK(boot == 1700000000.0);
}

TEST_CASE("a stat file without btime, or with a bad one, is reported with the line") {
  double boot = 0;
  std::string error;
  CHECK_FALSE(parse_boot_time(read_fixture("no_btime/proc/stat"), boot, error));
  CHECK_THAT(error, Catch::Contains("expected a 'btime SECONDS' line"));

  CHECK_FALSE(parse_boot_time("cpu 1 2 3\nbtime soon\n", boot, error));
  CHECK_THAT(error, Catch::Contains("line 2") && Catch::Contains("'btime soon'"));

  // A longer key that merely starts with "btime" is not the boot time.
  CHECK_FALSE(parse_boot_time("btimes 12\n", boot, error));
}

TEST_CASE("a clocksource list splits on spaces and ignores the trailing newline") {
  CHECK(parse_clocksource_list("tsc hpet acpi_pm \n") ==
        std::vector<std::string>{"tsc", "hpet", "acpi_pm"});
  CHECK(parse_clocksource_list("kvm-clock\n") == std::vector<std::string>{"kvm-clock"});
  CHECK(parse_clocksource_list("\n").empty());
}

TEST_CASE("the local time zone follows TZ, daylight saving time included") {
  TzGuard tz("CET-1CEST,M3.5.0,M10.5.0/3");
  constexpr int64_t kJanuary2024 = 1704067200;  // 2024-01-01T00:00:00Z
  constexpr int64_t kJuly2024 = 1719792000;     // 2024-07-01T00:00:00Z
  auto winter = local_time_zone(kJanuary2024);
  CHECK(winter.name == "CET");
  CHECK(winter.offset_seconds == 3600);
  auto summer = local_time_zone(kJuly2024);
  CHECK(summer.name == "CEST");
  CHECK(summer.offset_seconds == 7200);

  tz.set("XYZ+5");
  auto west = local_time_zone(kJuly2024);
  CHECK(west.name == "XYZ");
  CHECK(west.offset_seconds == -5 * 3600);
}
