// notifier_alertmanager: hands Vigil's alerts to one or more Alertmanager instances through
// POST /api/v2/alerts, the way Prometheus does, so a fleet of Vigil agents feeds one
// Alertmanager cluster that deduplicates, groups and routes for all of them.
//
// Prometheus' resend semantics: every alert it was told about is posted again to every
// Alertmanager each resend_interval (firing ones with endsAt moved ahead, so Alertmanager resolves
// them by itself if this agent dies; resolved ones until resolved_retention has passed), from one
// worker thread per Alertmanager, started by the first notify() and stopped by the destructor.
// notify() hands the notification's alerts to those same workers and waits for their answers, so
// posts to one Alertmanager never overtake each other and a slow one does not delay the others.
//
// It must never do network I/O or start threads in configure() (`vigil check-config` creates
// every instance), never log a body, a password or a token, never follow a redirect, and never
// keep more than max_alerts alerts.
#include <vigil/sdk.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "alerts.hpp"
#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_http/delivery.hpp"
#include "vigil_plugin_http/request_options.hpp"

namespace vigil::notifier_alertmanager {

namespace {

// Alerts per POST, as Prometheus batches them: a full book goes out in several requests.
constexpr std::size_t kBatchSize = 256;

constexpr const char* kSent = "vigil_notifier_alertmanager_alerts_sent_total";
constexpr const char* kErrors = "vigil_notifier_alertmanager_alerts_errors_total";
constexpr const char* kRemembered = "vigil_notifier_alertmanager_alerts_remembered";
constexpr const char* kDropped = "vigil_notifier_alertmanager_alerts_dropped_total";

std::string duration_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// A secret file's first line ("\r" stripped), as Kubernetes and Docker mount them.
bool read_secret_file(const std::string& option, const std::string& path, std::string& secret,
                      std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "option \"" + option + "\": cannot read " + path;
    return false;
  }
  std::getline(in, secret);
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    error =
        "option \"" + option + "\": " + path + " is empty; expected the secret on its first line";
    return false;
  }
  return true;
}

// How one Alertmanager took the alerts of one post (all its batches).
// Thread-safety: a plain value.
struct Outcome {
  plugin_http::Verdict verdict = plugin_http::Verdict::delivered;
  std::string message;
  std::chrono::milliseconds retry_after{0};
};

// One notify(): its alerts, and each Alertmanager's outcome once that worker posted them.
// Thread-safety: guarded by the notifier's mutex, except `alerts`, fixed before it is shared.
struct Round {
  std::vector<Alert> alerts;
  std::vector<Outcome> outcomes;
  std::size_t done = 0;
};

// One configured Alertmanager and what its worker thread keeps.
// Thread-safety: `round` is guarded by the notifier's mutex; the rest is the worker's alone
// (fixed before the worker starts where the notifier sets it).
struct Target {
  std::string post_url;  // <base>/api/v2/alerts
  std::string shown;     // post_url with any password replaced, for logs and labels
  std::size_t index = 0;
  plugin_http::Client client;
  Counter sent, errors;
  double sent_total = 0, errors_total = 0;
  bool failing = false;  // the last post failed (failures are logged when they start)
  std::shared_ptr<Round> round;
  std::thread thread;
};

}  // namespace

