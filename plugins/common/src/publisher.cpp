// vigil_plugin_text: the Publisher (see publisher.hpp for the contract).
//
// The index maps hash(name, final labels) to (slot << 32 | position): `slot` tags one
// generation of one source's entries, so a publish can insert its new generation next to the
// old one, find which old series it keeps (same source, old slot), which would duplicate another
// source's (other slot), and roll back by slot if anything fails. Every hash hit is confirmed by
// comparing names and labels. This file must never write into a series it did not confirm, and
// never unregister a series another source still exposes.
#include "vigil_plugin_text/publisher.hpp"

#include "text_internal.hpp"

#include <cmath>

namespace vigil::plugin_text {

namespace {

bool contains_name(const Labels& labels, std::string_view name) {
  for (const auto& [k, v] : labels)
    if (k == name) return true;
  return false;
}

bool contains_name(const std::vector<std::string>& names, std::string_view name) {
  for (const std::string& n : names)
    if (n == name) return true;
  return false;
}

std::string labels_text(std::string_view name, const std::vector<Label>& labels) {
  std::string out(name);
  if (labels.empty()) return out;
  out += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out.append(labels[i].name);
    out += "=\"";
    append_escaped(out, labels[i].value);
    out += '"';
  }
  return out + "}";
}

uint64_t series_hash(std::string_view family, const std::vector<Label>& labels) {
  return detail::hash_labels(detail::hash_bytes(family, 0x5eed), labels.data(), labels.size());
}

}  // namespace

Publisher::Publisher(Host& host)
    : api_(host.api()),
      ctx_(host.ctx()),
      index_(std::make_unique<detail::FlatIndex<uint64_t, uint64_t>>()) {}

Publisher::~Publisher() = default;

bool Publisher::contains(const std::string& source) const {
  return sources_.count(source) != 0;
}

std::size_t Publisher::series_count(const std::string& source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second->entries.size();
}

std::size_t Publisher::series_count() const {
  std::size_t n = 0;
  for (const auto& [name, s] : sources_) n += s->entries.size();
  return n;
}

std::vector<std::string> Publisher::sources() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : sources_) out.push_back(name);
  return out;
}

void Publisher::final_labels(const Exposition& e, const Series& s, const PublishOptions& o,
                             std::vector<Label>& out, std::vector<std::string>& names) const {
  e.labels(s, out);
  if (o.extra.empty() && (o.honor_labels || o.protected_names.empty())) return;
  const std::size_t n = out.size();
  auto own_has = [&](std::string_view name) {
    for (std::size_t i = 0; i < n; ++i)
      if (e.label(s, i).name == name) return true;
    return false;
  };
  names.clear();
  names.reserve(n);  // views into `names` must survive the pushes below
  if (!o.honor_labels) {
    for (std::size_t i = 0; i < n; ++i) {
      Label& l = out[i];
      if (!contains_name(o.extra, l.name) && !contains_name(o.protected_names, l.name)) continue;
      std::string renamed = "exported_" + std::string(l.name);
      while (contains_name(o.extra, renamed) || contains_name(o.protected_names, renamed) ||
             own_has(renamed))
        renamed = "exported_" + renamed;
      names.push_back(std::move(renamed));
      l.name = names.back();
    }
  }
  for (const auto& [k, v] : o.extra) {
    if (o.honor_labels && own_has(k)) continue;  // the series' own value wins
    if (v.empty()) continue;
    out.push_back({k, v});
  }
  detail::sort_labels(out.data(), out.size());
}

vigil_status Publisher::register_series(vigil_family_id family, const std::vector<Label>& labels,
                                        vigil_series_id& id, std::string& error) {
  // The ABI wants NUL-terminated strings; the views point into unterminated text.
  std::vector<std::string> text;
  text.reserve(labels.size() * 2);
  std::vector<vigil_label> c_labels;
  c_labels.reserve(labels.size());
  for (const Label& l : labels) {
    text.emplace_back(l.name);
    text.emplace_back(l.value);
    c_labels.push_back({text[text.size() - 2].c_str(), text.back().c_str()});
  }
  char buffer[512] = {0};
  vigil_error err{buffer, sizeof buffer};
  vigil_status status =
      api_->register_series(ctx_, family, c_labels.data(), c_labels.size(), &id, &err);
  if (status != VIGIL_OK) error = buffer[0] != '\0' ? buffer : status_name(status);
  return status;
}

