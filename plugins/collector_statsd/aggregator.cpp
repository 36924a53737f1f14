// Aggregator: the StatsD folding rules and the series/family bookkeeping that bounds them.
//
// Families are reference-counted by their series so a name that expired can come back as another
// kind, and a histogram holds its "_quantiles" summary name too, so no gauge can take it. This
// file must never allocate per line once a series exists, apart from set members: the key is
// built in a reused buffer and looked up in place.
#include "aggregator.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace vigil::collector_statsd {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

Kind kind_of(SampleType type) {
  switch (type) {
    case SampleType::counter:
      return Kind::counter;
    case SampleType::gauge:
      return Kind::gauge;
    case SampleType::set:
      return Kind::set;
    case SampleType::timer:
    case SampleType::histogram:
    case SampleType::distribution:
      break;
  }
  return Kind::histogram;
}

// Length-prefixed pieces, so no name or label value can make two series collide.
void append_piece(std::string& key, std::string_view piece) {
  auto n = static_cast<std::uint32_t>(piece.size());
  key.append(reinterpret_cast<const char*>(&n), sizeof n);
  key.append(piece.data(), piece.size());
}

}  // namespace

const char* drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::none:
      return "none";
    case DropReason::max_series:
      return "max_series";
    case DropReason::type_conflict:
      return "type_conflict";
    case DropReason::reserved_name:
      return "reserved_name";
    case DropReason::set_full:
      return "set_full";
    case DropReason::line_too_long:
      return "line_too_long";
    case DropReason::unsupported:
      return "unsupported";
    case DropReason::rejected:
      return "rejected";
    case DropReason::tcp_connections:
      return "tcp_connections";
    case DropReason::udp_buffer_full:
      return "udp_buffer_full";
  }
  return "unknown";
}

Aggregator::Aggregator(AggregatorOptions options) : options_(std::move(options)) {}

std::size_t Aggregator::series_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return series_.size();
}

Aggregator::Series* Aggregator::find_or_create(const ParsedLine& line, Kind kind,
                                               std::int64_t now_ms, DropReason& reason) {
  name_.assign(options_.prefix);
  name_ += line.name;
  if (kind == Kind::counter && !ends_with(name_, "_total")) name_ += "_total";

  key_.clear();
  append_piece(key_, name_);
  for (const auto& [k, v] : line.tags) {
    append_piece(key_, k);
    append_piece(key_, v);
  }
  auto found = series_.find(key_);
  if (found != series_.end()) {
    if (found->second->key->kind != kind) {
      reason = DropReason::type_conflict;
      return nullptr;
    }
    return found->second.get();
  }

  if (name_.compare(0, 6, "vigil_") == 0) {
    reason = DropReason::reserved_name;
    return nullptr;
  }
  auto family = families_.find(name_);
  if (family != families_.end() && family->second.kind != kind) {
    reason = DropReason::type_conflict;
    return nullptr;
  }
  std::string summary;
  if (kind == Kind::histogram && !options_.quantiles.empty()) {
    summary = name_ + "_quantiles";
    auto other = families_.find(summary);
    if (other != families_.end() && other->second.kind != Kind::summary) {
      reason = DropReason::type_conflict;
      return nullptr;
    }
  }
  if (series_.size() >= options_.max_series) {
    reason = DropReason::max_series;
    return nullptr;
  }

  auto series = std::make_unique<Series>();
  auto key = std::make_shared<SeriesKey>();
  key->id = next_id_++;
  key->kind = kind;
  key->family = name_;
  key->summary_family = summary;
  key->labels = line.tags;
  key->source_name = line.source_name;
  key->timer = line.type == SampleType::timer;
  series->key = std::move(key);
  series->last_update_ms = now_ms;
  if (kind == Kind::histogram) {
    series->buckets.assign(options_.buckets.size(), 0);
    if (!summary.empty()) series->sketch = std::make_unique<QuantileSketch>();
  }
  Family& f = families_[name_];
  f.kind = kind;
  ++f.series;
  if (!summary.empty()) {
    Family& s = families_[summary];
    s.kind = Kind::summary;
    ++s.series;
  }
  return series_.emplace(key_, std::move(series)).first->second.get();
}

