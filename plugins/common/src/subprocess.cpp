// vigil_plugin_subprocess: posix_spawn in a new session, a poll loop over stdout, stderr and a
// pidfd, and the process-group kill on timeout. See subprocess.hpp for the contract.
//
// Why a pidfd: the command's exit is one event among the pipes. Waiting for EOF alone would hang
// on a background job that still holds the pipe after the command exited; polling waitpid would
// add latency. Where pidfd_open is missing (kernels before 5.3) the loop falls back to checking
// every 10 ms. The leader is reaped only after its group was killed: while it is a zombie its
// pid (and so the process-group id) cannot be reused, so kill(-pgid) can never hit a stranger.
#include "vigil_plugin_subprocess/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace vigil::plugin_subprocess {
namespace {

using Clock = std::chrono::steady_clock;

// Closes a descriptor once; -1 means none.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  return fd >= 0 ? static_cast<int>(fd) : -1;
#else
  (void)pid;
  return -1;
#endif
}

// True once the child has terminated; it stays a zombie (WNOWAIT) until reap().
bool has_exited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno == ECHILD;  // someone else reaped it: it is certainly gone
  return info.si_pid == pid;
}

// Collects stderr into lines as bytes arrive.
class LineCollector {
 public:
  LineCollector(Result& result, const Command& command) : result_(result), command_(command) {}
  void add(const char* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (data[i] == '\n') {
        finish_line();
      } else if (partial_.size() < command_.max_stderr_line_bytes) {
        partial_ += data[i];
      }
      has_partial_ = data[i] != '\n';
    }
  }
  void flush() {
    if (has_partial_) finish_line();
  }

 private:
  void finish_line() {
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (result_.err_lines.size() < command_.max_stderr_lines) {
      result_.err_lines.push_back(partial_);
    } else {
      ++result_.err_lines_dropped;
    }
    partial_.clear();
    has_partial_ = false;
  }
  Result& result_;
  const Command& command_;
  std::string partial_;
  bool has_partial_ = false;
};

// The environment the child gets: the host's, with the command's entries replacing or adding.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const std::string& x : extra) {
      std::string_view xname = std::string_view(x).substr(0, x.find('='));
      replaced |= xname == name;
    }
    if (!replaced) env.emplace_back(entry);
  }
  for (const std::string& x : extra) env.push_back(x);
  return env;
}

