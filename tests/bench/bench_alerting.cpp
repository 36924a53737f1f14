// Alerting benchmarks (issue 4's "How well"), each printed as the median of several runs:
//  1. 1,000 threshold rules (`bench_metric{id="N"}` above 0.9, for 1m) over 100,000 series in the
//     real store, through the real Lua runtime: ms per evaluation of all 1,000 with the engine's
//     step over the results; as `expr` rules (thresholds in C++) and as Lua `eval` functions,
//     taking turns round by round, each also without the engine's step. The process's RSS after.
//     (Prometheus 2.42 takes about 110 ms and 360 MB for the same on this machine class.)
//  2. From the engine step that makes an alert fire to the notification leaving the outbox
//     (SQLite on disk, WAL, group wait 0): median latency.
//  3. The outbox's sustained delivery rate to a trivial receiver, in notifications per second.
// A driver that prints figures: never part of pass/fail.
//
//   ninja -C build/default bench_alerting && build/default/bin/bench_alerting
#include "alerts/engine.hpp"
#include "outbox/database.hpp"
#include "outbox/delivery.hpp"
#include "rules/rule_set.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRounds = 15;  // evaluations of all 1,000 rules, per variant

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string error_;

// One way of writing the 1,000 rules, with its own alert engine and SQLite database.
struct Variant {
  std::unique_ptr<rules::RuleSet> set;
  std::unique_ptr<outbox::Database> db;
  std::unique_ptr<alerts::Engine> engine;
  std::vector<double> total_ms, rules_ms;  // per round: everything, and the rules alone
};

Variant load_variant(const std::filesystem::path& dir, bool lua_eval) {
  std::ofstream out(dir / (lua_eval ? "eval.lua" : "expr.lua"));
  out << "for i = 1, 1000 do\n";
  if (lua_eval)
    out << "  local sel = 'bench_metric{id=\"' .. i .. '\"}'\n"
           "  rule { name = 'bench_' .. i, ['for'] = '1m', above = 0.9, eval = function(q)\n"
           "    local out = {}\n"
           "    for _, s in ipairs(q.select(sel)) do out[#out + 1] = { labels = s.labels, value = "
           "s:last() } end\n"
           "    return out\n"
           "  end }\n";
  else
    out << "  rule { name = 'bench_' .. i, ['for'] = '1m', above = 0.9,\n"
           "         expr = 'bench_metric{id=\"' .. i .. '\"}' }\n";
  out << "end\n";
  out.close();
  std::vector<std::string> errors;
  rules::Limits limits;
  Variant v;
  v.set = rules::RuleSet::load({dir / (lua_eval ? "eval.lua" : "expr.lua")}, limits, errors);
  if (!v.set) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::exit(1);
  }
  // The alert engine takes every evaluation, with its state in SQLite on disk, as in the daemon.
  v.db = outbox::Database::open((dir / (lua_eval ? "eval.db" : "expr.db")).string(), error_);
  v.engine = std::make_unique<alerts::Engine>(*v.db);
  v.engine->set_rules(v.set->specs(), wall_ms());
  alerts::Routing routing;
  routing.root.receiver = "sink";
  v.engine->set_routing(routing);
  return v;
}

