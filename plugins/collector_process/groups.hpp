// Process groups: the "groups" option (JSON) and the rule that puts a process in a group.
//
// A group is named and matches processes by name (comm), command line (regex) and/or user; every
// matcher given must match. Parsing checks everything a person can get wrong and says where
// (groups[2].cmdline), what was found and what was expected. This file must never read procfs
// or log.
#pragma once

#include <vigil/plugin.h>

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vigil_plugin_procfs/name_filter.hpp"

namespace vigil::collector_process {

// Thread-safety: immutable after parse_groups(); safe to read from any thread.
struct GroupSpec {
  std::string name;                 // the "group" label
  std::optional<std::string> comm;  // exact process name, at most 15 characters
  procfs::Pattern cmdline;          // searched in the arguments joined by spaces
  std::optional<uid_t> uid;         // effective uid, from "user" (a name or a number)
  std::string user_text;            // "user" as written
  int64_t min = 1;                  // the process check's bounds
  std::optional<int64_t> max;
};

// Turns a user name (or a decimal uid) into a uid; nullopt when there is no such user.
using UserResolver = std::function<std::optional<uid_t>(const std::string&)>;
std::optional<uid_t> resolve_user(const std::string& name_or_uid);

// Parses the "groups" option: a JSON array of objects with "name" (required, unique), at least
// one of "comm", "cmdline", "user", and optional "min" (default 1) and "max". Returns false with
// `error` naming the element and key on anything else.
bool parse_groups(const std::string& json_text, std::vector<GroupSpec>& out, std::string& error,
                  const UserResolver& resolve = resolve_user);

// Whether a process belongs to `group`. `cmdline` and `euid` are only consulted when the group
// has that matcher (the scanner reads those files only when some group needs them).
bool group_matches(const GroupSpec& group, const std::string& comm, const std::string& cmdline,
                   std::optional<uid_t> euid);

struct BoundsVerdict {
  vigil_health_status status = VIGIL_HEALTH_UNKNOWN;
  std::string message;
};

// The process check: critical when any group's count is outside its [min, max], naming each
// such group with its count and what was expected; ok otherwise, listing every group's count.
// `counts[i]` belongs to `groups[i]`.
BoundsVerdict check_bounds(const std::vector<GroupSpec>& groups,
                           const std::vector<uint64_t>& counts);

}  // namespace vigil::collector_process
