// bench_trivial: the smallest useful collector, for bench_abi to time one collect() through the
// host's real call path (loader::Instance -> C ABI -> the SDK's noexcept trampoline -> the
// plugin's virtual collect() -> back through host services).
//
// With option work = "gauge" (the default) collect() sets one gauge by handle, which crosses the
// ABI a second time (api->write into the host's store); with work = "none" it returns at once, so
// only the call itself is measured. It must never do more than that: bench_abi subtracts the cost
// of the same work done by a plain function, and anything extra here would count as ABI overhead.
#include <vigil/sdk.hpp>

#include <string>

namespace {

// Thread-safety: collect() runs on one thread at a time (the host's rule, and bench_abi's).
class BenchTrivial final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    const std::string work = cfg.string("work");
    if (work == "gauge") {
      gauge_ = host().gauge("bench_trivial_value");
    } else if (work != "none") {
      return vigil::Status::invalid_argument("option \"work\" is \"" + work +
                                             "\"; expected \"gauge\" or \"none\"");
    }
    return vigil::Status::ok();
  }

  vigil::Status collect(vigil::Emitter&) override {
    if (gauge_ && !gauge_.set(value_)) {
      return vigil::Status::internal("the host refused the write to bench_trivial_value");
    }
    value_ += 1.0;
    return vigil::Status::ok();
  }

 private:
  vigil::Gauge gauge_;
  double value_ = 0.0;
};

}  // namespace

VIGIL_PLUGIN("bench_trivial", "1.0.0",
             vigil::collector<BenchTrivial>("One gauge write per call, for the ABI benchmark")
                 .option("work", vigil::String, "gauge",
                         "\"gauge\": set one gauge per collect(); \"none\": do nothing"));
