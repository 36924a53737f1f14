// Local time in a named zone, for routes' active and mute windows ("09:00-17:00 Europe/Berlin").
//
// libstdc++ 12 has no time-zone database, and changing TZ for localtime_r would race every
// other thread that formats a time. So this reads the zone file itself: every TZif file of
// version 2 or later ends with a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") that describes the
// zone's current rules, and that rule is all a window needs. Parsed rules are cached per zone.
#include "alerts/engine.hpp"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace vigil::alerts {
namespace {

struct Transition {
  char kind = 'M';  // 'M' month.week.day, 'J' julian 1-365 without Feb 29, 'D' day 0-365
  int month = 0, week = 0, day = 0;
  int seconds = 7200;  // local time of the change
};

struct Rule {
  int std_offset = 0;  // seconds to add to local standard time to get UTC
  bool has_dst = false;
  int dst_offset = 0;
  Transition start, end;
};

class Parser {
 public:
  explicit Parser(std::string text) : s_(std::move(text)) {}

  bool rule(Rule& out) {
    if (!name() || !offset(out.std_offset)) return false;
    if (pos_ == s_.size()) return true;
    out.has_dst = true;
    if (!name()) return false;
    out.dst_offset = out.std_offset - 3600;
    if (pos_ < s_.size() && s_[pos_] != ',' && !offset(out.dst_offset)) return false;
    if (pos_ == s_.size()) {
      // No rule given: POSIX's default is the US rule.
      out.start = {'M', 3, 2, 0, 7200};
      out.end = {'M', 11, 1, 0, 7200};
      return true;
    }
    if (s_[pos_++] != ',' || !transition(out.start)) return false;
    if (pos_ >= s_.size() || s_[pos_++] != ',' || !transition(out.end)) return false;
    return pos_ == s_.size();
  }

 private:
  bool name() {
    if (pos_ < s_.size() && s_[pos_] == '<') {
      auto close = s_.find('>', pos_);
      if (close == std::string::npos) return false;
      pos_ = close + 1;
      return true;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    return pos_ - start >= 3;
  }
  bool number(int& out) {
    size_t start = pos_;
    out = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])))
      out = out * 10 + (s_[pos_++] - '0');
    return pos_ > start;
  }
  // [+-]hh[:mm[:ss]] in seconds; the sign is kept as written.
  bool clock(int& out) {
    int sign = 1;
    if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) sign = s_[pos_++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!number(h)) return false;
    if (pos_ < s_.size() && s_[pos_] == ':') {
      ++pos_;
      if (!number(m)) return false;
      if (pos_ < s_.size() && s_[pos_] == ':') {
        ++pos_;
        if (!number(sec)) return false;
      }
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool offset(int& out) { return clock(out); }
  bool transition(Transition& out) {
    if (pos_ < s_.size() && s_[pos_] == 'M') {
      ++pos_;
      out.kind = 'M';
      if (!number(out.month) || pos_ >= s_.size() || s_[pos_++] != '.' || !number(out.week) ||
          pos_ >= s_.size() || s_[pos_++] != '.' || !number(out.day))
        return false;
    } else if (pos_ < s_.size() && s_[pos_] == 'J') {
      ++pos_;
      out.kind = 'J';
      if (!number(out.day)) return false;
    } else {
      out.kind = 'D';
      if (!number(out.day)) return false;
    }
    out.seconds = 7200;
    if (pos_ < s_.size() && s_[pos_] == '/') {
      ++pos_;
      if (!clock(out.seconds)) return false;
    }
    return true;
  }

  std::string s_;
  size_t pos_ = 0;
};

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Seconds since the epoch of the transition's local time in `year`, as if local were UTC.
int64_t transition_local(const Transition& t, int64_t year) {
  int64_t day = 0;
  if (t.kind == 'M') {
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = days_from_civil(year, static_cast<unsigned>(t.month), 1);
    int first_weekday = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01 was a Thursday
    int offset = (t.day - first_weekday + 7) % 7;
    int mday = 1 + offset + (t.week - 1) * 7;
    int limit = days_in[t.month - 1] + (t.month == 2 && leap(year) ? 1 : 0);
    while (mday > limit) mday -= 7;
    day = first + mday - 1;
  } else if (t.kind == 'J') {
    int n = t.day;
    if (leap(year) && n >= 60) ++n;
    day = days_from_civil(year, 1, 1) + n - 1;
  } else {
    day = days_from_civil(year, 1, 1) + t.day;
  }
  return day * 86400 + t.seconds;
}

std::string read_footer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  if (data.size() < 5 || data.compare(0, 4, "TZif") != 0) return {};
  if (data.back() != '\n') return {};
  auto start = data.rfind('\n', data.size() - 2);
  if (start == std::string::npos) return {};
  return data.substr(start + 1, data.size() - start - 2);
}

bool load_rule(const std::string& zone, Rule& out, std::string& error) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::pair<bool, Rule>> cache;
  std::lock_guard lock(mutex);
  auto it = cache.find(zone);
  if (it != cache.end()) {
    if (!it->second.first) error = "unknown time zone \"" + zone + "\"";
    out = it->second.second;
    return it->second.first;
  }
  std::string tz;
  if (zone == "UTC" || zone == "Etc/UTC") {
    tz = "UTC0";
  } else if (zone.empty()) {
    const char* env = std::getenv("TZ");
    if (env && *env && *env != ':' && std::string(env).find('/') == std::string::npos) {
      tz = env;
    } else {
      std::string file = env && *env ? std::string(env[0] == ':' ? env + 1 : env) : "";
      if (!file.empty() && file[0] != '/') file = "/usr/share/zoneinfo/" + file;
      tz = read_footer(file.empty() ? "/etc/localtime" : file);
      if (tz.empty()) tz = "UTC0";  // no zone configured: the host runs on UTC
    }
  } else if (zone.find("..") == std::string::npos && zone[0] != '/') {
    tz = read_footer("/usr/share/zoneinfo/" + zone);
  }
  Rule rule;
  bool ok = !tz.empty() && Parser(tz).rule(rule);
  cache.emplace(zone, std::make_pair(ok, rule));
  if (!ok)
    error = "unknown time zone \"" + zone +
            "\", expected an IANA name from /usr/share/zoneinfo such as \"Europe/Berlin\" or "
            "\"UTC\"";
  out = rule;
  return ok;
}

}  // namespace

bool local_time(int64_t ms, const std::string& zone, LocalTime& out, std::string& error) {
  Rule rule;
  if (!load_rule(zone, rule, error)) return false;
  const int64_t utc = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int offset = rule.std_offset;
  if (rule.has_dst) {
    const int64_t std_local = utc - rule.std_offset;
    const int64_t year = 1970 + static_cast<int64_t>(std::floor(std_local / 31556952.0));
    // Start is given in standard time, end in daylight time; both compared in UTC.
    const int64_t start = transition_local(rule.start, year) + rule.std_offset;
    const int64_t end = transition_local(rule.end, year) + rule.dst_offset;
    const bool dst = start < end ? (utc >= start && utc < end) : !(utc >= end && utc < start);
    if (dst) offset = rule.dst_offset;
  }
  const int64_t local = utc - offset;
  const int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  out.weekday = static_cast<int>(((days % 7) + 11) % 7);
  out.minute_of_day = static_cast<int>((local - days * 86400) / 60);
  return true;
}

}  // namespace vigil::alerts