void Publisher::unregister(vigil_series_id id) {
  if (id != 0 && VIGIL_API_HAS(api_, unregister_series)) api_->unregister_series(ctx_, id);
}

Status Publisher::write_all(Source& src) {
  const Exposition& e = src.exposition;
  const bool honor_ts = src.options.honor_timestamps;
  std::size_t failures = 0;
  std::string first_failure;
  for (Entry& entry : src.entries) {
    const Family& f = e.families()[entry.family];
    const Series& s = f.series[entry.series];
    const int64_t ts = honor_ts && s.has_timestamp() ? s.timestamp_ms : 0;
    auto write = [&](vigil_series_id id) -> vigil_status {
      if (f.type == MetricType::histogram) {
        const Composite& c = e.composite(s);
        cumulative_.clear();
        double total = 0;
        for (const Point& p : c.points) {
          if (std::isfinite(p.bound)) cumulative_.push_back(static_cast<uint64_t>(p.value));
          total = p.value;
        }
        if (c.has_count) total = c.count;
        return api_->write_histogram(ctx_, id, cumulative_.data(), cumulative_.size(),
                                     c.has_sum ? c.sum : 0.0, static_cast<uint64_t>(total), ts);
      }
      if (f.type == MetricType::summary) {
        const Composite& c = e.composite(s);
        quantiles_.clear();
        quantile_values_.clear();
        for (const Point& p : c.points) {
          quantiles_.push_back(p.bound);
          quantile_values_.push_back(p.value);
        }
        return api_->write_summary(ctx_, id, quantiles_.data(), quantile_values_.data(),
                                   quantiles_.size(), c.has_sum ? c.sum : 0.0,
                                   c.has_count ? static_cast<uint64_t>(c.count) : 0, ts);
      }
      return api_->write(ctx_, id, s.value, ts);
    };
    vigil_status status = write(entry.id);
    if (status == VIGIL_ERR_INVALID_ARGUMENT) {
      // The host dropped the series after a long staleness: register it again, once.
      final_labels(e, s, src.options, final_, names_);
      std::string error;
      vigil_series_id fresh = 0;
      if (register_series(src.family_ids[entry.family], final_, fresh, error) == VIGIL_OK) {
        entry.id = fresh;
        status = write(fresh);
      }
    }
    if (status != VIGIL_OK && failures++ == 0)
      first_failure = "line " + std::to_string(s.line) + ": writing " + e.series_text(f, s) +
                      " failed: the host answered " + status_name(status);
  }
  if (failures > 0)
    return Status::internal(
        first_failure + (failures > 1 ? " (and " + std::to_string(failures - 1) + " more write(s))"
                                      : std::string()));
  return Status::ok();
}

// Whether `e` has the source's current series, name for name and label for label, in the same
// order. Final labels depend only on a series' own labels and the options, so equal own labels
// under equal options are equal final labels: no relabelling, hashing or index probe is needed,
// and the old generation's checks (no duplicates, no other source's series) still hold.
bool Publisher::same_series(const Source& src, const Exposition& e,
                            const PublishOptions& options) const {
  if (src.entries.empty() || src.entries.size() != e.series_count() || !(src.options == options))
    return false;
  const Exposition& old = src.exposition;
  const Entry* entry = src.entries.data();
  for (const Family& f : e.families()) {
    for (const Series& s : f.series) {
      const Family& of = old.families()[entry->family];
      const Series& os = of.series[entry->series];
      ++entry;
      if (of.name != f.name || of.type != f.type || os.labels_count != s.labels_count) return false;
      for (uint32_t i = 0; i < s.labels_count; ++i) {
        const Label a = e.label(s, i), b = old.label(os, i);
        if (a.name != b.name || a.value != b.value) return false;
      }
    }
  }
  return true;
}

