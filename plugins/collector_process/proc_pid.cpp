// See proc_pid.hpp.
#include "proc_pid.hpp"

#include <charconv>

namespace vigil::collector_process {
namespace {

bool to_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Signed fields (rss can read as a negative number on some kernels for exiting processes) are
// clamped at 0 rather than refused.
bool to_u64_clamped(std::string_view text, uint64_t& out) {
  if (!text.empty() && text.front() == '-') {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return false;
    out = 0;
    return true;
  }
  return to_u64(text, out);
}

}  // namespace

bool parse_pid_stat(std::string_view text, PidStat& out, std::string& error) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    error = "expected 'PID (NAME) STATE ...', found '" + std::string(text.substr(0, 80)) + "'";
    return false;
  }
  out.comm = std::string(text.substr(open + 1, close - open - 1));

  // Fields after the name, numbered as in proc(5): the state is field 3.
  std::string_view rest = text.substr(close + 1);
  std::string_view fields[22];
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < rest.size() && count < 22) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t start = i;
    while (i < rest.size() && rest[i] != ' ') ++i;
    if (i > start) fields[count++] = rest.substr(start, i - start);
  }
  auto field = [&](int number) { return fields[number - 3]; };
  if (count < 22) {
    error = "expected at least 24 fields, found " + std::to_string(count + 2) + " in '" +
            std::string(text.substr(0, 120)) + "'";
    return false;
  }
  out.state = field(3).empty() ? '?' : field(3).front();
  struct Numeric {
    int number;
    uint64_t* target;
    const char* name;
  };
  const Numeric numeric[] = {{14, &out.utime_ticks, "utime"},
                             {15, &out.stime_ticks, "stime"},
                             {20, &out.num_threads, "num_threads"},
                             {22, &out.start_ticks, "starttime"},
                             {24, &out.rss_pages, "rss"}};
  for (const Numeric& n : numeric) {
    if (!to_u64_clamped(field(n.number), *n.target)) {
      error = "field " + std::to_string(n.number) + " (" + n.name +
              "): expected a number, found '" + std::string(field(n.number)) + "'";
      return false;
    }
  }
  return true;
}

std::optional<uid_t> parse_effective_uid(std::string_view status_text) {
  std::size_t at = 0;
  while (at < status_text.size()) {
    std::size_t nl = status_text.find('\n', at);
    std::string_view line = status_text.substr(at, nl == std::string_view::npos ? nl : nl - at);
    at = nl == std::string_view::npos ? status_text.size() : nl + 1;
    if (line.substr(0, 4) != "Uid:") continue;
    line.remove_prefix(4);
    // Second number: the effective uid.
    for (int column = 0; column < 2; ++column) {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      std::size_t end = line.find_first_of(" \t");
      std::string_view number = line.substr(0, end);
      if (column == 1) {
        uint64_t uid = 0;
        if (!to_u64(number, uid)) return std::nullopt;
        return static_cast<uid_t>(uid);
      }
      if (end == std::string_view::npos) return std::nullopt;
      line.remove_prefix(end);
    }
  }
  return std::nullopt;
}

std::string join_cmdline(std::string_view raw) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  std::string out(raw);
  for (char& c : out)
    if (c == '\0') c = ' ';
  return out;
}

}  // namespace vigil::collector_process
