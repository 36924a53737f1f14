// collector_process's pure parts: /proc/<pid>/stat, status and cmdline parsing, the "groups"
// option with every mistake a person can make, matching, and the process check's verdict.
#include "groups.hpp"
#include "proc_pid.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace vigil::collector_process;

namespace {

std::optional<uid_t> fake_users(const std::string& name) {
  if (name == "www-data") return 33;
  if (name == "postgres") return 105;
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
    return static_cast<uid_t>(std::stoul(name));
  return std::nullopt;
}

std::vector<GroupSpec> groups(const std::string& json) {
  std::vector<GroupSpec> out;
  std::string error;
  const bool parsed = parse_groups(json, out, error, fake_users);
  INFO(error);
  REQUIRE(parsed);
  return out;
}

std::string group_error(const std::string& json) {
  std::vector<GroupSpec> out;
  std::string error;
  CHECK_FALSE(parse_groups(json, out, error, fake_users));
  return error;
}

}  // namespace

TEST_CASE("a stat line gives name, state, CPU ticks, threads, start time and rss") {
  PidStat s;
  std::string error;
  REQUIRE(
      parse_pid_stat("5791 (cat) R 5788 5788 30331 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 "
                     "1446280 3133440 383 18446744073709551615 94917582888960 0 0 0\n",
                     s, error));
  CHECK(s.comm == "cat");
  CHECK(s.state == 'R');
  CHECK(s.utime_ticks == 7);
  CHECK(s.stime_ticks == 3);
  CHECK(s.num_threads == 1);
  CHECK(s.start_ticks == 1446280);
  CHECK(s.rss_pages == 383);
}

TEST_CASE("a process name with spaces and parentheses is read up to the last parenthesis") {
  PidStat s;
  std::string error;
  REQUIRE(
      parse_pid_stat("300 (weird ) name) S 1 300 300 0 -1 4194560 1200 0 3 0 7 3 0 0 20 0 2 "
                     "0 7000 123456789 300 18446744073709551615",
                     s, error));
  CHECK(s.comm == "weird ) name");
  CHECK(s.num_threads == 2);
  CHECK(s.rss_pages == 300);
}

TEST_CASE("a cut or garbled stat line is refused with what was expected") {
  PidStat s;
  std::string error;
  CHECK_FALSE(parse_pid_stat("42 (x) S 1 2 3", s, error));
  CHECK_THAT(error, Catch::Contains("expected at least 24 fields"));
  CHECK_FALSE(parse_pid_stat("42 x S 1 2 3", s, error));
  CHECK_THAT(error, Catch::Contains("expected 'PID (NAME) STATE"));
  CHECK_FALSE(
      parse_pid_stat("42 (x) S 1 2 3 0 -1 0 0 0 0 0 many 3 0 0 20 0 1 0 5 6 7 8", s, error));
  CHECK_THAT(error, Catch::Contains("field 14 (utime): expected a number, found 'many'"));
}

TEST_CASE("the effective uid is the second number of the Uid line") {
  CHECK(parse_effective_uid("Name:\tx\nUid:\t1000\t33\t33\t33\nGid:\t0\t0\t0\t0\n") == 33u);
  CHECK_FALSE(parse_effective_uid("Name:\tx\n").has_value());
}

TEST_CASE("a command line's NUL-separated arguments are joined with spaces") {
  CHECK(join_cmdline(std::string("sleep\0"
                                 "30\0",
                                 9)) == "sleep 30");
  CHECK(join_cmdline("") == "");
  CHECK(join_cmdline("nginx: worker process") == "nginx: worker process");
}

