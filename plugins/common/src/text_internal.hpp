// Internals shared by the parsers and the Publisher of vigil_plugin_text: character classes,
// number parsing, UTF-8 checking, a 64-bit hash and a flat hash index. Not installed, not part
// of the library's interface.
//
// Everything here is on the per-line hot path of a 100,000-line parse: no allocation, no locale,
// no iostreams. It must never accept a number or a name the text format does not allow.
#pragma once

#include "vigil_plugin_text/exposition.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::plugin_text::detail {

// Bit 1: may appear in a metric name; bit 2: in a label name; bit 4: may start either (no digit).
struct CharTable {
  unsigned char bits[256] = {};
  constexpr CharTable() {
    for (int c = 'a'; c <= 'z'; ++c) bits[c] = 1 | 2 | 4;
    for (int c = 'A'; c <= 'Z'; ++c) bits[c] = 1 | 2 | 4;
    for (int c = '0'; c <= '9'; ++c) bits[c] = 1 | 2;
    bits[static_cast<unsigned char>('_')] = 1 | 2 | 4;
    bits[static_cast<unsigned char>(':')] = 1 | 4;
  }
};
inline constexpr CharTable kChars{};

inline bool metric_char(char c) {
  return (kChars.bits[static_cast<unsigned char>(c)] & 1) != 0;
}
inline bool label_char(char c) {
  return (kChars.bits[static_cast<unsigned char>(c)] & 2) != 0;
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

inline bool equal_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A float as Go's strconv.ParseFloat reads it (what Prometheus' parsers use): decimal and
// exponent forms, an optional sign, and Inf / Infinity / NaN in any case. The common cases, a
// plain integer or decimal of at most 15 digits, are read without from_chars: the digits make an
// integer below 2^53 and a power of ten up to 10^15 is exact, so one division, rounded as IEEE
// rounds it, gives the same double from_chars would.
inline bool parse_double(std::string_view token, double& out) {
  if (token.empty()) return false;
  std::size_t i = 0;
  bool negative = false;
  if (token[0] == '-' || token[0] == '+') {
    negative = token[0] == '-';
    i = 1;
  }
  if (token.size() - i > 0 && token.size() - i <= 16) {
    static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    uint64_t v = 0;
    std::size_t j = i, digits = 0, fraction = 0;
    for (; j < token.size() && is_digit(token[j]); ++j, ++digits) v = v * 10 + (token[j] - '0');
    if (j < token.size() && token[j] == '.') {
      for (++j; j < token.size() && is_digit(token[j]); ++j, ++digits, ++fraction)
        v = v * 10 + (token[j] - '0');
    }
    if (j == token.size() && digits > 0 && digits <= 15) {
      double d = static_cast<double>(v);
      if (fraction > 0) d /= kPow10[fraction];
      out = negative ? -d : d;
      return true;
    }
  }
  std::string_view rest = token.substr(i);
  if (equal_ignore_case(rest, "inf") || equal_ignore_case(rest, "infinity")) {
    out = negative ? -std::numeric_limits<double>::infinity()
                   : std::numeric_limits<double>::infinity();
    return true;
  }
  if (equal_ignore_case(rest, "nan")) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (rest.empty() || !(is_digit(rest[0]) || rest[0] == '.')) return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
  if (ec != std::errc() || ptr != rest.data() + rest.size()) return false;
  out = negative ? -v : v;
  return true;
}

inline bool parse_int64(std::string_view token, int64_t& out) {
  if (token.empty()) return false;
  std::size_t i = token[0] == '-' || token[0] == '+' ? 1 : 0;
  if (i == token.size()) return false;
  const char* begin = token.data() + (token[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, token.data() + token.size(), out);
  return ec == std::errc() && ptr == token.data() + token.size();
}

// Offset of the first byte that breaks UTF-8 (or is NUL), or npos when the text is valid.
inline std::size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == 0) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

// A fast 64-bit hash; collisions are always resolved by comparing the real keys.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

inline uint64_t hash_bytes(std::string_view s, uint64_t h) {
  const char* p = s.data();
  std::size_t n = s.size();
  h = (h ^ n) * 0x9E3779B97F4A7C15ULL;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = ((h << 5 | h >> 59) ^ w) * 0x9E3779B97F4A7C15ULL;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    // The tail in at most two loads: copying it byte by byte into a word stalls the load that
    // reads the word back (no store forwarding), which was half the cost of a parse. Overlapping
    // reads are fine: the length is already mixed in.
    uint64_t w;
    if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, p, 4);
      std::memcpy(&b, p + n - 4, 4);
      w = a | uint64_t{b} << 32;
    } else {
      const auto* u = reinterpret_cast<const unsigned char*>(p);
      w = u[0] | uint64_t{u[n / 2]} << 8 | uint64_t{u[n - 1]} << 16;
    }
    h = ((h << 5 | h >> 59) ^ w) * 0x9E3779B97F4A7C15ULL;
  }
  return h;
}

