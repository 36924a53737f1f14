// The built collector_textfile.so, loaded with dlopen and run through the SDK's fake host against
// real files in a temporary directory: what a user scrapes from good files, how changes, removals
// and in-place rewrites are followed, and the corpus of bad files (bad/*.prom), each rejected with
// the exact message the user reads in the log while the good file next to it keeps being served.
#include <vigil/sdk.hpp>
#include <vigil/testing/fake_host.hpp>

#include "load_plugin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using vigil::MetricType;
using vigil::testing::FakeHost;

namespace {

const vigil_plugin_desc* plugin() {
  static const vigil_plugin_desc* desc = vigil::testing::load_plugin(PLUGIN_PATH);
  return desc;
}

struct TempDir {
  fs::path dir;
  TempDir() {
    char tmpl[] = "/tmp/vigil_textfile_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  // Writes a file in place (the way a careless script does).
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << text;
  }
  // Writes a temporary file and renames it into place (the recommended way).
  void replace(const std::string& name, const std::string& text) const {
    write(name + ".tmp", text);
    fs::rename(dir / (name + ".tmp"), dir / name);
  }
  void set_mtime(const std::string& name, time_t seconds) const {
    struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
    REQUIRE(utimensat(AT_FDCWD, path(name).c_str(), times, 0) == 0);
  }
};

vigil::testing::FakeInstance create(FakeHost& host, const TempDir& tmp,
                                    vigil::testing::OptionMap extra = {}) {
  extra["directory"] = tmp.dir.string();
  return host.create(plugin(), extra, vigil::testing::InstanceSettings{"textfile"});
}

// The log line for a bad file, exactly as a user reads it.
std::string rejection(const TempDir& tmp, const std::string& name, const std::string& error) {
  return tmp.path(name) + ": " + error + "; its metrics are dropped until it is fixed";
}

bool logged_exactly(const FakeHost& host, const std::string& message) {
  for (const auto& line : host.logs())
    if (line.message == message) return true;
  return false;
}

std::string all_logs(const FakeHost& host) {
  std::string out;
  for (const auto& line : host.logs()) out += line.message + "\n";
  return out;
}

}  // namespace

TEST_CASE("the plugin describes itself and its options") {
  const vigil_plugin_desc* d = plugin();
  CHECK(std::string(d->name) == "collector_textfile");
  REQUIRE(d->collector != nullptr);
  REQUIRE(d->option_count == 2);
  CHECK(std::string(d->options[0].name) == "directory");
  CHECK(d->options[0].required != 0);
  CHECK(std::string(d->options[1].name) == "max_file_bytes");
}

TEST_CASE("good files are served with node_exporter's mtime and error series") {
  TempDir tmp;
  tmp.replace("backup.prom",
              "# HELP backup_last_success_seconds When the last backup succeeded.\n"
              "# TYPE backup_last_success_seconds gauge\n"
              "backup_last_success_seconds{job=\"db\"} 1700000000\n"
              "# TYPE backup_duration_seconds histogram\n"
              "backup_duration_seconds_bucket{le=\"60\"} 3\n"
              "backup_duration_seconds_bucket{le=\"600\"} 9\n"
              "backup_duration_seconds_bucket{le=\"+Inf\"} 10\n"
              "backup_duration_seconds_sum 2400\n"
              "backup_duration_seconds_count 10\n");
  tmp.replace("apt.prom", "apt_upgrades_pending{origin=\"security\"} 2\n");
  tmp.write("notes.txt", "not a metrics file\n");
  tmp.set_mtime("backup.prom", 1700000123);
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().to_string() == "ok");

  CHECK(host.value("backup_last_success_seconds", {{"job", "db"}}) == 1700000000);
  CHECK(host.family("backup_last_success_seconds")->help == "When the last backup succeeded.");
  auto h = host.histogram("backup_duration_seconds");
  CHECK(h.bounds == std::vector<double>{60, 600});
  CHECK(h.cumulative == std::vector<uint64_t>{3, 9});
  CHECK(h.count == 10);
  CHECK(h.sum == 2400);
  CHECK(host.value("apt_upgrades_pending", {{"origin", "security"}}) == 2);
  CHECK(host.family("apt_upgrades_pending")->type == MetricType::untyped);
  // No HELP in the file: node_exporter's wording.
  CHECK(host.family("apt_upgrades_pending")->help == "Metric read from " + tmp.path("apt.prom"));

  CHECK(host.value("node_textfile_mtime_seconds", {{"file", "backup.prom"}}) == 1700000123);
  CHECK(host.has("node_textfile_mtime_seconds", {{"file", "apt.prom"}}));
  CHECK(host.series("node_textfile_mtime_seconds").size() == 2);
  CHECK(host.family("node_textfile_mtime_seconds")->help ==
        "Unixtime mtime of textfiles successfully read.");
  CHECK(host.value("node_textfile_scrape_error") == 0);
  CHECK(host.family("node_textfile_scrape_error")->help ==
        "1 if there was an error opening or reading a file, 0 otherwise");
}

