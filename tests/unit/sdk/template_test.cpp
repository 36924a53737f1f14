// vigil/template.hpp: what alert annotations and notifier messages render to (paths, every pipe,
// sections, scopes, whitespace control), that missing or odd data never breaks a render, and
// every syntax error compile() reports, with its line and column.
#include <vigil/template.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using nlohmann::json;
using vigil::Template;
using vigil::TemplateError;

namespace {

// Renders `text` against `context`; fails the test with the compiler's errors if it does not
// compile.
std::string render(const std::string& text, const json& context = json::object()) {
  std::string error;
  std::optional<Template> t = Template::compile(text, error);
  INFO("template: " << text << "\nerrors:\n" << error);
  REQUIRE(t);
  CHECK(error.empty());
  return t->render(context);
}

// The errors compile() reports for `text`, one per line; fails the test if it compiles.
std::string errors(const std::string& text) {
  std::string error;
  std::optional<Template> t = Template::compile(text, error);
  INFO("template: " << text);
  REQUIRE_FALSE(t);
  REQUIRE_FALSE(error.empty());
  return error;
}

const json alert = json::parse(R"({
  "status": "firing",
  "receiver": "ops",
  "value": 0.934,
  "labels": {"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"},
  "annotations": {"summary": "disk almost full"},
  "alerts": [
    {"labels": {"alertname": "DiskFull", "device": "sda"}, "value": 0.95},
    {"labels": {"alertname": "DiskFull", "device": "sdb"}, "value": 0.91}
  ]
})");

}  // namespace

// ---- paths and values ---------------------------------------------------------------------------

TEST_CASE("template: paths reach object fields, nested fields and array elements") {
  CHECK(render("{{ status }}", alert) == "firing");
  CHECK(render("{{labels.instance}}", alert) == "db1:9100");
  CHECK(render("{{ alerts.1.labels.device }}", alert) == "sdb");
  CHECK(render("{{ [odd key].x }}", json::parse(R"({"odd key": {"x": "y"}})")) == "y");
  CHECK(render("{{ this.status }}/{{ annotations.summary }}", alert) == "firing/disk almost full");
}

TEST_CASE("template: missing data renders as nothing and never throws") {
  CHECK(render("[{{ nothing }}]", alert) == "[]");
  CHECK(render("[{{ labels.nothing.deeper }}]", alert) == "[]");
  CHECK(render("[{{ alerts.7.labels.device }}]", alert) == "[]");
  CHECK(render("[{{ status.length }}]", alert) == "[]");  // a field of a string
  CHECK(render("[{{ labels.0 }}]", alert) == "[]");       // an index into an object
  CHECK(render("[{{ value | percent }}]", json(nullptr)) == "[]");
  CHECK(render("[{{ value | bytes | upper | truncate 3 }}]", json::array()) == "[]");
  CHECK(render("[{{#each nothing}}x{{/each}}{{#with nothing}}y{{/with}}]", alert) == "[]");
  CHECK(render("[{{#each status}}x{{/each}}]", alert) == "[]");  // a string is not iterated
}

TEST_CASE("template: text outside tags is kept exactly as written") {
  std::string text = "  line one\n\tline two } { }} {x}\n\n  end  ";
  CHECK(render(text) == text);
  CHECK(render("a{{status}}b\n{{ status }}\n", alert) == "afiringb\nfiring\n");
  CHECK(render("") == "");
}

TEST_CASE("template: values render as a person reads them") {
  json c = json::parse(R"({"i": 42, "neg": -7, "f": 0.934, "whole": 3.0, "big": 1e20,
    "t": true, "n": null, "arr": [1, "a"], "obj": {"b": 1, "a": [true]}, "u": 18446744073709551615})");
  CHECK(render("{{i}} {{neg}} {{f}} {{whole}} {{big}}", c) == "42 -7 0.934 3 1e+20");
  CHECK(render("{{t}}|{{n}}|{{arr}}|{{obj}}|{{u}}", c) ==
        R"(true||[1,"a"]|{"a":[true],"b":1}|18446744073709551615)");
  json special = {{"nan", std::nan("")}, {"inf", INFINITY}, {"ninf", -INFINITY}};
  CHECK(render("{{nan}} {{inf}} {{ninf}}", special) == "NaN +Inf -Inf");
}

