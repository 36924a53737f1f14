// The store's inverted index for select() (see index.hpp): adding series and looking up one
// label pair. This file must never touch a series' slot; it knows handles and labels only.
#include "store/index.hpp"

#include <functional>

namespace vigil::store::detail {

uint64_t LabelIndex::key(std::string_view name, std::string_view value) {
  // Two independent string hashes mixed so that (a, bc) and (ab, c) land apart.
  const uint64_t n = std::hash<std::string_view>{}(name);
  const uint64_t v = std::hash<std::string_view>{}(value);
  uint64_t h = n * 0x9e3779b97f4a7c15ull ^ (v + 0x632be59bd9b4e019ull + (n << 6) + (n >> 2));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void LabelIndex::add(uint64_t handle, const vigil_label* labels, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    postings_[key(labels[i].name, labels[i].value)].handles.push_back(handle);
  }
}

const std::vector<uint64_t>* LabelIndex::find(std::string_view name, std::string_view value) const {
  auto it = postings_.find(key(name, value));
  return it == postings_.end() ? nullptr : &it->second.handles;
}

size_t LabelIndex::bytes() const {
  // A node holds the key, the posting and the chain pointer; each bucket is one pointer.
  size_t total = postings_.bucket_count() * sizeof(void*);
  for (const auto& [key, posting] : postings_) {
    total += sizeof(key) + sizeof(posting) + sizeof(void*) +
             posting.handles.capacity() * sizeof(uint64_t);
  }
  return total;
}

}  // namespace vigil::store::detail