TEST_CASE("unchanged files are not read again, but their series stay live") {
  TempDir tmp;
  tmp.replace("a.prom", "a_value{x=\"1\"} 1\na_value{x=\"2\"} 2\n");
  FakeHost host;
  auto inst = create(host, tmp);
  host.set_now_ms(1000);
  REQUIRE(inst.collect().is_ok());
  uint64_t registrations = host.registrations();
  host.set_now_ms(2000);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.registrations() == registrations);
  CHECK(host.series("a_value").at(0).timestamp_ms == 2000);  // written again
}

TEST_CASE("a replaced file gives its new values, and series it no longer has are removed") {
  TempDir tmp;
  tmp.replace("jobs.prom", "job_ok{job=\"a\"} 1\njob_ok{job=\"b\"} 1\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.series("job_ok").size() == 2);
  tmp.replace("jobs.prom", "job_ok{job=\"a\"} 0\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("job_ok", {{"job", "a"}}) == 0);
  CHECK_FALSE(host.has("job_ok", {{"job", "b"}}));
}

TEST_CASE(
    "a file rewritten with new values, series for series, serves every new value and keeps its "
    "handles") {
  // The usual textfile: the same series each time, in the same order, with new values (of
  // other lengths, so every line after the first moves).
  const auto version = [](int round) {
    std::string text =
        "# HELP batch_items Items per batch.\n# TYPE batch_items gauge\n"
        "# TYPE batch_seconds histogram\n";
    for (int i = 0; i < 500; ++i)
      text += "batch_items{batch=\"" + std::to_string(i) + "\"} " +
              std::to_string(i * (round + 1)) + (round % 2 ? ".5" : "") + "\n";
    text += "batch_seconds_bucket{le=\"1\"} " + std::to_string(round) + "\n";
    text += "batch_seconds_bucket{le=\"+Inf\"} " + std::to_string(round * 10) + "\n";
    text += "batch_seconds_sum " + std::to_string(round) + ".25\n";
    text += "batch_seconds_count " + std::to_string(round * 10) + "\n";
    return text;
  };
  TempDir tmp;
  tmp.replace("batch.prom", version(0));
  FakeHost host;
  auto inst = create(host, tmp);
  host.set_now_ms(1000);
  REQUIRE(inst.collect().is_ok());
  const uint64_t registrations = host.registrations();
  for (int round = 1; round <= 4; ++round) {
    INFO("round " << round);
    tmp.replace("batch.prom", version(round));
    host.set_now_ms(1000 + round * 1000);
    REQUIRE(inst.collect().is_ok());
    const auto series = host.series("batch_items");
    REQUIRE(series.size() == 500);
    bool all_right = true;
    for (const auto& s : series) {
      int i = std::stoi(s.labels.at(0).second);
      double want = i * (round + 1) + (round % 2 ? 0.5 : 0.0);
      if (s.value != want || s.timestamp_ms != 1000 + round * 1000) {
        all_right = false;
        FAIL_CHECK("batch=" << i << ": " << s.value << " at " << s.timestamp_ms);
      }
    }
    CHECK(all_right);
    auto h = host.histogram("batch_seconds");
    CHECK(h.cumulative == std::vector<uint64_t>{static_cast<uint64_t>(round)});
    CHECK(h.count == static_cast<uint64_t>(round * 10));
    CHECK(h.sum == round + 0.25);
  }
  CHECK(host.registrations() == registrations);  // every handle kept
  CHECK(host.value("node_textfile_scrape_error") == 0);
}

TEST_CASE("a rewritten file whose series moved, went or came serves each value on its series") {
  TempDir tmp;
  tmp.replace("q.prom", "queue_depth{q=\"a\"} 1\nqueue_depth{q=\"b\"} 2\nqueue_depth{q=\"c\"} 3\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());

  tmp.replace("q.prom",
              "queue_depth{q=\"c\"} 30\nqueue_depth{q=\"a\"} 10\nqueue_depth{q=\"b\"} 20\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("queue_depth", {{"q", "a"}}) == 10);
  CHECK(host.value("queue_depth", {{"q", "b"}}) == 20);
  CHECK(host.value("queue_depth", {{"q", "c"}}) == 30);

  tmp.replace("q.prom", "queue_depth{q=\"c\"} 31\nqueue_depth{q=\"b\"} 21\n");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("queue_depth", {{"q", "a"}}));
  CHECK(host.value("queue_depth", {{"q", "b"}}) == 21);

  tmp.replace("q.prom",
              "queue_depth{q=\"c\"} 32\nqueue_depth{q=\"d\"} 42\nqueue_depth{q=\"b\"} 22\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("queue_depth", {{"q", "c"}}) == 32);
  CHECK(host.value("queue_depth", {{"q", "d"}}) == 42);
  CHECK(host.value("queue_depth", {{"q", "b"}}) == 22);

  tmp.replace("q.prom",
              "queue_depth{q=\"c\"} 33\nqueue_depth{q=\"d\"} 43\nqueue_depth{q=\"b\"} 23\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("queue_depth", {{"q", "c"}}) == 33);
  CHECK(host.value("queue_depth", {{"q", "d"}}) == 43);
  CHECK(host.value("queue_depth", {{"q", "b"}}) == 23);
  CHECK(host.series("queue_depth").size() == 3);
}

TEST_CASE(
    "a good file rewritten with a bad value is dropped with the line and reason, and served "
    "again once fixed") {
  const std::string head =
      "# TYPE job_seconds histogram\n"
      "job_seconds_bucket{le=\"10\"} 4\n";
  const std::string good = head +
                           "job_seconds_bucket{le=\"+Inf\"} 5\n"
                           "job_seconds_count 5\n"
                           "job_ok{job=\"a\"} 1\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {head + "job_seconds_bucket{le=\"+Inf\"} 5\njob_seconds_count 5\njob_ok{job=\"a\"} yes\n",
       R"(line 5: expected a value after the labels, found "yes")"},
      {head + "job_seconds_bucket{le=\"+Inf\"} 5\njob_seconds_count 5\njob_ok{job=\"a\"} 1 17\n",
       R"(line 5: timestamps are not supported here, found "17" after the value; remove the timestamp (the sample is taken when read))"},
      {head + "job_seconds_bucket{le=\"+Inf\"} 3\njob_seconds_count 3\njob_ok{job=\"a\"} 1\n",
       R"(line 3: bucket le="+Inf" of job_seconds counts 3, fewer than bucket le="10" (4 on line 2); expected cumulative counts)"},
      {head + "job_seconds_bucket{le=\"+Inf\"} 5\njob_seconds_count 6\njob_ok{job=\"a\"} 1\n",
       "line 4: job_seconds_count of job_seconds is 6 but its +Inf bucket (line 3) counts 5; "
       "expected the same number"},
      {head + "job_seconds_bucket{le=\"+Inf\"} 5.5\njob_seconds_count 5.5\njob_ok{job=\"a\"} 1\n",
       R"(line 3: bucket le="+Inf" of job_seconds counts 5.5; expected a whole, non-negative number of observations)"},
  };
  for (const auto& [bad, error] : cases) {
    INFO(error);
    TempDir tmp;
    tmp.replace("good.prom", "good_metric 1\n");
    tmp.replace("job.prom", good);
    FakeHost host;
    auto inst = create(host, tmp);
    REQUIRE(inst.collect().is_ok());
    REQUIRE(host.value("job_ok", {{"job", "a"}}) == 1);

    tmp.replace("job.prom", bad);
    REQUIRE(inst.collect().is_ok());
    INFO(all_logs(host));
    CHECK(logged_exactly(host, rejection(tmp, "job.prom", error)));
    CHECK_FALSE(host.has("job_ok", {{"job", "a"}}));
    CHECK(host.series("job_seconds").empty());
    CHECK(host.value("good_metric") == 1);
    CHECK(host.value("node_textfile_scrape_error") == 1);

    tmp.replace("job.prom", head +
                                "job_seconds_bucket{le=\"+Inf\"} 7\n"
                                "job_seconds_count 7\n"
                                "job_ok{job=\"a\"} 0\n");
    REQUIRE(inst.collect().is_ok());
    CHECK(host.value("job_ok", {{"job", "a"}}) == 0);
    CHECK(host.histogram("job_seconds").count == 7);
    CHECK(host.value("node_textfile_scrape_error") == 0);
  }
}

TEST_CASE("a file that disappears takes its series and its mtime with it") {
  TempDir tmp;
  tmp.replace("a.prom", "from_a 1\n");
  tmp.replace("b.prom", "from_b 2\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  fs::remove(tmp.dir / "a.prom");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("from_a"));
  CHECK(host.value("from_b") == 2);
  CHECK_FALSE(host.has("node_textfile_mtime_seconds", {{"file", "a.prom"}}));
  CHECK(host.value("node_textfile_scrape_error") == 0);
}

TEST_CASE(
    "a file caught mid-rewrite is not half-read: the previous content stays until the file "
    "settles") {
  TempDir tmp;
  tmp.write("inplace.prom", "temp_celsius{sensor=\"a\"} 20\ntemp_celsius{sensor=\"b\"} 21\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());

  // A writer truncated the file and wrote part of the new content: the last line is cut.
  tmp.write("inplace.prom", "temp_celsius{sensor=\"a\"} 30\ntemp_cel");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("temp_celsius", {{"sensor", "a"}}) == 20);
  CHECK(host.value("temp_celsius", {{"sensor", "b"}}) == 21);
  CHECK(host.value("node_textfile_scrape_error") == 0);

  // It finished: the new content is served.
  tmp.write("inplace.prom", "temp_celsius{sensor=\"a\"} 30\ntemp_celsius{sensor=\"b\"} 31\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("temp_celsius", {{"sensor", "a"}}) == 30);
  CHECK(host.value("temp_celsius", {{"sensor", "b"}}) == 31);

  // Truncated to nothing: also given a collect to settle, then believed.
  tmp.write("inplace.prom", "");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("temp_celsius", {{"sensor", "a"}}) == 30);
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("temp_celsius", {{"sensor", "a"}}));
  CHECK(host.has("node_textfile_mtime_seconds", {{"file", "inplace.prom"}}));
  CHECK(host.value("node_textfile_scrape_error") == 0);
}

TEST_CASE("a bad file is logged once per change and served again once fixed") {
  TempDir tmp;
  tmp.replace("good.prom", "good_metric 1\n");
  tmp.replace("bad.prom", "flaky_metric{x=\"1\"} 1\nflaky_metric{x=\"2\"} oops\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  const std::string first =
      rejection(tmp, "bad.prom", "line 2: expected a value after the labels, found \"oops\"");
  CHECK(logged_exactly(host, first));
  CHECK(host.value("node_textfile_scrape_error") == 1);
  CHECK_FALSE(host.has("flaky_metric", {{"x", "1"}}));
  CHECK(host.value("good_metric") == 1);

  host.clear_logs();
  for (int i = 0; i < 3; ++i) REQUIRE(inst.collect().is_ok());
  CHECK(host.logs().empty());  // unchanged: not logged again
  CHECK(host.value("node_textfile_scrape_error") == 1);

  tmp.replace("bad.prom", "flaky_metric{x=\"1\"} 1\nflaky_metric{x=\"2\"} 2\n");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("flaky_metric", {{"x", "2"}}) == 2);
  CHECK(host.value("node_textfile_scrape_error") == 0);
  CHECK(host.logged(tmp.path("bad.prom") + " is valid again and served"));
}

TEST_CASE("a file that was good and turns bad is dropped") {
  TempDir tmp;
  tmp.replace("a.prom", "a_metric 1\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  REQUIRE(host.has("a_metric"));
  tmp.replace("a.prom", "a_metric 1\na_metric 2\n");
  REQUIRE(inst.collect().is_ok());
  CHECK_FALSE(host.has("a_metric"));
  CHECK_FALSE(host.has("node_textfile_mtime_seconds", {{"file", "a.prom"}}));
  CHECK(logged_exactly(
      host, rejection(tmp, "a.prom", "line 2: duplicate series a_metric; first seen on line 1")));
}

TEST_CASE(
    "two files exposing the same series: the second is refused, and retried when the first "
    "changes") {
  TempDir tmp;
  tmp.replace("a.prom", "disk_ok{disk=\"sda\"} 1\n");
  tmp.replace("b.prom", "disk_ok{disk=\"sda\"} 0\ndisk_ok{disk=\"sdb\"} 1\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  CHECK(logged_exactly(host, rejection(tmp, "b.prom",
                                       "line 1: series disk_ok{disk=\"sda\"} is already exposed "
                                       "by a.prom (line 1)")));
  CHECK(host.value("disk_ok", {{"disk", "sda"}}) == 1);
  CHECK_FALSE(host.has("disk_ok", {{"disk", "sdb"}}));
  CHECK(host.value("node_textfile_scrape_error") == 1);

  fs::remove(tmp.dir / "a.prom");
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("disk_ok", {{"disk", "sda"}}) == 0);
  CHECK(host.value("disk_ok", {{"disk", "sdb"}}) == 1);
  CHECK(host.value("node_textfile_scrape_error") == 0);
}

TEST_CASE("a family typed differently in two files: the second file is refused") {
  TempDir tmp;
  tmp.replace("a.prom", "# TYPE jobs_done gauge\njobs_done{q=\"a\"} 1\n");
  tmp.replace("b.prom", "# TYPE jobs_done counter\njobs_done{q=\"b\"} 1\n");
  FakeHost host;
  auto inst = create(host, tmp);
  REQUIRE(inst.collect().is_ok());
  CHECK(host.has("jobs_done", {{"q", "a"}}));
  CHECK_FALSE(host.has("jobs_done", {{"q", "b"}}));
  INFO(all_logs(host));
  CHECK(host.logged(tmp.path("b.prom") + ": line 1: the host refused counter jobs_done: "));
}

TEST_CASE("a missing directory is an error until it appears") {
  TempDir tmp;
  FakeHost host;
  vigil::testing::OptionMap options{{"directory", tmp.path("later")}};
  auto inst = host.create(plugin(), options);
  CHECK(host.logged("directory " + tmp.path("later") + " does not exist (yet)"));
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("node_textfile_scrape_error") == 1);
  CHECK(host.logged("cannot read directory " + tmp.path("later") + ": No such file or directory"));
  fs::create_directory(tmp.dir / "later");
  std::ofstream(tmp.dir / "later" / "x.prom") << "x_metric 1\n";
  REQUIRE(inst.collect().is_ok());
  CHECK(host.value("x_metric") == 1);
  CHECK(host.value("node_textfile_scrape_error") == 0);
}

TEST_CASE("a file over max_file_bytes, a directory and a FIFO named *.prom are errors, not hangs") {
  TempDir tmp;
  tmp.replace("big.prom", std::string(2000, '#') + "\n");
  fs::create_directory(tmp.dir / "dir.prom");
  REQUIRE(mkfifo(tmp.path("pipe.prom").c_str(), 0600) == 0);
  FakeHost host;
  auto inst = create(host, tmp, {{"max_file_bytes", "1000"}});
  REQUIRE(inst.collect().is_ok());
  CHECK(logged_exactly(
      host, rejection(tmp, "big.prom", "the file is 2001 bytes, more than max_file_bytes (1000)")));
  CHECK(logged_exactly(host, rejection(tmp, "pipe.prom",
                                       "not a regular file; expected a text file in the "
                                       "Prometheus exposition format")));
  CHECK(host.logged(tmp.path("dir.prom") + ": "));
  CHECK(host.value("node_textfile_scrape_error") == 1);
}

TEST_CASE("bad options are refused with the reason") {
  FakeHost host;
  auto inst = host.try_create(plugin(), {{"directory", "/tmp"}, {"max_file_bytes", "0"}});
  CHECK(inst.status().to_string() ==
        "invalid argument: option \"max_file_bytes\" is 0; expected a positive number of bytes");
  auto missing = host.try_create(plugin(), {});
  CHECK_FALSE(missing.status().is_ok());
}

// The corpus: each file in bad/ and the exact error it must give. Every one sits next to a good
// file, which must keep being served.
TEST_CASE("the corpus of bad files: each rejected with its line and reason") {
  const std::vector<std::pair<std::string, std::string>> corpus = {
      {"metric_name_starts_with_digit.prom",
       R"(line 4: invalid metric name "9backup_size_bytes": it must not start with a digit)"},
      {"metric_name_with_dash.prom",
       R"(line 2: invalid character "-" in metric name "cron-job-ok"; expected [a-zA-Z_:][a-zA-Z0-9_:]*)"},
      {"missing_value.prom", "line 2: expected a value after the labels, found end of line"},
      {"value_not_a_number.prom", R"(line 2: expected a value after the labels, found "no")"},
      {"label_value_not_quoted.prom",
       R"(line 2: expected a quoted label value after disk=, found "sdb}")"},
      {"label_value_not_terminated.prom",
       "line 1: the value of label \"path\" is not terminated; expected a closing '\"' before "
       "the end of the line"},
      {"label_value_bad_escape.prom",
       R"(line 1: invalid escape sequence "\\t" in the value of label "path"; expected \\, \" or \n)"},
      {"label_given_twice.prom", R"(line 1: label "host" is given twice)"},
      {"label_name_reserved.prom",
       "line 1: label name \"__job\" is reserved: names starting with \"__\" are for "
       "Prometheus' internal use"},
      {"label_name_starts_with_digit.prom",
       R"(line 1: invalid label name "1job": it must not start with a digit)"},
      {"label_value_not_utf8.prom",
       "line 1: the value of label \"name\" is not valid UTF-8 (byte 1 of the value); expected "
       "UTF-8 text"},
      {"duplicate_series.prom",
       R"(line 3: duplicate series temp_celsius{sensor="cpu"}; first seen on line 1)"},
      {"second_help.prom", "line 2: second HELP line for certs_expiring; the first is on line 1"},
      {"second_type.prom", "line 3: second TYPE line for queue_depth; the first is on line 1"},
      {"type_after_sample.prom",
       "line 2: TYPE line for queue_depth comes after its first sample on line 1; expected TYPE "
       "before the samples"},
      {"unknown_type.prom",
       R"(line 1: unknown metric type "gauges" for queue_depth; expected counter, gauge, histogram, summary or untyped)"},
      {"histogram_sample_without_suffix.prom",
       "line 2: histogram backup_duration_seconds: a sample named backup_duration_seconds is "
       "not allowed; expected backup_duration_seconds_bucket, backup_duration_seconds_sum or "
       "backup_duration_seconds_count"},
      {"bucket_without_le.prom",
       R"(line 2: histogram backup_duration_seconds needs a "le" label on backup_duration_seconds_bucket)"},
      {"buckets_not_cumulative.prom",
       R"(line 3: bucket le="60" of backup_duration_seconds counts 3, fewer than bucket le="10" (4 on line 2); expected cumulative counts)"},
      {"count_differs_from_inf_bucket.prom",
       "line 5: backup_duration_seconds_count of backup_duration_seconds is 5 but its +Inf "
       "bucket (line 3) counts 4; expected the same number"},
      {"buckets_differ_between_series.prom",
       R"(line 3: histogram backup_duration_seconds: backup_duration_seconds{job="web"} has buckets [30] but backup_duration_seconds{job="db"} (line 2) has [60]; every series of a histogram needs the same buckets)"},
      {"summary_without_quantile.prom",
       R"(line 2: summary rpc_seconds needs a "quantile" label on rpc_seconds)"},
      {"quantile_out_of_range.prom",
       R"(line 2: quantile "99" on rpc_seconds is out of range; expected a number between 0 and 1)"},
      {"type_conflicts_with_summary.prom",
       "line 2: metric rpc_seconds_count conflicts with summary rpc_seconds (line 1), which "
       "exposes rpc_seconds_count itself"},
      {"timestamp.prom",
       R"(line 2: timestamps are not supported here, found "1700000000000" after the value; remove the timestamp (the sample is taken when read))"},
      {"no_final_newline.prom",
       "line 2: the last line does not end with a newline; the file may be in the middle of "
       "being written (write it to a temporary file and rename it into place)"},
  };
  // Every file of the corpus is in the table, and the other way round.
  std::vector<std::string> on_disk, in_table;
  for (const auto& entry : fs::directory_iterator(BAD_DIR))
    on_disk.push_back(entry.path().filename().string());
  for (const auto& [name, error] : corpus) in_table.push_back(name);
  std::sort(on_disk.begin(), on_disk.end());
  std::sort(in_table.begin(), in_table.end());
  REQUIRE(on_disk == in_table);

  for (const auto& [name, error] : corpus) {
    INFO(name);
    TempDir tmp;
    fs::copy_file(fs::path(BAD_DIR) / name, tmp.dir / name);
    tmp.replace("good.prom", "good_metric{from=\"good.prom\"} 1\n");
    FakeHost host;
    auto inst = create(host, tmp);
    // Two collects: content that looks cut short is judged once it stayed unchanged.
    REQUIRE(inst.collect().is_ok());
    REQUIRE(inst.collect().is_ok());
    INFO(all_logs(host));
    CHECK(logged_exactly(host, rejection(tmp, name, error)));
    CHECK(host.value("good_metric", {{"from", "good.prom"}}) == 1);
    CHECK(host.value("node_textfile_scrape_error") == 1);
    CHECK_FALSE(host.has("node_textfile_mtime_seconds", {{"file", name}}));
    CHECK(host.has("node_textfile_mtime_seconds", {{"file", "good.prom"}}));
    // Nothing of the bad file is served, not even its good lines.
    for (const std::string& family : host.family_names()) {
      if (family.rfind("node_textfile_", 0) == 0 || family == "good_metric") continue;
      CHECK(host.series(family).empty());
    }
  }
}
