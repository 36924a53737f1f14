// Test helper: runs a store visit and keeps a copy of everything it showed, so tests can assert
// on what an exporter would see (order, labels text, values) after the visit returned.
// It must never hide a view field a test may need: add fields rather than summarising.
#pragma once

#include "store/store.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vigil::store::test {

struct SeenSeries {
  std::string family;
  std::string labels_text;
  std::vector<std::pair<std::string, std::string>> labels;
  int64_t timestamp_ms = 0;
  bool explicit_timestamp = false;
  double value = 0;
  std::vector<uint64_t> bucket_counts;
  std::vector<double> quantiles;
  std::vector<double> quantile_values;
  double sum = 0;
  uint64_t count = 0;
};

struct SeenFamily {
  std::string name;
  std::string help;
  vigil_metric_type type = 0;
  std::vector<double> buckets;
  size_t series_count = 0;
};

struct Seen {
  std::vector<SeenFamily> families;
  std::vector<SeenSeries> series;
  bool completed = true;
  // Stop when this many callbacks (family + series) ran; 0 = never.
  size_t stop_after = 0;
  size_t calls = 0;

  std::vector<std::string> labels_texts() const {
    std::vector<std::string> out;
    for (const auto& s : series) out.push_back(s.labels_text);
    return out;
  }
  std::vector<std::string> family_names() const {
    std::vector<std::string> out;
    for (const auto& f : families) out.push_back(f.name);
    return out;
  }
};

inline int on_family(void* user, const vigil_family_view* f) {
  auto& seen = *static_cast<Seen*>(user);
  SeenFamily out;
  out.name = f->name;
  out.help = f->help;
  out.type = f->type;
  out.buckets.assign(f->buckets, f->buckets + f->bucket_count);
  out.series_count = f->series_count;
  seen.families.push_back(std::move(out));
  return seen.stop_after && ++seen.calls >= seen.stop_after;
}

inline int on_series(void* user, const vigil_family_view* f, const vigil_series_view* s) {
  auto& seen = *static_cast<Seen*>(user);
  SeenSeries out;
  out.family = f->name;
  out.labels_text.assign(s->labels_text, s->labels_text_len);
  for (size_t i = 0; i < s->label_count; ++i) {
    out.labels.emplace_back(s->labels[i].name, s->labels[i].value);
  }
  out.timestamp_ms = s->timestamp_ms;
  out.explicit_timestamp = s->explicit_timestamp != 0;
  out.value = s->value;
  if (f->type == VIGIL_METRIC_HISTOGRAM) {
    out.bucket_counts.assign(s->bucket_counts, s->bucket_counts + f->bucket_count);
  }
  if (s->quantile_count) {
    out.quantiles.assign(s->quantiles, s->quantiles + s->quantile_count);
    out.quantile_values.assign(s->quantile_values, s->quantile_values + s->quantile_count);
  }
  out.sum = s->sum;
  out.count = s->count;
  seen.series.push_back(std::move(out));
  return seen.stop_after && ++seen.calls >= seen.stop_after;
}

inline Seen collect(const Store& store, int64_t now_ms = 0, size_t stop_after = 0) {
  Seen seen;
  seen.stop_after = stop_after;
  vigil_store_visitor visitor{sizeof(vigil_store_visitor), on_family, on_series};
  seen.completed = store.visit(visitor, &seen, now_ms);
  return seen;
}

inline vigil_family_desc family_desc(const char* name, vigil_metric_type type,
                                     const double* buckets = nullptr, size_t bucket_count = 0,
                                     const char* help = "help text") {
  return vigil_family_desc{sizeof(vigil_family_desc), name, help, "", type, buckets, bucket_count};
}

}  // namespace vigil::store::test
