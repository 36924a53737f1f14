// See groups.hpp.
#include "groups.hpp"

#include <pwd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <set>
#include <vector>

namespace vigil::collector_process {
namespace {

using nlohmann::json;

// The kernel keeps TASK_COMM_LEN - 1 characters of a process name.
constexpr std::size_t kCommMax = 15;

std::string kind_of(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

std::string shown(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + kind_of(v) + ")";
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::optional<uid_t> resolve_user(const std::string& name_or_uid) {
  if (all_digits(name_or_uid))
    return static_cast<uid_t>(std::strtoul(name_or_uid.c_str(), nullptr, 10));
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (::getpwnam_r(name_or_uid.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr)
    return std::nullopt;
  return found->pw_uid;
}

bool parse_groups(const std::string& json_text, std::vector<GroupSpec>& out, std::string& error,
                  const UserResolver& resolve) {
  out.clear();
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error =
        "option \"groups\" is not valid JSON; expected a list such as "
        "[{\"name\": \"nginx\", \"comm\": \"nginx\"}]";
    return false;
  }
  if (!doc.is_array() || doc.empty()) {
    error = "option \"groups\": found " + shown(doc) +
            ", expected a non-empty list of groups such as "
            "[{\"name\": \"nginx\", \"comm\": \"nginx\", \"min\": 1}]";
    return false;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const json& g = doc[i];
    const std::string where = "option \"groups\"[" + std::to_string(i) + "]";
    if (!g.is_object()) {
      error = where + ": found " + shown(g) + ", expected an object with \"name\" and at least " +
              "one of \"comm\", \"cmdline\", \"user\"";
      return false;
    }
    for (auto it = g.begin(); it != g.end(); ++it) {
      static const std::set<std::string> known = {"name", "comm", "cmdline", "user", "min", "max"};
      if (known.count(it.key()) == 0) {
        error = where + ": unknown key \"" + it.key() +
                "\"; expected name, comm, cmdline, user, min, max";
        return false;
      }
    }
    auto string_at = [&](const char* key, std::string& value) {
      const json& v = g.at(key);
      if (!v.is_string() || v.get<std::string>().empty()) {
        error = where + "." + key + ": found " + shown(v) + ", expected a non-empty string";
        return false;
      }
      value = v.get<std::string>();
      return true;
    };
    auto count_at = [&](const char* key, int64_t& value) {
      const json& v = g.at(key);
      if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<int64_t>() < 0) {
        error =
            where + "." + key + ": found " + shown(v) + ", expected a process count (0 or more)";
        return false;
      }
      value = v.get<int64_t>();
      return true;
    };

    GroupSpec spec;
    if (!g.contains("name")) {
      error = where + ": missing \"name\", expected the group's name (its \"group\" label)";
      return false;
    }
    if (!string_at("name", spec.name)) return false;
    if (!names.insert(spec.name).second) {
      error =
          where + ".name: \"" + spec.name + "\" is used by an earlier group; names must be unique";
      return false;
    }
    if (g.contains("comm")) {
      std::string comm;
      if (!string_at("comm", comm)) return false;
      if (comm.size() > kCommMax) {
        error = where + ".comm: \"" + comm + "\" is " + std::to_string(comm.size()) +
                " characters, but the kernel keeps only the first " + std::to_string(kCommMax) +
                " of a process name (\"" + comm.substr(0, kCommMax) +
                "\"); use that, or match the command line with \"cmdline\"";
        return false;
      }
      spec.comm = comm;
    }
    if (g.contains("cmdline")) {
      std::string cmdline;
      if (!string_at("cmdline", cmdline)) return false;
      if (!spec.cmdline.compile(where + ".cmdline", cmdline,
                                "an ECMAScript regex such as \"^/usr/sbin/nginx\"", error))
        return false;
    }
    if (g.contains("user")) {
      const json& v = g.at("user");
      if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
        spec.user_text = std::to_string(v.get<int64_t>());
      } else if (!string_at("user", spec.user_text)) {
        return false;
      }
      spec.uid = resolve(spec.user_text);
      if (!spec.uid) {
        error = where + ".user: there is no user \"" + spec.user_text +
                "\" on this machine; expected a user name from /etc/passwd (or NSS) or a "
                "numeric uid";
        return false;
      }
    }
    if (!spec.comm && !spec.cmdline.is_set() && !spec.uid) {
      error = where + " (\"" + spec.name + "\"): no matcher; expected at least one of \"comm\" " +
              "(process name), \"cmdline\" (regex) or \"user\"";
      return false;
    }
    if (g.contains("min") && !count_at("min", spec.min)) return false;
    if (g.contains("max")) {
      int64_t max = 0;
      if (!count_at("max", max)) return false;
      spec.max = max;
    }
    if (spec.max && *spec.max < spec.min) {
      error = where + " (\"" + spec.name + "\"): max " + std::to_string(*spec.max) +
              " is below min " + std::to_string(spec.min) + "; expected min <= max";
      return false;
    }
    out.push_back(std::move(spec));
  }
  return true;
}

bool group_matches(const GroupSpec& group, const std::string& comm, const std::string& cmdline,
                   std::optional<uid_t> euid) {
  if (group.comm && comm != *group.comm) return false;
  if (group.uid && (!euid || *euid != *group.uid)) return false;
  if (group.cmdline.is_set() && !group.cmdline.found_in(cmdline)) return false;
  return true;
}

namespace {

std::string processes(uint64_t n) {
  return std::to_string(n) + (n == 1 ? " process" : " processes");
}

std::string expected(const GroupSpec& g) {
  if (!g.max) return "at least " + std::to_string(g.min);
  if (*g.max == g.min) return "exactly " + std::to_string(g.min);
  if (g.min == 0) return "at most " + std::to_string(*g.max);
  return std::to_string(g.min) + " to " + std::to_string(*g.max);
}

// "nginx has 4 processes, expected at least 1": what one group's check saw and wanted.
std::string one_group(const GroupSpec& g, uint64_t n) {
  return g.name + " has " + processes(n) + ", expected " + expected(g);
}

}  // namespace

BoundsVerdict check_bounds(const std::vector<GroupSpec>& groups,
                           const std::vector<uint64_t>& counts) {
  BoundsVerdict verdict;
  std::string outside, inside;
  std::size_t within = 0;
  for (std::size_t i = 0; i < groups.size() && i < counts.size(); ++i) {
    const GroupSpec& g = groups[i];
    const uint64_t n = counts[i];
    const bool low = static_cast<int64_t>(n) < g.min;
    const bool high = g.max && static_cast<int64_t>(n) > *g.max;
    if (low || high) {
      outside += (outside.empty() ? "" : "; ") + one_group(g, n);
    } else {
      ++within;
      inside += (inside.empty() ? "" : ", ") + g.name + " " + std::to_string(n);
    }
  }
  if (!outside.empty()) {
    verdict.status = VIGIL_HEALTH_CRITICAL;
    verdict.message = outside;
    if (within > 0)
      verdict.message += "; " + std::to_string(within) + " other group" + (within == 1 ? "" : "s") +
                         " within bounds";
    return verdict;
  }
  verdict.status = VIGIL_HEALTH_OK;
  verdict.message = within == 1
                        ? one_group(groups.front(), counts.front())
                        : "all " + std::to_string(within) + " groups within bounds: " + inside;
  return verdict;
}

}  // namespace vigil::collector_process