DropReason Aggregator::apply(const ParsedLine& line, std::int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  return apply_locked(line, now_ms);
}

void Aggregator::apply(const ParsedLine* lines, std::size_t count, std::int64_t now_ms,
                       DropReason* reasons) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::size_t i = 0; i < count; ++i) reasons[i] = apply_locked(lines[i], now_ms);
}

DropReason Aggregator::apply_locked(const ParsedLine& line, std::int64_t now_ms) {
  const Kind kind = kind_of(line.type);
  DropReason reason = DropReason::none;
  Series* s = find_or_create(line, kind, now_ms, reason);
  if (s == nullptr) return reason;
  s->last_update_ms = now_ms;

  switch (kind) {
    case Kind::counter:
      // A sampled counter stands for 1/rate increments each.
      for (const SampleValue& v : line.values) s->value += v.number / line.sample_rate;
      break;
    case Kind::gauge:
      for (const SampleValue& v : line.values)
        s->value = v.relative ? s->value + v.number : v.number;
      break;
    case Kind::set: {
      std::uint64_t hash = std::hash<std::string_view>()(line.set_member);
      if (s->members.count(hash) != 0) break;
      if (set_values_ >= options_.max_set_values) return DropReason::set_full;
      s->members.insert(hash);
      ++set_values_;
      break;
    }
    case Kind::histogram: {
      // Buckets count whole observations: a sampled one stands for round(1/rate) of them.
      auto weight = static_cast<std::uint64_t>(std::max(1.0, std::round(1.0 / line.sample_rate)));
      const bool milliseconds = line.type == SampleType::timer;
      for (const SampleValue& v : line.values) {
        double x = milliseconds ? v.number / 1000.0 : v.number;
        auto bound = std::lower_bound(options_.buckets.begin(), options_.buckets.end(), x);
        if (bound != options_.buckets.end()) s->buckets[bound - options_.buckets.begin()] += weight;
        s->sum += x * static_cast<double>(weight);
        s->count += weight;
        if (s->sketch) s->sketch->add(x, weight);
      }
      break;
    }
    case Kind::summary:
      break;
  }
  return DropReason::none;
}

void Aggregator::release_family(const std::string& name, std::vector<std::string>& emptied) {
  auto it = families_.find(name);
  if (it == families_.end()) return;
  if (--it->second.series == 0) {
    emptied.push_back(name);
    families_.erase(it);
  }
}

void Aggregator::snapshot(std::int64_t now_ms, Snapshot& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  out.expired.clear();
  out.expired_families.clear();
  if (options_.expire_after_ms > 0) {
    for (auto it = series_.begin(); it != series_.end();) {
      Series& s = *it->second;
      if (now_ms - s.last_update_ms < options_.expire_after_ms) {
        ++it;
        continue;
      }
      release_family(s.key->family, out.expired_families);
      if (!s.key->summary_family.empty())
        release_family(s.key->summary_family, out.expired_families);
      out.expired.push_back(s.key);
      it = series_.erase(it);
    }
  }

  out.series.resize(series_.size());
  std::size_t i = 0;
  for (auto& [key, series] : series_) {
    Series& s = *series;
    SeriesSnapshot& o = out.series[i++];
    o.key = s.key;
    o.value = s.value;
    o.cumulative.clear();
    o.quantile_values.clear();
    o.sum = s.sum;
    o.count = s.count;
    switch (s.key->kind) {
      case Kind::set:
        o.value = static_cast<double>(s.members.size());
        // Frees the table of a set that was large once, so the member budget bounds memory
        // across intervals too, not just within one.
        if (s.members.bucket_count() > 64) {
          std::unordered_set<std::uint64_t>().swap(s.members);
        } else {
          s.members.clear();
        }
        break;
      case Kind::histogram: {
        std::uint64_t running = 0;
        for (std::uint64_t n : s.buckets) o.cumulative.push_back(running += n);
        for (double q : options_.quantiles) {
          o.quantile_values.push_back(s.sketch ? s.sketch->quantile(q)
                                               : std::numeric_limits<double>::quiet_NaN());
        }
        if (s.sketch) s.sketch->clear();
        break;
      }
      default:
        break;
    }
  }
  set_values_ = 0;
}

}  // namespace vigil::collector_statsd
