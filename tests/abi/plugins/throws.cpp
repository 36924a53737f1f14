// A collector on the SDK's C++ layer whose collect() throws after writing a sample. The host
// must see an INTERNAL status with the exception's text, keep the sample, and keep running.
// Also built with clang++ (TEST_PLUGIN_NAME=test_clang_throws) to cross compilers.
#include <vigil/sdk.hpp>

#include <stdexcept>

#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME test_throws
#endif
#define TEST_STR2(x) #x
#define TEST_STR(x) TEST_STR2(x)

namespace {

class Throws final : public vigil::Collector {
 public:
  vigil::Status collect(vigil::Emitter& out) override {
    out.counter(TEST_STR(TEST_PLUGIN_NAME) "_attempts_total", ++attempts_);
    throw std::runtime_error("boom from collect");
  }

 private:
  double attempts_ = 0;
};

}  // namespace

VIGIL_PLUGIN(TEST_STR(TEST_PLUGIN_NAME), "1.0.0",
             vigil::collector<Throws>("Throws from collect() on every run."));
