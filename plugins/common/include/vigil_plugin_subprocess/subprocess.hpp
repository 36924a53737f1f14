// vigil_plugin_subprocess: runs one command for a plugin (collector_exec, check_nagios) with a
// timeout, in a process group of its own, and captures what it printed.
//
// The host is multi-threaded, so the child is started with posix_spawn (no code of ours runs
// between fork and exec), with an empty signal mask and default signal dispositions (the host's
// threads block SIGTERM/SIGHUP for its own signal handling; a child inheriting that could not
// be stopped with SIGTERM), stdin from /dev/null and no inherited descriptors beyond 0-2. On
// timeout the WHOLE process group gets SIGTERM, then SIGKILL after a grace period, so a shell
// script's children die with it. This file must never run a shell unless the caller built a
// shell command line itself (see shell_command()), never block past timeout + kill_grace (plus
// the kernel's time to deliver SIGKILL), and never leave a zombie behind.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace vigil::plugin_subprocess {

struct Command {
  // argv[0] is looked up in PATH when it has no '/'. Must not be empty.
  std::vector<std::string> argv;
  // "NAME=value" entries added to the host's environment (replacing a variable of that name).
  std::vector<std::string> environment;
  std::string working_directory;  // empty: the host's
  // A file the command reads as its stdin (a notifier hands it the notification this way);
  // empty: /dev/null.
  std::string stdin_file;
  std::chrono::milliseconds timeout{10000};
  // After the timeout, SIGTERM to the group; SIGKILL to the group this long after.
  std::chrono::milliseconds kill_grace{1000};
  // stdout beyond this many bytes is read and discarded (Result::stdout_truncated).
  std::size_t max_stdout_bytes = 16u << 20;
  // stderr is kept as lines: at most this many, each cut at max_stderr_line_bytes.
  std::size_t max_stderr_lines = 100;
  std::size_t max_stderr_line_bytes = 2048;
  // When the command exits, kill what it left running in its process group (a background job
  // still holding the output pipe would otherwise keep us waiting, and pile up over runs).
  bool kill_leftovers = true;
};

struct Result {
  std::string start_error;  // non-empty when the command could not be started at all
  bool exited = false;      // exited normally: exit_code is valid
  int exit_code = -1;
  int signal = 0;  // the signal that ended it, when it did not exit normally
  bool timed_out = false;
  std::string out;  // stdout, at most max_stdout_bytes
  bool stdout_truncated = false;
  std::vector<std::string> err_lines;  // stderr lines without their '\n'
  std::size_t err_lines_dropped = 0;   // lines beyond max_stderr_lines
  std::chrono::nanoseconds duration{0};

  bool started() const { return start_error.empty(); }
  bool succeeded() const { return started() && exited && exit_code == 0 && !timed_out; }
  // The shell's convention for one number: exit status, 128 + signal, or -1 when not started.
  int status_number() const;
  // "exited with status 2", "was killed by signal 9 (Killed)", "timed out after 5s and was
  // killed with its process group", or the start error.
  std::string describe(std::chrono::milliseconds timeout) const;
};

// Runs the command to completion (or until its timeout) and returns what happened. Never throws
// for the command's failures (they are in Result); only std::bad_alloc.
// Thread-safety: reentrant; several threads may run commands at once.
Result run(const Command& command);

// Checks that argv[0] names an executable (a path, or a name found in PATH), so a typo in a
// plugin's configuration is reported when the instance starts. False with the reason otherwise.
bool find_executable(const std::string& name, std::string& error);

// {"/bin/sh", "-c", script}: for a plugin's `shell` option.
std::vector<std::string> shell_command(const std::string& script);

// "5s", "1.5s", "250ms": durations as the user writes them, for messages.
std::string format_duration(std::chrono::milliseconds duration);

// The timeout a command gets when its plugin's `timeout` option is not set: the instance's
// timeout less the kill grace (at most 1 s, at most a fifth of it), so the plugin reports the
// timeout itself within the host's own deadline.
std::chrono::milliseconds default_timeout(std::chrono::milliseconds instance_timeout);
std::chrono::milliseconds kill_grace_for(std::chrono::milliseconds instance_timeout);

}  // namespace vigil::plugin_subprocess