std::vector<char*> c_array(std::vector<std::string>& items) {
  std::vector<char*> out;
  out.reserve(items.size() + 1);
  for (std::string& s : items) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

int Result::status_number() const {
  if (!started()) return -1;
  if (exited) return exit_code;
  return 128 + signal;
}

std::string Result::describe(std::chrono::milliseconds timeout) const {
  if (!started()) return start_error;
  if (timed_out)
    return "timed out after " + format_duration(timeout) + " and was killed with its process group";
  if (exited) return "exited with status " + std::to_string(exit_code);
  if (signal == 0) return "ended, but its exit status was collected by someone else";
  const char* name = ::strsignal(signal);
  return "was killed by signal " + std::to_string(signal) +
         (name != nullptr ? " (" + std::string(name) + ")" : std::string());
}

bool find_executable(const std::string& name, std::string& error) {
  if (name.empty()) {
    error = "the command is empty";
    return false;
  }
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return true;
    error = "command " + quoted(name) + " cannot be run: " + std::strerror(errno);
    return false;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  for (;;) {
    std::size_t end = dirs.find(':', start);
    std::string dir =
        dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  error = "command " + quoted(name) + " was not found in PATH (" + dirs + ")";
  return false;
}

std::vector<std::string> shell_command(const std::string& script) {
  return {"/bin/sh", "-c", script};
}

std::string format_duration(std::chrono::milliseconds duration) {
  long long ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out = std::to_string(ms / 1000) + "." + std::to_string(1000 + ms % 1000).substr(1);
  while (out.back() == '0') out.pop_back();
  return out + "s";
}

std::chrono::milliseconds kill_grace_for(std::chrono::milliseconds instance_timeout) {
  return std::clamp(instance_timeout / 5, std::chrono::milliseconds(1),
                    std::chrono::milliseconds(1000));
}

std::chrono::milliseconds default_timeout(std::chrono::milliseconds instance_timeout) {
  if (instance_timeout.count() <= 0) return std::chrono::milliseconds(10000);
  return std::max(instance_timeout - kill_grace_for(instance_timeout),
                  std::chrono::milliseconds(1));
}

Result run(const Command& command) {
  Result result;
  const Clock::time_point start = Clock::now();
  if (command.argv.empty() || command.argv[0].empty()) {
    result.start_error = "no command to run: the command list is empty";
    return result;
  }

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.start_error = std::string("cannot create a pipe: ") + std::strerror(errno);
    return result;
  }
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(
      &actions, 0, command.stdin_file.empty() ? "/dev/null" : command.stdin_file.c_str(), O_RDONLY,
      0);
  posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.fd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors another host thread opened without O_CLOEXEC must not leak into the command.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
  if (!command.working_directory.empty())
    posix_spawn_file_actions_addchdir_np(&actions, command.working_directory.c_str());
#endif

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_SETSID
  flags |= POSIX_SPAWN_SETSID;  // a session of its own: also no controlling terminal
#else
  flags |= POSIX_SPAWN_SETPGROUP;
  posix_spawnattr_setpgroup(&attr, 0);
#endif
  posix_spawnattr_setflags(&attr, flags);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);

  std::vector<std::string> args = command.argv;
  std::vector<char*> argv = c_array(args);
  std::vector<std::string> env_strings = child_environment(command.environment);
  std::vector<char*> envp = c_array(env_strings);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result.start_error = "cannot run " + quoted(command.argv[0]) + ": " + std::strerror(rc);
    if (!command.working_directory.empty() && rc == ENOENT)
      result.start_error +=
          " (or the working directory " + quoted(command.working_directory) + " does not exist)";
    return result;
  }
  out_write.reset();
  err_write.reset();
  ::fcntl(out_read.fd, F_SETFL, O_NONBLOCK);
  ::fcntl(err_read.fd, F_SETFL, O_NONBLOCK);
  Fd pidfd(open_pidfd(pid));

  LineCollector err_lines(result, command);
  char buffer[65536];
  // Reads what is available now; false once the pipe reached EOF (or failed).
  auto drain = [&](Fd& fd, bool is_stdout) {
    for (;;) {
      ssize_t n = ::read(fd.fd, buffer, sizeof buffer);
      if (n > 0) {
        if (is_stdout) {
          std::size_t room = command.max_stdout_bytes > result.out.size()
                                 ? command.max_stdout_bytes - result.out.size()
                                 : 0;
          std::size_t take = std::min<std::size_t>(room, static_cast<std::size_t>(n));
          result.out.append(buffer, take);
          if (take < static_cast<std::size_t>(n)) result.stdout_truncated = true;
        } else {
          err_lines.add(buffer, static_cast<std::size_t>(n));
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      fd.reset();  // EOF or an error: nothing more will come
      return false;
    }
  };

  const Clock::time_point deadline = start + command.timeout;
  Clock::time_point kill_at{};
  bool term_sent = false, kill_sent = false, leader_exited = false, abandoned = false;
  Clock::time_point linger_until{};  // after the leader exited: how long to wait for EOF

  for (;;) {
    Clock::time_point now = Clock::now();
    if (!leader_exited) {
      if (!term_sent && now >= deadline) {
        result.timed_out = true;
        ::kill(-pid, SIGTERM);
        term_sent = true;
        kill_at = now + command.kill_grace;
      }
      if (term_sent && !kill_sent && now >= kill_at) {
        ::kill(-pid, SIGKILL);
        kill_sent = true;
      }
      // SIGKILL is delivered once the process leaves an uninterruptible sleep (a dead NFS
      // server can hold it there for good): stop waiting; it is reaped in the background.
      if (kill_sent && now >= kill_at + std::chrono::seconds(5)) {
        abandoned = true;
        break;
      }
    } else if ((out_read.fd < 0 && err_read.fd < 0) || now >= linger_until) {
      break;
    }

    pollfd fds[3];
    int count = 0;
    int out_index = -1, err_index = -1, pid_index = -1;
    if (out_read.fd >= 0) {
      out_index = count;
      fds[count++] = {out_read.fd, POLLIN, 0};
    }
    if (err_read.fd >= 0) {
      err_index = count;
      fds[count++] = {err_read.fd, POLLIN, 0};
    }
    if (!leader_exited && pidfd.fd >= 0) {
      pid_index = count;
      fds[count++] = {pidfd.fd, POLLIN, 0};
    }

    Clock::time_point next;
    if (leader_exited) {
      next = linger_until;
    } else if (!term_sent) {
      next = deadline;
    } else if (!kill_sent) {
      next = kill_at;
    } else {
      next = now + std::chrono::milliseconds(100);  // SIGKILL sent: only the exit is awaited
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    if (!leader_exited && pidfd.fd < 0) wait = std::min<long long>(wait, 10);
    wait = std::max<long long>(wait, 0);

    int ready = ::poll(fds, static_cast<nfds_t>(count), static_cast<int>(wait));
    if (ready < 0 && errno != EINTR) break;  // cannot happen with valid descriptors
    if (out_index >= 0 && (fds[out_index].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(out_read, true);
    if (err_index >= 0 && (fds[err_index].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(err_read, false);

    bool exited_now = false;
    if (!leader_exited) {
      if (pid_index >= 0) {
        exited_now = (fds[pid_index].revents & POLLIN) != 0;
      } else {
        exited_now = has_exited(pid);
      }
    }
    if (exited_now) {
      leader_exited = true;
      // Still a zombie: its group id cannot have been reused by anyone else.
      if (command.kill_leftovers || result.timed_out) ::kill(-pid, SIGKILL);
      // Whatever the command wrote before exiting is in the pipes; a leftover that escaped the
      // group could hold them open, so EOF is awaited only briefly.
      if (out_read.fd >= 0) drain(out_read, true);
      if (err_read.fd >= 0) drain(err_read, false);
      linger_until = Clock::now() + std::chrono::milliseconds(200);
    }
  }
  err_lines.flush();

  if (abandoned) {
    std::thread([pid] {
      int ignored = 0;
      while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
      }
    }).detach();
    result.duration = Clock::now() - start;
    result.signal = SIGKILL;
    return result;
  }
  int status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited == pid) {
    if (WIFEXITED(status)) {
      result.exited = true;
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signal = WTERMSIG(status);
    }
  } else {
    // Reaped by someone else (a SIGCHLD handler with waitpid(-1)): the status is lost.
    result.signal = 0;
  }
  result.duration = Clock::now() - start;
  return result;
}

}  // namespace vigil::plugin_subprocess
