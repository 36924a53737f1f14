// collector_prometheus_scrape: scrapes other /metrics endpoints (an application's own metrics,
// another exporter) and serves their series with Vigil's, like a one-host Prometheus scrape job.
//
// Every collect fetches each URL with the shared libcurl client (vigil_plugin_http: TLS verified
// by default, gzip), all targets at once, parses the body with the shared text parser and
// publishes it through the shared Publisher, one source per target: a series a target stops
// exposing leaves the exposition, and a target that fails (connection, HTTP status, parse) has
// all its series removed, like Prometheus' staleness markers. Each series gets the target's URL
// as a label (`target_label`); conflicts with the instance's labels follow `honor_labels`.
// It must never serve a target's series from a failed scrape, and never block past the timeout.
#include <vigil/sdk.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "vigil_plugin_http/client.hpp"
#include "vigil_plugin_text/exposition.hpp"
#include "vigil_plugin_text/publisher.hpp"

namespace vigil::collector_prometheus_scrape {
namespace {

constexpr const char* kUp = "vigil_scrape_up";
constexpr const char* kDuration = "vigil_scrape_target_duration_seconds";
constexpr const char* kSamples = "vigil_scrape_samples_scraped";

// What Prometheus asks for, minus OpenMetrics, which this parser does not read.
constexpr const char* kAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

std::string first_line(const std::string& text, std::size_t max = 120) {
  std::string line = text.substr(0, text.find('\n'));
  if (line.size() > max) line = line.substr(0, max) + "...";
  return line;
}

}  // namespace

// One instance per configured "collector_prometheus_scrape" entry.
// Thread-safety: collect() runs one scrape thread per target, each touching only its own
// Target; everything else happens on the collect() thread after they joined.
class ScrapeCollector final : public Collector {
 public:
  Status configure(const Config& config) override {
    std::vector<std::string> urls = config.strings("urls");
    if (urls.empty())
      return Status::invalid_argument(
          "option \"urls\" is empty; expected the /metrics URLs to scrape, e.g. "
          "[\"http://127.0.0.1:8080/metrics\"]");
    for (const std::string& url : urls) {
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        return Status::invalid_argument("option \"urls\": \"" + url +
                                        "\" is not an http:// or https:// URL");
      for (const auto& t : targets_)
        if (t->url == url)
          return Status::invalid_argument("option \"urls\": \"" + url + "\" is listed twice");
      auto target = std::make_unique<Target>();
      target->url = url;
      targets_.push_back(std::move(target));
    }

    std::chrono::milliseconds instance_timeout = config.timeout();
    if (config.is_set("timeout")) {
      timeout_ = config.duration("timeout");
    } else if (instance_timeout.count() > 0) {
      timeout_ = instance_timeout - std::min(instance_timeout / 10, std::chrono::milliseconds(500));
    }
    if (timeout_.count() <= 0)
      return Status::invalid_argument("option \"timeout\" must be positive, e.g. \"5s\"");

    request_.method = "GET";
    request_.timeout = timeout_;
    request_.connect_timeout = std::min(timeout_, std::chrono::milliseconds(5000));
    request_.accept_gzip = true;
    request_.insecure_skip_verify = config.boolean("insecure_skip_verify");
    request_.ca_file = config.string("ca_file");
    request_.client_cert = config.string("client_cert");
    request_.client_key = config.string("client_key");
    request_.proxy = config.string("proxy");
    if (request_.client_cert.empty() != request_.client_key.empty())
      return Status::invalid_argument(
          "options \"client_cert\" and \"client_key\" go together; set both or neither");
    int64_t max = config.integer("max_body_bytes");
    if (max <= 0)
      return Status::invalid_argument("option \"max_body_bytes\" is " + std::to_string(max) +
                                      "; expected a positive number of bytes");
    request_.max_body_bytes = static_cast<std::size_t>(max);
    request_.user_agent = "vigil";
    bearer_token_ = config.string("bearer_token");
    bearer_token_file_ = config.string("bearer_token_file");
    if (!bearer_token_.empty() && !bearer_token_file_.empty())
      return Status::invalid_argument(
          "options \"bearer_token\" and \"bearer_token_file\" are both set; use one");
    if (!bearer_token_file_.empty()) {
      std::string token, error;
      if (!read_token(token, error)) return Status::invalid_argument(error);
    }

    target_label_ = config.string("target_label");
    if (!target_label_.empty() && !plugin_text::valid_label_name(target_label_))
      return Status::invalid_argument(
          "option \"target_label\": \"" + target_label_ +
          "\" is not a valid label name; expected [a-zA-Z_][a-zA-Z0-9_]*");
    honor_labels_ = config.boolean("honor_labels");
    honor_timestamps_ = config.boolean("honor_timestamps");
    instance_ = std::string(config.instance_name());
    publisher_ = std::make_unique<plugin_text::Publisher>(host());

    Host& h = host();
    h.describe(kUp, MetricType::gauge,
               "1 if the last scrape of the target succeeded, 0 if it failed.");
    h.describe(kDuration, MetricType::gauge, "How long the last scrape of the target took.",
               "seconds");
    h.describe(kSamples, MetricType::gauge,
               "Series the last successful scrape of the target exposed.");
    return Status::ok();
  }

