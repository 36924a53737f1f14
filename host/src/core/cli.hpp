// The `vigil` command line: subcommands and their options, parsed with Boost.Program_options.
#pragma once

namespace vigil::core {

// Runs the command line; returns the process exit code. Prints usage errors to stderr.
int main(int argc, char** argv);

}  // namespace vigil::core
