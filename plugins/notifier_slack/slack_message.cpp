// The Slack message of one notification; see slack_message.hpp.
#include "slack_message.hpp"

#include <vigil/notification_context.hpp>

#include <cctype>
#include <utility>

namespace vigil::notifier_slack {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

size_t char_count(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) ++n;
  return n;
}

// Byte length of the first `chars` characters of `s`, never splitting a UTF-8 sequence.
size_t prefix_bytes(std::string_view s, size_t chars) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0u) != 0x80u) {
      if (seen == chars) return i;
      ++seen;
    }
  }
  return s.size();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

// A string field of an object, or "" when it is missing or not a string.
std::string text_at(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

const json& field(const json& object, const char* key) {
  static const json null;
  if (!object.is_object()) return null;
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}

// Every string in `value` escaped for mrkdwn; keys, numbers and the rest unchanged.
json escape_strings(const json& value) {
  if (value.is_string()) return escape_mrkdwn(value.get_ref<const std::string&>());
  if (value.is_array()) {
    json out = json::array();
    for (const json& item : value) out.push_back(escape_strings(item));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = escape_strings(*it);
    return out;
  }
  return value;
}

bool is_http_url(const std::string& url) {
  const std::string head = lower(url.substr(0, 8));
  if (head.rfind("http://", 0) != 0 && head.rfind("https://", 0) != 0) return false;
  if (url.size() > kSectionChars) return false;
  for (char c : url)
    if (static_cast<unsigned char>(c) <= ' ') return false;
  return true;
}

// <url|text> for mrkdwn: the URL's & < > as entities and '|' percent-encoded, so neither can end
// the link early.
std::string mrkdwn_link(const std::string& url, const std::string& text) {
  std::string out = "<";
  for (char c : url) {
    if (c == '|')
      out += "%7C";
    else
      out += escape_mrkdwn(std::string_view(&c, 1));
  }
  return out + "|" + escape_mrkdwn(text) + ">";
}

ordered_json section(const std::string& mrkdwn) {
  return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", mrkdwn}}}};
}

ordered_json context_block(const std::string& mrkdwn) {
  return {{"type", "context"},
          {"elements", ordered_json::array({{{"type", "mrkdwn"}, {"text", mrkdwn}}})}};
}

// Critical first; a severity only a user's colour table names ranks below the known ones.
int severity_rank(const std::string& severity) {
  if (severity == "critical") return 4;
  if (severity == "error") return 3;
  if (severity == "warning") return 2;
  if (severity == "info") return 1;
  return 0;
}

bool is_resolved(const json& alert) {
  return text_at(alert, "status") == "resolved";
}

std::string severity_of(const json& alert) {
  return lower(text_at(field(alert, "labels"), "severity"));
}

// The colour bar: green for a resolved notification, else the colour of the most severe firing
// alert whose severity has one, else the "firing" colour.
std::string colour_of(const MessageOptions& options, const Notification& n, const json& alerts) {
  auto pick = [&](const std::string& key) {
    auto it = options.colors.find(key);
    return it == options.colors.end() ? std::string() : it->second;
  };
  if (n.status == "resolved") return pick("resolved");
  std::string best;
  int best_rank = -1;
  for (const json& alert : alerts) {
    if (is_resolved(alert)) continue;
    std::string severity = severity_of(alert);
    if (severity.empty() || options.colors.count(severity) == 0) continue;
    if (severity_rank(severity) > best_rank) {
      best = severity;
      best_rank = severity_rank(severity);
    }
  }
  return best.empty() ? pick("firing") : pick(best);
}

const char* emoji_of(const json& alert) {
  if (is_resolved(alert)) return ":large_green_circle:";
  const std::string severity = severity_of(alert);
  if (severity == "warning") return ":large_orange_circle:";
  if (severity == "info") return ":large_blue_circle:";
  return ":red_circle:";
}

std::string acknowledgement_text(const json& ack) {
  std::string out = "Acknowledged by " + escape_mrkdwn(text_at(ack, "author"));
  const std::string comment = text_at(ack, "comment");
  if (!comment.empty()) out += ": " + escape_mrkdwn(comment);
  return out;
}

// One alert's section: its name and own summary, its labels, and what only it has (its
// acknowledgement, its source link).
std::string alert_text(const json& alert, const std::string& common_summary,
                       const std::string& external_url, bool group_acknowledged) {
  const json& labels = field(alert, "labels");
  std::string name = text_at(labels, "alertname");
  std::string out = std::string(emoji_of(alert)) + " *" +
                    escape_mrkdwn(name.empty() ? std::string("alert") : name) + "*";
  const std::string summary = text_at(field(alert, "annotations"), "summary");
  if (!summary.empty() && summary != common_summary) out += " — " + escape_mrkdwn(summary);
  std::string label_line;
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.key() == "alertname") continue;
      std::string value = it->is_string() ? it->get<std::string>() : it->dump();
      if (!label_line.empty()) label_line += " ";
      label_line += "`" + escape_mrkdwn(it.key()) + "=" + escape_mrkdwn(value) + "`";
    }
  }
  if (!label_line.empty()) out += "\n" + label_line;
  std::string extras;
  const json& ack = field(alert, "acknowledged");
  if (ack.is_object() && !group_acknowledged) extras = acknowledgement_text(ack);
  const std::string source = text_at(alert, "generatorURL");
  if (is_http_url(source) && source != external_url)
    extras += (extras.empty() ? "" : " · ") + mrkdwn_link(source, "Source");
  if (!extras.empty()) out += "\n" + extras;
  return truncate_chars(std::move(out), kSectionChars, true);
}

}  // namespace