TEST_CASE("template: literals are values too and are how braces are written") {
  CHECK(render(R"({{ "{{" }}labels{{ "}}" }})") == "{{labels}}");
  CHECK(render(R"({{ "a \"quoted\" \\ word\n" }})") == "a \"quoted\" \\ word\n");
  CHECK(render("{{ 1536 | bytes }} {{ -2 }} {{ 0.5 | percent }} {{ true }}") ==
        "1.5 KiB -2 50% true");
  CHECK(render("[{{ null | default \"none\" }}]") == "[none]");
}

// ---- pipes
// ---------------------------------------------------------------------------------------

TEST_CASE("template: percent turns a ratio into a percentage") {
  CHECK(render("{{ value | percent }}", alert) == "93.4%");
  CHECK(render("{{ 0.5 | percent }} {{ 1 | percent }} {{ 0 | percent }}") == "50% 100% 0%");
  CHECK(render("{{ 0.12345 | percent 2 }} {{ 0.126 | percent 0 }}") == "12.35% 13%");
  CHECK(render("{{ v | percent }}", json{{"v", "0.25"}}) == "25%");  // a label holding a number
  CHECK(render("{{ v | percent }}", json{{"v", "n/a"}}) == "n/a");   // not a number: as written
}

TEST_CASE("template: bytes uses IEC units") {
  CHECK(render("{{ 0 | bytes }}|{{ 512 | bytes }}|{{ 1536 | bytes }}") == "0 B|512 B|1.5 KiB");
  CHECK(render("{{ v | bytes }}", json{{"v", 1610612736}}) == "1.5 GiB");
  CHECK(render("{{ 1048575 | bytes }}") == "1 MiB");  // never "1024 KiB"
  CHECK(render("{{ 1073741824 | bytes }} {{ -2048 | bytes }}") == "1 GiB -2 KiB");
  CHECK(render("{{ 1288490188 | bytes 2 }}") == "1.2 GiB");
  CHECK(render("{{ 1300000000 | bytes 2 }}") == "1.21 GiB");
  CHECK(render("{{ 1e30 | bytes }}") == "867361737988.4 EiB");
}

TEST_CASE("template: si uses decimal prefixes") {
  CHECK(render("{{ 999 | si }} {{ 1500 | si }} {{ 2500000 | si }} {{ 3e9 | si 2 }}") ==
        "999 1.5k 2.5M 3G");
  CHECK(render("{{ 0.5 | si }}") == "0.5");
}

TEST_CASE("template: duration turns seconds into the two largest units") {
  CHECK(render("{{ v | duration }}", json{{"v", 3720}}) == "1h 2m");
  CHECK(
      render("{{ 0 | duration }}|{{ 0.35 | duration }}|{{ 1.5 | duration }}|{{ 59 | duration }}") ==
      "0s|350ms|1.5s|59s");
  CHECK(render("{{ 125 | duration }}|{{ 3600 | duration }}|{{ 90061 | duration }}") ==
        "2m 5s|1h|1d 1h");
  CHECK(render("{{ 59.97 | duration }}|{{ 0.99999 | duration }}|{{ -90 | duration }}") ==
        "1m|1s|-1m 30s");
  CHECK(render("{{ 1209600 | duration }}") == "14d");
}

TEST_CASE("template: printf formats with one conversion") {
  CHECK(render(R"({{ value | printf "%.2f" }})", alert) == "0.93");
  CHECK(render(R"({{ 2.7 | printf "%d CPUs" }})") == "3 CPUs");  // rounded, not truncated
  CHECK(render(R"({{ -2.5 | printf "%i" }})") == "-3");
  CHECK(render(R"([{{ 3.14159 | printf "%8.3f" }}] [{{ 7 | printf "%-4d" }}])") ==
        "[   3.142] [7   ]");
  CHECK(render(R"({{ 255 | printf "0x%04X" }} {{ 8 | printf "%o" }})") == "0x00FF 10");
  CHECK(render(R"({{ 0.5 | printf "%.0f%%" }})") == "0%");
  CHECK(render(R"({{ 1e-7 | printf "%g" }} {{ 12345.678 | printf "%.3e" }})") == "1e-07 1.235e+04");
  CHECK(render(R"([{{ status | printf "%-8s" }}])", alert) == "[firing  ]");
  CHECK(render(R"({{ status | printf "%.1f" }})", alert) == "firing");  // not a number
  CHECK(render(R"({{ v | printf "%d" }})", json{{"v", 1e300}}) == "1e+300");
  CHECK(render(R"({{ v | printf "%.1f" }})", json{{"v", "12.25"}}) == "12.2");
}

