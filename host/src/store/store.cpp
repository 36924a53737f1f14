// The metric store's implementation: a registry under one mutex, and series slots that writers
// reach by handle without it.
//
// Layout, and why:
//  - Series live in 64-byte slots inside fixed-size chunks that are never moved nor freed while
//    the store lives, so a writer can turn a handle into a slot address while a registration
//    grows the table, and a stale writer only ever touches store-owned memory.
//  - A handle is (generation << 32) | (slot index + 1). A slot in use has an odd generation;
//    dropping bumps it, so every old handle is refused from then on. A dropped slot waits
//    `reuse_delay` before holding another series (and before its histogram/summary state is
//    freed), which covers a writer that checked the generation just before the drop.
//  - A plain write is two atomic stores (value, then timestamp with release). Histogram and
//    summary replacement take a per-slot seqlock so readers never see half of one; observe()
//    only increments, and a histogram's count is derived from its buckets, so count always
//    equals the +Inf bucket.
//  - Deduplication (family + label set -> slot) is an open-addressing table of slot indices
//    keyed by the precomputed labels text, a few bytes per series.
//  - Each family keeps its member handles sorted lazily: a visit sorts only what was added since
//    the last one and merges it, so visiting a stable store is a linear walk.
//  - select() narrows through a family's label index (index.hpp), built the first time someone
//    selects in that family by a label and from then on kept at every registration and drop,
//    so families nobody selects from cost nothing and churn elsewhere never forces a rebuild.
//  - A scalar series' `extra` is its ring (ring.hpp), made on first need; a write with no ring
//    pays one load and a flag test.
// This file must never take the registry mutex, allocate or hash a string on a write path.
#include "store/store.hpp"

#include "store/index.hpp"
#include "store/ring.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace vigil::store {
using detail::LabelIndex;
using detail::Ring;
namespace {

constexpr uint32_t kChunkBits = 10;
constexpr uint32_t kChunkSize = 1u << kChunkBits;
constexpr uint32_t kChunkMask = kChunkSize - 1;
constexpr uint32_t kMaxChunks = 1u << 14;  // 16M series
constexpr uint64_t kMaxSlots = uint64_t{kChunkSize} * kMaxChunks;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The precomputed labels of one series, in one allocation: the header, `count` vigil_labels,
// then the labels text and each name and value, all NUL-terminated, which the vigil_labels
// point into. Immutable once built; read only under the registry mutex.
struct LabelBlock {
  uint32_t count;
  uint32_t text_len;

  vigil_label* labels() { return reinterpret_cast<vigil_label*>(this + 1); }
  const vigil_label* labels() const { return reinterpret_cast<const vigil_label*>(this + 1); }
  char* chars() { return reinterpret_cast<char*>(labels() + count); }
  const char* text() const { return reinterpret_cast<const char*>(labels() + count); }
  std::string_view text_view() const { return {text(), text_len}; }
};

LabelBlock* make_label_block(const Labels& labels, const std::string& text) {
  size_t chars = text.size() + 1;
  for (const auto& [name, value] : labels) chars += name.size() + value.size() + 2;
  const size_t bytes = sizeof(LabelBlock) + labels.size() * sizeof(vigil_label) + chars;
  auto* block = new (::operator new(bytes))
      LabelBlock{static_cast<uint32_t>(labels.size()), static_cast<uint32_t>(text.size())};
  char* p = block->chars();
  std::memcpy(p, text.c_str(), text.size() + 1);
  p += text.size() + 1;
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& [name, value] = labels[i];
    std::memcpy(p, name.c_str(), name.size() + 1);
    block->labels()[i].name = p;
    p += name.size() + 1;
    std::memcpy(p, value.c_str(), value.size() + 1);
    block->labels()[i].value = p;
    p += value.size() + 1;
  }
  return block;
}

void free_label_block(LabelBlock* block) {
  if (block) {
    block->~LabelBlock();
    ::operator delete(block);
  }
}

// Prometheus orders series by label set: label by label, name then value, a prefix first.
bool labels_less(const LabelBlock& a, const LabelBlock& b) {
  const uint32_t n = std::min(a.count, b.count);
  for (uint32_t i = 0; i < n; ++i) {
    if (int c = std::strcmp(a.labels()[i].name, b.labels()[i].name)) return c < 0;
    if (int c = std::strcmp(a.labels()[i].value, b.labels()[i].value)) return c < 0;
  }
  return a.count < b.count;
}

// Thread-safety: bounds are immutable; counts and sum are atomics written by any thread.
struct HistogramState {
  const double* bounds;  // the family's, which outlives every series
  size_t bucket_count;
  std::atomic<double> sum{0.0};
  // Non-cumulative: counts[i] for bounds[i], counts[bucket_count] for +Inf. Readers accumulate,
  // so the total they report is by construction the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> counts;

  HistogramState(const double* b, size_t n)
      : bounds(b), bucket_count(n), counts(new std::atomic<uint64_t>[n + 1]) {
    for (size_t i = 0; i <= n; ++i) counts[i].store(0, std::memory_order_relaxed);
  }
};

// Thread-safety: written only under the owning slot's seqlock; read through it.
struct SummaryState {
  std::atomic<uint32_t> count_quantiles{0};
  std::array<std::atomic<double>, kMaxQuantiles> quantiles{};
  std::array<std::atomic<double>, kMaxQuantiles> values{};
  std::atomic<double> sum{0.0};
  std::atomic<uint64_t> count{0};
};

inline bool is_scalar(uint8_t type) {
  return type == VIGIL_METRIC_COUNTER || type == VIGIL_METRIC_GAUGE || type == VIGIL_METRIC_UNTYPED;
}

