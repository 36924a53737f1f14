// The store's inverted index for select(): per metric family, label (name, value) -> the handles
// of the series carrying it, so picking `bench_metric{id="7"}` out of 100,000 series reads one
// short list instead of walking the family.
//
// Keys are 64-bit hashes of the pair, not the strings: a collision only adds candidates, and
// select() checks every equality against the series' own labels anyway, so the index never needs
// to own a copy of a label. A list of one handle (an `id`-like label) is held inline, so such a
// label costs one small map node. Lists keep dropped handles until half of a list is dead, then
// compact it, so dropping a whole owner's series stays linear.
// This file must never decide what matches: it only narrows; the caller checks.
#pragma once

#include "vigil/plugin.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_map>

namespace vigil::store::detail {

// Thread-safety: none; the store reads and changes it only under its registry mutex.
class LabelIndex {
 public:
  LabelIndex() = default;
  LabelIndex(const LabelIndex&) = delete;
  LabelIndex& operator=(const LabelIndex&) = delete;

  // The key of one label pair; also what find() looks up.
  static uint64_t key(std::string_view name, std::string_view value);

  void add(uint64_t handle, const vigil_label* labels, size_t count);

  // Forgets a dropped handle carrying `labels`. `alive(handle)` must say whether a handle still
  // names its series; the dropped one must already answer false.
  template <class Alive>
  void remove(const vigil_label* labels, size_t count, Alive&& alive) {
    for (size_t i = 0; i < count; ++i) {
      auto it = postings_.find(key(labels[i].name, labels[i].value));
      if (it == postings_.end()) continue;
      Posting& posting = it->second;
      if (++posting.dead * 2 <= posting.size) continue;
      uint64_t* handles = posting.data();
      uint32_t kept = 0;
      for (uint32_t j = 0; j < posting.size; ++j) {
        if (alive(handles[j])) handles[kept++] = handles[j];
      }
      posting.size = kept;
      posting.dead = 0;
      if (kept == 0) {
        postings_.erase(it);
      } else if (posting.capacity > 1 && kept <= posting.capacity / 4) {
        posting.reallocate(kept * 2);
      }
    }
  }

  // The handles (dropped ones included) of series that may carry name=value; empty when none.
  std::span<const uint64_t> find(std::string_view name, std::string_view value) const;

  size_t bytes() const;  // an estimate of the heap it holds

 private:
  // A list of handles: the first inline while it is the only one, then on the heap.
  struct Posting {
    union {
      uint64_t one;
      uint64_t* many;
    };
    uint32_t size = 0;
    uint32_t capacity = 1;  // 1: `one` holds it
    uint32_t dead = 0;

    Posting() : one(0) {}
    ~Posting() {
      if (capacity > 1) delete[] many;
    }
    Posting(const Posting&) = delete;
    Posting& operator=(const Posting&) = delete;

    uint64_t* data() { return capacity > 1 ? many : &one; }
    const uint64_t* data() const { return capacity > 1 ? many : &one; }
    void push_back(uint64_t handle);
    void reallocate(uint32_t new_capacity);
  };
  std::unordered_map<uint64_t, Posting> postings_;
};

}  // namespace vigil::store::detail