TEST_CASE("template: case, trim and replace change text") {
  CHECK(render("{{ status | upper }} {{ labels.alertname | lower }}", alert) == "FIRING diskfull");
  CHECK(render(R"({{ "disk_almost full-now" | title }})") == "Disk_Almost Full-Now");
  CHECK(render(R"({{ "écho été" | title | upper }})") == "éCHO éTé");  // ASCII letters only
  CHECK(render(R"([{{ "  padded \n" | trim }}])") == "[padded]");
  CHECK(render(R"({{ "node_disk_full" | replace "_" " " }})") == "node disk full");
  CHECK(render(R"({{ "aaa" | replace "a" "aa" }})") == "aaaaaa");
}

TEST_CASE("template: default replaces missing, null and empty values only") {
  json c = json::parse(R"({"empty": "", "zero": 0, "no": false, "n": null})");
  CHECK(render(R"({{ missing | default "x" }}|{{ n | default "x" }}|{{ empty | default "x" }})",
               c) == "x|x|x");
  CHECK(render(R"({{ zero | default "x" }}|{{ no | default "x" }})", c) == "0|false");
  CHECK(render("{{ labels.summary | default labels.alertname }}", alert) == "DiskFull");
  CHECK(render("{{ nothing | default 5 | bytes }}", alert) == "5 B");
  CHECK(render(R"({{ nothing | upper | default "none" }})", alert) == "none");
}

TEST_CASE("template: json, json_string, html and urlquery escape for where the text goes") {
  json c = json::parse(R"({"s": "say \"hi\"\n<b>&'x'</b>", "o": {"k": [1, 2]}})");
  CHECK(render("{{ s | json }}", c) == R"("say \"hi\"\n<b>&'x'</b>")");
  c["value"] = 0.934;
  CHECK(render("{{ o | json }} {{ nothing | json }} {{ value | json }}", c) ==
        R"({"k":[1,2]} null 0.934)");
  CHECK(render(R"({"text": "{{ s | json_string }}"})", c) ==
        R"({"text": "say \"hi\"\n<b>&'x'</b>"})");
  CHECK(render("{{ s | html }}", c) == "say &quot;hi&quot;\n&lt;b&gt;&amp;&#39;x&#39;&lt;/b&gt;");
  CHECK(render(R"({{ "a b&c=d/é" | urlquery }})") == "a%20b%26c%3Dd%2F%C3%A9");
  json bad = {{"s", std::string("a\xff") + "b"}};
  CHECK(render("{{ s | json }}", bad) ==
        "\"a\xEF\xBF\xBD"
        "b\"");  // U+FFFD, not a throw
}

TEST_CASE("template: join lists arrays and label sets") {
  json c = json::parse(R"({"hosts": ["a", "b", 3], "one": "x"})");
  CHECK(render("{{ hosts | join }}", c) == "a, b, 3");
  CHECK(render(R"({{ hosts | join " / " }})", c) == "a / b / 3");
  CHECK(render(R"({{ labels | join ", " }})", alert) ==
        "alertname=DiskFull, instance=db1:9100, severity=critical");
  CHECK(render("{{ one | join }}", c) == "x");
}

TEST_CASE("template: truncate keeps at most N characters, ellipsis included") {
  std::string long_text(200, 'a');
  json c = {{"t", long_text}, {"u", "héllo wörld"}};
  std::string cut = render("{{ t | truncate 160 }}", c);
  CHECK(cut == std::string(159, 'a') + "\xE2\x80\xA6");
  CHECK(render(R"({{ t | truncate 10 "..." }})", c) == "aaaaaaa...");
  CHECK(render("{{ u | truncate 5 }}", c) == "héll\xE2\x80\xA6");  // characters, not bytes
  CHECK(render("{{ u | truncate 11 }}", c) == "héllo wörld");
  CHECK(render(R"({{ u | truncate 2 "..." }})", c) == "hé");
}