// Thread-safety: the atomics are read and written by any thread; the plain fields only under
// the registry mutex (set before the generation is published, cleared after it is bumped).
struct alignas(64) Slot {
  std::atomic<uint32_t> generation{0};  // odd while in use
  std::atomic<uint32_t> seq{0};         // seqlock for whole-histogram/summary replacement
  std::atomic<double> value{0.0};
  std::atomic<int64_t> stamp{0};  // (timestamp_ms << 1) | explicit; 0 = never written
  std::atomic<uint8_t> type{0};   // vigil_metric_type, for the writers' type check
  uint32_t family = 0;            // index into Impl::families
  LabelBlock* labels = nullptr;
  std::atomic<void*> extra{nullptr};  // HistogramState*, SummaryState* or Ring*, by type
  uint64_t owner = 0;
  int64_t stale_after_ms = 0;
};
static_assert(sizeof(Slot) == 64, "a slot should stay one cache line");

inline uint64_t make_handle(uint32_t index, uint32_t generation) {
  return (uint64_t{generation} << 32) | (uint64_t{index} + 1);
}
inline uint32_t handle_index(uint64_t handle) {
  return static_cast<uint32_t>(handle) - 1;
}
inline uint32_t handle_generation(uint64_t handle) {
  return static_cast<uint32_t>(handle >> 32);
}

inline int64_t stamp_time(int64_t stamp) {
  return stamp >> 1;
}

inline bool is_live(const Slot& slot, int64_t stamp, int64_t now_ms) {
  return stamp != 0 &&
         (slot.stale_after_ms <= 0 || now_ms - stamp_time(stamp) < slot.stale_after_ms);
}

// Writer side of the seqlock; several writers of one series take turns.
uint32_t seq_begin(Slot& slot) {
  for (;;) {
    uint32_t s = slot.seq.load(std::memory_order_relaxed);
    if (!(s & 1) && slot.seq.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                                   std::memory_order_relaxed)) {
      std::atomic_thread_fence(std::memory_order_release);
      return s;
    }
    cpu_relax();
  }
}
void seq_end(Slot& slot, uint32_t begun) {
  slot.seq.store(begun + 2, std::memory_order_release);
}

// Reader side: `read` is repeated until no replacement overlapped it.
template <class Read>
void seq_read(const Slot& slot, Read&& read) {
  for (;;) {
    const uint32_t s = slot.seq.load(std::memory_order_acquire);
    if (s & 1) {
      cpu_relax();
      continue;
    }
    read();
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.seq.load(std::memory_order_relaxed) == s) return;
  }
}

size_t bucket_index(const HistogramState& h, double value) {
  if (std::isnan(value)) return h.bucket_count;  // NaN is in no finite bucket, only in +Inf
  // First bound >= value: Prometheus buckets are "less than or equal".
  return static_cast<size_t>(std::lower_bound(h.bounds, h.bounds + h.bucket_count, value) -
                             h.bounds);
}

std::string format_double(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_buckets(const double* b, size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ", ";
    out += format_double(b[i]);
  }
  return out + "]";
}

const char* type_name(vigil_metric_type type) {
  switch (type) {
    case VIGIL_METRIC_COUNTER:
      return "counter";
    case VIGIL_METRIC_GAUGE:
      return "gauge";
    case VIGIL_METRIC_HISTOGRAM:
      return "histogram";
    case VIGIL_METRIC_SUMMARY:
      return "summary";
    case VIGIL_METRIC_UNTYPED:
      return "untyped";
  }
  return "unknown type";
}

// The extra lines a family of this type adds to the exposition.
std::vector<std::string_view> suffixes_of(vigil_metric_type type) {
  if (type == VIGIL_METRIC_HISTOGRAM) return {"_bucket", "_sum", "_count"};
  if (type == VIGIL_METRIC_SUMMARY) return {"_sum", "_count"};
  return {};
}

// Visits are refused re-entry from their own callbacks: the registry mutex is not recursive,
// and the visit's scratch buffers and iterators are in use.
thread_local const void* t_visiting = nullptr;

}  // namespace

// Thread-safety: guarded by Impl::mutex, except that families are never freed nor changed after
// registration (only their member lists are), so their name/buckets may be read through a
// pointer taken under the mutex.
struct Family {
  std::string name;
  std::string help;
  std::string unit;
  vigil_metric_type type;
  std::vector<double> buckets;
  std::vector<uint64_t> members;  // handles; dropped ones stay until compacted
  size_t sorted_prefix = 0;       // members[0, sorted_prefix) are in label order
  size_t dropped = 0;             // members whose handle was invalidated, not yet compacted
  // select()'s index over the members' labels; null until a select needs it.
  std::unique_ptr<LabelIndex> index;
};

struct Store::Impl {
  // Hot-path state: read without the mutex.
  std::unique_ptr<std::atomic<Slot*>[]> chunks { new std::atomic<Slot*>[ kMaxChunks ] };

  // Everything below is guarded by `mutex`.
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Family>> families;
  std::map<std::string, uint32_t, std::less<>> by_name;
  uint32_t next_slot = 0;
  size_t in_use = 0;
  std::vector<uint32_t> free_slots;
  struct Quarantined {
    uint32_t index;
    std::chrono::steady_clock::time_point since;
  };
  std::deque<Quarantined> quarantine;
  std::chrono::steady_clock::duration reuse_delay = std::chrono::seconds(10);
  std::vector<uint32_t> table;  // dedup: slot index + 1, 0 = empty; size is a power of two
  size_t table_used = 0;
  std::atomic<uint64_t> generation{1};  // bumped on every registration change
  std::atomic<int64_t> window_retention_ms{3'600'000};
  std::atomic<size_t> window_max_samples{720};
  std::atomic<bool> window_all_series{false};
  std::atomic<size_t> ring_bytes{0};
  // Visit scratch, kept to avoid allocating per visit.
  std::vector<uint32_t> live;
  std::vector<uint64_t> cumulative;