std::map<std::string, std::string> default_colors() {
  // Slack's own palette: red, yellow, blue, green.
  return {{"critical", "#E01E5A"}, {"error", "#E01E5A"},  {"warning", "#ECB22E"},
          {"info", "#36C5F0"},     {"firing", "#E01E5A"}, {"resolved", "#2EB67D"}};
}

std::string check_color(const std::string& color) {
  if (color == "good" || color == "warning" || color == "danger") return "";
  bool hex = (color.size() == 4 || color.size() == 7) && color[0] == '#';
  for (size_t i = 1; hex && i < color.size(); ++i)
    hex = std::isxdigit(static_cast<unsigned char>(color[i])) != 0;
  if (hex) return "";
  return "found \"" + color +
         "\", expected a colour such as \"#E01E5A\" (or good, warning, danger)";
}

std::string escape_mrkdwn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::string truncate_chars(std::string text, size_t max_chars, bool mrkdwn) {
  if (char_count(text) <= max_chars) return text;
  if (max_chars == 0) return "";
  size_t cut = prefix_bytes(text, max_chars - 1);
  if (mrkdwn && cut > 0) {
    // "&amp;" is the longest entity: an '&' within four bytes before the cut without its ';'
    // would leave half an entity, which Slack shows as text.
    size_t amp = text.rfind('&', cut - 1);
    if (amp != std::string::npos && cut - amp <= 4 && text.find(';', amp) >= cut) cut = amp;
  }
  text.resize(cut);
  return text + "…";
}

ordered_json build_message(const MessageOptions& options, const Notification& n,
                           const json& payload, std::vector<std::string>& warnings) {
  const json context = notification_context(n, payload);
  const json escaped = escape_strings(context);

  // The header is plain text: one line, as the template wrote it.
  std::string title = options.title.render(context);
  for (char& c : title)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  title = truncate_chars(trim(title), kHeaderChars);
  const std::string text = truncate_chars(trim(options.text.render(escaped)), kSectionChars, true);

  std::string fallback = escape_mrkdwn(title);
  if (!text.empty()) fallback += (fallback.empty() ? "" : ": ") + text;

  ordered_json message = ordered_json::object();
  if (!options.channel.empty()) message["channel"] = options.channel;
  if (!options.username.empty()) message["username"] = options.username;
  if (!options.icon_emoji.empty()) message["icon_emoji"] = options.icon_emoji;
  if (!options.icon_url.empty()) message["icon_url"] = options.icon_url;
  message["text"] = truncate_chars(std::move(fallback), kFallbackChars, true);
  if (!title.empty())
    message["blocks"] = ordered_json::array(
        {{{"type", "header"},
          {"text", {{"type", "plain_text"}, {"text", title}, {"emoji", true}}}}});

  ordered_json blocks = ordered_json::array();
  if (!text.empty()) blocks.push_back(section(text));

  const json& alerts_field = field(payload, "alerts");
  const json alerts = alerts_field.is_array() ? alerts_field : json::array();
  const std::string common_summary = text_at(field(payload, "commonAnnotations"), "summary");
  const std::string external_url = text_at(payload, "externalURL");
  const json& group_ack = field(field(payload, "vigil"), "acknowledged");
  const size_t shown = std::min(alerts.size(), options.max_alerts);
  for (size_t i = 0; i < shown; ++i)
    blocks.push_back(
        section(alert_text(alerts[i], common_summary, external_url, group_ack.is_object())));
  if (alerts.size() > shown)
    blocks.push_back(context_block("and " + std::to_string(alerts.size() - shown) + " more"));

  if (group_ack.is_object())
    blocks.push_back(section(":white_check_mark: " + acknowledgement_text(group_ack)));

  if (n.escalation_step > 0) {
    std::string line = ":arrow_double_up: Escalation step " + std::to_string(n.escalation_step);
    const std::string policy = text_at(field(payload, "vigil"), "policy");
    if (!policy.empty()) line += " of policy " + escape_mrkdwn(policy);
    blocks.push_back(context_block(line));
  }

  std::vector<std::string> links;
  if (is_http_url(external_url)) links.push_back(mrkdwn_link(external_url, "Open Vigil"));
  for (const Link& link : options.links) {
    const std::string url = trim(link.url.render(context));
    if (url.empty()) continue;  // the annotation it names is not on this alert: no link
    if (!is_http_url(url)) {
      warnings.push_back("link \"" + link.text + "\" rendered \"" + truncate_chars(url, 80) +
                         "\", which is not an http:// or https:// URL; left out");
      continue;
    }
    links.push_back(mrkdwn_link(url, link.text));
  }
  if (!links.empty()) {
    std::string line;
    for (const std::string& link : links) line += (line.empty() ? "" : " · ") + link;
    blocks.push_back(context_block(truncate_chars(std::move(line), kSectionChars, true)));
  }

  if (!blocks.empty()) {
    const std::string colour = colour_of(options, n, alerts);
    ordered_json attachment = ordered_json::object();
    if (!colour.empty()) attachment["color"] = colour;
    attachment["blocks"] = std::move(blocks);
    message["attachments"] = ordered_json::array({std::move(attachment)});
  }
  return message;
}

}  // namespace vigil::notifier_slack