Status Publisher::register_families(const Exposition& e, const PublishOptions& options,
                                    std::vector<vigil_family_id>& family_ids) {
  const auto& families = e.families();
  family_ids.assign(families.size(), 0);
  for (std::size_t i = 0; i < families.size(); ++i) {
    const Family& f = families[i];
    if (f.series.empty()) continue;
    std::string name(f.name);
    std::string help(f.has_help ? f.help : std::string_view(options.default_help));
    std::vector<double> buckets;
    if (f.type == MetricType::histogram) {
      for (const Point& p : e.composite(f.series.front()).points)
        if (std::isfinite(p.bound)) buckets.push_back(p.bound);
    }
    vigil_family_desc desc;
    std::memset(&desc, 0, sizeof desc);
    desc.size = sizeof desc;
    desc.name = name.c_str();
    desc.help = help.c_str();
    desc.unit = "";
    desc.type = to_c(f.type);
    desc.buckets = buckets.empty() ? nullptr : buckets.data();
    desc.bucket_count = buckets.size();
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status status = api_->register_family(ctx_, &desc, &family_ids[i], &err);
    if (status != VIGIL_OK)
      return Status::invalid_argument("line " + std::to_string(f.line) + ": the host refused " +
                                      std::string(metric_type_name(f.type)) + " " + name + ": " +
                                      (buffer[0] != '\0' ? buffer : status_name(status)));
  }
  return Status::ok();
}

Status Publisher::publish_prometheus(const std::string& source, std::string_view text,
                                     const ParseOptions& parse, const PublishOptions& options) {
  // The fast way keeps every handle and index entry: the series are the same, in the same
  // order, as the ones the source's current exposition (and entries) describe.
  auto found = sources_.find(source);
  if (found != sources_.end() && found->second->options == options) {
    Source& src = *found->second;
    std::vector<vigil_family_id> family_ids;
    if (!update_scratch_) update_scratch_ = std::make_unique<detail::UpdateScratch>();
    if (register_families(src.exposition, options, family_ids).is_ok() &&
        detail::update_values(text, src.exposition, parse, *update_scratch_)) {
      src.family_ids = std::move(family_ids);
      return write_all(src);
    }
  }
  Exposition exposition;
  std::string error;
  if (!parse_prometheus(std::string(text), exposition, error, parse))
    return Status::invalid_argument(error);
  return publish(source, std::move(exposition), options);
}