  Impl() {
    for (uint32_t i = 0; i < kMaxChunks; ++i) chunks[i].store(nullptr, std::memory_order_relaxed);
    table.assign(1024, 0);
  }

  ~Impl() {
    for (uint32_t c = 0; c < kMaxChunks; ++c) {
      Slot* chunk = chunks[c].load(std::memory_order_relaxed);
      if (!chunk) break;
      for (uint32_t i = 0; i < kChunkSize; ++i) release_slot_memory(chunk[i]);
      delete[] chunk;
    }
  }

  bool in_visit() const { return t_visiting == this; }

  // Lock-free: the slot a handle names, or null when it is unknown or dropped.
  Slot* resolve(uint64_t handle) const {
    const uint32_t generation = handle_generation(handle);
    if (!(generation & 1)) return nullptr;
    const uint32_t index = handle_index(handle);
    const uint32_t c = index >> kChunkBits;
    if (c >= kMaxChunks) return nullptr;
    Slot* chunk = chunks[c].load(std::memory_order_acquire);
    if (!chunk) return nullptr;
    Slot* slot = chunk + (index & kChunkMask);
    if (slot->generation.load(std::memory_order_acquire) != generation) return nullptr;
    return slot;
  }

  Slot& slot_at(uint32_t index) const {
    return chunks[index >> kChunkBits].load(std::memory_order_relaxed)[index & kChunkMask];
  }

  static void release_slot_memory(Slot& slot) {
    free_label_block(slot.labels);
    slot.labels = nullptr;
    void* extra = slot.extra.exchange(nullptr, std::memory_order_relaxed);
    if (!extra) return;
    const uint8_t type = slot.type.load(std::memory_order_relaxed);
    if (type == VIGIL_METRIC_HISTOGRAM) {
      delete static_cast<HistogramState*>(extra);
    } else if (is_scalar(type)) {
      delete static_cast<Ring*>(extra);
    } else {
      delete static_cast<SummaryState*>(extra);
    }
  }

  // The slot's ring, created on first need; racing creators agree on one. `created` tells the
  // one whose ring won.
  Ring* ensure_ring(Slot& slot, bool* created = nullptr) {
    void* current = slot.extra.load(std::memory_order_acquire);
    if (current) return static_cast<Ring*>(current);
    auto* fresh = new Ring(&ring_bytes);
    if (slot.extra.compare_exchange_strong(current, fresh, std::memory_order_acq_rel)) {
      if (created) *created = true;
      return fresh;
    }
    delete fresh;
    return static_cast<Ring*>(current);
  }

  // A handle still names its series: its slot was not dropped (nor reused) since.
  bool handle_alive(uint64_t handle) const {
    return slot_at(handle_index(handle)).generation.load(std::memory_order_relaxed) ==
           handle_generation(handle);
  }

  // The family's label index, built from its members on first need.
  LabelIndex& label_index(Family& family) {
    if (!family.index) {
      family.index = std::make_unique<LabelIndex>();
      for (uint64_t handle : family.members) {
        if (!handle_alive(handle)) continue;
        const LabelBlock& block = *slot_at(handle_index(handle)).labels;
        family.index->add(handle, block.labels(), block.count);
      }
    }
    return *family.index;
  }

  // ---- dedup table ------------------------------------------------------------------------

  static size_t key_hash(uint32_t family, std::string_view text) {
    return std::hash<std::string_view>{}(text) ^ (uint64_t{family} * 0x9e3779b97f4a7c15ull);
  }

  size_t slot_hash(uint32_t index) const {
    const Slot& s = slot_at(index);
    return key_hash(s.family, s.labels->text_view());
  }

