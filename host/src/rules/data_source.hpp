// What rules read: series by selector, their latest sample and recent windows, and health
// results. The daemon serves it from the store and the health checks' last results;
// `vigil test-rules` from a store it fills with synthetic series.
#pragma once

#include "alerts/matcher.hpp"
#include "alerts/model.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::rules {

struct SeriesRef {
  uint64_t id = 0;
  std::string name;       // the metric name
  alerts::Labels labels;  // without the metric name
};

struct HealthInfo {
  std::string check;
  int status = 3;  // 0 ok, 1 warning, 2 critical, 3 unknown
  int64_t since_ms = 0;
  std::string message;
};

// Thread-safety: called from the alerting thread only.
class DataSource {
 public:
  virtual ~DataSource() = default;
  // Live series matching the selector (its name, then every matcher).
  virtual void select(const alerts::Selector& selector, int64_t now_ms,
                      std::vector<SeriesRef>& out) = 0;
  // Every series matching the selector, live or not: what the query library keeps while
  // generation() stays, asking live() at each evaluation time.
  virtual void select_registered(const alerts::Selector& selector, std::vector<SeriesRef>& out) = 0;
  // Whether select() at `now_ms` would show the series (it exists, was written, is not stale).
  virtual bool live(uint64_t id, int64_t now_ms) = 0;
  virtual bool latest(uint64_t id, store::Sample& out) = 0;
  virtual size_t window(uint64_t id, int64_t from_ms, int64_t to_ms,
                        std::vector<store::Sample>& out) = 0;
  // Moves whenever select() could answer differently for reasons other than time.
  virtual uint64_t generation() = 0;
  virtual std::vector<HealthInfo> health() = 0;
};

// The data source over a real store plus a health provider.
class StoreSource : public DataSource {
 public:
  using HealthFn = std::function<std::vector<HealthInfo>()>;
  StoreSource(const store::Store& store, HealthFn health)
      : store_(store), health_(std::move(health)) {}
  void select(const alerts::Selector& selector, int64_t now_ms,
              std::vector<SeriesRef>& out) override;
  void select_registered(const alerts::Selector& selector, std::vector<SeriesRef>& out) override;
  bool live(uint64_t id, int64_t now_ms) override { return store_.live(id, now_ms); }
  bool latest(uint64_t id, store::Sample& out) override { return store_.latest(id, out); }
  size_t window(uint64_t id, int64_t from_ms, int64_t to_ms,
                std::vector<store::Sample>& out) override {
    return store_.window(id, from_ms, to_ms, out);
  }
  uint64_t generation() override { return store_.generation(); }
  std::vector<HealthInfo> health() override {
    return health_ ? health_() : std::vector<HealthInfo>{};
  }

 private:
  // live_only: select(); else select_registered() (now_ms unused).
  void select_where(const alerts::Selector& selector, bool live_only, int64_t now_ms,
                    std::vector<SeriesRef>& out);
  const store::Store& store_;
  HealthFn health_;
};

}  // namespace vigil::rules
