// The vigil executable: everything lives in vigil_core; this only hands over the command line.
// It is also the plugin scan's examine helper (loader::scan), run by vigil itself.
#include "core/cli.hpp"
#include "loader/library.hpp"

#include <string_view>

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == vigil::loader::kExamineCommand)
    return vigil::loader::examine_main(argc, argv);
  // /proc/self/exe still names this binary after a package upgrade replaced the file.
  vigil::loader::use_examine_helper("/proc/self/exe");
  return vigil::core::main(argc, argv);
}
