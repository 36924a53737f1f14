// `vigil test-rules` (see rule_tests.hpp): the real store, rule runtime, alert engine and outbox
// driven by a virtual clock that jumps from one event to the next.
#include "core/rule_tests.hpp"

#include "alerts/engine.hpp"
#include "core/rule_test_file.hpp"
#include "outbox/database.hpp"
#include "outbox/delivery.hpp"
#include "rules/rule_set.hpp"
#include "store/store.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <iostream>
#include <set>

namespace vigil::core {
namespace {

// "15m30s", as the user wrote the times in the test file.
std::string at_text(int64_t ms) {
  if (ms % 1000) return std::to_string(ms) + "ms";
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += std::to_string(s / 3600) + "h";
  if (s % 3600 >= 60) out += std::to_string(s % 3600 / 60) + "m";
  if (s % 60 || out.empty()) out += std::to_string(s % 60) + "s";
  return out;
}

std::string labels_text(const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) out += (out.size() > 1 ? ", " : "") + k + "=\"" + v + "\"";
  return out + "}";
}

void collect_receivers(const alerts::Route& r, std::set<std::string>& out) {
  if (!r.receiver.empty()) out.insert(r.receiver);
  for (const auto& c : r.routes) collect_receivers(c, out);
}

struct Sent {
  int64_t at_ms;
  std::string receiver, status;
  int step;
  std::vector<std::string> alertnames;
};

// Runs one test; returns the differences (empty = passed).
std::vector<std::string> run_test(const RuleTestFile& file, const RuleTest& test,
                                  rules::RuleSet& rules_set) {
  std::vector<std::string> problems;
  const int64_t t0 = file.start_ms;
  const int64_t end = t0 + test.duration_ms;

  store::Store store;
  store.set_window_options({3'600'000 * 6, 100'000, true});
  // Health results as the daemon keeps them: status, since when, and the series rules can read.
  std::map<std::string, rules::HealthInfo> health;
  rules::StoreSource source(store, [&] {
    std::vector<rules::HealthInfo> out;
    for (const auto& [k, h] : health) out.push_back(h);
    return out;
  });
  std::string error;
  auto family = [&](const std::string& name) {
    vigil_family_desc d{};
    d.size = sizeof d;
    d.name = name.c_str();
    d.help = "test-rules series";
    d.type = VIGIL_METRIC_UNTYPED;
    return store.register_family(d, error);
  };
  std::vector<vigil_series_id> ids;
  for (const auto& s : test.series) {
    auto f = family(s.name);
    store::Labels labels(s.labels.begin(), s.labels.end());
    auto id = f ? store.register_series(f, labels, 5 * 60'000, 0, error) : 0;
    if (!id) problems.push_back(s.path + ": " + error);
    ids.push_back(id);
  }
  auto health_family = family("vigil_health_status");
  std::map<std::string, vigil_series_id> health_ids;
  for (const auto& h : test.health)
    health_ids[h.check] =
        store.register_series(health_family, {{"check", h.check}}, 5 * 60'000, 0, error);
  if (!problems.empty()) return problems;

  auto db = outbox::Database::open(":memory:", error);
  if (!db) return {error};
  alerts::Engine engine(*db);
  auto routing = rules_set.routing();
  std::set<std::string> receivers;
  collect_receivers(routing.root, receivers);
  for (const auto& [name, p] : routing.policies) {
    for (const auto& s : p.steps) receivers.insert(s.receivers.begin(), s.receivers.end());
    if (p.resolve_receivers)
      receivers.insert(p.resolve_receivers->begin(), p.resolve_receivers->end());
  }
  if (routing.root.receiver.empty() && routing.root.policy.empty()) {
    routing.root.receiver = "default";  // rule files without a route: one receiver for all
    receivers.insert("default");
  }
  for (const auto& e : alerts::Engine::validate(routing, receivers)) problems.push_back(e);
  if (!problems.empty()) return problems;
  engine.set_routing(routing);
  engine.set_rules(rules_set.specs(), t0);

  std::vector<Sent> sent;
  std::map<std::string, outbox::ReceiverOptions> options;
  for (const auto& name : receivers) {
    outbox::ReceiverOptions o;
    o.jitter = false;
    const bool failing =
        std::count(test.failing_receivers.begin(), test.failing_receivers.end(), name) > 0;
    o.deliver = [failing](const alerts::Notification&, int, std::string& e, int64_t&) {
      if (failing) {
        e = "this receiver fails in the test";
        return outbox::Outcome::retryable;
      }
      return outbox::Outcome::ok;
    };
    options[name] = o;
  }
  outbox::Delivery delivery(*db);
  delivery.set_receivers(options);

  // Every time something can happen, in order.
  std::set<int64_t> fixed;
  for (const auto& s : test.series)
    for (size_t i = 0; i < s.steps.size(); ++i)
      fixed.insert(t0 + static_cast<int64_t>(i) * test.interval_ms);
  for (const auto& h : test.health)
    for (size_t i = 0; i < h.steps.size(); ++i)
      fixed.insert(t0 + static_cast<int64_t>(i) * test.interval_ms);
  for (const auto& c : test.alerts) fixed.insert(t0 + c.at_ms);
  for (const auto& a : test.actions) fixed.insert(t0 + a.at_ms);
  fixed.insert(t0);

  int64_t t = t0;
  while (t <= end) {
    const int64_t step_index = (t - t0) % test.interval_ms == 0 ? (t - t0) / test.interval_ms : -1;
    if (step_index >= 0) {
      for (size_t i = 0; i < test.series.size(); ++i) {
        const auto& steps = test.series[i].steps;
        if (step_index < static_cast<int64_t>(steps.size()) &&
            steps[static_cast<size_t>(step_index)].kind == Step::value)
          store.write(ids[i], steps[static_cast<size_t>(step_index)].v, t);
      }
      for (const auto& h : test.health) {
        if (step_index >= static_cast<int64_t>(h.steps.size())) continue;
        const Step& s = h.steps[static_cast<size_t>(step_index)];
        if (s.kind != Step::value) continue;
        auto& info = health[h.check];
        const int status = static_cast<int>(s.v);
        if (info.check.empty() || info.status != status) info.since_ms = t;
        info.check = h.check;
        info.status = status;
        store.write(health_ids[h.check], s.v, t);
      }
    }
    for (const auto& a : test.actions) {
      if (t0 + a.at_ms != t) continue;
      std::string result;
      if (a.kind == TestAction::silence) {
        alerts::Silence s;
        for (const auto& m : a.matchers) {
          std::string why;
          s.matchers.push_back(*alerts::parse_matcher(m, why));
        }
        s.starts_ms = t;
        s.ends_ms = t + a.duration_ms;
        s.author = a.author;
        s.comment = a.comment;
        result = engine.create_silence(s, t);
      } else {
        std::vector<std::string> targets;
        for (const auto& alert : engine.list_alerts({}))
          if (std::all_of(a.labels.begin(), a.labels.end(), [&](const auto& kv) {
                auto it = alert.labels.find(kv.first);
                return it != alert.labels.end() && it->second == kv.second;
              }))
            targets.push_back(alert.fingerprint);
        if (targets.empty())
          result = "no pending or firing alert has the labels " + labels_text(a.labels);
        for (const auto& fp : targets) {
          if (a.kind == TestAction::ack) {
            alerts::Ack ack{a.author, a.comment, t, a.duration_ms ? t + a.duration_ms : 0,
                            a.sticky};
            result = engine.acknowledge(fp, false, ack, t);
          } else {
            result = engine.unacknowledge(fp, false, a.author, t);
          }
        }
      }
      if (!result.empty()) problems.push_back(a.path + " at " + at_text(a.at_ms) + ": " + result);
    }
    auto evaluations = rules_set.evaluate_due(t, source);
    for (const auto& e : evaluations)
      if (!e.ok) problems.push_back("at " + at_text(t - t0) + ": " + e.error);
    engine.apply_all(evaluations, t);
    engine.tick(t);
    for (const auto& record : delivery.deliver_due(t)) {
      if (record.outcome != outbox::Outcome::ok) continue;
      auto payload = nlohmann::json::parse(record.notification.payload_json, nullptr, false);
      std::set<std::string> names;
      if (payload.is_object())
        for (const auto& a : payload["alerts"]) names.insert(a["labels"].value("alertname", ""));
      sent.push_back({t - t0,
                      record.notification.receiver,
                      record.notification.status,
                      record.notification.escalation_step,
                      {names.begin(), names.end()}});
    }
    for (const auto& check : test.alerts) {
      if (t0 + check.at_ms != t) continue;
      auto compare = [&](alerts::State state, const std::vector<ExpectedAlert>& expected,
                         const char* what) {
        auto actual = engine.list_alerts({{state}, {}});
        std::vector<bool> used(actual.size(), false);
        for (const auto& e : expected) {
          bool found = false;
          for (size_t i = 0; i < actual.size() && !found; ++i) {
            if (used[i] || actual[i].labels != e.labels) continue;
            used[i] = true;
            found = true;
            for (const auto& [k, v] : e.annotations) {
              auto it = actual[i].annotations.find(k);
              std::string have =
                  it == actual[i].annotations.end() ? "(none)" : "\"" + it->second + "\"";
              if (it == actual[i].annotations.end() || it->second != v)
                problems.push_back(e.path + " at " + at_text(check.at_ms) + ": annotation " + k +
                                   ": expected \"" + v + "\", got " + have);
            }
            if (e.flags) {
              std::vector<std::string> flags;
              if (actual[i].ack) flags.push_back("acknowledged");
              if (actual[i].flapping) flags.push_back("flapping");
              if (actual[i].inhibited) flags.push_back("inhibited");
              if (actual[i].silenced) flags.push_back("silenced");
              std::sort(flags.begin(), flags.end());
              if (flags != *e.flags) {
                std::string have, want;
                for (const auto& f : flags) have += (have.empty() ? "" : ",") + f;
                for (const auto& f : *e.flags) want += (want.empty() ? "" : ",") + f;
                problems.push_back(e.path + " at " + at_text(check.at_ms) + ": flags: expected {" +
                                   want + "}, got {" + have + "}");
              }
            }
          }
          if (!found)
            problems.push_back(e.path + " at " + at_text(check.at_ms) + ": expected a " + what +
                               " alert " + labels_text(e.labels) + ", not there");
        }
        for (size_t i = 0; i < actual.size(); ++i)
          if (!used[i])
            problems.push_back(check.path + " at " + at_text(check.at_ms) + ": unexpected " + what +
                               " alert " + labels_text(actual[i].labels));
      };
      compare(alerts::State::firing, check.firing, "firing");
      if (check.pending) compare(alerts::State::pending, *check.pending, "pending");
    }
    // The next moment anything can happen.
    int64_t next = INT64_MAX;
    auto after = fixed.upper_bound(t);
    if (after != fixed.end()) next = *after;
    next = std::min(next, rules_set.next_due_ms());
    next = std::min(next, engine.next_deadline_ms());
    next = std::min(next, delivery.next_due_ms());
    if (next <= t) next = t + 1;
    if (next == INT64_MAX) break;
    t = next;
  }

  if (test.check_notifications) {
    std::vector<bool> used(sent.size(), false);
    for (const auto& e : test.notifications) {
      bool found = false;
      for (size_t i = 0; i < sent.size() && !found; ++i) {
        const Sent& s = sent[i];
        if (used[i] || s.at_ms != e.at_ms || s.receiver != e.receiver || s.status != e.status)
          continue;
        if (e.step && *e.step != s.step) continue;
        if (e.alertnames && *e.alertnames != s.alertnames) continue;
        used[i] = found = true;
      }
      if (!found)
        problems.push_back(e.path + ": expected a " + e.status + " notification to " + e.receiver +
                           " at " + at_text(e.at_ms) +
                           (e.step ? " (step " + std::to_string(*e.step) + ")" : "") +
                           ", not sent");
    }
    for (size_t i = 0; i < sent.size(); ++i) {
      if (used[i]) continue;
      std::string names;
      for (const auto& n : sent[i].alertnames) names += (names.empty() ? "" : ",") + n;
      problems.push_back(test.path + ".notifications: unexpected " + sent[i].status +
                         " notification to " + sent[i].receiver + " at " + at_text(sent[i].at_ms) +
                         " (step " + std::to_string(sent[i].step) + ", alerts " + names + ")");
    }
  }
  return problems;
}

}  // namespace

int run_rule_tests(const std::vector<std::string>& files, const Overrides& overrides) {
  spdlog::set_level(overrides.log_level.value_or(spdlog::level::warn));
  int failed = 0, passed = 0;
  for (const auto& name : files) {
    std::vector<std::string> errors;
    auto file = read_rule_test_file(name, errors);
    if (!file) {
      for (const auto& e : errors) std::cout << "ERROR " << e << "\n";
      ++failed;
      continue;
    }
    for (const auto& test : file->tests) {
      // Each test gets fresh rule state: key_state tables and intervals start over.
      rules::Limits limits;
      auto set = rules::RuleSet::load(file->rule_files, limits, errors);
      if (!set) {
        for (const auto& e : errors) std::cout << "ERROR " << name << ": " << e << "\n";
        ++failed;
        break;
      }
      auto problems = run_test(*file, test, *set);
      if (problems.empty()) {
        ++passed;
        std::cout << "PASS " << name << ": " << test.name << "\n";
      } else {
        ++failed;
        std::cout << "FAIL " << name << ": " << test.name << "\n";
        for (const auto& p : problems) std::cout << "  " << p << "\n";
      }
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}

}  // namespace vigil::core
