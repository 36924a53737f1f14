// Parsing of procfs' diskstats file; see diskstats.hpp.
//
// string_view scanning and std::from_chars: it runs on every collect and must stay cheap. It must
// never throw on malformed input.
#include "diskstats.hpp"

#include <charconv>

#include "vigil_plugin_procfs/procfs.hpp"

namespace vigil::collector_diskstats {
namespace {

std::string_view next_token(std::string_view& rest) {
  std::size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  std::size_t end = rest.find_first_of(" \t");
  std::string_view token = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return token;
}

template <typename T>
bool to_number(std::string_view token, T& value) {
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  return !token.empty() && ec == std::errc() && ptr == token.data() + token.size();
}

std::string quote(std::string_view line) {
  return procfs::quote_line(line, 100);
}

// Where an old kernel's four partition statistics go.
constexpr DiskField kOldPartitionFields[4] = {kReadsCompleted, kSectorsRead, kWritesCompleted,
                                              kSectorsWritten};
constexpr std::size_t kMinFullFields = 11;

}  // namespace

bool parse_diskstats(std::string_view text, std::vector<DiskStats>& out, std::string& error) {
  out.clear();
  return procfs::for_each_line(text, [&](std::string_view line, std::size_t number) {
    std::string_view rest = line;
    std::string_view major = next_token(rest);
    if (major.empty()) return true;  // blank line
    std::string_view minor = next_token(rest);
    DiskStats d;
    d.name = next_token(rest);
    if (!to_number(major, d.major) || !to_number(minor, d.minor) || d.name.empty()) {
      error = "line " + std::to_string(number) +
              ": expected 'MAJOR MINOR DEVICE' followed by statistics, found " + quote(line);
      return false;
    }
    std::uint64_t values[kDiskFieldCount] = {};
    std::size_t count = 0;
    for (std::string_view token = next_token(rest); !token.empty(); token = next_token(rest)) {
      std::uint64_t value = 0;
      if (!to_number(token, value)) {
        error = "line " + std::to_string(number) + ": expected whole numbers after '" +
                std::string(d.name) + "', found '" + std::string(token.substr(0, 24)) +
                "' as statistic " + std::to_string(count + 1) + " in " + quote(line);
        return false;
      }
      if (count < kDiskFieldCount) values[count] = value;
      ++count;
    }
    if (count == 4) {
      for (std::size_t i = 0; i < 4; ++i) {
        d.values[kOldPartitionFields[i]] = values[i];
        d.present |= 1u << kOldPartitionFields[i];
      }
    } else if (count >= kMinFullFields) {
      const std::size_t used = count < kDiskFieldCount ? count : kDiskFieldCount;
      for (std::size_t i = 0; i < used; ++i) {
        d.values[i] = values[i];
        d.present |= 1u << i;
      }
    } else {
      error = "line " + std::to_string(number) +
              ": expected 4, 11, 15, 17 or more statistics for '" + std::string(d.name) +
              "', found " + std::to_string(count) + " in " + quote(line);
      return false;
    }
    out.push_back(d);
    return true;
  });
}

}  // namespace vigil::collector_diskstats
