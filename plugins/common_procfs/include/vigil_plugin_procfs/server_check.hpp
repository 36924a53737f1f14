// What the health checks of database servers (check_postgres, check_redis) share in their
// configuration: the password file, read the way container secrets are mounted, and the
// "timeout" option that keeps a slow server this check's failure (critical, with a reason)
// rather than a call the host abandons as hung.
//
// Pure functions over files and numbers, without the SDK: callers turn `error` into
// Status::invalid_argument and log `warning`. They must never log or keep the password.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vigil::procfs {

// The password is the file's first line ("\r" stripped), as with a Docker or Kubernetes secret
// file. Returns false with `error` = "cannot read password_file PATH: REASON" or "password_file
// PATH is empty; expected the password on its first line".
bool read_password_file(const std::string& path, std::string& password, std::string& error);

// "password_file PATH has mode 0644, readable by group or others; chmod 600 it" when the file
// is readable by anyone but its owner; "" otherwise (or when it cannot be stat'ed).
std::string password_file_warning(const std::string& path);

// The "timeout" option of a server check. Set (`configured`): that value, refused when not
// positive; a value at or above the instance's timeout is kept with a `warning`. Unset: 80 % of
// the instance's timeout, at most `fallback` (and at least 1 ms); `fallback` when the instance has
// no timeout (`instance_timeout` 0). Returns false with `error` on a refused value.
bool server_check_timeout(std::optional<std::chrono::milliseconds> configured,
                          std::chrono::milliseconds instance_timeout,
                          std::chrono::milliseconds fallback, std::chrono::milliseconds& timeout,
                          std::string& error, std::string& warning);

}  // namespace vigil::procfs
