// check_nagios: the output and perfdata parser (see nagios_output.hpp).
//
// Lenient by design, as Nagios itself is: a perfdata item that does not parse is skipped (and
// reported), never the whole output. Numbers accept a decimal comma, which checks print under
// some locales; the ';' separators keep that unambiguous.
#include "nagios_output.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace vigil::check_nagios {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// A decimal number (sign, digits, '.' or ',', exponent) at the start of `s`; its length in
// `used`. False when `s` does not start with one.
bool leading_number(std::string_view s, double& out, std::size_t& used) {
  std::string text;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) text += s[i++];
  bool digits = false;
  while (i < s.size() &&
         (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == ',')) {
    digits |= std::isdigit(static_cast<unsigned char>(s[i])) != 0;
    text += s[i] == ',' ? '.' : s[i];
    ++i;
  }
  if (!digits) return false;
  if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E') &&
      (std::isdigit(static_cast<unsigned char>(s[i + 1])) ||
       ((s[i + 1] == '-' || s[i + 1] == '+') && i + 2 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 2]))))) {
    text += 'e';
    ++i;
    if (s[i] == '-' || s[i] == '+') text += s[i++];
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) text += s[i++];
  }
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(out)) return false;
  used = i;
  return true;
}

bool whole_number(std::string_view s, double& out) {
  std::size_t used = 0;
  return leading_number(s, out, used) && used == s.size();
}

// `[@][start:][end]`; empty means not given.
bool parse_range(std::string_view s, double factor, std::optional<Range>& out) {
  s = trim(s);
  if (s.empty()) return true;
  Range r;
  if (s.front() == '@') {
    r.inside = true;
    s.remove_prefix(1);
  }
  std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    double end;
    if (!whole_number(s, end)) return false;
    r.upper = end * factor;
  } else {
    std::string_view start = s.substr(0, colon), end = s.substr(colon + 1);
    if (!start.empty() && start != "~") {
      double v;
      if (!whole_number(start, v)) return false;
      r.lower = v * factor;
    }
    if (!end.empty()) {
      double v;
      if (!whole_number(end, v)) return false;
      r.upper = v * factor;
    }
  }
  out = r;
  return true;
}

// Splits the perfdata text into items, honouring quoted labels ('a b'=1, 'it''s'=2).
std::vector<std::string> split_items(std::string_view text) {
  std::vector<std::string> items;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    std::string item;
    if (text[i] == '\'') {  // a quoted label: up to the closing quote ('' is a quote)
      item += text[i++];
      while (i < text.size()) {
        if (text[i] == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          item += "''";
          i += 2;
          continue;
        }
        item += text[i];
        if (text[i++] == '\'') break;
      }
    }
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) item += text[i++];
    items.push_back(std::move(item));
  }
  return items;
}