// Thread-safety: the host calls notify() on its delivery thread, one at a time; the workers
// share the book and the rounds with it under mutex_.
class AlertmanagerNotifier final : public Notifier {
 public:
  ~AlertmanagerNotifier() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;  // also cancels requests in flight
    }
    work_cv_.notify_all();
    done_cv_.notify_all();
    for (auto& t : targets_)
      if (t->thread.joinable()) t->thread.join();
  }

  Status configure(const Config& config) override {
    const std::vector<std::string> urls = config.strings("urls");
    if (urls.empty())
      return Status::invalid_argument(
          "option \"urls\": empty; expected at least one Alertmanager base URL such as "
          "\"http://alertmanager:9093\"");
    for (std::string url : urls) {
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        return Status::invalid_argument("option \"urls\": found \"" + plugin_http::redact_url(url) +
                                        "\", expected an http:// or https:// base URL such as "
                                        "\"http://alertmanager:9093\"");
      while (!url.empty() && url.back() == '/') url.pop_back();
      auto t = std::make_unique<Target>();
      t->post_url = url + "/api/v2/alerts";
      t->shown = plugin_http::redact_url(t->post_url);
      t->index = targets_.size();
      for (const auto& other : targets_)
        if (other->post_url == t->post_url)
          return Status::invalid_argument("option \"urls\": \"" + t->shown +
                                          "\" is listed twice; expected each Alertmanager once");
      targets_.push_back(std::move(t));
    }

    resend_interval_ = config.duration("resend_interval");
    if (resend_interval_.count() <= 0)
      return Status::invalid_argument("option \"resend_interval\": expected a positive duration");
    resolved_retention_ = config.duration("resolved_retention");
    if (resolved_retention_.count() < 0)
      return Status::invalid_argument(
          "option \"resolved_retention\": expected a duration of zero or more");
    const double factor = config.number("ends_at_factor");
    if (!(factor >= 1))
      return Status::invalid_argument(
          "option \"ends_at_factor\": found " + std::to_string(factor) +
          ", expected at least 1 (Prometheus uses 4): endsAt must stay ahead until the next "
          "re-send");
    ends_at_ahead_ = std::chrono::milliseconds(
        static_cast<int64_t>(factor * static_cast<double>(resend_interval_.count())));
    const int64_t max_alerts = config.integer("max_alerts");
    if (max_alerts < 1)
      return Status::invalid_argument("option \"max_alerts\": found " + std::to_string(max_alerts) +
                                      ", expected at least 1");
    book_ = AlertBook(static_cast<std::size_t>(max_alerts));

    const auto extra = nlohmann::json::parse(config.json("extra_labels"), nullptr, false);
    if (!extra.is_object())
      return Status::invalid_argument(
          "option \"extra_labels\": expected an object of label names to values, such as "
          "{\"source\": \"vigil\"}");
    static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
    for (const auto& [name, value] : extra.items()) {
      if (!std::regex_match(name, label_name))
        return Status::invalid_argument("option \"extra_labels\": \"" + name +
                                        "\" is not a label name; expected [a-zA-Z_][a-zA-Z0-9_]*");
      if (!value.is_string() || value.get<std::string>().empty())
        return Status::invalid_argument("option \"extra_labels\": \"" + name +
                                        "\" has a value that is not a non-empty string");
    }
    shaping_.extra_labels = extra;
    shaping_.generator_url = config.string("generator_url");

    request_.method = "POST";
    plugin_http::read_request_options(config, request_);
    request_.accept_gzip = false;
    request_.max_body_bytes = 1 << 20;
    request_.user_agent = "vigil-notifier-alertmanager";
    request_.headers = {{"Content-Type", "application/json"}};
    request_.cancel = &stopping_;

    if (Status s = configure_auth(config); !s.is_ok()) return s;

    const std::string notifier(config.instance_name());
    host().describe(kSent, MetricType::counter,
                    "Alerts posted to an Alertmanager, accepted or not (as Prometheus' "
                    "prometheus_notifications_sent_total).");
    host().describe(kErrors, MetricType::counter,
                    "Alerts in posts an Alertmanager did not accept (as Prometheus' "
                    "prometheus_notifications_errors_total).");
    host().describe(kRemembered, MetricType::gauge,
                    "Alerts this notifier keeps re-sending (firing, or resolved within "
                    "resolved_retention).");
    host().describe(kDropped, MetricType::counter,
                    "Alerts forgotten before their time because max_alerts was reached.");
    for (auto& t : targets_) {
      t->sent = host().counter(kSent, {{"alertmanager", t->shown}, {"notifier", notifier}});
      t->errors = host().counter(kErrors, {{"alertmanager", t->shown}, {"notifier", notifier}});
      t->sent.set(0);
      t->errors.set(0);
    }
    remembered_ = host().gauge(kRemembered, {{"notifier", notifier}});
    dropped_ = host().counter(kDropped, {{"notifier", notifier}});
    remembered_.set(0);
    dropped_.set(0);
    return Status::ok();
  }

  Status notify(const Notification& n) override {
    std::vector<Alert> alerts;
    std::string error;
    if (!read_alerts(n.payload_json, shaping_, host().now_ms(), alerts, error))
      return Status::permanent(error);
    auto round = std::make_shared<Round>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      remember(n.group_key, alerts);
      if (alerts.empty()) return Status::ok();
      if (!started_) start_workers();
      round->alerts = std::move(alerts);
      round->outcomes.resize(targets_.size());
      for (auto& t : targets_) t->round = round;
    }
    work_cv_.notify_all();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [&] { return round->done == targets_.size() || stopping_; });
      if (round->done != targets_.size()) return Status::retryable("the notifier is shutting down");
    }
    return judge(*round);
  }

 private:
  Status configure_auth(const Config& config) {
    username_ = config.string("username");
    password_ = config.string("password");
    password_file_ = config.string("password_file");
    bearer_token_ = config.string("bearer_token");
    bearer_token_file_ = config.string("bearer_token_file");
    if (!password_.empty() && !password_file_.empty())
      return Status::invalid_argument(
          "options \"password\" and \"password_file\": both set, expected one");
    if (!bearer_token_.empty() && !bearer_token_file_.empty())
      return Status::invalid_argument(
          "options \"bearer_token\" and \"bearer_token_file\": both set, expected one");
    const bool basic = !username_.empty() || !password_.empty() || !password_file_.empty();
    const bool bearer = !bearer_token_.empty() || !bearer_token_file_.empty();
    if (basic && bearer)
      return Status::invalid_argument(
          "basic auth (username, password) and a bearer token are both set; expected one, as "
          "Alertmanager's HTTP configuration allows only one");
    if (basic && username_.empty())
      return Status::invalid_argument(
          "option \"password\" or \"password_file\" is set without \"username\"; basic auth "
          "needs both");
    // The files are read again at every post (rotated secrets work); reading them now refuses a
    // wrong path at start-up.
    std::string header, error;
    if (!authorization(header, error)) return Status::invalid_argument(error);
    return Status::ok();
  }

  // The Authorization header value ("" for none), read afresh from the secret files.
  bool authorization(std::string& header, std::string& error) const {
    header.clear();
    if (!username_.empty()) {
      std::string password = password_;
      if (!password_file_.empty() &&
          !read_secret_file("password_file", password_file_, password, error))
        return false;
      header = plugin_http::basic_authorization(username_, password);
    } else if (!bearer_token_.empty() || !bearer_token_file_.empty()) {
      std::string token = bearer_token_;
      if (!bearer_token_file_.empty() &&
          !read_secret_file("bearer_token_file", bearer_token_file_, token, error))
        return false;
      header = "Bearer " + token;
    }
    return true;
  }

  // Under mutex_.
  void remember(const std::string& group_key, const std::vector<Alert>& alerts) {
    const std::size_t dropped = book_.record(group_key, alerts, std::chrono::steady_clock::now());
    if (dropped > 0) {
      dropped_total_ += static_cast<double>(dropped);
      dropped_.set(dropped_total_);
      host().warn("max_alerts (" + std::to_string(book_.size()) +
                  ") reached: " + std::to_string(dropped) +
                  " alert(s) will not be re-sent (the longest-resolved first, then the firing "
                  "ones notified longest ago)");
    }
    remembered_.set(static_cast<double>(book_.size()));
  }

  // Under mutex_, on the first notify(): the workers, one per Alertmanager.
  void start_workers() {
    started_ = true;
    for (auto& t : targets_) {
      Target* target = t.get();
      target->thread = std::thread([this, target] { work(*target); });
    }
  }

  // A worker's loop: the rounds notify() hands over, and a re-send every resend_interval.
  void work(Target& t) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto next_resend = std::chrono::steady_clock::now() + resend_interval_;
    while (!stopping_) {
      if (t.round) {
        std::shared_ptr<Round> round = std::move(t.round);
        t.round.reset();
        lock.unlock();
        Outcome outcome = post(t, round->alerts);
        t.failing = outcome.verdict != plugin_http::Verdict::delivered;
        lock.lock();
        round->outcomes[t.index] = std::move(outcome);
        ++round->done;
        done_cv_.notify_all();
        continue;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_resend) {
        book_.expire(now, resolved_retention_);
        remembered_.set(static_cast<double>(book_.size()));
        std::vector<Alert> alerts = book_.snapshot();
        lock.unlock();
        if (!alerts.empty()) resend(t, alerts);
        next_resend = std::chrono::steady_clock::now() + resend_interval_;
        lock.lock();
        continue;
      }
      work_cv_.wait_until(lock, next_resend);
    }
  }

  // On t's worker, without the lock. Logs when re-sends start failing and when they recover.
  void resend(Target& t, const std::vector<Alert>& alerts) {
    Outcome outcome = post(t, alerts);
    if (stopping_) return;
    const bool failed = outcome.verdict != plugin_http::Verdict::delivered;
    if (failed && !t.failing)
      host().warn("re-sending " + std::to_string(alerts.size()) + " alert(s) failed: " +
                  outcome.message + "; trying again every " + duration_text(resend_interval_));
    else if (!failed && t.failing)
      host().info(t.shown + " accepts alerts again: re-sent " + std::to_string(alerts.size()));
    t.failing = failed;
  }

  // On t's worker, without the lock: posts the alerts in batches. A retryable failure ends the
  // post (the rest would meet the same); a refused batch does not stop the others.
  Outcome post(Target& t, const std::vector<Alert>& alerts) {
    Outcome out;
    std::string header, error;
    if (!authorization(header, error)) {
      t.sent_total += static_cast<double>(alerts.size());
      t.errors_total += static_cast<double>(alerts.size());
      t.sent.set(t.sent_total);
      t.errors.set(t.errors_total);
      return {plugin_http::Verdict::retryable, "POST " + t.shown + ": " + error, {}};
    }
    const std::string firing_ends_at = rfc3339_ms(host().now_ms() + ends_at_ahead_.count());
    for (std::size_t i = 0; i < alerts.size(); i += kBatchSize) {
      const std::size_t end = std::min(alerts.size(), i + kBatchSize);
      plugin_http::Request request = request_;
      request.url = t.post_url;
      request.body = postable_body(alerts.data() + i, alerts.data() + end, firing_ends_at);
      if (!header.empty()) request.headers.emplace_back("Authorization", header);
      const auto judgement =
          plugin_http::judge_delivery("POST " + t.shown, t.client.perform(request));
      const auto count = static_cast<double>(end - i);
      t.sent_total += count;
      if (judgement.verdict != plugin_http::Verdict::delivered) t.errors_total += count;
      if (judgement.verdict == plugin_http::Verdict::retryable) {
        out = {judgement.verdict, judgement.message, judgement.retry_after};
        break;
      }
      if (judgement.verdict == plugin_http::Verdict::permanent &&
          out.verdict == plugin_http::Verdict::delivered)
        out = {judgement.verdict, judgement.message, {}};
    }
    t.sent.set(t.sent_total);
    t.errors.set(t.errors_total);
    return out;
  }

  // Delivered when one Alertmanager accepted (a cluster gossips the rest, as Prometheus counts
  // it); retryable when none did and one might later; permanent when every one refused.
  Status judge(const Round& round) {
    std::size_t accepted = 0;
    bool retryable = false;
    bool every_retry_has_after = true;
    std::chrono::milliseconds after{0};
    std::string failures;
    for (const Outcome& o : round.outcomes) {
      if (o.verdict == plugin_http::Verdict::delivered) {
        ++accepted;
        continue;
      }
      failures += (failures.empty() ? "" : "; ") + o.message;
      if (o.verdict == plugin_http::Verdict::retryable) {
        retryable = true;
        if (o.retry_after.count() <= 0)
          every_retry_has_after = false;
        else if (after.count() == 0 || o.retry_after < after)
          after = o.retry_after;
      }
    }
    const std::string counted = std::to_string(round.alerts.size()) + " alert(s) reached " +
                                std::to_string(accepted) + " of " +
                                std::to_string(round.outcomes.size()) + " Alertmanager(s)";
    if (accepted == round.outcomes.size()) return Status::ok();
    if (accepted > 0) {
      host().warn(counted + "; " + failures + "; the others get them at the next re-send (every " +
                  duration_text(resend_interval_) + ")");
      return Status::ok();
    }
    if (retryable)
      return every_retry_has_after ? Status::retryable(counted + ": " + failures, after)
                                   : Status::retryable(counted + ": " + failures);
    // Every Alertmanager refused these alerts: re-sending them would only be refused again.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      book_.forget(round.alerts);
      remembered_.set(static_cast<double>(book_.size()));
    }
    return Status::permanent(counted + ": " + failures);
  }

  std::vector<std::unique_ptr<Target>> targets_;  // fixed in configure()
  plugin_http::Request request_;                  // fixed in configure()
  Shaping shaping_;
  std::chrono::milliseconds resend_interval_{60000}, resolved_retention_{900000},
      ends_at_ahead_{240000};
  std::string username_, password_, password_file_, bearer_token_, bearer_token_file_;
  Gauge remembered_;
  Counter dropped_;

  std::mutex mutex_;
  std::condition_variable work_cv_;  // wakes the workers: a round, or stopping
  std::condition_variable done_cv_;  // wakes notify(): a worker finished its part of the round
  std::atomic<bool> stopping_{false};
  bool started_ = false;      // guarded by mutex_
  AlertBook book_{10000};     // guarded by mutex_
  double dropped_total_ = 0;  // guarded by mutex_
};

}  // namespace vigil::notifier_alertmanager

