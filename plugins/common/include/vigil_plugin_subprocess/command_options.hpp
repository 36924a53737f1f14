// The options every plugin that runs a command shares (collector_exec, check_nagios): command,
// shell, timeout, environment, working_directory. Declared by add_command_options() in the
// plugin's VIGIL_PLUGIN table and read into a Command by read_command_options(), so both plugins
// accept exactly the same spelling and give the same errors. It must never accept a command that
// cannot start (checked when the instance is created, not at its first run).
#pragma once

#include <vigil/sdk.hpp>

#include "vigil_plugin_subprocess/subprocess.hpp"

#include <string>

namespace vigil::plugin_subprocess {

// Adds the shared options to a plugin builder (vigil::collector<T>(...), vigil::health_check...).
template <class Builder>
Builder add_command_options(Builder builder) {
  builder
      .required_option(
          "command", StringList,
          "the program and its arguments, e.g. [\"/usr/lib/nagios/plugins/check_disk\", "
          "\"-w\", \"20%\"]; run directly, without a shell")
      .option("shell", Bool, "false",
              "run the single entry of `command` as a /bin/sh -c script (pipes, variables, ...)")
      .option("timeout", Duration, nullptr,
              "kill the command's whole process group after this long (SIGTERM, then SIGKILL); "
              "default: the instance's timeout less a kill grace of at most 1 s")
      .option("environment", StringList, "[]",
              "NAME=value entries added to the environment the command inherits from vigil")
      .option("working_directory", String, "",
              "directory to run the command in (default: vigil's)");
  return builder;
}

// Reads the shared options into `command` (argv, timeout, kill grace, environment, directory)
// and a short name for messages and log prefixes (the program's base name, or the script's first
// word with `shell`). Fails with a message naming the option and what was expected.
Status read_command_options(const Config& config, Command& command, std::string& name);

}  // namespace vigil::plugin_subprocess
