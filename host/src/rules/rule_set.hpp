// The Lua side of alerting: rule files turned into rules, routes, escalation policies,
// inhibition rules and time windows, and the evaluation of each rule against a DataSource.
//
// Every file runs in a sandboxed Lua 5.4 state of its own (sandbox.cpp): text chunks only, no
// io/os.execute/debug/C modules, require only from the configured script directories, an
// instruction budget per evaluation and a memory cap per state. A script error fails that rule's
// evaluation with "file:line: rule NAME: message" and leaves every other rule running.
// Building a RuleSet has no side effects, so a reload builds the new one first and swaps it in
// only when it loaded cleanly.
#pragma once

#include "alerts/model.hpp"
#include "rules/data_source.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::rules {

struct Limits {
  uint64_t instruction_budget = 10'000'000;  // per evaluation (and per file load)
  size_t memory_limit_bytes = 64u << 20;     // per Lua state
  // CPU time per evaluation (and per file load): what the instruction budget cannot see, library
  // calls that each do much work for few instructions (table.insert(t, 1, x) in a loop over a
  // large table). Checked every 1,000 instructions, counted from the first check. 0 = none.
  int64_t time_limit_ms = 2'000;
  std::vector<std::filesystem::path> script_dirs;
  int64_t default_interval_ms = 30'000;
};

struct FileState;  // one Lua state (sandbox.cpp)
struct CompiledRule;

// Thread-safety: not thread-safe; the alerting thread (or test-rules) uses it. PolicyStep
// conditions in routing() call into the Lua state and must be called from that thread too.
class RuleSet {
 public:
  // Loads every .lua file named (directories: their *.lua files, sorted). On any error returns
  // null and appends every message (all files, all errors) to `errors`.
  static std::unique_ptr<RuleSet> load(const std::vector<std::filesystem::path>& paths,
                                       const Limits& limits, std::vector<std::string>& errors);
  ~RuleSet();

  const std::vector<alerts::RuleSpec>& specs() const { return specs_; }
  const alerts::Routing& routing() const { return routing_; }
  // The index of the rule named `name` in specs(), or nullopt.
  std::optional<size_t> find(std::string_view name) const;
  // When the next rule is due (INT64_MIN before the first evaluate_due: every rule is due).
  int64_t next_due_ms() const;
  // The indexes of the rules due at `now_ms`; evaluate_due runs exactly these.
  std::vector<size_t> due(int64_t now_ms) const;
  // Evaluates the rules due at `now_ms` (each on its interval, the first time at once) and
  // schedules each one's next run on its interval's grid.
  std::vector<alerts::RuleEvaluation> evaluate_due(int64_t now_ms, DataSource& data);
  // Evaluates one rule now, whether due or not (its schedule is left alone). A failing script
  // gives ok = false and error "file:line: rule NAME: what Lua said"; nothing is thrown.
  alerts::RuleEvaluation evaluate(size_t index, int64_t now_ms, DataSource& data);

 private:
  RuleSet() = default;
  std::vector<std::shared_ptr<FileState>> files_;
  std::vector<std::unique_ptr<CompiledRule>> rules_;
  std::vector<alerts::RuleSpec> specs_;
  std::vector<int64_t> next_due_;
  alerts::Routing routing_;
};

}  // namespace vigil::rules
