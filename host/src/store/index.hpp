// The store's inverted index for select(): per metric family, label (name, value) -> the handles
// of the series carrying it, so picking `bench_metric{id="7"}` out of 100,000 series reads one
// short list instead of walking the family.
//
// Keys are 64-bit hashes of the pair, not the strings: a collision only adds candidates, and
// select() checks every equality against the series' own labels anyway, so the index never needs
// to own a copy of a label. Lists keep dropped handles until half of a list is dead, then compact
// it, so dropping a whole owner's series stays linear.
// This file must never decide what matches: it only narrows; the caller checks.
#pragma once

#include "vigil/plugin.h"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vigil::store::detail {

// Thread-safety: none; the store reads and changes it only under its registry mutex.
class LabelIndex {
 public:
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
      if (++posting.dead * 2 <= posting.handles.size()) continue;
      std::erase_if(posting.handles, [&](uint64_t handle) { return !alive(handle); });
      posting.dead = 0;
      if (posting.handles.empty()) {
        postings_.erase(it);
      } else if (posting.handles.capacity() > 2 * posting.handles.size()) {
        posting.handles.shrink_to_fit();
      }
    }
  }

  // The handles (dropped ones included) of series that may carry name=value; null when none.
  const std::vector<uint64_t>* find(std::string_view name, std::string_view value) const;

  size_t bytes() const;  // an estimate of the heap it holds

 private:
  struct Posting {
    std::vector<uint64_t> handles;
    size_t dead = 0;
  };
  std::unordered_map<uint64_t, Posting> postings_;
};

}  // namespace vigil::store::detail
