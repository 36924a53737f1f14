// Parsing of one PSI file; see psi.hpp.
//
// string_view scanning and std::from_chars: no locale, no allocation. It must never throw.
#include "psi.hpp"

#include <charconv>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_pressure {
namespace {

// Finds "total=N" among the line's space-separated key=value fields.
bool find_total(std::string_view fields, std::uint64_t& total) {
  while (!fields.empty()) {
    std::size_t end = fields.find(' ');
    std::string_view field = fields.substr(0, end);
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end + 1);
    constexpr std::string_view kKey = "total=";
    if (field.substr(0, kKey.size()) != kKey) continue;
    field.remove_prefix(kKey.size());
    auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), total);
    return !field.empty() && ec == std::errc() && ptr == field.data() + field.size();
  }
  return false;
}

}  // namespace

bool parse_pressure(std::string_view text, Pressure& out, std::string& error) {
  out = Pressure{};
  bool ok = procfs::for_each_line(text, [&](std::string_view line, std::size_t number) {
    std::size_t space = line.find(' ');
    std::string_view kind = line.substr(0, space);
    StallTotal* target = kind == "some" ? &out.some : kind == "full" ? &out.full : nullptr;
    if (target == nullptr) return true;
    std::string_view fields = space == std::string_view::npos ? "" : line.substr(space + 1);
    if (!find_total(fields, target->total_us)) {
      error = "line " + std::to_string(number) + ": expected '" + std::string(kind) +
              " avg10=.. avg60=.. avg300=.. total=MICROSECONDS', found '" +
              std::string(line.substr(0, 100)) + "'";
      return false;
    }
    target->present = true;
    return true;
  });
  if (!ok) return false;
  if (!out.some.present && !out.full.present) {
    error = "expected a 'some ... total=N' line, found none";
    return false;
  }
  return true;
}

}  // namespace vigil::collector_pressure
