// Parsing of /proc/meminfo; see meminfo.hpp for the naming rules.
//
// Mirrors node_exporter's parser line for line (fields split on whitespace, value parsed as a
// float, two or three columns), so an odd kernel line is named the same way by both. It must
// never throw on malformed input: it returns false with a message instead.
#include "meminfo.hpp"

#include <charconv>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_memory {
namespace {

constexpr std::size_t kMaxColumns = 4;

std::string describe_line(std::size_t line_no, std::string_view line) {
  return "line " + std::to_string(line_no) + " '" + std::string(line.substr(0, 80)) + "'";
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Splits like Go's strings.Fields; returns how many columns there were (capped one past
// kMaxColumns, which is enough to reject the line).
std::size_t split_fields(std::string_view line, std::string_view (&cols)[kMaxColumns]) {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) break;
    std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (n < kMaxColumns) cols[n] = line.substr(start, i - start);
    ++n;
    if (n > kMaxColumns) break;
  }
  return n;
}

// Go's regexp `\((.*)\)` replaced by "_${1}": the leftmost '(' up to the last ')' after it.
std::string rename_parentheses(std::string_view key) {
  std::size_t open = key.find('(');
  if (open == std::string_view::npos) return std::string(key);
  std::size_t close = key.rfind(')');
  if (close == std::string_view::npos || close < open) return std::string(key);
  std::string out(key.substr(0, open));
  out.push_back('_');
  out.append(key.substr(open + 1, close - open - 1));
  out.append(key.substr(close + 1));
  return out;
}

bool valid_name_part(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    if (!ok) return false;
  }
  return !s.empty();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool parse_meminfo(std::string_view text, std::vector<MeminfoField>& out, std::string& error) {
  out.clear();
  const bool parsed = procfs::for_each_line(text, [&](std::string_view line, std::size_t line_no) {
    std::string_view cols[kMaxColumns];
    std::size_t n = split_fields(line, cols);
    if (n == 0) return true;  // some kernels print blank lines
    if (n < 2 || n > 3) {
      error = describe_line(line_no, line) +
              ": expected 'Key: value' or 'Key: value kB' (2 or 3 columns), found " +
              (n > 3 ? std::string("more than 3") : std::to_string(n)) + " columns";
      return false;
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(cols[1].data(), cols[1].data() + cols[1].size(), value);
    if (ec != std::errc() || ptr != cols[1].data() + cols[1].size()) {
      error = describe_line(line_no, line) + ": expected a number in the second column, found '" +
              std::string(cols[1]) + "'";
      return false;
    }
    // node_exporter drops the last character, which is the ':' on every kernel.
    std::string key = rename_parentheses(cols[0].substr(0, cols[0].size() - 1));
    if (n == 3) {
      value *= 1024;
      key += "_bytes";
    }
    if (!valid_name_part(key)) {
      error = describe_line(line_no, line) + ": key '" + key +
              "' would not make a valid metric name (expected letters, digits and '_')";
      return false;
    }
    MeminfoField field;
    field.counter = ends_with(key, "_total");
    field.metric = "node_memory_" + key;
    field.key = std::move(key);
    field.value = value;
    out.push_back(std::move(field));
    return true;
  });
  if (!parsed) return false;
  if (out.empty()) {
    error = "expected lines like 'MemTotal: 16307572 kB', found none";
    return false;
  }
  return true;
}

std::string meminfo_help(const MeminfoField& field) {
  return "Memory information field " + field.key + ".";
}

}  // namespace vigil::collector_memory