  Status collect(Emitter& out) override {
    plugin_http::Request request = request_;
    std::string token = bearer_token_, token_error;
    if (!bearer_token_file_.empty() && !read_token(token, token_error)) {
      // No token, no scrape: sending none would only earn 401s and hide the real cause.
      for (auto& t : targets_) fail(*t, token_error, out);
      return Status::unavailable(token_error);
    }
    request.headers.emplace_back("Accept", kAccept);
    request.headers.emplace_back("X-Prometheus-Scrape-Timeout-Seconds",
                                 std::to_string(std::chrono::duration<double>(timeout_).count()));
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);

    // All targets at once: a slow one must not eat the others' time.
    if (targets_.size() == 1) {
      fetch(*targets_[0], request);
    } else {
      std::vector<std::thread> threads;
      threads.reserve(targets_.size());
      for (auto& t : targets_) threads.emplace_back([&t, &request, this] { fetch(*t, request); });
      for (std::thread& th : threads) th.join();
    }

    Status write_status;
    for (auto& t : targets_) {
      Status s = publish(*t, out);
      if (write_status.is_ok() && !s.is_ok()) write_status = s;
    }
    return write_status;
  }

 private:
  struct Target {
    std::string url;
    plugin_http::Client client;  // keeps the connection between scrapes
    // The last fetch, filled by the scrape thread.
    std::string body;
    std::string error;  // empty when the body is a good 200 response
    double seconds = 0;
    // What was last reported, so changes are logged once.
    bool up = false;
    bool reported = false;
    std::string logged_error;
  };