Status Publisher::publish(const std::string& source, Exposition exposition,
                          const PublishOptions& options) {
  auto found = sources_.find(source);
  if (found == sources_.end()) {
    auto fresh = std::make_unique<Source>();
    fresh->name = source;
    found = sources_.emplace(source, std::move(fresh)).first;
  }
  Source& src = *found->second;
  // New relabelling rules give every series new labels: start the source over.
  if (!src.entries.empty() && !(src.options == options)) drop(src);

  const Exposition& e = exposition;
  const auto& families = e.families();

  // 1. Families: the store refuses a type or bucket layout that differs from an earlier
  //    registration of the same name (by this source, another one, or another plugin).
  std::vector<vigil_family_id> family_ids;
  Status families_status = register_families(e, options, family_ids);
  if (!families_status.is_ok()) {
    if (src.entries.empty()) sources_.erase(found);
    return families_status;
  }

  // 2a. The common case: the same series as last time, in the same order (a job rewriting its
  //     values in place). Then every handle is kept and the index already holds every entry at
  //     its position, so nothing is probed, registered or unregistered.
  if (same_series(src, e, options)) {
    uint32_t pos = 0;
    for (uint32_t fi = 0; fi < families.size(); ++fi)
      for (uint32_t si = 0; si < families[fi].series.size(); ++si, ++pos) {
        src.entries[pos].family = fi;
        src.entries[pos].series = si;
      }
    src.exposition = std::move(exposition);
    src.family_ids = std::move(family_ids);
    return write_all(src);
  }

  // 2. Series: keep the handles of series the source already had, refuse duplicates of other
  //    sources' series, register the new ones.
  const uint32_t new_slot = next_slot_++;
  std::vector<Entry> entries;
  entries.reserve(e.series_count());
  std::vector<uint32_t> reused_by(src.entries.size(), UINT32_MAX);
  std::vector<vigil_series_id> registered;  // new registrations, unregistered on failure

  auto view_of = [&](uint32_t slot) -> View {
    if (slot == new_slot) return View{&src, &e, &entries, &options};
    if (slot == src.slot) return View{&src, &src.exposition, &src.entries, &src.options};
    auto it = by_slot_.find(slot);
    if (it == by_slot_.end()) return View{};
    const Source* other = it->second;
    return View{other, &other->exposition, &other->entries, &other->options};
  };
  auto rollback = [&] {
    for (uint32_t pos = 0; pos < entries.size(); ++pos)
      index_->erase(entries[pos].hash, (uint64_t{new_slot} << 32) | pos);
    for (vigil_series_id id : registered) unregister(id);
    if (src.entries.empty()) sources_.erase(source);
  };

  for (uint32_t fi = 0; fi < families.size(); ++fi) {
    const Family& f = families[fi];
    for (uint32_t si = 0; si < f.series.size(); ++si) {
      const Series& s = f.series[si];
      final_labels(e, s, options, final_, names_);
      const uint64_t h = series_hash(f.name, final_);
      vigil_series_id reuse = 0;
      std::string conflict;
      index_->find(h, [&](uint64_t value) {
        const uint32_t slot = static_cast<uint32_t>(value >> 32);
        const uint32_t pos = static_cast<uint32_t>(value);
        View v = view_of(slot);
        if (v.exposition == nullptr || pos >= v.entries->size()) return false;
        const Entry& other = (*v.entries)[pos];
        const Family& of = v.exposition->families()[other.family];
        if (of.name != f.name) return false;
        const Series& os = of.series[other.series];
        final_labels(*v.exposition, os, *v.options, other_final_, other_names_);
        if (!detail::same_labels(other_final_.data(), other_final_.size(), final_.data(),
                                 final_.size()))
          return false;
        if (slot == src.slot && reused_by[pos] == UINT32_MAX) {
          reuse = other.id;
          reused_by[pos] = static_cast<uint32_t>(entries.size());
          return true;
        }
        if (slot == new_slot || slot == src.slot) {
          uint32_t line = slot == new_slot ? os.line
                                           : e.families()[entries[reused_by[pos]].family]
                                                 .series[entries[reused_by[pos]].series]
                                                 .line;
          conflict = "series " + labels_text(f.name, final_) + " appears twice after relabelling" +
                     " (also on line " + std::to_string(line) + ")";
        } else {
          conflict = "series " + labels_text(f.name, final_) + " is already exposed by " +
                     v.source->name + " (line " + std::to_string(os.line) + ")";
        }
        return true;
      });
      if (!conflict.empty()) {
        rollback();
        return Status::invalid_argument("line " + std::to_string(s.line) + ": " + conflict);
      }
      if (reuse == 0) {
        std::string error;
        if (register_series(family_ids[fi], final_, reuse, error) != VIGIL_OK) {
          rollback();
          return Status::invalid_argument("line " + std::to_string(s.line) +
                                          ": the host refused series " +
                                          labels_text(f.name, final_) + ": " + error);
        }
        registered.push_back(reuse);
      }
      index_->insert(h, (uint64_t{new_slot} << 32) | entries.size());
      entries.push_back(Entry{reuse, h, fi, si});
    }
  }

  // 3. Commit: the old generation leaves the index; what the input no longer has is dropped.
  for (uint32_t pos = 0; pos < src.entries.size(); ++pos) {
    const Entry& old = src.entries[pos];
    index_->erase(old.hash, (uint64_t{src.slot} << 32) | pos);
    if (reused_by[pos] == UINT32_MAX) unregister(old.id);
  }
  by_slot_.erase(src.slot);
  src.slot = new_slot;
  by_slot_[new_slot] = &src;
  src.exposition = std::move(exposition);
  src.entries = std::move(entries);
  src.options = options;
  src.family_ids = std::move(family_ids);

  // 4. Values.
  return write_all(src);
}

Status Publisher::refresh(const std::string& source) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return Status::ok();
  return write_all(*it->second);
}

void Publisher::drop(Source& src) {
  for (uint32_t pos = 0; pos < src.entries.size(); ++pos) {
    const Entry& e = src.entries[pos];
    index_->erase(e.hash, (uint64_t{src.slot} << 32) | pos);
    unregister(e.id);
  }
  src.entries.clear();
  src.family_ids.clear();
  src.exposition = Exposition();
  by_slot_.erase(src.slot);
  src.slot = 0;
}

void Publisher::remove(const std::string& source) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  drop(*it->second);
  sources_.erase(it);
}

}  // namespace vigil::plugin_text
