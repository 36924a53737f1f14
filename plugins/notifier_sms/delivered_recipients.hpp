// Which recipients already received a notification, by its idempotency key, so that the host's
// retry of a notification that reached some recipients and not others sends only to the others.
//
// It is memory only and bounded: it must never grow without limit (beyond `capacity` keys the
// oldest key is forgotten, and a retry of that notification sends to every recipient again), and
// never report a recipient as served unless record() was called for that key and recipient.
#pragma once

#include <cstddef>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>

namespace vigil::notifier_sms {

// Thread-safety: not thread-safe; one notifier instance uses it from its delivery thread.
class DeliveredRecipients {
 public:
  explicit DeliveredRecipients(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // True when record(key, recipient) happened and the key was not forgotten since.
  bool delivered(const std::string& key, const std::string& recipient) const;
  // Remembers that `recipient` has the notification `key`; a new key may forget the oldest.
  void record(const std::string& key, const std::string& recipient);
  // How many notifications are remembered.
  size_t size() const { return by_key_.size(); }

 private:
  size_t capacity_;
  std::unordered_map<std::string, std::set<std::string>> by_key_;
  std::deque<std::string> order_;  // the keys, oldest first
};

}  // namespace vigil::notifier_sms
