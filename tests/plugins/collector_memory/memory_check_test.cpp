// The memory health check's verdict against fixture meminfo files: each status, and the
// one-line message a person reads on /api/v1/health.
#include "memory_check.hpp"

#include <catch2/catch.hpp>

#include "files.hpp"

using namespace vigil::collector_memory;

namespace {

std::vector<MeminfoField> fixture(const std::string& name) {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo(vigil::testing::read_fixture(name + "/meminfo"), fields, error));
  return fields;
}

MemoryThresholds with_swap(double warning, double critical) {
  MemoryThresholds t;
  t.swap_warning = warning;
  t.swap_critical = critical;
  return t;
}

}  // namespace

TEST_CASE("memory below 80% is ok, with used and total in the message") {
  auto v = evaluate_memory(fixture("typical"), {});
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message == "memory 39.9% used (6.2 GiB of 15.5 GiB)");
}

TEST_CASE("memory at 83.1% is a warning at the default thresholds") {
  auto v = evaluate_memory(fixture("warning"), {});
  CHECK(v.status == VIGIL_HEALTH_WARNING);
  CHECK(v.message == "memory 83.1% used (6.6 GiB of 7.9 GiB), warning at 80%");
}

TEST_CASE("memory at 93.9% is critical at the default thresholds") {
  auto v = evaluate_memory(fixture("critical"), {});
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == "memory 93.9% used (14.6 GiB of 15.5 GiB), critical at 90%");
}

TEST_CASE("thresholds are inclusive and configurable") {
  MemoryThresholds t;
  t.warning = 83.1;
  t.critical = 95;
  CHECK(evaluate_memory(fixture("warning"), t).status == VIGIL_HEALTH_OK);  // 83.09999...
  t.warning = 83;
  CHECK(evaluate_memory(fixture("warning"), t).status == VIGIL_HEALTH_WARNING);
  t.critical = 83;
  auto v = evaluate_memory(fixture("warning"), t);
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message == "memory 83.1% used (6.6 GiB of 7.9 GiB), critical at 83%");
}

TEST_CASE("without MemAvailable (kernels before 3.14) free + buffers + cache stands in") {
  auto v = evaluate_memory(fixture("old_kernel"), {});
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK(v.message ==
        "memory 60.9% used (1.2 GiB of 2.0 GiB) (estimated from MemFree + Buffers + Cached: no "
        "MemAvailable)");
}

TEST_CASE("swap is judged only when a swap threshold is set") {
  auto plain = evaluate_memory(fixture("swapping"), {});
  CHECK(plain.status == VIGIL_HEALTH_OK);
  CHECK(plain.message == "memory 50.0% used (3.9 GiB of 7.9 GiB)");

  auto judged = evaluate_memory(fixture("swapping"), with_swap(80, 90));
  CHECK(judged.status == VIGIL_HEALTH_WARNING);
  CHECK(judged.message ==
        "memory 50.0% used (3.9 GiB of 7.9 GiB); swap 85.0% used (1.7 GiB of 2.0 GiB), warning "
        "at 80%");

  auto critical = evaluate_memory(fixture("swapping"), with_swap(50, 85));
  CHECK(critical.status == VIGIL_HEALTH_CRITICAL);

  MemoryThresholds only_critical;
  only_critical.swap_critical = 86;
  CHECK(evaluate_memory(fixture("swapping"), only_critical).status == VIGIL_HEALTH_OK);
}

TEST_CASE("the worse of memory and swap wins") {
  // critical memory, swap at 50%: still critical.
  auto v = evaluate_memory(fixture("critical"), with_swap(80, 90));
  CHECK(v.status == VIGIL_HEALTH_CRITICAL);
  CHECK(v.message ==
        "memory 93.9% used (14.6 GiB of 15.5 GiB), critical at 90%; swap 50.0% used (1.0 GiB "
        "of 2.0 GiB)");
}

TEST_CASE("a machine without swap says so instead of judging it") {
  auto v = evaluate_memory(fixture("old_kernel"), with_swap(10, 20));
  CHECK(v.status == VIGIL_HEALTH_OK);
  CHECK_THAT(v.message, Catch::EndsWith("; no swap"));
}

TEST_CASE("meminfo without MemTotal is unknown, naming what is missing") {
  std::vector<MeminfoField> fields;
  std::string error;
  REQUIRE(parse_meminfo("MemFree: 100 kB\n", fields, error));
  auto v = evaluate_memory(fields, {});
  CHECK(v.status == VIGIL_HEALTH_UNKNOWN);
  CHECK_THAT(v.message, Catch::Contains("no MemTotal line"));
}