TEST_CASE("template: count counts elements and characters") {
  CHECK(render("{{ alerts | count }} {{ labels | count }} {{ status | count }}", alert) == "2 3 6");
  CHECK(render(R"({{ nothing | count }} {{ "héllo" | count }})", alert) == "0 5");
}

TEST_CASE("template: comparisons test numbers as numbers and text as text") {
  CHECK(render(R"({{ status | eq "firing" }} {{ status | ne "firing" }})", alert) == "true false");
  CHECK(render("{{ value | gt 0.9 }} {{ value | lt 0.9 }} {{ value | ge 0.934 }} "
               "{{ value | le 0.5 }}",
               alert) == "true false true false");
  CHECK(render(R"({{ v | eq 10 }} {{ v | gt 9 }})", json{{"v", "10"}}) == "true true");
  CHECK(render(R"({{ v | eq "10.0" }} {{ s | eq "10.0" }})", json{{"v", 10}, {"s", "10"}}) ==
        "true true");
  CHECK(render(R"({{ a | lt "b" }} {{ a | gt 1 }})", json{{"a", "a"}}) == "true false");
  CHECK(render("{{ value | eq alerts.0.value }} {{ alerts.0.value | gt value }}", alert) ==
        "false true");
  CHECK(render(R"({{ nothing | eq "" }} {{ nothing | gt 0 }})", alert) == "true false");
}

TEST_CASE("template: pipes chain left to right") {
  CHECK(render(R"({{ labels.severity | upper | truncate 4 "" | printf "[%s]" }})", alert) ==
        "[CRIT]");
  CHECK(render(R"({{ alerts | count | printf "%d alerts" }})", alert) == "2 alerts");
}

// ---- sections ----------------------------------------------------------------------------------

TEST_CASE("template: if, else if, else and unless choose a branch") {
  std::string t =
      R"({{#if status | eq "firing"}}FIRE{{else if status | eq "resolved"}}OK{{else}}?{{/if}})";
  CHECK(render(t, {{"status", "firing"}}) == "FIRE");
  CHECK(render(t, {{"status", "resolved"}}) == "OK");
  CHECK(render(t, {{"status", "odd"}}) == "?");
  CHECK(render(t, json::object()) == "?");
  CHECK(render("{{#unless ack}}page{{else}}quiet{{/unless}}", {{"ack", true}}) == "quiet");
  CHECK(render("{{#unless ack}}page{{/unless}}", json::object()) == "page");
  CHECK(render("{{#if a}}A{{else unless b}}not B{{else}}B{{/if}}", {{"b", 0}}) == "not B");
}

TEST_CASE("template: null, false, 0, empty text, empty lists and empty objects are false") {
  json c = json::parse(R"({"null": null, "false": false, "zero": 0, "fzero": 0.0, "empty": "",
    "list": [], "obj": {}, "t": true, "one": 1, "text": "0", "full": [0], "o": {"a": null}})");
  for (const char* name : {"null", "false", "zero", "fzero", "empty", "list", "obj", "missing"})
    CHECK(render(std::string("{{#if [") + name + "]}}yes{{else}}no{{/if}}", c) == "no");
  for (const char* name : {"t", "one", "text", "full", "o"})
    CHECK(render(std::string("{{#if [") + name + "]}}yes{{else}}no{{/if}}", c) == "yes");
}

TEST_CASE("template: each walks arrays with @index, @first and @last") {
  std::string t =
      "{{#each alerts}}{{#if @first}}[{{/if}}{{@index}}={{labels.device}}"
      "{{#unless @last}}, {{else}}]{{/unless}}{{/each}}";
  CHECK(render(t, alert) == "[0=sda, 1=sdb]");
  CHECK(render("{{#each xs}}{{.}}:{{@key}} {{/each}}", {{"xs", {"a", "b"}}}) == "a:0 b:1 ");
}

