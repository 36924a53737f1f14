// Annotation templates (see template.hpp), in the one template language notifiers use too
// (<vigil/template.hpp>), with the alert as its context.
#include "alerts/template.hpp"

#include "vigil/template.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vigil::alerts {

namespace {

// What an annotation template sees: the alert's labels, its value, and a few names.
nlohmann::json context_of(const Alert& alert, const std::string& external_url) {
  return nlohmann::json{
      {"labels", alert.labels},
      {"value", std::isfinite(alert.value) ? nlohmann::json(alert.value)
                                           : nlohmann::json(format_value(alert.value))},
      {"alertname", alert.rule},
      {"fingerprint", alert.fingerprint},
      {"external_url", external_url}};
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// The pipes of the shared template language, so Lua's vigil.fmt and templates agree.
std::string format_percent(double v) {
  return template_detail::percent_text(v, 1);
}
std::string format_bytes(double v) {
  return template_detail::bytes_text(v, 1);
}
std::string format_duration(double seconds) {
  return template_detail::duration_text(seconds);
}

std::string check_template(const std::string& text) {
  std::string error;
  if (Template::compile(text, error)) return "";
  return error;
}

std::string render_template(const std::string& text, const Alert& alert,
                            const std::string& external_url) {
  std::string error;
  auto compiled = Template::compile(text, error);
  if (!compiled) return text;  // checked when the rules loaded; never fail at 3 a.m.
  return compiled->render(context_of(alert, external_url));
}

Annotations render_annotations(const Annotations& templates, const Alert& alert,
                               const std::string& external_url) {
  Annotations out;
  if (templates.empty()) return out;
  const auto context = context_of(alert, external_url);
  for (const auto& [name, text] : templates) {
    std::string error;
    auto compiled = Template::compile(text, error);
    out[name] = compiled ? compiled->render(context) : text;
  }
  return out;
}

}  // namespace vigil::alerts
