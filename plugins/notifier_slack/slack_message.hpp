// What notifier_slack posts for one notification: the template context, and the Slack message
// (a fallback `text`, a header block, and an attachment with a severity colour bar holding the
// summary, the alerts, the acknowledgement, the escalation step and the links). Kept apart from
// the plugin glue so the message is defined in one place and tested without a network.
//
// It must never produce a message Slack refuses for its shape: every text stays within Slack's
// limits (header 150 characters, section 3,000, at most 50 blocks), truncated on a character
// boundary with "…"; an empty section is left out rather than sent empty; a link that is not an
// http(s) URL is left out. It must never let alert data turn into Slack markup: label values,
// annotations and acknowledgement comments are escaped (& < >) wherever they land in mrkdwn.
#pragma once

#include <vigil/sdk.hpp>
#include <vigil/template.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::notifier_slack {

// Slack's limits on what one message may hold (Block Kit reference).
constexpr size_t kHeaderChars = 150;
constexpr size_t kSectionChars = 3000;
constexpr size_t kMaxBlocks = 50;
// The fallback `text` a phone notification shows: Slack accepts far more, nobody reads more.
constexpr size_t kFallbackChars = 3000;
// The blocks besides one per alert: header, summary, "and N more", acknowledgement, escalation,
// links. max_alerts is bounded so that all of them always fit under kMaxBlocks.
constexpr size_t kOtherBlocks = 6;
constexpr size_t kMaxAlertsLimit = kMaxBlocks - kOtherBlocks;
constexpr size_t kMaxLinks = 10;

// A link shown under the message: fixed text, URL rendered per notification.
struct Link {
  std::string text;
  Template url;
};

// Everything configure() read that shapes a message.
// Thread-safety: immutable after configure(); read by the delivery thread.
struct MessageOptions {
  std::string channel, username, icon_emoji, icon_url;
  Template title;  // the header (plain text)
  Template text;   // the summary at the top of the attachment (mrkdwn)
  std::vector<Link> links;
  // Lower-case severity (and "firing", "resolved") to a colour: "#E01E5A", "good", …
  std::map<std::string, std::string> colors;
  size_t max_alerts = 10;
};

// The built-in colours, which the `colors` option is merged over.
std::map<std::string, std::string> default_colors();

// "" when `color` is something Slack draws (#RGB, #RRGGBB, good, warning, danger); else why not.
std::string check_color(const std::string& color);

// `text` with & < > written as Slack's entities, so it shows as written inside mrkdwn.
std::string escape_mrkdwn(std::string_view text);

// At most `max_chars` characters (UTF-8 never split), ending in "…" when cut. With `mrkdwn`, an
// entity such as "&amp;" is never cut in half.
std::string truncate_chars(std::string text, size_t max_chars, bool mrkdwn = false);

// The message for one notification. `warnings` collects what was left out and why (a link that
// rendered to something other than an http(s) URL), for the host's log.
// Its fields are in the order a person reads them (channel, username, icons, text, blocks,
// attachments).
nlohmann::ordered_json build_message(const MessageOptions& options, const Notification& n,
                                     const nlohmann::json& payload,
                                     std::vector<std::string>& warnings);

}  // namespace vigil::notifier_slack
