// Annotation templates (see template.hpp): a scanner over `{{ path | fn arg | ... }}` that both
// checks and renders, so the two can never disagree about the syntax.
#include "alerts/template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigil::alerts {
namespace {

struct Pipe {
  std::string name;
  std::string arg;
  bool has_arg = false;
};

struct Expr {
  std::string path;
  std::vector<Pipe> pipes;
};

const char* kFunctions[] = {"percent", "bytes", "duration", "printf", "upper", "lower", "default"};

bool valid_printf(const std::string& f) {
  // One numeric conversion: %[flags][width][.precision](f|e|g|d), anything else literal.
  int conversions = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') continue;
    if (i + 1 < f.size() && f[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < f.size() && std::strchr("-+ 0#", f[j])) ++j;
    while (j < f.size() && std::isdigit(static_cast<unsigned char>(f[j]))) ++j;
    if (j < f.size() && f[j] == '.') {
      ++j;
      while (j < f.size() && std::isdigit(static_cast<unsigned char>(f[j]))) ++j;
    }
    if (j >= f.size() || !std::strchr("fegd", f[j])) return false;
    ++conversions;
    i = j;
  }
  return conversions == 1;
}

// Parses the inside of one {{ }}; `column` is for messages.
bool parse_expr(const std::string& text, size_t column, Expr& out, std::string& error) {
  size_t pos = 0;
  auto skip = [&] {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  };
  auto word = [&](std::string& w) {
    skip();
    size_t start = pos;
    while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) ||
                                 text[pos] == '_' || text[pos] == '.'))
      ++pos;
    w = text.substr(start, pos - start);
    return !w.empty();
  };
  auto where = [&] { return "at column " + std::to_string(column + pos + 1) + ": "; };
  if (!word(out.path)) {
    error = where() + "expected a name such as value or labels.instance";
    return false;
  }
  if (out.path != "value" && out.path != "alertname" && out.path != "fingerprint" &&
      out.path != "external_url" && out.path.rfind("labels.", 0) != 0) {
    error = where() + "found \"" + out.path +
            "\", expected value, alertname, fingerprint, external_url or labels.NAME";
    return false;
  }
  skip();
  while (pos < text.size()) {
    if (text[pos] != '|') {
      error = where() + "found '" + text[pos] + "', expected '|' or '}}'";
      return false;
    }
    ++pos;
    Pipe p;
    if (!word(p.name) ||
        std::find_if(std::begin(kFunctions), std::end(kFunctions),
                     [&](const char* f) { return p.name == f; }) == std::end(kFunctions)) {
      error = where() + "found \"" + p.name +
              "\", expected percent, bytes, duration, printf, upper, lower or default";
      return false;
    }
    skip();
    if (pos < text.size() && text[pos] == '"') {
      auto close = text.find('"', pos + 1);
      if (close == std::string::npos) {
        error = where() + "expected the closing \" of the argument";
        return false;
      }
      p.arg = text.substr(pos + 1, close - pos - 1);
      p.has_arg = true;
      pos = close + 1;
    }
    if ((p.name == "printf" || p.name == "default") && !p.has_arg) {
      error = where() + p.name + " needs a quoted argument, such as " +
              (p.name == "printf" ? "printf \"%.1f\"" : "default \"none\"");
      return false;
    }
    if (p.name == "printf" && !valid_printf(p.arg)) {
      error = where() + "printf \"" + p.arg +
              "\": expected exactly one numeric conversion such as %.2f, %d, %g or %e";
      return false;
    }
    out.pipes.push_back(std::move(p));
    skip();
  }
  return true;
}

template <class Each>
bool scan(const std::string& text, std::string& error, Each each) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto open = text.find("{{", pos);
    if (open == std::string::npos) {
      each(text.substr(pos), nullptr);
      return true;
    }
    each(text.substr(pos, open - pos), nullptr);
    auto close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      error = "at column " + std::to_string(open + 1) + ": found \"{{\" without \"}}\"";
      return false;
    }
    Expr e;
    if (!parse_expr(text.substr(open + 2, close - open - 2), open + 2, e, error)) return false;
    each("", &e);
    pos = close + 2;
  }
  return true;
}

std::string trim_number(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

bool to_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_percent(double v) {
  return trim_number(v * 100, 1) + "%";
}

std::string format_bytes(double v) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double x = std::fabs(v);
  while (x >= 1024 && u < 6) {
    x /= 1024;
    ++u;
  }
  return (v < 0 ? "-" : "") + trim_number(x, 1) + " " + units[u];
}

std::string format_duration(double seconds) {
  if (std::isnan(seconds)) return "NaN";
  const bool negative = seconds < 0;
  int64_t s = static_cast<int64_t>(std::llround(std::fabs(seconds)));
  if (s == 0 && std::fabs(seconds) > 0) return trim_number(std::fabs(seconds) * 1000, 0) + "ms";
  std::string out;
  const int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  if (d) out += std::to_string(d) + "d ";
  if (h) out += std::to_string(h) + "h ";
  if (m && !d) out += std::to_string(m) + "m ";
  if ((sec && !d && !h) || out.empty()) out += std::to_string(sec) + "s ";
  out.pop_back();
  return (negative ? "-" : "") + out;
}

std::string check_template(const std::string& text) {
  std::string error;
  scan(text, error, [](const std::string&, const Expr*) {});
  return error;
}

std::string render_template(const std::string& text, const Alert& alert,
                            const std::string& external_url) {
  std::string out, error;
  scan(text, error, [&](const std::string& literal, const Expr* e) {
    if (!e) {
      out += literal;
      return;
    }
    std::string v;
    bool numeric = false;
    double number = 0;
    if (e->path == "value") {
      number = alert.value;
      numeric = true;
      v = format_value(number);
    } else if (e->path == "alertname") {
      v = alert.rule;
    } else if (e->path == "fingerprint") {
      v = alert.fingerprint;
    } else if (e->path == "external_url") {
      v = external_url;
    } else {
      auto it = alert.labels.find(e->path.substr(7));
      if (it != alert.labels.end()) v = it->second;
      numeric = to_number(v, number);
    }
    for (const auto& p : e->pipes) {
      if (p.name == "default") {
        if (v.empty()) v = p.arg;
      } else if (p.name == "upper") {
        for (auto& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      } else if (p.name == "lower") {
        for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      } else if (numeric || to_number(v, number)) {
        if (p.name == "percent") v = format_percent(number);
        if (p.name == "bytes") v = format_bytes(number);
        if (p.name == "duration") v = format_duration(number);
        if (p.name == "printf") {
          char buf[128];
          if (p.arg.find('d') != std::string::npos &&
              p.arg.find_first_of("feg") == std::string::npos)
            std::snprintf(buf, sizeof buf, p.arg.c_str(),
                          static_cast<long long>(std::llround(number)));
          else
            std::snprintf(buf, sizeof buf, p.arg.c_str(), number);
          v = buf;
        }
        numeric = false;  // formatted text from here on
      }
    }
    out += v;
  });
  return out;
}

Annotations render_annotations(const Annotations& templates, const Alert& alert,
                               const std::string& external_url) {
  Annotations out;
  for (const auto& [name, text] : templates) out[name] = render_template(text, alert, external_url);
  return out;
}

}  // namespace vigil::alerts
