// One series of a Prometheus summary family, written through the C ABI in <vigil/plugin.h>.
//
// The SDK's C++ layer has handles for counters, gauges and histograms but none for summaries,
// while the ABI has register_family(SUMMARY) and write_summary(); this wraps them the way the
// C++ handles do (re-register once when the host dropped the series). It must never outlive the
// instance whose Host it was made from, and never be written from two threads at once.
#pragma once

#include <vigil/plugin.h>
#include <vigil/sdk.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace vigil::collector_statsd {

// Registers (or finds) the summary family `name`; throws vigil::Error with the host's reason.
inline vigil_family_id register_summary_family(const Host& host, const std::string& name,
                                               const std::string& help) {
  vigil_family_desc desc;
  std::memset(&desc, 0, sizeof desc);
  desc.size = sizeof desc;
  desc.name = name.c_str();
  desc.help = help.c_str();
  desc.unit = "";
  desc.type = VIGIL_METRIC_SUMMARY;
  char buffer[512] = {0};
  vigil_error err{buffer, sizeof buffer};
  vigil_family_id id = 0;
  vigil_status status = host.api()->register_family(host.ctx(), &desc, &id, &err);
  if (status != VIGIL_OK)
    throw Error(status, "registering summary family \"" + name + "\" failed: " + buffer);
  return id;
}

// Thread-safety: one thread at a time (collect()).
class SummarySeries {
 public:
  SummarySeries() = default;
  // Registers the series; throws vigil::Error with the host's reason.
  SummarySeries(const Host& host, vigil_family_id family, std::string name, Labels labels)
      : api_(host.api()),
        ctx_(host.ctx()),
        family_(family),
        name_(std::move(name)),
        labels_(std::move(labels)) {
    char buffer[512] = {0};
    vigil_error err{buffer, sizeof buffer};
    vigil_status status = register_now(&err);
    if (status != VIGIL_OK)
      throw Error(status, "registering series " + detail::series_text(name_, labels_) +
                              " failed: " + buffer);
  }

  explicit operator bool() const { return id_ != 0; }

  // False when the host refused the values even after registering the series again.
  bool write(const std::vector<double>& quantiles, const std::vector<double>& values, double sum,
             std::uint64_t count) {
    if (api_ == nullptr) return false;
    auto attempt = [&] {
      return api_->write_summary(ctx_, id_, quantiles.data(), values.data(), quantiles.size(), sum,
                                 count, 0);
    };
    if (id_ != 0 && attempt() == VIGIL_OK) return true;
    // The host dropped the series after a long silence (or never had it): register it again.
    char buffer[256] = {0};
    vigil_error err{buffer, sizeof buffer};
    if (register_now(&err) != VIGIL_OK) return false;
    return attempt() == VIGIL_OK;
  }

  // Takes the series out of the exposition now, on hosts that can (ABI 1.1).
  void unregister() {
    if (api_ != nullptr && id_ != 0 && VIGIL_API_HAS(api_, unregister_series))
      api_->unregister_series(ctx_, id_);
    id_ = 0;
  }

 private:
  vigil_status register_now(vigil_error* err) {
    std::vector<vigil_label> c_labels;
    c_labels.reserve(labels_.size());
    for (const auto& [k, v] : labels_) c_labels.push_back({k.c_str(), v.c_str()});
    vigil_series_id id = 0;
    vigil_status status =
        api_->register_series(ctx_, family_, c_labels.data(), c_labels.size(), &id, err);
    if (status == VIGIL_OK) id_ = id;
    return status;
  }

  const vigil_host_api* api_ = nullptr;
  vigil_host_ctx* ctx_ = nullptr;
  vigil_family_id family_ = 0;
  vigil_series_id id_ = 0;
  std::string name_;
  Labels labels_;
};

}  // namespace vigil::collector_statsd
