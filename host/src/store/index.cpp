// The store's inverted index for select() (see index.hpp): adding series, looking up one label
// pair, and the handle lists' storage. This file must never touch a series' slot; it knows
// handles and labels only.
#include "store/index.hpp"

#include <algorithm>
#include <cstring>
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

void LabelIndex::Posting::reallocate(uint32_t new_capacity) {
  new_capacity = std::max(new_capacity, size);
  if (new_capacity <= 1) {
    const uint64_t first = size ? data()[0] : 0;
    if (capacity > 1) delete[] many;
    one = first;
    capacity = 1;
    return;
  }
  auto* fresh = new uint64_t[new_capacity];
  std::memcpy(fresh, data(), size * sizeof(uint64_t));
  if (capacity > 1) delete[] many;
  many = fresh;
  capacity = new_capacity;
}

void LabelIndex::Posting::push_back(uint64_t handle) {
  if (size == capacity) reallocate(capacity * 2);
  data()[size++] = handle;
}

void LabelIndex::add(uint64_t handle, const vigil_label* labels, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    postings_[key(labels[i].name, labels[i].value)].push_back(handle);
  }
}

std::span<const uint64_t> LabelIndex::find(std::string_view name, std::string_view value) const {
  auto it = postings_.find(key(name, value));
  if (it == postings_.end()) return {};
  return {it->second.data(), it->second.size};
}

size_t LabelIndex::bytes() const {
  // A node holds the chain pointer, the key and the posting; each bucket is one pointer.
  size_t total = postings_.bucket_count() * sizeof(void*);
  for (const auto& [key, posting] : postings_) {
    total += sizeof(void*) + sizeof(key) + sizeof(posting);
    if (posting.capacity > 1) total += posting.capacity * sizeof(uint64_t);
  }
  return total;
}

}  // namespace vigil::store::detail
