// Hands a rendered page to the HTTP response in chunks, optionally gzip-compressed.
//
// Independent of the SDK: the sink is any callable, so tests check the bytes without a host. The
// page is already rendered when this runs (the store is no longer held), so a slow client only
// costs this request. It must never keep going once the sink says the client is gone.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace vigil::exporter_prometheus {

// About 64 KiB per HTTP write: large enough that the per-call overhead vanishes, small enough
// that a client that went away is noticed quickly.
inline constexpr std::size_t kChunkSize = 64 * 1024;

// Receives one chunk; returns false to stop (client gone, request cancelled).
using ChunkSink = std::function<bool(std::string_view chunk)>;

enum class BodyResult {
  complete,  // every byte went to the sink
  stopped,   // the sink returned false: the rest was not produced
  failed,    // zlib refused (the error says why)
};

// Passes `body` to `sink` in slices of at most `chunk_size` bytes.
BodyResult write_plain(std::string_view body, std::size_t chunk_size, const ChunkSink& sink);

// Compresses `body` as one gzip member (zlib deflate, windowBits 15+16) at `level` (0-9) and
// passes the output to `sink` in slices of at most `chunk_size` bytes, compressing as it goes so
// that an early stop saves the rest of the work.
BodyResult write_gzip(std::string_view body, int level, std::size_t chunk_size,
                      const ChunkSink& sink, std::string& error);

// True when an Accept-Encoding header value lists gzip (or x-gzip) without "q=0".
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace vigil::exporter_prometheus