TEST_CASE("template: each walks objects in key order with @key") {
  CHECK(render("{{#each labels}}{{@key}}={{this}};{{/each}}", alert) ==
        "alertname=DiskFull;instance=db1:9100;severity=critical;");
}

TEST_CASE("template: each renders its else part for nothing to walk") {
  std::string t = "{{#each alerts}}x{{else}}none for {{receiver}}{{/each}}";
  CHECK(render(t, {{"alerts", json::array()}, {"receiver", "ops"}}) == "none for ops");
  CHECK(render(t, {{"receiver", "ops"}}) == "none for ops");
  CHECK(render(t, {{"alerts", "text"}, {"receiver", "ops"}}) == "none for ops");
}

TEST_CASE("template: ../ reaches enclosing scopes and @root the top") {
  CHECK(render("{{#each alerts}}{{labels.device}}@{{../labels.instance}} {{/each}}", alert) ==
        "sda@db1:9100 sdb@db1:9100 ");
  json nested = json::parse(R"({"name": "top", "groups": [{"name": "g1", "items": ["a", "b"]}]})");
  CHECK(render("{{#each groups}}{{#each items}}{{.}}<{{../name}}<{{../../name}}/{{@root.name}}/"
               "{{../@index}}.{{@index}} {{/each}}{{/each}}",
               nested) == "a<g1<top/top/0.0 b<g1<top/top/0.1 ");
}

TEST_CASE("template: with scopes one value and falls back to its else part") {
  CHECK(render("{{#with alerts.0}}{{labels.device}} of {{../receiver}}{{/with}}", alert) ==
        "sda of ops");
  CHECK(render("{{#with alerts.5}}x{{else}}no first alert{{/with}}", alert) == "no first alert");
  CHECK(render("{{#each alerts}}{{#with labels}}{{device}}#{{@index}} {{/with}}{{/each}}", alert) ==
        "sda#0 sdb#1 ");
}

TEST_CASE("template: comments render nothing") {
  CHECK(render("a{{! a comment }}b{{!-- may hold }} and {{ --}}c", alert) == "abc");
}

TEST_CASE("template: a tilde trims the whitespace on its side, newlines included") {
  std::string t =
      "Alerts:\n"
      "{{~#each alerts}}\n"
      "  - {{labels.device~}}\n"
      "  {{~/each}}\n"
      "end";
  CHECK(render(t, alert) == "Alerts:\n  - sda\n  - sdb\nend");
  CHECK(render("a  {{~ status ~}}  b", alert) == "afiringb");
  CHECK(render("a  {{~! note ~}}  b") == "ab");
}

TEST_CASE("template: one compiled template renders many contexts") {
  std::string error;
  auto t = Template::compile("{{labels.instance}} {{value | percent}}", error);
  REQUIRE(t);
  CHECK(t->render(alert) == "db1:9100 93.4%");
  CHECK(t->render({{"labels", {{"instance", "web1"}}}, {"value", 0.5}}) == "web1 50%");
  std::string out = "> ";
  t->render(alert, out);
  CHECK(out == "> db1:9100 93.4%");
  CHECK(t->source() == "{{labels.instance}} {{value | percent}}");
  CHECK(Template().render(alert).empty());
}

// ---- errors
// --------------------------------------------------------------------------------------

TEST_CASE("template: an unknown function is named with a suggestion and the list of functions") {
  std::string e = errors("{{ value | percnt }}");
  CHECK_THAT(e, Catch::StartsWith("line 1, column 12: unknown function \"percnt\" (did you mean "
                                  "\"percent\"?); expected one of: bytes, count, default,"));
  CHECK_THAT(e, Catch::EndsWith("truncate, upper, urlquery"));
  CHECK_THAT(errors("{{ value | frobnicate }}"),
             Catch::StartsWith("line 1, column 12: unknown function \"frobnicate\"; expected"));
}

