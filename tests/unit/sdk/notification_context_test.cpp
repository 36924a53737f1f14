// vigil/notification_context.hpp: the variables every notifier's templates see.
#include <vigil/notification_context.hpp>
#include <vigil/template.hpp>

#include <catch2/catch.hpp>

#include <string>

using nlohmann::json;

namespace {

vigil::Notification notification(int escalation_step) {
  vigil::Notification n;
  n.idempotency_key = "g1:7:ops";
  n.receiver = "ops";
  n.status = "firing";
  n.group_key = "{}:{alertname=\"DiskFull\"}";
  n.escalation_step = escalation_step;
  n.attempt = 2;
  return n;
}

std::string render(const std::string& text, const json& context) {
  std::string error;
  auto t = vigil::Template::compile(text, error);
  REQUIRE(t);
  return t->render(context);
}

}  // namespace

TEST_CASE("a notification's context holds the payload, the notification and its alerts by status") {
  const json payload = {{"status", "firing"},
                        {"alerts",
                         {{{"status", "firing"}, {"labels", {{"device", "sda"}}}},
                          {{"status", "resolved"}, {"labels", {{"device", "sdb"}}}},
                          {{"labels", {{"device", "sdc"}}}}}},
                        {"commonLabels", {{"alertname", "DiskFull"}}}};
  const json context = vigil::notification_context(notification(1), payload);
  CHECK(
      render("{{commonLabels.alertname}} to {{receiver}} try {{attempt}} step {{escalation_step}}",
             context) == "DiskFull to ops try 2 step 1");
  CHECK(render("{{#each firing}}{{labels.device}} {{/each}}| {{#each resolved}}{{labels.device}}"
               "{{/each}}",
               context) == "sda sdc | sdb");
  CHECK(context["payload"] == payload);
  CHECK(context["idempotency_key"] == "g1:7:ops");
  CHECK(context["group_key"] == "{}:{alertname=\"DiskFull\"}");
}

TEST_CASE(
    "a notification's context has a null step without a policy and empty lists for odd data") {
  const json context = vigil::notification_context(notification(-1), json("not an object"));
  CHECK(context["escalation_step"].is_null());
  CHECK(context["firing"] == json::array());
  CHECK(context["resolved"] == json::array());
  const json no_list = vigil::notification_context(notification(0), {{"alerts", "none"}});
  CHECK(no_list["firing"] == json::array());
  CHECK(no_list["escalation_step"] == 0);
}