  bool read_token(std::string& token, std::string& error) const {
    std::ifstream in(bearer_token_file_);
    if (!in) {
      error = "option \"bearer_token_file\": cannot read " + bearer_token_file_;
      return false;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    token = ss.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
      token.pop_back();
    if (token.empty()) {
      error = "option \"bearer_token_file\": " + bearer_token_file_ + " is empty";
      return false;
    }
    return true;
  }

  // On a scrape thread: touches only `t`.
  static void fetch(Target& t, plugin_http::Request request) {
    request.url = t.url;
    auto start = std::chrono::steady_clock::now();
    plugin_http::Result r = t.client.perform(request);
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.body.clear();
    t.error.clear();
    if (!r.ok()) {
      t.error = r.error;
    } else if (r.response.status != 200) {
      t.error = "HTTP " + std::to_string(r.response.status) + " from " + t.url;
      std::string line = first_line(r.response.body);
      if (!line.empty()) t.error += ": " + line;
    } else {
      t.body = std::move(r.response.body);
    }
  }

  Status publish(Target& t, Emitter& out) {
    const Labels self = {{"instance", instance_}, {"target", t.url}};
    out.gauge(kDuration, t.seconds, self);
    if (!t.error.empty()) {
      fail(t, t.error, out);
      return Status::ok();
    }
    plugin_text::Exposition exposition;
    std::string error;
    if (!plugin_text::parse_prometheus(std::move(t.body), exposition, error)) {
      fail(t, t.url + ": " + error, out);
      return Status::ok();
    }
    const std::size_t series = exposition.series_count();
    if (!honor_labels_ && !learned_instance_labels_) learn_instance_labels(out);
    plugin_text::PublishOptions options;
    if (!target_label_.empty()) options.extra = {{target_label_, t.url}};
    options.honor_labels = honor_labels_;
    options.protected_names = instance_label_names_;
    options.honor_timestamps = honor_timestamps_;
    Status status = publisher_->publish(t.url, std::move(exposition), options);
    if (!status.is_ok() && status.code() != VIGIL_ERR_INTERNAL) {
      fail(t, t.url + ": " + status.message(), out);
      return Status::ok();
    }
    out.gauge(kUp, 1, self);
    out.gauge(kSamples, static_cast<double>(series), self);
    if (t.reported && !t.up) host().info(t.url + " is up again");
    t.up = true;
    t.reported = true;
    t.logged_error.clear();
    return status;  // INTERNAL: published, but the host refused some writes
  }

  void fail(Target& t, const std::string& why, Emitter& out) {
    const Labels self = {{"instance", instance_}, {"target", t.url}};
    publisher_->remove(t.url);
    out.gauge(kUp, 0, self);
    out.remove(kSamples, self);
    if (why != t.logged_error) host().warn("scrape failed: " + why);
    t.logged_error = why;
    t.up = false;
    t.reported = true;
  }

  // The names of the labels the host adds to this instance's series (the config's "labels"):
  // read back from the store once, from a series the plugin wrote with its own labels. With
  // honor_labels false, a scraped label of one of these names is renamed exported_<name>.
  void learn_instance_labels(Emitter& out) {
    learned_instance_labels_ = true;
    const Labels probe = {{"instance", instance_}, {"target", targets_.front()->url}};
    out.gauge(kDuration, targets_.front()->seconds, probe);
    struct Finder : StoreVisitor {
      std::string instance, target;
      std::vector<std::string> names;
      bool found = false;
      bool family(const vigil_family_view&) override { return true; }
      bool series(const vigil_family_view& f, const vigil_series_view& s) override {
        if (std::string_view(f.name) != kDuration) return true;
        bool mine = false, same_target = false;
        std::vector<std::string> others;
        for (size_t i = 0; i < s.label_count; ++i) {
          std::string_view name = s.labels[i].name, value = s.labels[i].value;
          if (name == "instance") {
            mine = value == instance;
          } else if (name == "target") {
            same_target = value == target;
          } else {
            others.emplace_back(name);
          }
        }
        if (!mine || !same_target) return true;
        names = std::move(others);
        found = true;
        return false;
      }
    } finder;
    finder.instance = instance_;
    finder.target = targets_.front()->url;
    Status s = host().visit(finder);
    if (!finder.found && !s.is_ok())
      host().debug("could not read this instance's labels back (" + s.message() +
                   "); scraped labels are kept as they are");
    instance_label_names_ = std::move(finder.names);
  }

  std::vector<std::unique_ptr<Target>> targets_;
  plugin_http::Request request_;
  std::chrono::milliseconds timeout_{10000};
  std::string bearer_token_, bearer_token_file_;
  std::string target_label_;
  bool honor_labels_ = false;
  bool honor_timestamps_ = false;
  std::string instance_;
  bool learned_instance_labels_ = false;
  std::vector<std::string> instance_label_names_;
  std::unique_ptr<plugin_text::Publisher> publisher_;
};

}  // namespace vigil::collector_prometheus_scrape

VIGIL_PLUGIN(
    "collector_prometheus_scrape", "1.0.0",
    vigil::collector<vigil::collector_prometheus_scrape::ScrapeCollector>(
        "Scrapes Prometheus /metrics endpoints and serves their series")
        .required_option("urls", vigil::StringList,
                         "the /metrics URLs to scrape, e.g. [\"http://127.0.0.1:8080/metrics\"]")
        .option("timeout", vigil::Duration, nullptr,
                "how long one scrape may take (all targets are scraped at once); default: the "
                "instance's timeout less a tenth (at most 500 ms)")
        .option("target_label", vigil::String, "target",
                "label carrying the target's URL on every scraped series; \"\" for none")
        .option("honor_labels", vigil::Bool, "false",
                "on a clash between a scraped label and the target label or the instance's "
                "labels: false renames the scraped one to exported_<name>, true keeps it")
        .option("honor_timestamps", vigil::Bool, "false",
                "keep the timestamps the target exposes (default: samples are stamped when "
                "scraped)")
        .option("bearer_token", vigil::String, "", "sent as Authorization: Bearer <token>")
        .option("bearer_token_file", vigil::String, "",
                "file holding the bearer token, read at every scrape (rotated tokens work)")
        .option("ca_file", vigil::String, "",
                "PEM bundle of the CAs to trust for https targets (default: the system's)")
        .option("insecure_skip_verify", vigil::Bool, "false",
                "do not verify the target's certificate and host name (only for tests)")
        .option("client_cert", vigil::String, "",
                "PEM client certificate for targets that require one (with client_key)")
        .option("client_key", vigil::String, "", "PEM private key of client_cert")
        .option("proxy", vigil::String, "", "HTTP proxy URL; default: connect directly")
        .option("max_body_bytes", vigil::Int, "67108864",
                "a larger response fails the scrape instead of being read"));