  // Position of the entry for (family, text), or of the empty cell where it would go.
  size_t table_find(uint32_t family, std::string_view text, size_t hash) const {
    const size_t mask = table.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const uint32_t entry = table[i];
      if (entry == 0) return i;
      const Slot& s = slot_at(entry - 1);
      if (s.family == family && s.labels->text_view() == text) return i;
    }
  }

  void table_grow_if_needed() {
    if ((table_used + 1) * 2 <= table.size()) return;
    std::vector<uint32_t> old(table.size() * 2, 0);
    old.swap(table);
    const size_t mask = table.size() - 1;
    for (uint32_t entry : old) {
      if (!entry) continue;
      size_t i = slot_hash(entry - 1) & mask;
      while (table[i]) i = (i + 1) & mask;
      table[i] = entry;
    }
  }

  void table_insert(uint32_t index, size_t position) {
    table[position] = index + 1;
    ++table_used;
  }

  // Backward-shift deletion keeps probe chains intact without tombstones.
  void table_erase(uint32_t index) {
    const Slot& s = slot_at(index);
    const size_t mask = table.size() - 1;
    size_t hole = table_find(s.family, s.labels->text_view(), slot_hash(index));
    if (table[hole] != index + 1) return;
    for (size_t j = (hole + 1) & mask; table[j] != 0; j = (j + 1) & mask) {
      const size_t home = slot_hash(table[j] - 1) & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const bool home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!home_between) {
        table[hole] = table[j];
        hole = j;
      }
    }
    table[hole] = 0;
    --table_used;
  }

  // ---- slots ------------------------------------------------------------------------------

  void release_quarantine(bool all) {
    const auto now = std::chrono::steady_clock::now();
    while (!quarantine.empty() && (all || now - quarantine.front().since >= reuse_delay)) {
      Slot& slot = slot_at(quarantine.front().index);
      release_slot_memory(slot);
      slot.type.store(0, std::memory_order_relaxed);
      free_slots.push_back(quarantine.front().index);
      quarantine.pop_front();
    }
  }

  // A free slot index, or kMaxSlots when the store is full.
  uint64_t allocate_slot() {
    release_quarantine(false);
    if (!free_slots.empty()) {
      const uint32_t index = free_slots.back();
      free_slots.pop_back();
      return index;
    }
    if (next_slot >= kMaxSlots) return kMaxSlots;
    const uint32_t index = next_slot;
    if ((index & kChunkMask) == 0) {
      chunks[index >> kChunkBits].store(new Slot[kChunkSize], std::memory_order_release);
    }
    ++next_slot;
    return index;
  }

  // Invalidates every handle of the slot at once; its memory waits in quarantine.
  void drop(uint32_t index) {
    Slot& slot = slot_at(index);
    table_erase(index);
    slot.generation.fetch_add(1, std::memory_order_acq_rel);
    Family& family = *families[slot.family];
    if (family.index) {
      family.index->remove(slot.labels->labels(), slot.labels->count,
                           [this](uint64_t handle) { return handle_alive(handle); });
    }
    free_label_block(slot.labels);
    slot.labels = nullptr;
    family.dropped++;
    --in_use;
    generation.fetch_add(1, std::memory_order_relaxed);
    quarantine.push_back({index, std::chrono::steady_clock::now()});
  }

  void compact(Family& family) {
    if (family.dropped == 0) return;
    size_t kept_sorted = 0;
    size_t out = 0;
    for (size_t i = 0; i < family.members.size(); ++i) {
      const uint64_t handle = family.members[i];
      if (slot_at(handle_index(handle)).generation.load(std::memory_order_relaxed) !=
          handle_generation(handle)) {
        continue;
      }
      if (i < family.sorted_prefix) ++kept_sorted;
      family.members[out++] = handle;
    }
    family.members.resize(out);
    family.sorted_prefix = kept_sorted;
    family.dropped = 0;
  }

  void sort_members(Family& family) {
    if (family.sorted_prefix == family.members.size()) return;
    auto less = [this](uint64_t a, uint64_t b) {
      return labels_less(*slot_at(handle_index(a)).labels, *slot_at(handle_index(b)).labels);
    };
    const auto middle = family.members.begin() + static_cast<ptrdiff_t>(family.sorted_prefix);
    std::sort(middle, family.members.end(), less);
    std::inplace_merge(family.members.begin(), middle, family.members.end(), less);
    family.sorted_prefix = family.members.size();
  }

  void compact_all() {
    for (auto& family : families) compact(*family);
  }

  // ---- family registration checks ----------------------------------------------------------

  // The exposition lines of `name` (type `type`) must not collide with another family's.
  bool name_clashes(const std::string& name, vigil_metric_type type, std::string& error) const {
    for (std::string_view suffix : suffixes_of(type)) {
      const std::string line = name + std::string(suffix);
      if (by_name.count(line)) {
        error = std::string("metric family \"") + name + "\": as a " + type_name(type) +
                " it would expose \"" + line + "\", which family \"" + line +
                "\" already uses; rename one of them";
        return true;
      }
    }
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() <= suffix.size() ||
          name.compare(name.size() - suffix.size(), suffix.size(), suffix.data()) != 0) {
        continue;
      }
      const auto base = by_name.find(std::string_view(name).substr(0, name.size() - suffix.size()));
      if (base == by_name.end()) continue;
      const Family& other = *families[base->second];
      for (std::string_view theirs : suffixes_of(other.type)) {
        if (theirs == suffix) {
          error = std::string("metric family \"") + name + "\": the " + type_name(other.type) +
                  " \"" + other.name + "\" already exposes a line named \"" + name +
                  "\"; rename one of them";
          return true;
        }
      }
    }
    return false;
  }
};

// ---- Store ---------------------------------------------------------------------------------

Store::Store() : impl_(std::make_unique<Impl>()) {}
Store::~Store() = default;

int64_t Store::now_ms() {
  // The coarse clock is a few times cheaper than the precise one, and its resolution (a
  // scheduler tick) is far below any staleness or scrape interval.
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

void Store::set_reuse_delay_ms(int64_t delay_ms) {
  std::lock_guard lock(impl_->mutex);
  impl_->reuse_delay = std::chrono::milliseconds(std::max<int64_t>(delay_ms, 0));
}

vigil_family_id Store::register_family(const vigil_family_desc& desc, std::string& error) {
  Impl& im = *impl_;
  if (im.in_visit()) {
    error = "cannot register a metric family from inside a store visit";
    return 0;
  }
  const std::string name = desc.name ? desc.name : "";
  std::string why;
  if (!valid_metric_name(name, &why)) {
    error = why;
    return 0;
  }
  const vigil_metric_type type = desc.type;
  if (type < VIGIL_METRIC_COUNTER || type > VIGIL_METRIC_UNTYPED) {
    error = "metric family \"" + name + "\": type " + std::to_string(type) +
            " is not one of counter (1), gauge (2), histogram (3), summary (4), untyped (5)";
    return 0;
  }
  std::vector<double> buckets;
  if (type == VIGIL_METRIC_HISTOGRAM && desc.bucket_count > 0) {
    if (!desc.buckets) {
      error = "histogram \"" + name + "\": bucket_count is " + std::to_string(desc.bucket_count) +
              " but buckets is NULL; expected an array of that many upper bounds";
      return 0;
    }
    buckets.assign(desc.buckets, desc.buckets + desc.bucket_count);
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (!std::isfinite(buckets[i])) {
        error = "histogram \"" + name + "\": bucket " + std::to_string(i) + " is " +
                format_double(buckets[i]) +
                "; expected finite upper bounds only (the +Inf bucket is implicit)";
        return 0;
      }
      if (i > 0 && !(buckets[i] > buckets[i - 1])) {
        error = "histogram \"" + name + "\": bucket " + std::to_string(i) + " (" +
                format_double(buckets[i]) + ") is not greater than bucket " +
                std::to_string(i - 1) + " (" + format_double(buckets[i - 1]) +
                "); expected strictly increasing upper bounds";
        return 0;
      }
    }
  }

  std::lock_guard lock(im.mutex);
  if (auto it = im.by_name.find(name); it != im.by_name.end()) {
    const Family& existing = *im.families[it->second];
    if (existing.type != type) {
      error = "metric family \"" + name + "\" is already registered as a " +
              type_name(existing.type) + "; cannot register it again as a " + type_name(type);
      return 0;
    }
    if (existing.buckets != buckets) {
      error = "histogram \"" + name + "\" is already registered with buckets " +
              format_buckets(existing.buckets.data(), existing.buckets.size()) +
              "; this registration gives " + format_buckets(buckets.data(), buckets.size()) +
              "; expected the same buckets";
      return 0;
    }
    return it->second + 1;
  }
  if (im.name_clashes(name, type, error)) return 0;
  auto family = std::make_unique<Family>();
  family->name = name;
  family->help = desc.help ? desc.help : "";
  family->unit = desc.unit ? desc.unit : "";
  family->type = type;
  family->buckets = std::move(buckets);
  const auto index = static_cast<uint32_t>(im.families.size());
  im.families.push_back(std::move(family));
  im.by_name.emplace(name, index);
  return index + 1;
}

