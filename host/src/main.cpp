// The vigil executable: everything lives in vigil_core; this only hands over the command line.
#include "core/cli.hpp"

int main(int argc, char** argv) {
  return vigil::core::main(argc, argv);
}
