// The ring's slower halves (see ring.hpp): growing, the lock-free read, and freeing replaced
// buffers once no reader can be inside them. This file must never free a buffer a reader may still
// copy from, nor let read() hand out a cell that a writer may have overwritten while it was being
// copied.
#include "store/ring.hpp"

#include <algorithm>
#include <new>

namespace vigil::store::detail {

Ring::Ring(std::atomic<size_t>* total) : total_(total) {
  total_->fetch_add(sizeof(Ring), std::memory_order_relaxed);
}

Ring::~Ring() {
  // The store drops a ring only after its series' quarantine: no writer nor reader is left.
  while (retired_) {
    Buffer* next = retired_->retired_next;
    free_buffer(retired_);
    retired_ = next;
  }
  if (Buffer* buf = buffer_.load(std::memory_order_relaxed)) free_buffer(buf);
  total_->fetch_sub(sizeof(Ring), std::memory_order_relaxed);
}

Ring::Buffer* Ring::make_buffer(size_t capacity, uint64_t base) {
  const size_t bytes = sizeof(Buffer) + capacity * sizeof(Cell);
  void* raw = ::operator new(bytes);
  static_assert(sizeof(Buffer) % alignof(Cell) == 0, "cells follow the header");
  auto* buf = new (raw) Buffer{capacity, base, nullptr};
  for (size_t i = 0; i < capacity; ++i) new (&buf->cells()[i]) Cell();
  total_->fetch_add(bytes, std::memory_order_relaxed);
  return buf;
}

void Ring::free_buffer(Buffer* buf) {
  const size_t bytes = sizeof(Buffer) + buf->capacity * sizeof(Cell);
  for (size_t i = 0; i < buf->capacity; ++i) buf->cells()[i].~Cell();
  buf->~Buffer();
  ::operator delete(buf);
  total_->fetch_sub(bytes, std::memory_order_relaxed);
}

void Ring::free_retired() {
  // Pairs with read(): a reader counted itself before loading buffer_, and the new buffer was
  // stored before this load, so a count of zero means no reader can hold a retired buffer.
  if (readers_.load(std::memory_order_seq_cst) != 0) return;
  while (retired_) {
    Buffer* next = retired_->retired_next;
    free_buffer(retired_);
    retired_ = next;
  }
}

void Ring::grow(size_t capacity) {
  Buffer* old = buffer_.load(std::memory_order_relaxed);
  const uint64_t begin = begin_.load(std::memory_order_relaxed);
  const uint64_t end = end_.load(std::memory_order_relaxed);
  Buffer* fresh = make_buffer(capacity, begin);
  size_t from = head_;
  for (uint64_t i = begin; i < end; ++i) {
    const Cell& was = old->cells()[from];
    Cell& cell = fresh->cells()[i - begin];
    cell.t.store(was.t.load(std::memory_order_relaxed), std::memory_order_relaxed);
    cell.v.store(was.v.load(std::memory_order_relaxed), std::memory_order_relaxed);
    if (++from == old->capacity) from = 0;
  }
  head_ = 0;
  tail_ = static_cast<size_t>(end - begin);
  buffer_.store(fresh, std::memory_order_seq_cst);
  if (old) {
    old->retired_next = retired_;
    retired_ = old;
    free_retired();
  }
}

size_t Ring::read(int64_t from_ms, int64_t to_ms, std::vector<Sample>& out) const {
  readers_.fetch_add(1, std::memory_order_seq_cst);
  struct Leave {
    std::atomic<uint32_t>& readers;
    ~Leave() { readers.fetch_sub(1, std::memory_order_release); }
  } leave{readers_};

  // end_ first: the buffer loaded after it holds at least the cells up to that end.
  const uint64_t end = end_.load(std::memory_order_acquire);
  const Buffer* buf = buffer_.load(std::memory_order_seq_cst);
  uint64_t begin = begin_.load(std::memory_order_acquire);
  if (!buf || end <= begin) return 0;
  // A buffer grown after begin_ was read starts at its own base; older indices were evicted.
  begin = std::max(begin, buf->base);
  if (end - begin > buf->capacity) begin = end - buf->capacity;
  if (end <= begin) return 0;
  auto cell = [buf](uint64_t i) -> const Cell& {
    return buf->cells()[(i - buf->base) % buf->capacity];
  };

  // The first index after from_ms. A cell overwritten meanwhile holds a newer time, which only
  // moves the search earlier; the checks below drop it.
  uint64_t lo = begin;
  uint64_t hi = end;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (cell(mid).t.load(std::memory_order_relaxed) <= from_ms) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const size_t first_out = out.size();
  out.reserve(first_out + static_cast<size_t>(end - lo));
  size_t pos = static_cast<size_t>((lo - buf->base) % buf->capacity);
  for (uint64_t i = lo; i < end; ++i) {
    const Cell& c = buf->cells()[pos];
    out.push_back(Sample{c.t.load(std::memory_order_relaxed), c.v.load(std::memory_order_relaxed)});
    if (++pos == buf->capacity) pos = 0;
  }
  // Whatever a writer overwrote while we copied lies below the begin_ it stored first.
  std::atomic_thread_fence(std::memory_order_acquire);
  const uint64_t still = begin_.load(std::memory_order_relaxed);
  auto segment = out.begin() + static_cast<ptrdiff_t>(first_out);
  if (still > lo) {
    const auto gone = static_cast<ptrdiff_t>(std::min<uint64_t>(still - lo, end - lo));
    segment = out.erase(segment, segment + gone);
  }
  out.erase(std::remove_if(segment, out.end(),
                           [&](const Sample& s) { return s.t_ms <= from_ms || s.t_ms > to_ms; }),
            out.end());
  return out.size() - first_out;
}

}  // namespace vigil::store::detail
