// Outbox benchmark: what one engine commit costs on disk (synchronous=NORMAL against FULL), how
// long a committed notification takes to reach a trivial receiver through the threaded delivery
// worker, and how many notifications per second the outbox sustains to one and to four
// receivers. Prints figures; never decides pass or fail.
//
//   bench_outbox [DIR]   DIR holds the databases (default: a new directory under $TMPDIR; give
//                        a directory on the disk vigil's data_dir would use, /tmp may be tmpfs)
#include "outbox/database.hpp"
#include "outbox/delivery.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::unique_ptr<outbox::Database> open(const std::filesystem::path& file, outbox::Sync sync) {
  std::string error;
  std::filesystem::remove(file);
  std::filesystem::remove(file.string() + "-wal");
  std::filesystem::remove(file.string() + "-shm");
  outbox::OpenOptions options;
  options.sync = sync;
  auto db = outbox::Database::open(file.string(), error, options);
  if (!db) {
    std::fprintf(stderr, "bench_outbox: %s\n", error.c_str());
    std::exit(1);
  }
  return db;
}

// What one evaluation that fires an alert typically commits.
alerts::Batch firing_batch(int i, const std::string& receiver, int64_t now) {
  alerts::Batch b;
  alerts::Alert a;
  a.fingerprint = "fp" + std::to_string(i);
  a.rule = "BenchAlert";
  a.labels = {{"alertname", "BenchAlert"}, {"id", std::to_string(i)}};
  a.state = alerts::State::firing;
  a.fired_at_ms = now;
  a.last_eval_ms = now;
  b.alerts.push_back(a);
  b.transitions.push_back({a.fingerprint, now, "pending", "firing", "value 1"});
  alerts::Group g;
  g.key = "0:{id=\"" + std::to_string(i) + "\"}";
  g.receiver = receiver;
  g.fingerprints = {a.fingerprint};
  g.sequence = 1;
  b.groups.push_back(g);
  alerts::Notification n;
  n.idempotency_key = g.key + "/1/" + receiver;
  n.receiver = receiver;
  n.group_key = g.key;
  n.status = "firing";
  n.created_ms = now;
  n.payload_json = R"({"status":"firing","alerts":[{"labels":{"alertname":"BenchAlert"}}]})";
  b.notifications.push_back(n);
  return b;
}

void commit_cost(const std::filesystem::path& dir, outbox::Sync sync, const char* name) {
  auto db = open(dir / "commit.db", sync);
  std::vector<double> us;
  std::string error;
  for (int i = 0; i < 1000; ++i) {
    auto batch = firing_batch(i, "sink", wall_ms());
    const auto t0 = Clock::now();
    if (!db->commit(batch, error)) std::fprintf(stderr, "commit: %s\n", error.c_str());
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::printf(
      "commit of one firing alert (alert + transition + group + notification), %s: "
      "%.0f us median, %.0f us p95 [1,000 commits]\n",
      name, percentile(us, 0.5), percentile(us, 0.95));
}

void latency(const std::filesystem::path& dir, outbox::Sync sync, const char* name) {
  auto db = open(dir / "latency.db", sync);
  outbox::Delivery delivery(*db);
  std::atomic<int64_t> received_ns{0};
  outbox::ReceiverOptions sink;
  sink.deliver = [&](const alerts::Notification&, int, std::string&, int64_t&) {
    received_ns = Clock::now().time_since_epoch().count();
    return outbox::Outcome::ok;
  };
  delivery.set_receivers({{"sink", sink}});
  delivery.start();
  std::vector<double> ms;
  std::string error;
  for (int i = 0; i < 500; ++i) {
    auto batch = firing_batch(i, "sink", wall_ms());
    received_ns = 0;
    const auto t0 = Clock::now();
    db->commit(batch, error);
    delivery.wake();
    while (received_ns == 0) std::this_thread::yield();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::duration(received_ns.load()) -
                                                           t0.time_since_epoch())
                     .count());
    // Let the worker record the delivery before the next commit, as between evaluations.
    while (db->depth() != 0) std::this_thread::yield();
  }
  delivery.stop(std::chrono::seconds(5));
  std::printf(
      "commit -> receiver called (threaded worker, trivial receiver), %s: %.2f ms median, "
      "%.2f ms p95 [500 notifications; target <= 5 ms median]\n",
      name, percentile(ms, 0.5), percentile(ms, 0.95));
}

void sustained(const std::filesystem::path& dir, int receivers) {
  auto db = open(dir / "rate.db", outbox::Sync::normal);
  outbox::Delivery delivery(*db);
  std::atomic<int> delivered{0};
  std::map<std::string, outbox::ReceiverOptions> options;
  for (int r = 0; r < receivers; ++r) {
    outbox::ReceiverOptions o;
    o.deliver = [&](const alerts::Notification&, int, std::string&, int64_t&) {
      ++delivered;
      return outbox::Outcome::ok;
    };
    options["sink" + std::to_string(r)] = o;
  }
  delivery.set_receivers(options);
  delivery.start();
  constexpr int kTotal = 20'000, kBatch = 100;
  std::string error;
  const auto t0 = Clock::now();
  for (int b = 0; b < kTotal / kBatch; ++b) {
    alerts::Batch batch;
    const int64_t now = wall_ms();
    for (int i = 0; i < kBatch; ++i) {
      alerts::Notification n;
      const int id = b * kBatch + i;
      n.receiver = "sink" + std::to_string(id % receivers);
      n.idempotency_key = "k" + std::to_string(id);
      n.status = "firing";
      n.created_ms = now;
      n.payload_json = R"({"status":"firing"})";
      batch.notifications.push_back(std::move(n));
    }
    db->commit(batch, error);
    delivery.wake();
  }
  while (db->depth() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  delivery.stop(std::chrono::seconds(5));
  std::printf(
      "sustained: %d notifications committed in batches of %d and delivered to %d "
      "receiver%s: %.0f notifications/s [target >= 1,000/s]\n",
      kTotal, kBatch, receivers, receivers == 1 ? "" : "s", delivered.load() / seconds);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::path dir = argc > 1 ? std::filesystem::path(argv[1])
                                       : std::filesystem::temp_directory_path() /
                                             ("bench_outbox-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::printf("databases in %s\n", dir.c_str());
  commit_cost(dir, outbox::Sync::normal, "WAL synchronous=NORMAL");
  commit_cost(dir, outbox::Sync::full, "WAL synchronous=FULL");
  latency(dir, outbox::Sync::normal, "NORMAL");
  latency(dir, outbox::Sync::full, "FULL");
  sustained(dir, 1);
  sustained(dir, 4);
  if (argc <= 1) std::filesystem::remove_all(dir);
  return 0;
}
