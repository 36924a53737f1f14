// The Prometheus text exposition format, version 0.0.4, rendered from the store's C views.
//
// Pure code over vigil_family_view / vigil_series_view and a byte buffer: no host, no SDK, no
// I/O, so tests and benchmarks drive it directly. It sits on the scrape path, which renders every
// live series, so it must never allocate per line, use iostreams or locale-dependent formatting.
// Output matches what Prometheus' Go client writes for the same data, byte for byte, so the
// series look the same to Prometheus as node_exporter's.
#pragma once

#include <vigil/plugin.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace vigil::exporter_prometheus {

// A growable byte buffer that never zero-fills what it reserves. By default one contiguous
// block (view() is the whole text). Built with a block size it is a chain of blocks instead:
// growing starts a new block rather than copying what was written, so a 4 MB page costs no
// doubling copies and no 8 MB peak, and consume() frees each block as soon as it was sent.
// Not thread-safe: one per request.
class OutputBuffer {
 public:
  OutputBuffer() = default;
  explicit OutputBuffer(std::size_t block_size) : block_size_(block_size) {}
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  // Contiguous buffers only (a chain grows a block at a time whatever the hint).
  void reserve(std::size_t capacity);
  // Makes room for `n` more contiguous bytes and returns where they go; finish with commit().
  char* ensure(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  // Marks everything up to `end` (a pointer obtained from ensure()) as written.
  void commit(char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void append(std::string_view s);
  void clear();

  // The text of the last block: all of it unless the buffer chains blocks and filled more than
  // one (then use consume()).
  std::string_view view() const { return {data_.get(), size_}; }
  // Every byte written, in all blocks.
  std::size_t size() const { return sealed_bytes_ + size_; }
  std::size_t capacity() const { return capacity_; }

  // Passes each block's text in order to `fn(std::string_view text, bool last)` and frees it
  // once `fn` returns; stops early when `fn` returns false. An empty buffer is one empty last
  // block. Leaves the buffer empty. Returns false when `fn` stopped it.
  template <class Fn>
  bool consume(Fn&& fn);

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };
  void grow(std::size_t n);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t block_size_ = 0;  // 0: one contiguous block
  std::vector<Block> sealed_;   // full blocks before data_, in order
  std::size_t sealed_bytes_ = 0;
};

template <class Fn>
bool OutputBuffer::consume(Fn&& fn) {
  std::vector<Block> blocks = std::move(sealed_);
  sealed_.clear();
  sealed_bytes_ = 0;
  bool go_on = true;
  for (Block& block : blocks) {
    if (go_on) go_on = fn(std::string_view(block.data.get(), block.size), false);
    block.data.reset();
  }
  if (go_on) go_on = fn(view(), true);
  data_.reset();
  size_ = 0;
  capacity_ = 0;
  return go_on;
}

// The longest text format_float() writes ("-1.2345678901234567e-308" and the like).
inline constexpr std::size_t kMaxFloatChars = 32;

// Writes `value` as Prometheus' Go client does (strconv 'g' with the shortest round-trip
// digits, via std::to_chars): "NaN", "+Inf", "-Inf", "0", "42", "0.25", "1e+06",
// "1.6663267328e+10". Returns the end of what it wrote; `out` needs kMaxFloatChars.
char* format_float(char* out, double value);

// Appends `help` with '\' written as "\\" and a newline as "\n", as HELP lines need.
void append_escaped_help(OutputBuffer& out, std::string_view help);

// "counter", "gauge", "histogram", "summary" or "untyped" (also for an unknown type code).
std::string_view type_name(vigil_metric_type type);

struct RenderOptions {
  // Write every sample's timestamp, not only those whose writer gave one explicitly.
  bool force_timestamps = false;
};

// Writes "# HELP name help" (left out when help is empty) and "# TYPE name type".
void render_family_header(OutputBuffer& out, const vigil_family_view& family);

// Writes one series' line(s): one for a counter, gauge or untyped family; "_bucket" lines with
// `le` (ending with le="+Inf", whose count is the series' count), "_sum" and "_count" for a
// histogram; lines with `quantile`, "_sum" and "_count" for a summary.
void render_series(OutputBuffer& out, const vigil_family_view& family,
                   const vigil_series_view& series, const RenderOptions& options);

// Drives the two functions above from a store visit: the family header is written only when the
// family has at least one series, as Prometheus' clients do, so families whose series all went
// stale leave the page entirely.
// Not thread-safe: one per request.
class Renderer {
 public:
  Renderer(OutputBuffer& out, RenderOptions options) : out_(out), options_(options) {}

  void family(const vigil_family_view& family);
  void series(const vigil_family_view& family, const vigil_series_view& series);

  std::size_t series_rendered() const { return series_rendered_; }

 private:
  OutputBuffer& out_;
  RenderOptions options_;
  // The current family's name, measured once rather than per series.
  const char* name_of_ = nullptr;
  std::string_view name_;
  bool header_pending_ = false;
  std::size_t series_rendered_ = 0;
};

}  // namespace vigil::exporter_prometheus