VIGIL_PLUGIN(
    "notifier_alertmanager", "1.0.0",
    vigil::plugin_http::add_request_options(
        vigil::notifier<vigil::notifier_alertmanager::AlertmanagerNotifier>(
            "Pushes alerts to Alertmanager's API v2 and re-sends them as Prometheus does")
            .required_option("urls", vigil::StringList,
                             "Alertmanager base URLs such as [\"http://am1:9093\"]; alerts are "
                             "POSTed to <url>/api/v2/alerts")
            .option("resend_interval", vigil::Duration, "1m",
                    "re-send every remembered alert this often (Prometheus' "
                    "--rules.alert.resend-delay)")
            .option("resolved_retention", vigil::Duration, "15m",
                    "keep re-sending a resolved alert this long after it resolved")
            .option("ends_at_factor", vigil::Double, "4",
                    "firing alerts get endsAt = now + ends_at_factor x resend_interval")
            .option("max_alerts", vigil::Int, "10000",
                    "most alerts remembered for re-sending; beyond, the longest-resolved go first")
            .option("extra_labels", vigil::Json, "{}",
                    "labels added to every alert that lacks them, such as {\"source\": \"vigil\"}")
            .option("generator_url", vigil::String, "",
                    "generatorURL for every alert instead of the alert's own")
            .option("username", vigil::String, "", "basic auth user")
            .option("password", vigil::String, "", "basic auth password")
            .option("password_file", vigil::String, "",
                    "file whose first line is the basic auth password (read at every post)")
            .option("bearer_token", vigil::String, "", "sent as Authorization: Bearer <token>")
            .option("bearer_token_file", vigil::String, "",
                    "file whose first line is the bearer token (read at every post)")));
