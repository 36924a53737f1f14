// The record of served recipients per notification; see delivered_recipients.hpp.
#include "delivered_recipients.hpp"

namespace vigil::notifier_sms {

bool DeliveredRecipients::delivered(const std::string& key, const std::string& recipient) const {
  auto it = by_key_.find(key);
  return it != by_key_.end() && it->second.count(recipient) > 0;
}

void DeliveredRecipients::record(const std::string& key, const std::string& recipient) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    while (by_key_.size() >= capacity_ && !order_.empty()) {
      by_key_.erase(order_.front());
      order_.pop_front();
    }
    it = by_key_.emplace(key, std::set<std::string>()).first;
    order_.push_back(key);
  }
  it->second.insert(recipient);
}

}  // namespace vigil::notifier_sms