TEST_CASE("template: a function with the wrong number of arguments says how to call it") {
  CHECK(errors("{{ value | printf }}") ==
        "line 1, column 12: \"printf\" takes 1 argument, found 0; write | printf \"%.2f\"");
  CHECK(errors(R"({{ value | upper "x" }})") ==
        "line 1, column 18: \"upper\" takes 0 arguments, found 1; write | upper");
  CHECK(errors(R"({{ value | truncate 1 "a" "b" }})") ==
        "line 1, column 27: \"truncate\" takes 1 or 2 arguments, found 3; write | truncate 160, "
        "or truncate 160 \"...\"");
  CHECK(errors("{{ s | replace \"a\" }}") ==
        "line 1, column 8: \"replace\" takes 2 arguments, found 1; write | replace \"_\" \" \"");
}

TEST_CASE("template: a function argument of the wrong kind is refused") {
  CHECK(errors("{{ value | printf 5 }}") ==
        "line 1, column 19: argument 1 of \"printf\" must be a quoted string, found 5; write | "
        "printf \"%.2f\"");
  CHECK(errors("{{ value | truncate 0 }}") ==
        "line 1, column 21: argument 1 of \"truncate\" must be a whole number of at least 1, "
        "found 0; write | truncate 160, or truncate 160 \"...\"");
  CHECK(errors(R"({{ value | truncate "160" }})") ==
        "line 1, column 21: argument 1 of \"truncate\" must be a whole number of at least 1, "
        "found \"160\"; write | truncate 160, or truncate 160 \"...\"");
  CHECK(errors("{{ value | percent 16 }}") ==
        "line 1, column 20: argument 1 of \"percent\" must be a number of decimals from 0 to 15, "
        "found 16; write | percent, or percent 2 for two decimals");
  CHECK(errors("{{ value | join , }}") ==
        "line 1, column 17: argument 1 of \"join\" must be a quoted string, found ,; write | join "
        "\", \"");
  CHECK(errors(R"({{ s | replace "" "x" }})") ==
        "line 1, column 16: argument 1 of \"replace\" must not be empty; write | replace \"_\" "
        "\" \"");
}

TEST_CASE("template: a printf format must hold exactly one supported conversion") {
  CHECK(errors(R"({{ v | printf "value" }})") ==
        "line 1, column 15: printf format \"value\" has no conversion; expected one such as "
        "\"%.2f\"");
  CHECK(errors(R"({{ v | printf "%.1f of %.1f" }})") ==
        "line 1, column 15: printf format \"%.1f of %.1f\" has 2 conversions; expected exactly "
        "one (use \"%%\" for a percent sign)");
  CHECK(errors(R"({{ v | printf "%q" }})") ==
        "line 1, column 15: printf format \"%q\": unknown conversion '%q'; expected one of %d %i "
        "%u %o %x %X %e %E %f %F %g %G %a %A %s");
  CHECK_THAT(errors(R"({{ v | printf "%n" }})"), Catch::Contains("unknown conversion '%n'"));
  CHECK_THAT(errors(R"({{ v | printf "%c" }})"), Catch::Contains("unknown conversion '%c'"));
  CHECK(errors(R"({{ v | printf "%*d" }})") ==
        "line 1, column 15: printf format \"%*d\": '*' width or precision is not supported; "
        "write the number");
  CHECK(errors(R"({{ v | printf "%ld" }})") ==
        "line 1, column 15: printf format \"%ld\": length modifiers such as 'l' are not needed; "
        "write %d or %f");
  CHECK(errors(R"({{ v | printf "100%" }})") ==
        "line 1, column 15: printf format \"100%\" ends inside a conversion");
  CHECK(render(R"({{ 5 | printf "%d%% of 100%%" }})") == "5% of 100%");
}

TEST_CASE("template: tags that are never closed are found") {
  CHECK(errors("text {{ labels.x") == "line 1, column 6: this {{ is never closed; expected }}");
  CHECK(errors("{{ labels.x {{ y }}") ==
        "line 1, column 1: this tag has no closing }} before the next {{");
  CHECK(errors("a\n{{!-- never ends }}") ==
        "line 2, column 1: this {{ is never closed; expected }}");
  CHECK(errors(R"({{ "abc }})") ==
        "line 1, column 1: this {{ is never closed: the string at line 1, column 4 has no closing "
        "\"");
}

