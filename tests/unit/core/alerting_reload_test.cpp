// The alerting service across a reload, on a real SQLite database: a new receiver and a route to
// it are checked against the new receivers (not the running ones), a route to a receiver the
// new config lacks is refused with nothing changed, and the config's silences follow the config
// (added, replaced when their times change, expired when removed, never duplicated).
#include "core/alerting.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

using namespace vigil;
using namespace std::chrono_literals;

namespace {

// A rule set with one rule and the routing the test chooses; it never yields an alert.
class FixedRules : public core::RuleRunner {
 public:
  explicit FixedRules(alerts::Routing routing) : routing_(std::move(routing)) {}
  std::vector<alerts::RuleSpec> rules() const override {
    alerts::RuleSpec r;
    r.name = "A";
    return {r};
  }
  alerts::Routing routing() const override { return routing_; }
  int64_t next_due_ms() const override { return INT64_MAX; }
  std::vector<alerts::RuleEvaluation> evaluate_due(int64_t) override { return {}; }

 private:
  alerts::Routing routing_;
};

alerts::Routing route_to(const std::string& receiver) {
  alerts::Routing r;
  r.root.receiver = receiver;
  return r;
}

std::map<std::string, outbox::ReceiverOptions> receivers(std::vector<std::string> names) {
  std::map<std::string, outbox::ReceiverOptions> out;
  for (const auto& name : names) {
    outbox::ReceiverOptions o;
    o.deliver = [](const alerts::Notification&, int, std::string&, int64_t&) {
      return outbox::Outcome::ok;
    };
    out[name] = o;
  }
  return out;
}

config::SilenceConfig silence(const std::string& comment, std::chrono::milliseconds duration) {
  config::SilenceConfig s;
  s.json_path = "alerting.silences[0]";
  s.matchers = {"instance=\"db-1\""};
  s.duration = duration;
  s.comment = comment;
  return s;
}

struct Fixture {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vigil-reload-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(reinterpret_cast<uintptr_t>(this)));
  alerts::Routing next_routing = route_to("log");
  core::RuleLoader loader = [this](const config::AlertingConfig&, std::vector<std::string>&) {
    return std::make_unique<FixedRules>(next_routing);
  };
  config::HostConfig config;

  Fixture() {
    std::filesystem::create_directories(dir);
    config.alerting.enabled = true;
    config.alerting.data_dir = dir;
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // The silences in the database, running and ended.
  std::vector<alerts::Silence> silences() const {
    std::string error;
    auto db = outbox::Database::open((dir / "vigil.db").string(), error);
    REQUIRE(db);
    alerts::Snapshot snapshot;
    REQUIRE(db->load(snapshot, error));
    return snapshot.silences;
  }
};

size_t running(const std::vector<alerts::Silence>& list) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  size_t n = 0;
  for (const auto& s : list) n += s.ends_ms > now;
  return n;
}

}  // namespace

TEST_CASE("a reload routes to a receiver the new config adds, and refuses one it lacks") {
  Fixture f;
  core::AlertingService service(f.loader, receivers({"log"}));
  std::string error;
  REQUIRE(service.start(f.config, error));

  f.next_routing = route_to("log2");
  std::vector<std::string> errors;
  auto refused = service.prepare_reload(f.config, receivers({"log"}), errors);
  CHECK_FALSE(refused);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        "route: receiver \"log2\" is not a notifier instance in the config, expected one of: log");

  errors.clear();
  auto accepted = service.prepare_reload(f.config, receivers({"log", "log2"}), errors);
  INFO((errors.empty() ? "" : errors[0]));
  REQUIRE(accepted);
  service.apply_reload(std::move(accepted));
  // The API's reload of the rule files now checks against the receivers the SIGHUP brought.
  errors.clear();
  CHECK(service.reload_rules(errors));
  CHECK(errors.empty());
  service.stop(1s);
}

TEST_CASE("config silences are created once and follow the config at a reload") {
  Fixture f;
  f.config.alerting.silences = {silence("disk swap", 1h)};
  // Starts the service on `f.config`, reloads it with `next` when given, and stops it.
  auto run = [&](const config::HostConfig* next) {
    core::AlertingService service(f.loader, receivers({"log"}));
    std::string error;
    REQUIRE(service.start(f.config, error));
    if (next) {
      std::vector<std::string> errors;
      auto reload = service.prepare_reload(*next, receivers({"log"}), errors);
      REQUIRE(reload);
      service.apply_reload(std::move(reload));
    }
    service.stop(1s);
  };
  run(nullptr);
  auto first = f.silences();
  REQUIRE(first.size() == 1);
  CHECK(first[0].author == "config");
  run(nullptr);  // a restart: still one
  REQUIRE(f.silences().size() == 1);

  SECTION("a reload with the same config changes nothing") {
    run(&f.config);
    auto now = f.silences();
    REQUIRE(now.size() == 1);
    CHECK(now[0].id == first[0].id);
  }
  // Reloads with `next` as the only config silence; two are in the database then, one running.
  auto reload_with = [&](const config::SilenceConfig& next) {
    auto changed = f.config;
    changed.alerting.silences = {next};
    run(&changed);
    auto now = f.silences();
    REQUIRE(now.size() == 2);
    CHECK(running(now) == 1);
    return now;
  };

  SECTION("a longer duration replaces the running silence with one from the same start") {
    const auto now = reload_with(silence("disk swap", 2h));
    for (const auto& s : now)
      if (s.id != first[0].id) {
        CHECK(s.starts_ms == first[0].starts_ms);
        CHECK(s.ends_ms == first[0].starts_ms + 7'200'000);
      }
  }
  SECTION("one removed from the config is expired and one added is created") {
    const auto now = reload_with(silence("network change", 1h));
    for (const auto& s : now) {
      if (s.id == first[0].id)
        CHECK(s.comment == "disk swap (expired by config reload)");
      else
        CHECK(s.comment == "network change");
    }
    run(nullptr);  // and a restart on the old config does not bring the expired one back
    CHECK(f.silences().size() == 2);
  }
}
