// vigil_plugin_subprocess: reading the options collector_exec and check_nagios share (see
// command_options.hpp). Every error names the option and what was expected.
#include "vigil_plugin_subprocess/command_options.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace vigil::plugin_subprocess {
namespace {

// The program a script runs when it is one simple command ("/opt/bin/backup.sh --full" ->
// "backup.sh"); "sh" for anything more (a list, a pipe, a keyword, a substitution), where naming
// the first program would blame it for the whole script.
std::string script_name(const std::string& script) {
  if (script.find_first_of(";&|\n`") != std::string::npos || script.find("$(") != std::string::npos)
    return "sh";
  std::size_t begin = script.find_first_not_of(" \t\n");
  if (begin == std::string::npos) return "sh";
  std::size_t end = script.find_first_of(" \t\n;|&<>()", begin);
  std::string word = script.substr(begin, end == std::string::npos ? end : end - begin);
  static const char* const kKeywords[] = {"if",    "then",  "else", "elif", "fi",   "for",
                                          "while", "until", "do",   "done", "case", "esac",
                                          "{",     "}",     "!",    "[",    "[[",   "exec"};
  for (const char* k : kKeywords)
    if (word == k) return "sh";
  for (char c : word) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == '/';
    if (!plain) return "sh";
  }
  return word.substr(word.rfind('/') + 1);
}

}  // namespace

Status read_command_options(const Config& config, Command& command, std::string& name) {
  std::vector<std::string> argv = config.strings("command");
  if (argv.empty() || argv[0].empty())
    return Status::invalid_argument(
        "option \"command\" is empty; expected the program and its arguments, e.g. "
        "[\"/usr/lib/nagios/plugins/check_load\", \"-w\", \"5,4,3\", \"-c\", \"10,8,6\"]");
  if (config.boolean("shell")) {
    if (argv.size() != 1)
      return Status::invalid_argument(
          "option \"command\" has " + std::to_string(argv.size()) +
          " entries but \"shell\" is true; expected one entry, the script for /bin/sh -c");
    name = script_name(argv[0]);
    command.argv = shell_command(argv[0]);
  } else {
    std::string error;
    if (!find_executable(argv[0], error))
      return Status::invalid_argument("option \"command\": " + error);
    name = argv[0].substr(argv[0].rfind('/') + 1);
    command.argv = std::move(argv);
  }

  std::chrono::milliseconds instance_timeout = config.timeout();
  if (config.is_set("timeout")) {
    command.timeout = config.duration("timeout");
    if (command.timeout.count() <= 0)
      return Status::invalid_argument("option \"timeout\" must be positive, e.g. \"10s\"");
    command.kill_grace = kill_grace_for(command.timeout);
  } else {
    command.timeout = default_timeout(instance_timeout);
    command.kill_grace = kill_grace_for(instance_timeout);
  }

  for (const std::string& entry : config.strings("environment")) {
    std::size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::invalid_argument("option \"environment\": entry \"" + entry +
                                      "\" is not NAME=value");
    command.environment.push_back(entry);
  }

  command.working_directory = config.string("working_directory");
  if (!command.working_directory.empty()) {
    struct stat st;
    if (::stat(command.working_directory.c_str(), &st) != 0)
      return Status::invalid_argument("option \"working_directory\": " + command.working_directory +
                                      ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
      return Status::invalid_argument("option \"working_directory\": " + command.working_directory +
                                      " is not a directory");
  }
  return Status::ok();
}

}  // namespace vigil::plugin_subprocess
