// The host services table handed to plugins, and the per-instance context behind it.
//
// Every slot is a plain C function that must never throw and never trust its arguments: a NULL
// pointer, an unknown handle or a bad name becomes a status and a message, not a crash.
#pragma once

#include "loader/instance.hpp"
#include "vigil/plugin.h"

#include <atomic>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

// Thread-safety: immutable after create() except `routes` (guarded) and `creating` (atomic).
struct vigil_host_ctx {
  vigil::loader::Instance* instance = nullptr;
  vigil::loader::Services services;
  std::shared_ptr<spdlog::logger> logger;
  std::vector<std::pair<std::string, std::string>> extra_labels;
  int64_t stale_after_ms = 0;  // 0: the instance's series never go stale
  uint64_t owner = 0;
  std::atomic<bool> creating{false};
  std::mutex routes_mutex;
  std::vector<std::pair<std::string, std::string>> routes;  // method, path
};

namespace vigil::loader {

// The one services table of this host (ABI VIGIL_ABI_VERSION), static for the process lifetime.
const vigil_host_api* host_api();

// Copies a message into a plugin-facing error buffer, truncating safely.
void set_error(vigil_error* err, std::string_view message);

}  // namespace vigil::loader
