// Logging for the host and its plugins, on spdlog.
//
// One set of sinks (stderr, and optionally a rotating file) serves every logger. The host logs
// through `vigil::log::host()`; each plugin instance gets its own logger named
// "<plugin>:<instance>" so every line it writes carries both names, in text and in JSON.
// This file must never be the reason the host stops: a sink that fails is spdlog's to report.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::log {

enum class Format { text, json };

struct Options {
  spdlog::level::level_enum level = spdlog::level::info;
  Format format = Format::text;
  std::string file;  // empty: stderr only
  std::uint64_t max_file_bytes = 10 * 1024 * 1024;
  std::size_t max_files = 3;
};

// Parses "trace", "debug", "info", "warn", "error", "off"; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Replaces the sinks, format and default level of every logger made from now on, and of the host
// logger. Not thread-safe against concurrent setup() calls: the host calls it from its main thread.
// Returns "" or, when the log file cannot be opened, why (logging then goes to stderr only).
std::string setup(const Options& options);

// The host's own logger ("vigil"). Thread-safe.
std::shared_ptr<spdlog::logger> host();

// A logger for one plugin instance, sharing the configured sinks. `level` empty keeps the
// global level. Thread-safe.
std::shared_ptr<spdlog::logger> for_instance(std::string_view plugin, std::string_view instance,
                                             std::optional<spdlog::level::level_enum> level = {});

// Names the calling thread (at most 15 characters are kept) so `top -H`, `ps -L` and perf show
// which of the host's threads does what. Never fails the caller.
void name_this_thread(const char* name);

}  // namespace vigil::log
