// The ring of recent raw samples one scalar series keeps for window functions (rules' avg,
// rate, quantile ...): in time order, at most `max_samples`, none `retention_ms` or more behind
// the newest, grown by doubling so a series written rarely holds little.
//
// Why this shape: writers are plugins' collect() calls and must never wait for a rule; readers
// are rules and must never see half a sample. Every sample gets a monotonically increasing
// index; `end_` publishes the samples written, `begin_` the oldest still kept. A writer that is
// about to overwrite a cell first moves `begin_` past it, so a reader copies its range without
// any lock and afterwards drops whatever `begin_` says may have been overwritten meanwhile (a
// seqlock per index range instead of per ring, so a reader never retries). A grown buffer
// replaces the old one, which stays readable until no reader is inside the ring.
// This file must never make a writer wait for a reader, nor give a reader a sample whose time
// and value come from two different writes.
#pragma once

#include "store/store.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vigil::store::detail {

// Thread-safety: push() from any thread (concurrent writers of one series take turns on a
// spinlock held for a few stores; readers never take it); read() from any thread, lock-free.
class Ring {
 public:
  // `total` is the store's running count of ring bytes (the ring itself and its buffers,
  // retired ones included); it must outlive the ring.
  explicit Ring(std::atomic<size_t>* total);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Appends (t, v). A sample older than the newest is ignored (the ring stays in time order);
  // one at the newest's time replaces its value. Samples at or before t - retention_ms, and the
  // oldest beyond max_samples, go.
  void push(int64_t t_ms, double v, int64_t retention_ms, size_t max_samples) {
    while (writing_.exchange(true, std::memory_order_acquire)) relax();
    if (retired_) free_retired();
    Buffer* buf = buffer_.load(std::memory_order_relaxed);
    uint64_t begin = begin_.load(std::memory_order_relaxed);
    const uint64_t end = end_.load(std::memory_order_relaxed);
    if (end > begin) {
      if (t_ms <= newest_t_) {
        // A reader sees the old or the new value with the same time: both are whole samples.
        if (t_ms == newest_t_) {
          buf->cells()[tail_ == 0 ? buf->capacity - 1 : tail_ - 1].v.store(
              v, std::memory_order_relaxed);
        }
        writing_.store(false, std::memory_order_release);
        return;
      }
      if (retention_ms > 0) {
        const int64_t horizon = t_ms - retention_ms;
        while (begin < end && buf->cells()[head_].t.load(std::memory_order_relaxed) <= horizon) {
          ++begin;
          if (++head_ == buf->capacity) head_ = 0;
        }
      }
    }
    if (!buf || (end - begin >= buf->capacity && buf->capacity < max_samples)) {
      begin_.store(begin, std::memory_order_relaxed);
      grow(std::min(max_samples, std::max<size_t>(8, buf ? buf->capacity * 2 : 0)));
      buf = buffer_.load(std::memory_order_relaxed);
    }
    // Full, or max_samples was lowered below what the ring holds: the oldest go.
    const size_t keep = std::min(buf->capacity, max_samples) - 1;
    while (end - begin > keep) {
      ++begin;
      if (++head_ == buf->capacity) head_ = 0;
    }
    // Readers re-read begin_ after copying: moving it before touching the cell it covers is
    // what tells a reader that cell may have changed under it.
    begin_.store(begin, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    Cell& cell = buf->cells()[tail_];
    cell.t.store(t_ms, std::memory_order_relaxed);
    cell.v.store(v, std::memory_order_relaxed);
    if (++tail_ == buf->capacity) tail_ = 0;
    newest_t_ = t_ms;
    end_.store(end + 1, std::memory_order_release);
    writing_.store(false, std::memory_order_release);
  }

  // Appends the samples with from_ms < t <= to_ms to `out`, oldest first; returns how many.
  size_t read(int64_t from_ms, int64_t to_ms, std::vector<Sample>& out) const;

 private:
  struct Cell {
    std::atomic<int64_t> t{0};
    std::atomic<double> v{0.0};
  };
  // Cells in one allocation after the header. Index i lives in cells()[(i - base) % capacity].
  struct Buffer {
    size_t capacity;
    uint64_t base;
    Buffer* retired_next;
    Cell* cells() { return reinterpret_cast<Cell*>(this + 1); }
    const Cell* cells() const { return reinterpret_cast<const Cell*>(this + 1); }
  };

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  Buffer* make_buffer(size_t capacity, uint64_t base);
  void free_buffer(Buffer* buf);
  void grow(size_t capacity);
  void free_retired();

  std::atomic<bool> writing_{false};
  std::atomic<Buffer*> buffer_{nullptr};
  std::atomic<uint64_t> begin_{0};  // index of the oldest sample kept
  std::atomic<uint64_t> end_{0};    // one past the newest sample published
  // Writer-only, under `writing_`: where begin_ and end_ sit in the current buffer, and buffers
  // replaced while a reader may still be copying from them.
  size_t head_ = 0;
  size_t tail_ = 0;
  int64_t newest_t_ = 0;  // the time in the cell before tail_, when the ring is not empty
  Buffer* retired_ = nullptr;
  std::atomic<size_t>* total_;
  // On its own cache line: readers' comings and goings must not slow the writer's lock.
  alignas(64) mutable std::atomic<uint32_t> readers_{0};
};

}  // namespace vigil::store::detail