TEST_CASE("groups: matchers, defaults and bounds") {
  auto g = groups(R"([{"name": "nginx", "comm": "nginx"},
                      {"name": "web", "user": "www-data", "cmdline": "worker", "min": 2, "max": 8},
                      {"name": "pg", "user": 105, "min": 0}])");
  REQUIRE(g.size() == 3);
  CHECK(g[0].min == 1);
  CHECK_FALSE(g[0].max);
  CHECK(g[1].uid == 33u);
  CHECK(g[1].max == 8);
  CHECK(g[2].uid == 105u);
  CHECK(g[2].min == 0);

  CHECK(group_matches(g[0], "nginx", "", std::nullopt));
  CHECK_FALSE(group_matches(g[0], "nginx2", "", std::nullopt));
  CHECK(group_matches(g[1], "nginx", "nginx: worker process", 33));
  CHECK_FALSE(group_matches(g[1], "nginx", "nginx: master process", 33));  // every matcher
  CHECK_FALSE(group_matches(g[1], "nginx", "nginx: worker process", 0));
}

TEST_CASE("groups: every mistake is named with its place and what was expected") {
  CHECK_THAT(group_error("{"), Catch::Contains("not valid JSON"));
  CHECK_THAT(group_error("[]"), Catch::Contains("expected a non-empty list"));
  CHECK_THAT(group_error(R"([{"comm": "x"}])"),
             Catch::Contains("option \"groups\"[0]: missing \"name\""));
  CHECK_THAT(group_error(R"([{"name": "a", "comm": "x"}, {"name": "a", "comm": "y"}])"),
             Catch::Contains("\"groups\"[1].name: \"a\" is used by an earlier group"));
  CHECK_THAT(group_error(R"([{"name": "a"}])"), Catch::Contains("no matcher"));
  CHECK_THAT(group_error(R"([{"name": "a", "comm": "x", "pid": 3}])"),
             Catch::Contains("unknown key \"pid\""));
  CHECK_THAT(group_error(R"([{"name": "a", "cmdline": "(unclosed"}])"),
             Catch::Contains("\"groups\"[0].cmdline: \"(unclosed\" is not a valid regular"));
  CHECK_THAT(group_error(R"([{"name": "a", "user": "nobody-here"}])"),
             Catch::Contains("there is no user \"nobody-here\""));
  CHECK_THAT(group_error(R"([{"name": "a", "comm": "systemd-journald"}])"),
             Catch::Contains("\"systemd-journald\" is 16 characters") &&
                 Catch::Contains("(\"systemd-journal\")"));
  CHECK_THAT(group_error(R"([{"name": "a", "comm": "x", "min": -1}])"),
             Catch::Contains("\"groups\"[0].min: found -1 (an integer), expected a process count"));
  CHECK_THAT(group_error(R"([{"name": "a", "comm": "x", "min": 3, "max": 2}])"),
             Catch::Contains("max 2 is below min 3"));
  CHECK_THAT(group_error(R"([{"name": 5, "comm": "x"}])"),
             Catch::Contains("\"groups\"[0].name: found 5 (an integer), expected a non-empty "
                             "string"));
}

TEST_CASE("the process check: critical names each group outside its bounds") {
  auto g = groups(R"([{"name": "nginx", "comm": "nginx"},
                      {"name": "sshd", "comm": "sshd", "max": 2},
                      {"name": "redis", "comm": "redis-server", "min": 1, "max": 1},
                      {"name": "cron", "comm": "cron", "min": 0, "max": 1}])");
  auto ok = check_bounds(g, {4, 1, 1, 0});
  CHECK(ok.status == VIGIL_HEALTH_OK);
  CHECK(ok.message == "all 4 groups within bounds: nginx 4, sshd 1, redis 1, cron 0");

  auto bad = check_bounds(g, {0, 5, 1, 2});
  CHECK(bad.status == VIGIL_HEALTH_CRITICAL);
  CHECK(bad.message ==
        "nginx has 0 processes, expected at least 1; sshd has 5 processes, expected 1 to 2; "
        "cron has 2 processes, expected at most 1; 1 other group within bounds");

  auto one = check_bounds({g[2]}, {1});
  CHECK(one.status == VIGIL_HEALTH_OK);
  CHECK(one.message == "redis has 1 process, expected exactly 1");
}
