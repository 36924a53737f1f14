// The operator's commands against a running host: `vigil alerts`, `vigil groups`,
// `vigil history`, `vigil ack`, `vigil unack`, `vigil silence add|list|expire`,
// `vigil reload-rules`. Each is one request to
// the alerting API (api_server.cpp) and prints a table a person can read, or the JSON with --json.
#pragma once

#include "core/api_client.hpp"

#include <optional>
#include <string>
#include <vector>

namespace vigil::core {

struct OperatorOptions {
  ApiTarget target;
  std::vector<std::string> args;  // positional arguments after the command
  std::optional<std::string> state, match, comment, expires, duration, starts;
  std::string author;  // default: $USER
  bool sticky = false, end_on_resolve = false, all = false, json = false, group = false;
};

bool is_operator_command(const std::string& command);
// Returns the exit code: 0 done, 1 the host refused or could not be reached, 2 usage error.
int run_operator_command(const std::string& command, const OperatorOptions& options);

}  // namespace vigil::core
