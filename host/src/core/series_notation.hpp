// The compact series notation of `vigil test-rules` (promtool's, so users know it already):
//   "1 2 3"        three samples, one per step
//   "0+10x5"       0 10 20 30 40 50  (start, increment, then that many more steps)
//   "100-5x3"      100 95 90 85
//   "7x3"          7 7 7 7
//   "_" / "_x3"    no sample at that step (one, or four)
//   "stale"        the series stops here (no sample from this step on, until a later value)
// and its health variant: "ok ok criticalx3 warning unknown _" (or 0..3 for the statuses).
// Parsing never throws; a bad token comes back as an error naming it, its position and what
// was expected.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::core {

// One step of an expanded series: a value, nothing, or the point where the series goes stale.
struct Step {
  enum Kind { value, missing, stale } kind = missing;
  double v = 0;
};

// Expands `text`; on error returns nullopt and sets `error`, e.g.
// `token 2 "0+x5": found "x5" after "+", expected a number`.
std::optional<std::vector<Step>> expand_series(std::string_view text, std::string& error);

// Health results: each step holds 0 ok, 1 warning, 2 critical, 3 unknown (Step::value), or
// missing. "stale" is not allowed here.
std::optional<std::vector<Step>> expand_health(std::string_view text, std::string& error);

}  // namespace vigil::core