vigil_series_id Store::register_series(vigil_family_id family_id, Labels labels,
                                       int64_t stale_after_ms, uint64_t owner, std::string& error) {
  Impl& im = *impl_;
  if (im.in_visit()) {
    error = "cannot register a series from inside a store visit";
    return 0;
  }
  // Family names and types never change once registered, so reading them after unlocking is
  // safe; holding the lock while checking labels would only delay writers' registrations.
  const Family* family = nullptr;
  {
    std::lock_guard lock(im.mutex);
    if (family_id == 0 || family_id > im.families.size()) {
      error = "series of unknown metric family id " + std::to_string(family_id) +
              "; expected an id returned by register_family";
      return 0;
    }
    family = im.families[family_id - 1].get();
  }
  const std::string prefix = "metric family \"" + family->name + "\": ";

  std::string why;
  for (const auto& [name, value] : labels) {
    if (!valid_label_name(name, &why)) {
      error = prefix + why;
      return 0;
    }
    if (family->type == VIGIL_METRIC_HISTOGRAM && name == "le") {
      error = prefix + "label name \"le\" is reserved on histograms for the bucket bounds; " +
              "expected another name";
      return 0;
    }
    if (family->type == VIGIL_METRIC_SUMMARY && name == "quantile") {
      error = prefix + "label name \"quantile\" is reserved on summaries; expected another name";
      return 0;
    }
    size_t bad = 0;
    if (!valid_utf8(value, &bad)) {
      error = prefix + "the value of label \"" + name + "\" is not valid UTF-8 (bad byte at " +
              "offset " + std::to_string(bad) + "); expected UTF-8 text";
      return 0;
    }
    if (value.find('\0') != std::string::npos) {
      error = prefix + "the value of label \"" + name + "\" contains a NUL character at offset " +
              std::to_string(value.find('\0')) + "; expected text without NUL";
      return 0;
    }
  }
  std::stable_sort(labels.begin(), labels.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < labels.size(); ++i) {
    if (labels[i].first == labels[i - 1].first) {
      error = prefix + "label \"" + labels[i].first + "\" is given twice (values \"" +
              labels[i - 1].second + "\" and \"" + labels[i].second +
              "\"); expected each label name once";
      return 0;
    }
  }
  // Prometheus treats an empty value as an absent label; dropping it here keeps {a=""} and {}
  // the same series.
  labels.erase(
      std::remove_if(labels.begin(), labels.end(), [](const auto& l) { return l.second.empty(); }),
      labels.end());

  std::string text;
  if (!labels.empty()) {
    text += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) text += ',';
      text += labels[i].first;
      text += "=\"";
      append_escaped_label_value(text, labels[i].second);
      text += '"';
    }
    text += '}';
  }

  const auto family_index = static_cast<uint32_t>(family_id - 1);
  const size_t hash = Impl::key_hash(family_index, text);
  std::lock_guard lock(im.mutex);
  im.table_grow_if_needed();
  const size_t position = im.table_find(family_index, text, hash);
  if (const uint32_t entry = im.table[position]) {
    const Slot& slot = im.slot_at(entry - 1);
    return make_handle(entry - 1, slot.generation.load(std::memory_order_relaxed));
  }
  const uint64_t allocated = im.allocate_slot();
  if (allocated == kMaxSlots) {
    error = prefix + "the store already holds " + std::to_string(kMaxSlots) +
            " series, its maximum; expected fewer label combinations";
    return 0;
  }
  const auto index = static_cast<uint32_t>(allocated);
  Slot& slot = im.slot_at(index);
  slot.family = family_index;
  slot.labels = make_label_block(labels, text);
  slot.owner = owner;
  slot.stale_after_ms = stale_after_ms;
  slot.value.store(0.0, std::memory_order_relaxed);
  slot.stamp.store(0, std::memory_order_relaxed);
  slot.type.store(static_cast<uint8_t>(family->type), std::memory_order_relaxed);
  if (family->type == VIGIL_METRIC_HISTOGRAM) {
    slot.extra.store(new HistogramState(family->buckets.data(), family->buckets.size()),
                     std::memory_order_relaxed);
  } else if (family->type == VIGIL_METRIC_SUMMARY) {
    slot.extra.store(new SummaryState(), std::memory_order_relaxed);
  }
  // Publishing the odd generation makes the slot reachable by handle, after all of the above.
  const uint32_t generation = slot.generation.load(std::memory_order_relaxed) + 1;
  slot.generation.store(generation, std::memory_order_release);
  im.table_insert(index, position);
  Family& members_of = *im.families[family_index];
  members_of.members.push_back(make_handle(index, generation));
  if (members_of.index) {
    members_of.index->add(make_handle(index, generation), slot.labels->labels(),
                          slot.labels->count);
  }
  ++im.in_use;
  im.generation.fetch_add(1, std::memory_order_relaxed);
  return make_handle(index, generation);
}