bool parse_item(const std::string& item, PerfItem& out, std::string& why) {
  std::string_view s = item;
  std::size_t eq;
  if (!s.empty() && s.front() == '\'') {
    std::string label;
    std::size_t i = 1;
    for (; i < s.size(); ++i) {
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          label += '\'';
          ++i;
          continue;
        }
        break;
      }
      label += s[i];
    }
    if (i >= s.size()) {
      why = "the quoted label is not closed";
      return false;
    }
    out.label = label;
    eq = i + 1;
    if (eq >= s.size() || s[eq] != '=') {
      why = "expected '=' after the label";
      return false;
    }
  } else {
    eq = s.find('=');
    if (eq == std::string_view::npos) {
      why = "expected label=value";
      return false;
    }
    out.label = std::string(s.substr(0, eq));
  }
  if (out.label.empty()) {
    why = "the label is empty";
    return false;
  }
  std::string_view rest = s.substr(eq + 1);
  std::vector<std::string_view> fields;
  for (;;) {
    std::size_t semi = rest.find(';');
    fields.push_back(rest.substr(0, semi));
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  std::string_view value_uom = fields[0];
  if (value_uom == "U") {
    why = "the value is U (undetermined)";
    return false;
  }
  double value;
  std::size_t used = 0;
  if (!leading_number(value_uom, value, used)) {
    why = "expected a number, found \"" + std::string(value_uom) + "\"";
    return false;
  }
  out.uom = std::string(value_uom.substr(used));
  Conversion c = convert_uom(out.uom);
  out.value = value * c.factor;
  out.unit = c.unit;
  if (fields.size() > 1 && !parse_range(fields[1], c.factor, out.warning)) {
    why = "cannot read the warning threshold \"" + std::string(fields[1]) + "\"";
    return false;
  }
  if (fields.size() > 2 && !parse_range(fields[2], c.factor, out.critical)) {
    why = "cannot read the critical threshold \"" + std::string(fields[2]) + "\"";
    return false;
  }
  for (std::size_t f = 3; f < 5 && f < fields.size(); ++f) {
    std::string_view t = trim(fields[f]);
    if (t.empty()) continue;
    double v;
    if (!whole_number(t, v)) {
      why = std::string("cannot read the ") + (f == 3 ? "min" : "max") + " \"" + std::string(t) +
            "\"";
      return false;
    }
    (f == 3 ? out.min : out.max) = v * c.factor;
  }
  return true;
}

}  // namespace

Conversion convert_uom(std::string_view uom) {
  struct Row {
    const char* uom;
    double factor;
    const char* unit;
  };
  // Byte multiples are binary, as monitoring-plugins' check_disk and check_swap compute them.
  static const Row kRows[] = {
      {"", 1, ""},
      {"s", 1, "seconds"},
      {"ms", 1e-3, "seconds"},
      {"us", 1e-6, "seconds"},
      {"ns", 1e-9, "seconds"},
      {"%", 1, "percent"},
      {"B", 1, "bytes"},
      {"KB", 1024.0, "bytes"},
      {"MB", 1024.0 * 1024, "bytes"},
      {"GB", 1024.0 * 1024 * 1024, "bytes"},
      {"TB", 1024.0 * 1024 * 1024 * 1024, "bytes"},
      {"PB", 1024.0 * 1024 * 1024 * 1024 * 1024, "bytes"},
      {"KiB", 1024.0, "bytes"},
      {"MiB", 1024.0 * 1024, "bytes"},
      {"GiB", 1024.0 * 1024 * 1024, "bytes"},
      {"TiB", 1024.0 * 1024 * 1024 * 1024, "bytes"},
      {"c", 1, "counter"},
  };
  for (const Row& r : kRows)
    if (uom == r.uom) return {r.factor, r.unit};
  return {1, std::string(uom)};
}

Output parse_output(std::string_view text) {
  Output out;
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  std::string perf;
  if (!lines.empty()) {
    std::string_view first = lines[0];
    std::size_t bar = first.find('|');
    out.message = std::string(trim(first.substr(0, bar)));
    if (bar != std::string_view::npos) perf = std::string(first.substr(bar + 1));
  }
  bool in_perf = false;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (in_perf) {
      perf += ' ';
      perf += line;
      continue;
    }
    std::size_t bar = line.find('|');
    if (bar == std::string_view::npos) {
      out.long_text.emplace_back(line);
      continue;
    }
    if (!trim(line.substr(0, bar)).empty()) out.long_text.emplace_back(line.substr(0, bar));
    perf += ' ';
    perf += line.substr(bar + 1);
    in_perf = true;
  }
  while (!out.long_text.empty() && trim(out.long_text.back()).empty()) out.long_text.pop_back();
  for (const std::string& item : split_items(perf)) {
    PerfItem p;
    std::string why;
    if (parse_item(item, p, why)) {
      out.perfdata.push_back(std::move(p));
    } else {
      out.skipped.push_back(item + ": " + why);
    }
  }
  return out;
}

}  // namespace vigil::check_nagios