inline uint64_t hash_labels(uint64_t seed, const Label* labels, std::size_t count) {
  uint64_t h = seed;
  for (std::size_t i = 0; i < count; ++i) {
    h = hash_bytes(labels[i].name, h);
    h = hash_bytes(labels[i].value, h);
  }
  return mix64(h);
}

// memcmp(a, b, n) == 0 without the call: most compares here are of a few dozen bytes.
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  if (n >= 4) {  // two overlapping loads cover 4 to 7 bytes
    uint32_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 4);
    std::memcpy(&y0, b, 4);
    std::memcpy(&x1, a + n - 4, 4);
    std::memcpy(&y1, b + n - 4, 4);
    return x0 == y0 && x1 == y1;
  }
  for (; n > 0; ++a, ++b, --n)
    if (*a != *b) return false;
  return true;
}

inline bool same_labels(const Label* a, std::size_t na, const Label* b, std::size_t nb) {
  if (na != nb) return false;
  for (std::size_t i = 0; i < na; ++i)
    if (a[i].name != b[i].name || a[i].value != b[i].value) return false;
  return true;
}

// The labels a series stored equal `b` (sorted the same way).
inline bool same_labels(const Exposition& e, const Series& s, const Label* b, std::size_t nb) {
  if (s.labels_count != nb) return false;
  for (std::size_t i = 0; i < nb; ++i) {
    Label a = e.label(s, i);
    if (a.name != b[i].name || a.value != b[i].value) return false;
  }
  return true;
}

// Sorts a handful of labels by name (insertion sort: series have few labels).
inline void sort_labels(Label* labels, std::size_t n) {
  for (std::size_t i = 1; i < n; ++i) {
    Label x = labels[i];
    std::size_t j = i;
    while (j > 0 && labels[j - 1].name > x.name) {
      labels[j] = labels[j - 1];
      --j;
    }
    labels[j] = x;
  }
}

// Hash -> value, open addressing with linear probing and backward-shift deletion. Several
// entries may share a key; find() asks the caller which one is meant. Key and Value are unsigned
// integers; the largest Value marks an empty slot. The parsers use 32-bit keys and values (an
// 8-byte slot: a 100,000-series index stays within 2 MB, mostly in cache).
// Thread-safety: not thread-safe.
template <class Key, class Value>
class FlatIndex {
 public:
  void reserve(std::size_t n) {
    std::size_t want = 16;
    while (want < n * 2) want <<= 1;
    if (want > slots_.size()) rehash(want);
  }
  std::size_t size() const { return size_; }
  // Hints the cache that find()/insert() of this key come next.
  void prefetch(Key key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[static_cast<std::size_t>(key) & mask_]);
  }

  // The value of the first entry with `key` for which match(value) is true, or nullptr.
  template <class Match>
  const Value* find(Key key, Match&& match) const {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = static_cast<std::size_t>(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == kEmpty) return nullptr;
      if (s.key == key && match(s.value)) return &s.value;
    }
  }
  void insert(Key key, Value value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
    std::size_t i = static_cast<std::size_t>(key) & mask_;
    while (slots_[i].value != kEmpty) i = (i + 1) & mask_;
    slots_[i] = {key, value};
    ++size_;
  }
  bool erase(Key key, Value value) {
    if (slots_.empty()) return false;
    std::size_t i = static_cast<std::size_t>(key) & mask_;
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].value == kEmpty) return false;
      if (slots_[i].key == key && slots_[i].value == value) break;
    }
    // Shift later entries of the probe run back into the hole, so lookups never stop early.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; slots_[j].value != kEmpty; j = (j + 1) & mask_) {
      std::size_t home = static_cast<std::size_t>(slots_[j].key) & mask_;
      bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

 private:
  static constexpr Value kEmpty = std::numeric_limits<Value>::max();
  struct Slot {
    Key key = 0;
    Value value = kEmpty;
  };
  void rehash(std::size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.value != kEmpty) insert(s.key, s.value);
  }
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
};

// `"text"` for messages, cut to a readable length, with control characters shown escaped.
std::string quote_for_message(std::string_view text, std::size_t max = 40);

// What update_values() needs per sample line; kept by its caller between calls, so that a large
// input allocates nothing after the first time.
struct UpdateScratch {
  std::vector<double> values;
  std::vector<double*> targets;
};

// The fast way to read a new version of an input: when `text` is, line for line, the input `e`
// was parsed from (by parse_prometheus(), without timestamps) but for the values of its samples
// (a textfile rewritten with new values), puts text's values into `e` and returns true; `e`
// keeps its own text, whose names and labels are the same. Costs a compare and a number per
// line, no label parsing, hashing or allocation. Otherwise (a line differs, a value does not
// parse, a histogram is no longer cumulative, ...) returns false and leaves `e` as it was:
// parse `text` in full then, which also gives the error.
bool update_values(std::string_view text, Exposition& e, const ParseOptions& options,
                   UpdateScratch& scratch);

}  // namespace vigil::plugin_text::detail