vigil_status Store::write(vigil_series_id id, double value, int64_t timestamp_ms) {
  Slot* slot = impl_->resolve(id);
  if (!slot) return VIGIL_ERR_INVALID_ARGUMENT;
  const uint8_t type = slot->type.load(std::memory_order_relaxed);
  if (type == VIGIL_METRIC_HISTOGRAM || type == VIGIL_METRIC_SUMMARY) {
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  const int64_t t = timestamp_ms ? timestamp_ms : now_ms();
  slot->value.store(value, std::memory_order_relaxed);
  slot->stamp.store(timestamp_ms ? (t * 2) | 1 : t * 2, std::memory_order_release);
  void* ring = slot->extra.load(std::memory_order_acquire);
  Impl& im = *impl_;
  if (!ring && im.window_all_series.load(std::memory_order_relaxed)) ring = im.ensure_ring(*slot);
  if (ring) {
    static_cast<Ring*>(ring)->push(t, value, im.window_retention_ms.load(std::memory_order_relaxed),
                                   im.window_max_samples.load(std::memory_order_relaxed));
  }
  return VIGIL_OK;
}

vigil_status Store::observe(vigil_series_id id, double value) {
  Slot* slot = impl_->resolve(id);
  if (!slot || slot->type.load(std::memory_order_relaxed) != VIGIL_METRIC_HISTOGRAM) {
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  auto& h = *static_cast<HistogramState*>(slot->extra.load(std::memory_order_relaxed));
  h.counts[bucket_index(h, value)].fetch_add(1, std::memory_order_relaxed);
  h.sum.fetch_add(value, std::memory_order_relaxed);
  slot->stamp.store(now_ms() * 2, std::memory_order_release);
  return VIGIL_OK;
}

vigil_status Store::write_histogram(vigil_series_id id, const uint64_t* cumulative, size_t n,
                                    double sum, uint64_t count, int64_t timestamp_ms) {
  Slot* slot = impl_->resolve(id);
  if (!slot || slot->type.load(std::memory_order_relaxed) != VIGIL_METRIC_HISTOGRAM) {
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  auto& h = *static_cast<HistogramState*>(slot->extra.load(std::memory_order_relaxed));
  if (n != h.bucket_count || (n > 0 && !cumulative)) return VIGIL_ERR_INVALID_ARGUMENT;
  for (size_t i = 1; i < n; ++i) {
    if (cumulative[i] < cumulative[i - 1]) return VIGIL_ERR_INVALID_ARGUMENT;
  }
  if (n > 0 && count < cumulative[n - 1]) return VIGIL_ERR_INVALID_ARGUMENT;

  const uint32_t begun = seq_begin(*slot);
  uint64_t previous = 0;
  for (size_t i = 0; i < n; ++i) {
    h.counts[i].store(cumulative[i] - previous, std::memory_order_relaxed);
    previous = cumulative[i];
  }
  h.counts[n].store(count - previous, std::memory_order_relaxed);
  h.sum.store(sum, std::memory_order_relaxed);
  seq_end(*slot, begun);
  slot->stamp.store(timestamp_ms ? (timestamp_ms * 2) | 1 : now_ms() * 2,
                    std::memory_order_release);
  return VIGIL_OK;
}

vigil_status Store::write_summary(vigil_series_id id, const double* quantiles, const double* values,
                                  size_t n, double sum, uint64_t count, int64_t timestamp_ms) {
  Slot* slot = impl_->resolve(id);
  if (!slot || slot->type.load(std::memory_order_relaxed) != VIGIL_METRIC_SUMMARY) {
    return VIGIL_ERR_INVALID_ARGUMENT;
  }
  if (n > kMaxQuantiles || (n > 0 && (!quantiles || !values))) return VIGIL_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n; ++i) {
    if (!(quantiles[i] >= 0.0 && quantiles[i] <= 1.0)) return VIGIL_ERR_INVALID_ARGUMENT;
  }
  auto& s = *static_cast<SummaryState*>(slot->extra.load(std::memory_order_relaxed));
  const uint32_t begun = seq_begin(*slot);
  s.count_quantiles.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    s.quantiles[i].store(quantiles[i], std::memory_order_relaxed);
    s.values[i].store(values[i], std::memory_order_relaxed);
  }
  s.sum.store(sum, std::memory_order_relaxed);
  s.count.store(count, std::memory_order_relaxed);
  seq_end(*slot, begun);
  slot->stamp.store(timestamp_ms ? (timestamp_ms * 2) | 1 : now_ms() * 2,
                    std::memory_order_release);
  return VIGIL_OK;
}

vigil_status Store::unregister_series(vigil_series_id id, uint64_t owner) {
  Impl& im = *impl_;
  if (im.in_visit()) return VIGIL_ERR_INVALID_ARGUMENT;
  std::lock_guard lock(im.mutex);
  Slot* slot = im.resolve(id);
  if (!slot || slot->owner != owner) return VIGIL_ERR_INVALID_ARGUMENT;
  im.drop(handle_index(id));
  // Compacting on every drop would make dropping n series O(n^2); halving bounds the waste.
  Family& family = *im.families[slot->family];
  if (family.dropped * 2 > family.members.size()) im.compact(family);
  return VIGIL_OK;
}

void Store::unregister_owner(uint64_t owner) {
  Impl& im = *impl_;
  if (im.in_visit()) return;
  std::lock_guard lock(im.mutex);
  for (uint32_t i = 0; i < im.next_slot; ++i) {
    Slot& slot = im.slot_at(i);
    if ((slot.generation.load(std::memory_order_relaxed) & 1) && slot.owner == owner) im.drop(i);
  }
  im.compact_all();
}

size_t Store::collect_garbage(int64_t now_ms, int64_t drop_after_ms) {
  Impl& im = *impl_;
  if (im.in_visit()) return 0;
  if (now_ms == 0) now_ms = Store::now_ms();
  std::lock_guard lock(im.mutex);
  size_t dropped = 0;
  for (uint32_t i = 0; i < im.next_slot; ++i) {
    Slot& slot = im.slot_at(i);
    if (!(slot.generation.load(std::memory_order_relaxed) & 1) || slot.stale_after_ms <= 0) {
      continue;
    }
    const int64_t stamp = slot.stamp.load(std::memory_order_acquire);
    if (stamp == 0) continue;
    if (now_ms - stamp_time(stamp) >= slot.stale_after_ms + std::max<int64_t>(drop_after_ms, 0)) {
      im.drop(i);
      ++dropped;
    }
  }
  if (dropped) im.compact_all();
  im.release_quarantine(false);
  return dropped;
}

bool Store::visit(const vigil_store_visitor& visitor_in, void* user, int64_t now_ms) const {
  Impl& im = *impl_;
  if (im.in_visit()) return false;  // a nested visit would reuse the scratch buffers in use
  // Copy only what the caller's struct has, so a visitor from an older ABI reads as zeroed.
  vigil_store_visitor visitor{};
  std::memcpy(&visitor, &visitor_in, std::min<size_t>(visitor_in.size, sizeof visitor));
  if (now_ms == 0) now_ms = Store::now_ms();

  std::lock_guard lock(im.mutex);
  t_visiting = &im;
  struct Reset {
    ~Reset() { t_visiting = nullptr; }
  } reset;

  for (const auto& [name, family_index] : im.by_name) {
    Family& family = *im.families[family_index];
    im.compact(family);
    im.sort_members(family);
    im.live.clear();
    for (uint64_t handle : family.members) {
      const uint32_t index = handle_index(handle);
      const Slot& slot = im.slot_at(index);
      if (is_live(slot, slot.stamp.load(std::memory_order_acquire), now_ms)) {
        im.live.push_back(index);
      }
    }
    if (im.live.empty()) continue;

    vigil_family_view fv{};
    fv.size = sizeof fv;
    fv.name = family.name.c_str();
    fv.help = family.help.c_str();
    fv.unit = family.unit.c_str();
    fv.type = family.type;
    fv.buckets = family.buckets.empty() ? nullptr : family.buckets.data();
    fv.bucket_count = family.buckets.size();
    fv.series_count = im.live.size();
    if (visitor.family && visitor.family(user, &fv)) return false;
    if (!visitor.series) continue;

    double quantiles[kMaxQuantiles];
    double quantile_values[kMaxQuantiles];
    im.cumulative.resize(family.buckets.size());
    // Each series' label text is its own allocation, so a linear walk would take one cache
    // miss per series; asking for the text a few series ahead overlaps those misses.
    constexpr size_t kPrefetchAhead = 12;
    const size_t live_count = im.live.size();
    for (size_t k = 0; k < live_count; ++k) {
      if (k + kPrefetchAhead < live_count) {
        const Slot& ahead = im.slot_at(im.live[k + kPrefetchAhead]);
        __builtin_prefetch(ahead.labels);
        __builtin_prefetch(&ahead.stamp);
      }
      if (k + kPrefetchAhead / 2 < live_count) {
        const Slot& near = im.slot_at(im.live[k + kPrefetchAhead / 2]);
        __builtin_prefetch(near.labels->text());
      }
      const uint32_t index = im.live[k];
      const Slot& slot = im.slot_at(index);
      vigil_series_view sv{};
      sv.size = sizeof sv;
      sv.labels = slot.labels->count ? slot.labels->labels() : nullptr;
      sv.label_count = slot.labels->count;
      sv.labels_text = slot.labels->text();
      sv.labels_text_len = slot.labels->text_len;
      const int64_t stamp = slot.stamp.load(std::memory_order_acquire);
      sv.timestamp_ms = stamp_time(stamp);
      sv.explicit_timestamp = static_cast<int32_t>(stamp & 1);
      if (family.type == VIGIL_METRIC_HISTOGRAM) {
        const auto& h = *static_cast<const HistogramState*>(slot.extra.load());
        seq_read(slot, [&] {
          uint64_t running = 0;
          for (size_t i = 0; i < h.bucket_count; ++i) {
            running += h.counts[i].load(std::memory_order_relaxed);
            im.cumulative[i] = running;
          }
          sv.count = running + h.counts[h.bucket_count].load(std::memory_order_relaxed);
          sv.sum = h.sum.load(std::memory_order_relaxed);
        });
        sv.bucket_counts = im.cumulative.empty() ? nullptr : im.cumulative.data();
      } else if (family.type == VIGIL_METRIC_SUMMARY) {
        const auto& s = *static_cast<const SummaryState*>(slot.extra.load());
        seq_read(slot, [&] {
          sv.quantile_count = s.count_quantiles.load(std::memory_order_relaxed);
          for (size_t i = 0; i < sv.quantile_count; ++i) {
            quantiles[i] = s.quantiles[i].load(std::memory_order_relaxed);
            quantile_values[i] = s.values[i].load(std::memory_order_relaxed);
          }
          sv.sum = s.sum.load(std::memory_order_relaxed);
          sv.count = s.count.load(std::memory_order_relaxed);
        });
        sv.quantiles = quantiles;
        sv.quantile_values = quantile_values;
      } else {
        sv.value = slot.value.load(std::memory_order_relaxed);
      }
      if (visitor.series(user, &fv, &sv)) return false;
    }
  }
  return true;
}

void Store::select(std::string_view family_name,
                   const std::vector<std::pair<std::string, std::string>>& equal,
                   const std::function<void(const SeriesInfo&)>& fn, int64_t now_ms) const {
  select_where(family_name, equal, fn, true, now_ms == 0 ? Store::now_ms() : now_ms);
}

void Store::select_registered(std::string_view family_name,
                              const std::vector<std::pair<std::string, std::string>>& equal,
                              const std::function<void(const SeriesInfo&)>& fn) const {
  select_where(family_name, equal, fn, false, 0);
}

void Store::select_where(std::string_view family_name,
                         const std::vector<std::pair<std::string, std::string>>& equal,
                         const std::function<void(const SeriesInfo&)>& fn, bool live_only,
                         int64_t now_ms) const {
  Impl& im = *impl_;
  std::lock_guard lock(im.mutex);
  auto it = im.by_name.find(family_name);
  if (it == im.by_name.end()) return;
  Family& family = *im.families[it->second];
  // Equalities with a non-empty value narrow through the index to the shortest list; "" (the
  // label is absent) and the exact match are checked on each candidate below.
  std::span<const uint64_t> candidates = family.members;
  for (const auto& [name, value] : equal) {
    if (value.empty()) continue;
    const std::span<const uint64_t> found = im.label_index(family).find(name, value);
    if (found.empty()) return;
    if (found.size() < candidates.size()) candidates = found;
  }
  for (uint64_t handle : candidates) {
    if (!im.handle_alive(handle)) continue;
    const Slot& slot = im.slot_at(handle_index(handle));
    if (live_only && !is_live(slot, slot.stamp.load(std::memory_order_acquire), now_ms)) continue;
    const LabelBlock& block = *slot.labels;
    bool match = true;
    for (const auto& [name, value] : equal) {
      std::string_view have;
      for (uint32_t i = 0; i < block.count; ++i) {
        if (name == block.labels()[i].name) {
          have = block.labels()[i].value;
          break;
        }
      }
      if (have != value) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    fn(SeriesInfo{handle, family.name, family.type, block.labels(), block.count});
  }
}

void Store::families(const std::function<void(std::string_view, vigil_metric_type)>& fn) const {
  std::lock_guard lock(impl_->mutex);
  for (const auto& family : impl_->families) fn(family->name, family->type);
}

uint64_t Store::generation() const {
  return impl_->generation.load(std::memory_order_relaxed);
}

bool Store::latest(vigil_series_id id, Sample& out) const {
  const Slot* slot = impl_->resolve(id);
  if (!slot || !is_scalar(slot->type.load(std::memory_order_relaxed))) return false;
  const int64_t stamp = slot->stamp.load(std::memory_order_acquire);
  if (stamp == 0) return false;
  out = Sample{stamp_time(stamp), slot->value.load(std::memory_order_relaxed)};
  return true;
}

size_t Store::window(vigil_series_id id, int64_t from_ms, int64_t to_ms,
                     std::vector<Sample>& out) const {
  Slot* slot = impl_->resolve(id);
  if (!slot || !is_scalar(slot->type.load(std::memory_order_relaxed))) return 0;
  bool created = false;
  Ring* ring = impl_->ensure_ring(*slot, &created);
  if (created) {
    // The ring starts with the sample the series holds now, so a window asked for right away
    // still answers "what is it now"; a write racing with this one is newer and wins (this one
    // sample is read as latest() reads, see there).
    const int64_t stamp = slot->stamp.load(std::memory_order_acquire);
    if (stamp != 0) {
      ring->push(stamp_time(stamp), slot->value.load(std::memory_order_relaxed),
                 impl_->window_retention_ms.load(std::memory_order_relaxed),
                 impl_->window_max_samples.load(std::memory_order_relaxed));
    }
  }
  return ring->read(from_ms, to_ms, out);
}

bool Store::live(vigil_series_id id, int64_t now_ms) const {
  const Slot* slot = impl_->resolve(id);
  if (!slot) return false;
  if (now_ms == 0) now_ms = Store::now_ms();
  return is_live(*slot, slot->stamp.load(std::memory_order_acquire), now_ms);
}

void Store::set_window_options(const WindowOptions& options) {
  impl_->window_retention_ms.store(options.retention_ms, std::memory_order_relaxed);
  impl_->window_max_samples.store(std::max<size_t>(2, options.max_samples),
                                  std::memory_order_relaxed);
  impl_->window_all_series.store(options.all_series, std::memory_order_relaxed);
}

size_t Store::window_bytes() const {
  return impl_->ring_bytes.load(std::memory_order_relaxed);
}

size_t Store::live_series(int64_t now_ms) const {
  Impl& im = *impl_;
  if (now_ms == 0) now_ms = Store::now_ms();
  std::unique_lock lock(im.mutex, std::defer_lock);
  if (!im.in_visit()) lock.lock();  // inside a visit this thread already holds it
  size_t live = 0;
  for (uint32_t i = 0; i < im.next_slot; ++i) {
    const Slot& slot = im.slot_at(i);
    if ((slot.generation.load(std::memory_order_relaxed) & 1) &&
        is_live(slot, slot.stamp.load(std::memory_order_acquire), now_ms)) {
      ++live;
    }
  }
  return live;
}

size_t Store::family_count() const {
  std::unique_lock lock(impl_->mutex, std::defer_lock);
  if (!impl_->in_visit()) lock.lock();
  return impl_->families.size();
}

size_t Store::registered_series() const {
  std::unique_lock lock(impl_->mutex, std::defer_lock);
  if (!impl_->in_visit()) lock.lock();
  return impl_->in_use;
}

}  // namespace vigil::store