// One evaluation of all 1,000 rules at `now_ms`, and the engine's step over their results.
void run_round(Variant& v, rules::DataSource& source, int64_t now_ms) {
  const auto t0 = Clock::now();
  size_t entering = 0;
  std::vector<alerts::RuleEvaluation> evaluations;
  evaluations.reserve(v.set->specs().size());
  for (size_t i = 0; i < v.set->specs().size(); ++i) {
    evaluations.push_back(v.set->evaluate(i, now_ms, source));
    for (const auto& inst : evaluations.back().instances) entering += inst.enter;
  }
  const auto t1 = Clock::now();
  v.engine->apply_all(evaluations, now_ms);
  v.rules_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  v.total_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  if (entering != 100) std::fprintf(stderr, "unexpected: %zu alerts\n", entering);
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("vigil-bench-alerting-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const long rss_start = rss_kib();

  // 100,000 series of one family; every 10th of the first 1,000 is above the threshold.
  store::Store store;
  vigil_family_desc d{};
  d.size = sizeof d;
  d.name = "bench_metric";
  d.help = "bench";
  d.type = VIGIL_METRIC_GAUGE;
  std::string error;
  auto family = store.register_family(d, error);
  for (int i = 1; i <= 100'000; ++i) {
    auto id = store.register_series(family, {{"id", std::to_string(i)}}, 0, 0, error);
    store.write(id, (i <= 1000 && i % 10 == 0) ? 0.95 : 0.5, 0);
  }
  // The two variants take turns, round by round, so a busy machine weighs on both alike.
  {
    Variant expr = load_variant(dir, false);
    Variant eval = load_variant(dir, true);
    rules::StoreSource source(store, {});
    const int64_t now = wall_ms();
    for (int r = 0; r < kRounds; ++r) {
      // Which goes first alternates too: a commit right after the other's waits on the disk.
      Variant& first = r % 2 ? eval : expr;
      Variant& second = r % 2 ? expr : eval;
      run_round(first, source, now + r * 15'000);
      run_round(second, source, now + r * 15'000);
    }
    const long rss_rules = rss_kib();
    std::printf(
        "1,000 threshold rules over 100,000 series, alert state in SQLite: %.2f ms per evaluation "
        "as expr rules, %.2f ms as Lua eval functions [median of %d, taking turns; target <= 10 "
        "ms]\n",
        median(expr.total_ms), median(eval.total_ms), kRounds);
    std::printf(
        "  of which the rules alone (without the engine's step): %.2f ms as expr rules, %.2f ms "
        "as Lua eval functions\n",
        median(expr.rules_ms), median(eval.rules_ms));
    std::printf(
        "RSS: %.1f MiB for the process with the store and both rule sets loaded "
        "(%.1f MiB at start) [target <= 60 MB]\n",
        rss_rules / 1024.0, rss_start / 1024.0);
  }

  // Fire -> out of the outbox, on an on-disk SQLite database.
  {
    auto db = outbox::Database::open((dir / "latency.db").string(), error);
    alerts::Engine engine(*db);
    alerts::RuleSpec rule;
    rule.name = "Latency";
    engine.set_rules({rule}, wall_ms());
    alerts::Routing routing;
    routing.root.receiver = "sink";
    routing.root.group_by = {"..."};
    routing.root.group_wait_ms = 0;
    engine.set_routing(routing);
    outbox::Delivery delivery(*db);
    std::atomic<int64_t> received_ns{0};
    outbox::ReceiverOptions sink;
    sink.deliver = [&](const alerts::Notification&, int, std::string&, int64_t&) {
      received_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
              .count();
      return outbox::Outcome::ok;
    };
    delivery.set_receivers({{"sink", sink}});
    delivery.start();
    std::vector<double> latencies;
    for (int i = 0; i < 200; ++i) {
      alerts::RuleEvaluation e;
      e.rule = "Latency";
      e.instances.push_back({{{"n", std::to_string(i)}}, 1.0, true, true});
      received_ns = 0;
      const auto t0 = Clock::now();
      engine.apply(e, wall_ms());
      delivery.wake();
      while (received_ns == 0) std::this_thread::yield();
      const auto t1 = std::chrono::nanoseconds(received_ns.load());
      latencies.push_back(
          std::chrono::duration<double, std::milli>(t1 - t0.time_since_epoch()).count());
    }
    delivery.stop(std::chrono::seconds(2));
    std::printf(
        "fire -> notification out of the outbox (SQLite WAL on disk, group wait 0): "
        "%.2f ms median, %.2f ms p95 [200 alerts; target <= 5 ms]\n",
        median(latencies), [&] {
          auto v = latencies;
          std::sort(v.begin(), v.end());
          return v[v.size() * 95 / 100];
        }());
  }

  // Sustained delivery: 5,000 notifications committed in batches of 50, delivered as they come.
  {
    std::vector<double> rates;
    for (int run = 0; run < 3; ++run) {
      auto db =
          outbox::Database::open((dir / ("rate" + std::to_string(run) + ".db")).string(), error);
      outbox::Delivery delivery(*db);
      std::atomic<int> delivered{0};
      outbox::ReceiverOptions sink;
      sink.deliver = [&](const alerts::Notification&, int, std::string&, int64_t&) {
        ++delivered;
        return outbox::Outcome::ok;
      };
      delivery.set_receivers({{"sink", sink}});
      delivery.start();
      const auto t0 = Clock::now();
      const int64_t now = wall_ms();
      for (int b = 0; b < 100; ++b) {
        alerts::Batch batch;
        for (int i = 0; i < 50; ++i) {
          alerts::Notification n;
          n.idempotency_key = "k" + std::to_string(b) + "-" + std::to_string(i);
          n.receiver = "sink";
          n.status = "firing";
          n.created_ms = now;
          n.payload_json = R"({"status":"firing","alerts":[]})";
          batch.notifications.push_back(std::move(n));
        }
        db->commit(batch, error);
        delivery.wake();
      }
      while (delivered < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      rates.push_back(5000 / seconds);
      delivery.stop(std::chrono::seconds(2));
    }
    std::printf(
        "outbox: %.0f notifications/s sustained to one receiver (5,000, committed in "
        "batches of 50, each delivery recorded) [median of 3; target >= 1,000/s]\n",
        median(rates));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
