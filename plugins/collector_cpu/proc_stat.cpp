// Parsing of /proc/stat and the monotonic bookkeeping; see proc_stat.hpp.
//
// Hand-written scanning with std::from_chars: it runs on every collect and must stay cheap.
// It must never throw on malformed input: it returns false with a message instead.
#include "proc_stat.hpp"

#include <algorithm>
#include <charconv>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_cpu {
namespace {

constexpr std::size_t kMaxQuotedLine = 80;
constexpr int kMaxCpu = 65535;

std::string quote_line(std::string_view line) {
  return procfs::quote_line(line, kMaxQuotedLine);
}

void skip_spaces(std::string_view& s) {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  s.remove_prefix(i);
}

// Reads the next whitespace-separated unsigned integer; false when none is left or it is not
// a number. `present` tells the two apart.
bool next_u64(std::string_view& s, std::uint64_t& value, bool& present) {
  skip_spaces(s);
  present = !s.empty();
  if (!present) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || (ptr != s.data() + s.size() && *ptr != ' ' && *ptr != '\t')) {
    return false;
  }
  s.remove_prefix(static_cast<std::size_t>(ptr - s.data()));
  return true;
}

std::string_view first_word(std::string_view line) {
  std::size_t end = line.find_first_of(" \t");
  return end == std::string_view::npos ? line : line.substr(0, end);
}

bool parse_cpu_line(std::string_view line, std::string_view word, double user_hz,
                    std::size_t line_no, CpuTimes& cpu, std::string& error) {
  std::string_view digits = word.substr(3);
  int number = -1;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || number < 0) {
    error = "line " + std::to_string(line_no) + ": expected a CPU name like 'cpu0', found " +
            quote_line(line);
    return false;
  }
  if (number > kMaxCpu) {
    // The plugin indexes its series by CPU number; no kernel numbers CPUs this high.
    error = "line " + std::to_string(line_no) + ": expected a CPU number up to " +
            std::to_string(kMaxCpu) + ", found " + quote_line(line);
    return false;
  }
  cpu.cpu = number;
  std::string_view rest = line.substr(word.size());
  // user nice system idle iowait irq softirq steal guest guest_nice
  constexpr std::size_t kColumns = kModeCount + kGuestModeCount;
  std::size_t parsed = 0;
  for (; parsed < kColumns; ++parsed) {
    std::uint64_t jiffies = 0;
    bool present = false;
    if (!next_u64(rest, jiffies, present)) {
      if (!present) break;  // an older kernel prints fewer columns: the rest stay 0
      error = "line " + std::to_string(line_no) + ": expected jiffy counts after '" +
              std::string(word) + "', found " + quote_line(line);
      return false;
    }
    double seconds = static_cast<double>(jiffies) / user_hz;
    if (parsed < kModeCount) {
      cpu.modes[parsed] = seconds;
    } else {
      cpu.guest[parsed - kModeCount] = seconds;
    }
  }
  if (parsed == 0) {
    error = "line " + std::to_string(line_no) + ": expected jiffy counts after '" +
            std::string(word) + "', found none";
    return false;
  }
  return true;
}

bool parse_single(std::string_view line, std::string_view word, std::size_t line_no,
                  std::optional<double>& out, std::string& error) {
  std::string_view rest = line.substr(word.size());
  std::uint64_t value = 0;
  bool present = false;
  if (!next_u64(rest, value, present)) {
    error = "line " + std::to_string(line_no) + ": expected a number after '" + std::string(word) +
            "', found " + quote_line(line);
    return false;
  }
  out = static_cast<double>(value);
  return true;
}

}  // namespace

bool parse_proc_stat(std::string_view text, double user_hz, ProcStat& out, std::string& error) {
  out = ProcStat{};
  if (!(user_hz > 0)) {
    error = "USER_HZ must be positive, got " + std::to_string(user_hz);
    return false;
  }
  std::size_t lines = 0;
  const bool parsed = procfs::for_each_line(text, [&](std::string_view line, std::size_t line_no) {
    lines = line_no;
    std::string_view word = first_word(line);
    if (word.size() > 3 && word.substr(0, 3) == "cpu") {
      CpuTimes cpu;
      if (!parse_cpu_line(line, word, user_hz, line_no, cpu, error)) return false;
      out.cpus.push_back(cpu);
      return true;
    }
    if (word == "intr") return parse_single(line, word, line_no, out.interrupts, error);
    if (word == "ctxt") return parse_single(line, word, line_no, out.context_switches, error);
    if (word == "btime") return parse_single(line, word, line_no, out.boot_time, error);
    if (word == "processes") return parse_single(line, word, line_no, out.forks, error);
    if (word == "procs_running") return parse_single(line, word, line_no, out.procs_running, error);
    if (word == "procs_blocked") return parse_single(line, word, line_no, out.procs_blocked, error);
    return true;
  });
  if (!parsed) return false;
  if (out.cpus.empty()) {
    error = "expected at least one per-CPU line ('cpu0 ...'), found none in " +
            std::to_string(lines) + " lines";
    return false;
  }
  return true;
}

const std::vector<CpuTimes>& MonotonicCpuTimes::update(const std::vector<CpuTimes>& fresh) {
  current_.clear();
  std::map<int, CpuTimes> next;
  for (const CpuTimes& now : fresh) {
    auto it = state_.find(now.cpu);
    CpuTimes kept = now;
    if (it != state_.end()) {
      const CpuTimes& before = it->second;
      constexpr std::size_t kIdle = 3;
      bool replugged = before.modes[kIdle] - now.modes[kIdle] >= kJumpBackSeconds;
      if (!replugged) {
        for (std::size_t m = 0; m < kModeCount; ++m) {
          kept.modes[m] = std::max(before.modes[m], now.modes[m]);
        }
        for (std::size_t g = 0; g < kGuestModeCount; ++g) {
          kept.guest[g] = std::max(before.guest[g], now.guest[g]);
        }
      }
    }
    next[now.cpu] = kept;
    current_.push_back(kept);
  }
  state_.swap(next);
  return current_;
}

}  // namespace vigil::collector_cpu
