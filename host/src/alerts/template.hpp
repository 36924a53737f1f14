// The annotation templates of alert rules: `{{labels.instance}}`, `{{value | percent}}`,
// `{{value | printf "%.1f"}}`, `{{labels.team | default "ops"}}` — the shared template language
// of <vigil/template.hpp> over {labels, value, alertname, fingerprint, external_url}.
//
// Checked when rules load (check_template), rendered when an alert changes state. Rendering
// never fails: a missing label renders empty.
#pragma once

#include "alerts/model.hpp"

#include <string>

namespace vigil::alerts {

// "" when `text` is a valid template, else a message with the column and what was expected.
std::string check_template(const std::string& text);
std::string render_template(const std::string& text, const Alert& alert,
                            const std::string& external_url);
Annotations render_annotations(const Annotations& templates, const Alert& alert,
                               const std::string& external_url);
// Formatting helpers, also used by the Lua library (vigil.fmt).
std::string format_value(double v);           // shortest exact text: 0.93, 12, 1e+21
std::string format_percent(double v);         // 0.934 -> "93.4%"
std::string format_bytes(double v);           // 1610612736 -> "1.5 GiB"
std::string format_duration(double seconds);  // 3720 -> "1h 2m"

}  // namespace vigil::alerts