TEST_CASE("template: malformed tags say what was expected") {
  CHECK(errors("{{}}") ==
        "line 1, column 1: empty tag {{}}; expected a value such as {{ labels.instance }}");
  CHECK(errors("{{ }}") ==
        "line 1, column 1: empty tag {{}}; expected a value such as {{ labels.instance }}");
  CHECK(errors("{{{ x }}}") ==
        "line 1, column 1: {{{ … }}} is not needed: output is never escaped; write {{ x }}, or "
        "{{ x | html }} to escape for HTML");
  CHECK(errors("{{> header }}") == "line 1, column 1: partials ({{> name}}) are not supported");
  CHECK(errors("{{ | upper }}") ==
        "line 1, column 4: expected a value before '|', such as {{ value | percent }}");
  CHECK(errors("{{ value | }}") ==
        "line 1, column 10: '|' must be followed by a function, such as | upper; one of: bytes, "
        "count, default, duration, eq, ge, gt, html, join, json, json_string, le, lower, lt, ne, "
        "percent, printf, replace, si, title, trim, truncate, upper, urlquery");
  CHECK(errors("{{ value percent }}") ==
        "line 1, column 10: unexpected \"percent\" after \"value\"; expected '|' and a function "
        "(such as | percent) or }}");
  CHECK(errors(R"({{ "a\q" }})") ==
        "line 1, column 6: unknown escape \\q in a string; expected \\\" \\\\ \\n \\t or \\r");
  CHECK(errors(R"({{ x | default "abc }} and more)") ==
        "line 1, column 1: this {{ is never closed: the string at line 1, column 16 has no "
        "closing \"");
  CHECK(errors("{{ [key }}") ==
        "line 1, column 4: this [ is never closed; expected ] after the key");
}

TEST_CASE("template: bad paths are explained") {
  CHECK(errors("{{ labels..x }}") ==
        "line 1, column 4: bad path \"labels..x\": an empty name between dots; expected names "
        "separated by single dots, such as labels.instance");
  CHECK(errors("{{ labels. }}") ==
        "line 1, column 4: bad path \"labels.\": a trailing dot; expected a name after it");
  CHECK(errors("{{ a/b }}") ==
        "line 1, column 4: bad path \"a/b\": '/' cannot be part of a name; write [a/b] for a key "
        "like that");
  CHECK(errors("{{ @foo }}") ==
        "line 1, column 4: bad path \"@foo\": expected @key, @index, @first, @last or @root");
  CHECK(errors("{{ [] }}") == "line 1, column 4: bad path \"[]\": [] needs a key inside");
  CHECK(errors("{{#each a}}{{ ../@root }}{{/each}}") ==
        "line 1, column 15: bad path \"../@root\": @root cannot follow ../");
}

TEST_CASE("template: ../ and @index outside the sections that define them are refused") {
  CHECK(errors("{{ ../status }}") ==
        "line 1, column 4: \"../status\" goes up 1 scope, but this tag is inside no {{#each}} or "
        "{{#with}}");
  CHECK(errors("{{#each a}}{{ ../../x }}{{/each}}") ==
        "line 1, column 15: \"../../x\" goes up 2 scopes, but this tag is inside only 1 {{#each}} "
        "or {{#with}}");
  CHECK(errors("{{ @index }}") == "line 1, column 4: \"@index\" is only defined inside {{#each}}");
  CHECK(errors("{{#with a}}{{ @key }}{{/with}}") ==
        "line 1, column 15: \"@key\" is only defined inside {{#each}}");
  // The else part of each renders outside the loop.
  CHECK(errors("{{#each a}}{{else}}{{ @index }}{{/each}}") ==
        "line 1, column 23: \"@index\" is only defined inside {{#each}}");
  CHECK(errors("{{#each a}}{{else}}{{ ../x }}{{/each}}") ==
        "line 1, column 23: \"../x\" goes up 1 scope, but this tag is inside no {{#each}} or "
        "{{#with}}");
}

