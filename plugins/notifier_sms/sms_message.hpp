// What notifier_sms sends for one notification: the template context its message renders
// against, the message cut to the gateway's length, and the request body per recipient (an
// application/x-www-form-urlencoded form, as Twilio takes, or a JSON object). Kept apart from
// the plugin glue so each shape is defined once and tested on its own.
//
// It must never cut a UTF-8 character in half (a gateway refuses the message or shows a
// replacement character), and never let a field's value change the body's structure: every
// value is form-encoded or JSON-escaped.
#pragma once

#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::notifier_sms {

// How many characters (Unicode code points) `text` holds; a stray byte counts as one.
size_t char_count(std::string_view text);

// At most `max_chars` characters: a longer text keeps its first max_chars - 1 characters and
// ends in "…" (one character), cut between two UTF-8 sequences.
std::string truncate_chars(std::string text, size_t max_chars);

// One field of a request body, in the order sent. `value` is any JSON for the json format; the
// form format takes strings, numbers and booleans as text.
using Fields = std::vector<std::pair<std::string, nlohmann::ordered_json>>;

// "To=%2B15550001&Body=disk+full": application/x-www-form-urlencoded (spaces as '+', every byte
// but letters, digits and *-._ percent-encoded).
std::string form_body(const Fields& fields);

// {"To": "+15550001", "Body": "disk full"} in the fields' order.
std::string json_body(const Fields& fields);

// The text a form field carries for a JSON scalar: a string as it is, numbers and booleans as
// JSON writes them.
std::string form_text(const nlohmann::ordered_json& value);

}  // namespace vigil::notifier_sms
