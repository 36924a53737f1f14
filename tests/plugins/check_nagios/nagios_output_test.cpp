// check_nagios' reading of plugin output, on outputs shaped like the plugin guidelines' examples
// and the odd ones real checks print: quoted labels, perfdata on several lines, unit
// conversions, every threshold range form, and items that cannot be read.
#include "nagios_output.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using vigil::check_nagios::Output;
using vigil::check_nagios::parse_output;
using vigil::check_nagios::PerfItem;

namespace {

const PerfItem& item(const Output& out, const std::string& label) {
  for (const PerfItem& p : out.perfdata)
    if (p.label == label) return p;
  FAIL("no perfdata item " << label);
  throw;  // not reached
}

}  // namespace

TEST_CASE("nagios output: the message is the first line's text before '|'") {
  Output out = parse_output("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n");
  CHECK(out.message == "DISK OK - free space: / 3326 MB (56%);");
  REQUIRE(out.perfdata.size() == 1);
  const PerfItem& p = item(out, "/");
  CHECK(p.value == 2643.0 * 1024 * 1024);
  CHECK(p.uom == "MB");
  CHECK(p.unit == "bytes");
  REQUIRE(p.warning);
  CHECK(*p.warning->upper == 5948.0 * 1024 * 1024);
  CHECK_FALSE(p.warning->lower);
  CHECK(*p.critical->upper == 5958.0 * 1024 * 1024);
  CHECK(*p.min == 0);
  CHECK(*p.max == 5968.0 * 1024 * 1024);
  CHECK(out.long_text.empty());
  CHECK(parse_output("PROCS OK\n").perfdata.empty());
  CHECK(parse_output("").message.empty());
}

TEST_CASE("nagios output: long text and perfdata over several lines, as the guidelines show") {
  Output out = parse_output(
      "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
      "/ 15272 MB (77%);\n"
      "/boot 68 MB (69%);\n"
      "/home 69357 MB (27%);\n"
      "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
      "/home=69357MB;253404;253409;0;253414\n"
      "/var/log=818MB;970;975;0;980\n");
  CHECK(out.message == "DISK OK - free space: / 3326 MB (56%);");
  CHECK(out.long_text == std::vector<std::string>{"/ 15272 MB (77%);", "/boot 68 MB (69%);",
                                                  "/home 69357 MB (27%);",
                                                  "/var/log 819 MB (84%); "});
  REQUIRE(out.perfdata.size() == 4);
  CHECK(out.perfdata[0].label == "/");
  CHECK(out.perfdata[1].label == "/boot");
  CHECK(out.perfdata[2].label == "/home");
  CHECK(out.perfdata[3].label == "/var/log");
  CHECK(item(out, "/var/log").value == 818.0 * 1024 * 1024);
}

TEST_CASE("nagios output: quoted labels may hold spaces, '=' and doubled quotes") {
  Output out = parse_output("OK | 'free space'=10% 'it''s=odd'=3 plain=1\n");
  REQUIRE(out.perfdata.size() == 3);
  CHECK(out.perfdata[0].label == "free space");
  CHECK(out.perfdata[0].unit == "percent");
  CHECK(out.perfdata[0].value == 10);
  CHECK(out.perfdata[1].label == "it's=odd");
  CHECK(out.perfdata[1].value == 3);
  CHECK(out.perfdata[2].label == "plain");
}

TEST_CASE("nagios output: units are converted to seconds and bytes") {
  Output out = parse_output(
      "OK | t=1.5s rt=250ms us=40us b=10B kb=2KB gb=1GB tb=1TB pct=99.5% c=1234c n=7 "
      "dbm=-40dBm\n");
  CHECK(item(out, "t").value == 1.5);
  CHECK(item(out, "t").unit == "seconds");
  CHECK(item(out, "rt").value == Approx(0.25));
  CHECK(item(out, "us").value == Approx(40e-6));
  CHECK(item(out, "b").value == 10);
  CHECK(item(out, "kb").value == 2048);
  CHECK(item(out, "gb").value == 1073741824.0);
  CHECK(item(out, "tb").value == 1099511627776.0);
  CHECK(item(out, "pct").value == 99.5);
  CHECK(item(out, "pct").unit == "percent");
  CHECK(item(out, "c").unit == "counter");
  CHECK(item(out, "n").unit.empty());
  CHECK(item(out, "dbm").value == -40);
  CHECK(item(out, "dbm").unit == "dBm");  // unknown units are kept as printed
}

TEST_CASE("nagios output: every threshold range form") {
  Output out = parse_output(
      "OK | a=1;10;20 b=1;10:;20: c=1;~:10 d=1;10:20;@5:30 e=1;;;; f=1;0:5 g=1,5;2,5\n");
  const PerfItem& a = item(out, "a");
  CHECK(*a.warning->upper == 10);
  CHECK_FALSE(a.warning->lower);
  CHECK(*a.critical->upper == 20);
  const PerfItem& b = item(out, "b");
  CHECK(*b.warning->lower == 10);
  CHECK_FALSE(b.warning->upper);
  const PerfItem& c = item(out, "c");
  CHECK(*c.warning->upper == 10);
  CHECK_FALSE(c.warning->lower);
  const PerfItem& d = item(out, "d");
  CHECK(*d.warning->lower == 10);
  CHECK(*d.warning->upper == 20);
  CHECK_FALSE(d.warning->inside);
  CHECK(d.critical->inside);
  CHECK(*d.critical->lower == 5);
  CHECK(*d.critical->upper == 30);
  const PerfItem& e = item(out, "e");
  CHECK_FALSE(e.warning);
  CHECK_FALSE(e.critical);
  CHECK_FALSE(e.min);
  CHECK_FALSE(e.max);
  CHECK(*item(out, "f").warning->lower == 0);  // written explicitly
  // A decimal comma, as some locales print it.
  CHECK(item(out, "g").value == 1.5);
  CHECK(*item(out, "g").warning->upper == 2.5);
}

TEST_CASE("nagios output: thresholds are converted with the value's unit") {
  Output out = parse_output("OK | time=120ms;500;1000;0;\n");
  const PerfItem& t = item(out, "time");
  CHECK(t.value == Approx(0.12));
  CHECK(*t.warning->upper == Approx(0.5));
  CHECK(*t.critical->upper == Approx(1.0));
  CHECK(*t.min == 0);
  CHECK_FALSE(t.max);
}

TEST_CASE("nagios output: items that cannot be read are skipped with the reason") {
  Output out = parse_output("OK | good=1 u=U noequals bad=abc =3 w=1;x good2=2 'open=1 more=2\n");
  std::vector<std::string> labels;
  for (const PerfItem& p : out.perfdata) labels.push_back(p.label);
  CHECK(labels == std::vector<std::string>{"good", "good2"});
  CHECK(out.skipped == std::vector<std::string>{
                           "u=U: the value is U (undetermined)",
                           "noequals: expected label=value",
                           "bad=abc: expected a number, found \"abc\"",
                           "=3: the label is empty",
                           "w=1;x: cannot read the warning threshold \"x\"",
                           "'open=1 more=2: the quoted label is not closed",
                       });
}

TEST_CASE("nagios output: Windows line ends and trailing blanks do not matter") {
  Output out = parse_output("WARNING - load high  | load1=4.5;4;8;0; \r\n");
  CHECK(out.message == "WARNING - load high");
  REQUIRE(out.perfdata.size() == 1);
  CHECK(out.perfdata[0].value == 4.5);
}
