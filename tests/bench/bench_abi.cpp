// Benchmark of the plugin call path: what one collect() costs when it goes through the host's
// real machinery (loader::load of a built .so, loader::Instance::collect with its in-flight
// guard, clock reads and error buffer, the C ABI, the SDK's noexcept trampoline, the plugin's
// virtual collect(), and the host services table for the gauge write), against a plain function
// doing the same work in this process. The difference is the ABI overhead the issue bounds
// (target <= 1 us per call).
//
// It prints figures only and never fails on a timing: shared machines are noisy. It exits
// non-zero only when the plugin cannot be loaded or created, so run.sh can tell "could not run"
// from "slow". Usage: bench_abi [path/to/bench_trivial.so]
#include "config/config.hpp"
#include "loader/instance.hpp"
#include "loader/library.hpp"
#include "log/logging.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRuns = 5;
constexpr long kCalls = 1'000'000;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double median_ns_per_call(F&& body) {
  std::vector<double> runs;
  for (int r = 0; r < kRuns; ++r) {
    const auto start = Clock::now();
    for (long i = 0; i < kCalls; ++i) body();
    runs.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                   static_cast<double>(kCalls));
  }
  return median(runs);
}

// The baselines are kept out of line, as a call into a plugin always is; otherwise the compiler
// would fold a million of them into one and the "overhead" would include the loop it removed.
__attribute__((noinline)) bool direct_none(double& value) {
  value += 1.0;
  asm volatile("" : : "g"(&value) : "memory");
  return true;
}

__attribute__((noinline)) bool direct_gauge(vigil::store::Store& store, vigil_series_id id,
                                            double& value) {
  const bool ok = store.write(id, value, 0) == VIGIL_OK;
  value += 1.0;
  return ok;
}

struct Loaded {
  std::shared_ptr<vigil::loader::Instance> instance;
  std::string error;
};

Loaded create(const std::shared_ptr<vigil::loader::PluginLibrary>& library,
              vigil::store::Store& store, const std::string& work) {
  Loaded out;
  std::vector<vigil::config::Error> errors;
  const auto options =
      vigil::config::resolve_options(library->options(), nlohmann::json{{"work", work}},
                                     "instances[0].options", library->name(), errors);
  if (!errors.empty()) {
    out.error = "the options {\"work\": \"" + work + "\"} were refused (" +
                std::to_string(errors.size()) + " error(s)); is this bench_trivial.so?";
    return out;
  }
  vigil::config::InstanceConfig config;
  config.json_path = "instances[0]";
  config.plugin = library->name();
  config.name = "abi_" + work;
  vigil::loader::Services services;
  services.store = &store;
  // Interval 0: the series never go stale, whatever the run takes.
  out.instance =
      vigil::loader::Instance::create(library, config, options, std::chrono::milliseconds(0),
                                      std::chrono::seconds(5), services, out.error);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path =
      argc > 1 ? argv[1] : std::string(VIGIL_BENCH_PLUGIN_DIR) + "/bench_trivial.so";
  vigil::log::Options log_options;
  log_options.level = spdlog::level::warn;
  vigil::log::setup(log_options);

  vigil::loader::ScanNote note;
  auto library = vigil::loader::load(path, note);
  if (!library) {
    std::fprintf(stderr, "bench_abi: cannot load %s: %s\n", path.c_str(), note.message.c_str());
    return 1;
  }

  vigil::store::Store store;
  std::string error;
  const vigil_family_desc family_desc{
      sizeof(vigil_family_desc), "bench_direct_value", "bench", "", VIGIL_METRIC_GAUGE, nullptr, 0};
  const auto family = store.register_family(family_desc, error);
  const auto direct_id = store.register_series(family, {}, 0, 0, error);
  if (!direct_id) {
    std::fprintf(stderr, "bench_abi: registering the baseline series failed: %s\n", error.c_str());
    return 1;
  }

  std::printf(
      "collect() through the ABI vs the same work in a plain function "
      "[median of %d x %ld calls; target: overhead <= 1000 ns]\n",
      kRuns, kCalls);
  std::printf("  %-34s %10s %10s %10s\n", "work per call", "ABI ns", "direct ns", "overhead");
  for (const std::string work : {"none", "gauge"}) {
    Loaded loaded = create(library, store, work);
    if (!loaded.instance) {
      std::fprintf(stderr, "bench_abi: creating an instance of %s failed: %s\n", path.c_str(),
                   loaded.error.c_str());
      return 1;
    }
    vigil::loader::Instance& instance = *loaded.instance;
    long failures = 0;
    const double abi = median_ns_per_call([&] {
      if (!instance.collect().ok()) ++failures;
    });
    double value = 0.0;
    const double direct = work == "none" ? median_ns_per_call([&] {
      if (!direct_none(value)) ++failures;
    })
                                         : median_ns_per_call([&] {
                                             if (!direct_gauge(store, direct_id, value)) ++failures;
                                           });
    instance.shutdown(std::chrono::seconds(5));
    if (failures != 0) {
      std::fprintf(stderr, "bench_abi: %ld calls with work \"%s\" failed\n", failures,
                   work.c_str());
      return 1;
    }
    const char* label = work == "none" ? "none (empty collect)" : "gauge (one write by handle)";
    std::printf("  %-34s %10.1f %10.1f %10.1f\n", label, abi, direct, abi - direct);
    std::printf("RESULT abi_overhead_%s_ns %.1f\n", work.c_str(), abi - direct);
  }
  return 0;
}