TEST_CASE("template: section mistakes name the section and where it was opened") {
  CHECK(errors("{{#foreach alerts}}x{{/foreach}}") ==
        "line 1, column 1: unknown section {{#foreach}}; expected #if, #unless, #each or #with");
  CHECK(errors("{{#if}}x{{/if}}") ==
        "line 1, column 1: {{#if}} needs a value, such as {{#if labels.severity}}");
  CHECK(errors("{{#each}}x{{/each}}") ==
        "line 1, column 1: {{#each}} needs a value, such as {{#each alerts}}");
  CHECK(errors("{{#if a}}x") == "line 1, column 1: {{#if a}} is never closed; expected {{/if}}");
  CHECK(errors("x{{/if}}") == "line 1, column 2: {{/if}} closes nothing: no {{#if}} is open");
  CHECK(errors("{{#each a}}\n  {{/if}}\n{{/each}}") ==
        "line 2, column 3: {{/if}} does not match {{#each a}} opened at line 1, column 1; "
        "expected {{/each}}");
  CHECK(errors("{{#if a}}{{#each b}}{{/if}}") ==
        "line 1, column 10: {{#each b}} is never closed; expected {{/each}} before {{/if}}");
  CHECK(errors("{{#if a}}{{/if a}}") ==
        "line 1, column 10: {{/if a}}: a closing tag takes nothing after its name; expected "
        "{{/if}}");
  CHECK(errors("{{else}}") ==
        "line 1, column 1: {{else}} outside any section; expected it inside {{#if}}, {{#unless}}, "
        "{{#each}} or {{#with}}");
  CHECK(errors("{{#if a}}1{{else}}2{{else}}3{{/if}}") ==
        "line 1, column 20: a second {{else}} in {{#if a}} opened at line 1, column 1; expected "
        "{{/if}}");
  CHECK(errors("{{#each a}}1{{else if b}}2{{/each}}") ==
        "line 1, column 13: {{else if}} only follows {{#if}} or {{#unless}}, not {{#each a}}");
  CHECK(errors("{{#if a}}1{{else when b}}2{{/if}}") ==
        "line 1, column 11: {{else when b}}: expected {{else}}, {{else if value}} or {{else "
        "unless value}}");
  CHECK(errors("{{#if a}}1{{else if}}2{{/if}}") ==
        "line 1, column 11: {{else if}} needs a value, such as {{else if labels.severity}}");
  CHECK(errors("{{#if a b}}1{{/if}}") ==
        "line 1, column 9: unexpected \"b\" after \"a\"; expected '|' and a function (such as | "
        "b) or }} (a section tests one value)");
}

TEST_CASE("template: every error is reported at once, in order, with lines and character columns") {
  std::string text =
      "Disk {{ labels.device | uper }} on {{labels.instance}}\n"
      "Résumé: {{ value | printf \"%d%d\" }}\n"
      "{{#each alerts}}{{ ../../x }}";
  std::vector<TemplateError> list;
  REQUIRE_FALSE(Template::compile(text, list));
  REQUIRE(list.size() == 4);
  CHECK(list[0].line == 1);
  CHECK(list[0].column == 25);
  CHECK_THAT(list[0].message, Catch::StartsWith("unknown function \"uper\" (did you mean "
                                                "\"upper\"?)"));
  CHECK(list[1].line == 2);
  CHECK(list[1].column == 27);  // "é" counts as one column
  CHECK_THAT(list[1].message, Catch::Contains("has 2 conversions"));
  CHECK(list[2].line == 3);
  CHECK(list[2].column == 1);
  CHECK(list[2].message == "{{#each alerts}} is never closed; expected {{/each}}");
  CHECK(list[3].line == 3);
  CHECK(list[3].column == 20);
  CHECK_THAT(list[3].message, Catch::Contains("goes up 2 scopes"));

  std::string joined;
  REQUIRE_FALSE(Template::compile(text, joined));
  CHECK(joined == list[0].to_string() + "\n" + list[1].to_string() + "\n" + list[2].to_string() +
                      "\n" + list[3].to_string());
}

TEST_CASE("template: mistakes inside an unknown section are still reported") {
  std::string e = errors("{{#loop a}}{{ x | nope }}{{/loop}}");
  CHECK_THAT(e, Catch::Contains("line 1, column 1: unknown section {{#loop}}"));
  CHECK_THAT(e, Catch::Contains("line 1, column 19: unknown function \"nope\""));
}

TEST_CASE("template: a successful compile clears an earlier error") {
  std::string error = "stale";
  REQUIRE(Template::compile("{{ x }}", error));
  CHECK(error.empty());
}
