// See name_filter.hpp.
#include "vigil_plugin_procfs/name_filter.hpp"

#include <utility>

namespace vigil::procfs {

bool Pattern::compile(std::string_view where, const std::string& text, std::string_view expected,
                      std::string& error) {
  regex_.reset();
  text_ = text;
  if (text.empty()) return true;
  try {
    regex_.emplace(text, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    error = std::string(where) + ": \"" + text + "\" is not a valid regular expression (" +
            e.what() + "); expected " + std::string(expected);
    return false;
  }
  return true;
}

bool Pattern::found_in(const std::string& name) const {
  return regex_ && std::regex_search(name, *regex_);
}

bool NameFilter::set(std::string_view include_option, const std::string& include,
                     std::string_view exclude_option, const std::string& exclude,
                     std::string_view expected, std::string& error) {
  auto where = [](std::string_view option) { return "option \"" + std::string(option) + "\""; };
  return include_.compile(where(include_option), include, expected, error) &&
         exclude_.compile(where(exclude_option), exclude, expected, error);
}

bool NameFilter::allowed(const std::string& name) const {
  if (include_.is_set() && !include_.found_in(name)) return false;
  return !exclude_.found_in(name);
}

bool CachedNameFilter::set(std::string_view include_option, const std::string& include,
                           std::string_view exclude_option, const std::string& exclude,
                           std::string_view expected, std::string& error) {
  cache_.clear();
  return filter_.set(include_option, include, exclude_option, exclude, expected, error);
}

bool CachedNameFilter::allowed(std::string_view name) {
  auto it = cache_.find(name);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedNames) cache_.clear();
  std::string key(name);
  const bool decision = filter_.allowed(key);
  cache_.emplace(std::move(key), decision);
  return decision;
}

}  // namespace vigil::procfs
