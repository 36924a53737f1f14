// Sets the TZ environment variable for one test and restores it afterwards, so tests that change
// the process's time zone do not leak it into the next one.
#pragma once

#include <stdlib.h>
#include <time.h>

#include <optional>
#include <string>

struct TzGuard {
  std::optional<std::string> saved;
  explicit TzGuard(const char* tz) {
    if (const char* old = getenv("TZ")) saved = old;
    set(tz);
  }
  void set(const char* tz) {
    setenv("TZ", tz, 1);
    tzset();
  }
  ~TzGuard() {
    if (saved) {
      setenv("TZ", saved->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
};
