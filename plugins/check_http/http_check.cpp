// See http_check.hpp.
#include "http_check.hpp"

#include <nlohmann/json.hpp>

#include "vigil_plugin_procfs/human.hpp"

namespace vigil::check_http {
namespace {

using nlohmann::json;
using procfs::format_duration;

std::string join_or(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " or " : ", ";
    out += items[i];
  }
  return out;
}

// "5 days", "1 day", "7 hours", "12 minutes": how long until (or since) a certificate's expiry.
std::string span(int64_t seconds) {
  auto unit = [](int64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  if (seconds >= 86400) return unit(seconds / 86400, "day", "days");
  if (seconds >= 3600) return unit(seconds / 3600, "hour", "hours");
  return unit(seconds / 60, "minute", "minutes");
}

int rank(vigil_health_status s) {
  switch (s) {
    case VIGIL_HEALTH_OK:
      return 0;
    case VIGIL_HEALTH_WARNING:
      return 1;
    case VIGIL_HEALTH_UNKNOWN:
      return 2;
    default:
      return 3;
  }
}

void worsen(vigil_health_status& status, vigil_health_status to) {
  if (rank(to) > rank(status)) status = to;
}

}  // namespace

bool StatusMatcher::parse(std::string_view text, StatusMatcher& out, std::string& error) {
  out = StatusMatcher();
  if (text.empty() || text == "null") return true;
  json value = json::parse(text.begin(), text.end(), nullptr, false);
  if (value.is_discarded() || !value.is_array() || value.empty()) {
    error = "found " + std::string(text) +
            ", expected a non-empty array of status codes and classes such as [200, 204] or "
            "[\"2xx\", 301]";
    return false;
  }
  std::vector<std::pair<int, int>> ranges;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    const std::string where = "item " + std::to_string(i) + " is " + item.dump();
    if (item.is_number_integer()) {
      long long code = item.get<long long>();
      if (code < 100 || code > 599) {
        error = where + ", expected a status code from 100 to 599";
        return false;
      }
      ranges.emplace_back(static_cast<int>(code), static_cast<int>(code));
    } else if (item.is_string()) {
      const std::string s = item.get<std::string>();
      if (s.size() != 3 || s[0] < '1' || s[0] > '5' || (s[1] != 'x' && s[1] != 'X') ||
          (s[2] != 'x' && s[2] != 'X')) {
        error = where + ", expected a class such as \"2xx\" (1xx to 5xx) or a number such as 200";
        return false;
      }
      int base = (s[0] - '0') * 100;
      ranges.emplace_back(base, base + 99);
    } else {
      error = where + ", expected a status code such as 200 or a class such as \"2xx\"";
      return false;
    }
  }
  out.ranges_ = std::move(ranges);
  return true;
}

bool StatusMatcher::matches(long status) const {
  for (const auto& [low, high] : ranges_)
    if (status >= low && status <= high) return true;
  return false;
}

std::string StatusMatcher::describe() const {
  std::vector<std::string> items;
  for (const auto& [low, high] : ranges_) {
    if (low == high) {
      items.push_back(std::to_string(low));
    } else {
      // Whole classes read as "2xx"; the default 200..399 as "2xx or 3xx".
      for (int base = low; base <= high; base += 100)
        items.push_back(std::to_string(base / 100) + "xx");
    }
  }
  return join_or(items);
}

bool parse_headers(std::string_view text, plugin_http::Headers& out, std::string& error) {
  out.clear();
  if (text.empty() || text == "null") return true;
  json value = json::parse(text.begin(), text.end(), nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    error = "found " + std::string(text) +
            ", expected a JSON object of header names and values such as "
            "{\"Authorization\": \"Bearer ...\", \"Accept\": \"application/json\"}";
    return false;
  }
  for (const auto& [name, v] : value.items()) {
    if (name.empty() || name.find_first_of(" \t:\r\n") != std::string::npos) {
      error = "header name \"" + name + "\" is empty or holds a space, ':' or line break";
      return false;
    }
    std::string text_value;
    if (v.is_string()) {
      text_value = v.get<std::string>();
    } else if (v.is_number() || v.is_boolean()) {
      text_value = v.dump();
    } else {
      error = "header \"" + name + "\" is " + v.dump() + ", expected a string";
      return false;
    }
    if (text_value.find_first_of("\r\n") != std::string::npos) {
      error = "header \"" + name + "\" has a line break in its value; one line per header";
      return false;
    }
    out.emplace_back(name, std::move(text_value));
  }
  return true;
}

Verdict judge(const plugin_http::Result& result, const Expectations& expect, int64_t now_unix) {
  Verdict v;
  if (!result.ok()) {
    v.status = VIGIL_HEALTH_CRITICAL;
    v.message = result.error;
    if (result.error_kind == plugin_http::ErrorKind::tls_verify)
      v.message += "; trust the server's CA with ca_file, or set insecure_skip_verify";
    return v;
  }
  const plugin_http::Response& r = result.response;
  v.status = VIGIL_HEALTH_OK;
  v.message = "HTTP " + std::to_string(r.status) + " in " + format_duration(r.timing.total_seconds);

  if (!expect.status.matches(r.status)) {
    worsen(v.status, VIGIL_HEALTH_CRITICAL);
    v.message += ", expected " + expect.status.describe();
  }
  if (expect.body_pattern && !expect.body_pattern->search(r.body)) {
    worsen(v.status, VIGIL_HEALTH_CRITICAL);
    v.message += ", body does not match /" + expect.body_pattern->expression() + "/";
  }

  v.certificate = r.earliest_expiring();
  if (v.certificate != nullptr) {
    const plugin_http::Certificate& c = *v.certificate;
    std::string which = "certificate";
    if (&c != r.peer_certificate()) which += " \"" + c.subject + "\"";
    const int64_t left = c.not_after_unix - now_unix;
    if (left <= 0) {
      worsen(v.status, VIGIL_HEALTH_CRITICAL);
      v.message += ", " + which + " expired " + span(-left) + " ago";
    } else if (left < expect.cert_critical_days * 86400) {
      worsen(v.status, VIGIL_HEALTH_CRITICAL);
      v.message += ", " + which + " expires in " + span(left) + " (critical below " +
                   std::to_string(expect.cert_critical_days) + " days)";
    } else if (left < expect.cert_warning_days * 86400) {
      worsen(v.status, VIGIL_HEALTH_WARNING);
      v.message += ", " + which + " expires in " + span(left) + " (warning below " +
                   std::to_string(expect.cert_warning_days) + " days)";
    } else {
      v.message += ", " + which + " expires in " + span(left);
    }
  }
  return v;
}

}  // namespace vigil::check_http
