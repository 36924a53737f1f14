// The net/dev parser of collector_netdev against fixture files: the counters a user would see as
// node_network_*_total, and the errors a malformed file gives.
#include "net_dev.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "files.hpp"

using vigil::collector_netdev::NetDevice;
using vigil::collector_netdev::parse_net_dev;
using vigil::testing::read_fixture;

TEST_CASE("every device line gives its name and 16 counters in the kernel's order") {
  const std::string text = read_fixture("typical/net/dev");
  std::vector<NetDevice> devices;
  std::string error;
  REQUIRE(parse_net_dev(text, devices, error));
  REQUIRE(devices.size() == 5);
  CHECK(devices[0].name == "lo");
  CHECK(devices[1].name == "eth0");
  CHECK(devices[3].name == "docker0");
  CHECK(devices[4].name == "veth1a2b3c4");

  const NetDevice& eth0 = devices[1];
  CHECK(eth0.values[0] == 66734478);                                     // receive bytes
  CHECK(eth0.values[1] == 1558);                                         // receive packets
  for (std::size_t i = 2; i < 8; ++i) CHECK(eth0.values[i] == i - 1);    // errs .. multicast
  CHECK(eth0.values[8] == 66435);                                        // transmit bytes
  CHECK(eth0.values[9] == 835);                                          // transmit packets
  for (std::size_t i = 10; i < 16; ++i) CHECK(eth0.values[i] == i - 3);  // errs .. compressed

  CHECK(devices[4].values[0] == 18446744073709551615ULL);  // a counter at the top of u64
}

TEST_CASE("an old kernel's line without a space after the colon parses") {
  const std::string text = read_fixture("old_kernel/net/dev");
  std::vector<NetDevice> devices;
  std::string error;
  REQUIRE(parse_net_dev(text, devices, error));
  REQUIRE(devices.size() == 2);
  CHECK(devices[1].name == "eth0");
  CHECK(devices[1].values[0] == 4294967295ULL);
  CHECK(devices[1].values[1] == 3000000);
  CHECK(devices[1].values[8] == 88776655);
}

TEST_CASE("parsing again reuses the vector and keeps nothing from the last file") {
  std::vector<NetDevice> devices;
  std::string error;
  REQUIRE(parse_net_dev(read_fixture("typical/net/dev"), devices, error));
  REQUIRE(parse_net_dev(read_fixture("wlan0_gone/net/dev"), devices, error));
  CHECK(devices.size() == 4);
}

TEST_CASE("malformed device lines are reported with the line number and what was found") {
  const std::string header =
      "Inter-|   Receive |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n";
  std::vector<NetDevice> devices;
  std::string error;

  CHECK_FALSE(parse_net_dev(header + "  eth0: 1 2 3\n", devices, error));
  CHECK_THAT(error, Catch::Contains("line 3") && Catch::Contains("expected 16 counters") &&
                        Catch::Contains("found 3 counter(s)"));

  CHECK_FALSE(
      parse_net_dev(header + "  eth0: 1 2 x 4 5 6 7 8 9 10 11 12 13 14 15 16\n", devices, error));
  CHECK_THAT(error, Catch::Contains("found 2 counter(s) and then 'x"));

  CHECK_FALSE(
      parse_net_dev(header + "  : 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", devices, error));
  CHECK_THAT(error, Catch::Contains("expected a device name"));

  CHECK_FALSE(parse_net_dev(header + "  eth0 1 2 3\n", devices, error));
  CHECK_THAT(error, Catch::Contains("no ':'"));
}

TEST_CASE("counters after the 16th are ignored, so a wider future format still parses") {
  const std::string text = "h1\nh2\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n";
  std::vector<NetDevice> devices;
  std::string error;
  REQUIRE(parse_net_dev(text, devices, error));
  CHECK(devices[0].values[15] == 16);
}
