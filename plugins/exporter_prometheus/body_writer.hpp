// Hands a rendered page to the HTTP response in chunks, optionally gzip-compressed.
//
// Independent of the SDK: the sink is any callable, so tests check the bytes without a host. The
// page is already rendered when this runs (the store is no longer held), so a slow client only
// costs this request. It must never keep going once the sink says the client is gone.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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

// One gzip member at a time over a deflate state that is kept between members. deflateInit2
// allocates about 160 KiB (memLevel 6) and clears part of it, which for a small page (an agent's 20
// kB) costs more than compressing it; begin() on a used encoder only resets the state. Not
// thread-safe: one request at a time (GzipPool hands them out).
class GzipEncoder {
 public:
  GzipEncoder() = default;
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  // Starts a new member (zlib deflate, windowBits 15+16) at `level` (0-9), with output slices
  // of at most `chunk_size` bytes. False, with the reason in `error`, when zlib refuses.
  bool begin(int level, std::size_t chunk_size, std::string& error);
  // Compresses `input` and passes full output slices to `sink`; `last` ends the member and
  // flushes the rest. After `stopped` or `failed`, call begin() before using it again.
  BodyResult write(std::string_view input, bool last, const ChunkSink& sink, std::string& error);

 private:
  struct Stream;  // the z_stream, kept out of this header so zlib.h stays an implementation detail
  bool flush_out(const ChunkSink& sink);

  std::unique_ptr<Stream> stream_;
  std::unique_ptr<unsigned char[]> out_;
  std::size_t chunk_size_ = 0;
  int level_ = -1;
};

// The encoders of one exporter instance: at most as many as requests ran at once, each reused.
// Thread-safety: take() and the Lease's return are safe from any thread.
class GzipPool {
 public:
  // An encoder borrowed for one request; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease(GzipPool& pool, std::unique_ptr<GzipEncoder> encoder)
        : pool_(&pool), encoder_(std::move(encoder)) {}
    ~Lease() { pool_->give_back(std::move(encoder_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    GzipEncoder& operator*() const { return *encoder_; }
    GzipEncoder* operator->() const { return encoder_.get(); }

   private:
    GzipPool* pool_;
    std::unique_ptr<GzipEncoder> encoder_;
  };

  Lease take();

 private:
  void give_back(std::unique_ptr<GzipEncoder> encoder);

  std::mutex mutex_;
  std::vector<std::unique_ptr<GzipEncoder>> idle_;
};

// Compresses `body` as one gzip member at `level` (0-9) and passes the output to `sink` in
// slices of at most `chunk_size` bytes, compressing as it goes so that an early stop saves the
// rest of the work. A fresh encoder per call; the exporter reuses them through a GzipPool.
BodyResult write_gzip(std::string_view body, int level, std::size_t chunk_size,
                      const ChunkSink& sink, std::string& error);

// True when an Accept-Encoding header value lists gzip (or x-gzip) without "q=0".
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace vigil::exporter_prometheus
