// See device_filter.hpp.
#include "device_filter.hpp"

namespace vigil::device_filter {
namespace {

bool compile(std::string_view option, const std::string& pattern, std::optional<std::regex>& out,
             std::string& error) {
  out.reset();
  if (pattern.empty()) return true;
  try {
    out.emplace(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    error = "option \"" + std::string(option) + "\": \"" + pattern +
            "\" is not a valid regular expression (" + e.what() +
            "); expected ECMAScript syntax such as \"^(lo|docker\\\\d+)$\"";
    return false;
  }
  return true;
}

}  // namespace

bool DeviceFilter::set(std::string_view include_option, const std::string& include,
                       std::string_view exclude_option, const std::string& exclude,
                       std::string& error) {
  cache_.clear();
  return compile(include_option, include, include_, error) &&
         compile(exclude_option, exclude, exclude_, error);
}

bool DeviceFilter::allowed(std::string_view name) {
  auto it = cache_.find(name);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedNames) cache_.clear();
  std::string key(name);
  const bool decision = decide(key);
  cache_.emplace(std::move(key), decision);
  return decision;
}

bool DeviceFilter::decide(const std::string& name) const {
  if (include_ && !std::regex_search(name, *include_)) return false;
  if (exclude_ && std::regex_search(name, *exclude_)) return false;
  return true;
}

}  // namespace vigil::device_filter
