// The SDK unit tests' plugins: small but real uses of every part of the C++ layer.
//
// They are deliberately written the way a plugin author would write them, against sdk.hpp only.
// They must never depend on the test framework.
#include "test_plugins.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace sdk_test {

std::atomic<int> destroyed{0};
std::optional<vigil::Config> last_config;

namespace {

struct Counted {
  ~Counted() { ++destroyed; }
};

// collect() fails in the way "mode" says; configure() too when asked.
class Thrower final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    mode_ = cfg.string("mode");
    if (mode_ == "configure_status")
      return vigil::Status::invalid_argument("path must be absolute, got \"relative/dir\"");
    if (mode_ == "configure_throw") throw std::runtime_error("cannot open /dev/nothing");
    if (mode_ == "configure_bad_option") (void)cfg.integer("mode");
    return vigil::Status::ok();
  }
  vigil::Status collect(vigil::Emitter& out) override {
    if (mode_ == "std") throw std::runtime_error("disk on fire");
    if (mode_ == "vigil") throw vigil::Error(VIGIL_ERR_UNAVAILABLE, "sensor offline");
    if (mode_ == "int") throw 42;
    if (mode_ == "status") return vigil::Status::unavailable("cannot read /proc/nope");
    if (mode_ == "timeout") return vigil::Status::timeout("gave up after 2s");
    if (mode_ == "long") throw std::runtime_error(std::string(5000, 'x'));
    if (mode_ == "bad_name") out.gauge("bad-name", 1);
    out.gauge("thrower_ok", 1);
    return vigil::Status::ok();
  }

 private:
  Counted counted_;
  std::string mode_;
};

class Probe final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    last_config = cfg;
    return vigil::Status::ok();
  }
  vigil::Status collect(vigil::Emitter&) override { return vigil::Status::ok(); }
};

class Meter final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    cpus_ = static_cast<int>(cfg.integer("cpus"));
    host().describe("meter_cpu_seconds_total", vigil::MetricType::counter,
                    "CPU time spent, by cpu.", "seconds");
    host().describe("meter_latency_seconds", vigil::MetricType::histogram, "Request latency.",
                    "seconds", {0.1, 0.5, 1});
    return vigil::Status::ok();
  }
  vigil::Status collect(vigil::Emitter& out) override {
    ++runs_;
    out.gauge("meter_runs", runs_);
    for (int cpu = 0; cpu < cpus_; ++cpu)
      out.counter("meter_cpu_seconds_total", 10.0 * runs_ + cpu, {{"cpu", std::to_string(cpu)}});
    for (double v : {0.05, 0.3, 0.7, 2.0}) out.observe("meter_latency_seconds", v);
    cached_ = out.cached_series();
    return vigil::Status::ok();
  }

 private:
  int cpus_ = 0;
  int runs_ = 0;
  size_t cached_ = 0;
};

// Renders the store as text, the way a pull exporter would.
class TextVisitor final : public vigil::StoreVisitor {
 public:
  explicit TextVisitor(std::string skip) : skip_(std::move(skip)) {}
  bool family(const vigil_family_view& f) override {
    text += "# " + std::string(f.name) + " " + std::to_string(f.series_count) + "\n";
    return true;
  }
  bool series(const vigil_family_view& f, const vigil_series_view& s) override {
    if (std::string(f.name) == skip_) throw std::runtime_error("visitor refused " + skip_);
    text += std::string(f.name) + std::string(s.labels_text, s.labels_text_len) + " " +
            std::to_string(s.value) + "\n";
    return true;
  }
  std::string text;

 private:
  std::string skip_;
};

class Web final : public vigil::Exporter {
 public:
  vigil::Status configure(const vigil::Config&) override {
    host().mount("GET", "/hello", [](const vigil::HttpRequest& req, vigil::HttpResponse& resp) {
      resp.status(201);
      resp.header("Content-Type", "text/plain");
      auto who = req.header("X-Who");
      resp.write(std::string(req.method()) + " " + std::string(req.target()) + " from " +
                 std::string(who ? *who : "nobody") + ": " + std::string(req.body()));
      return vigil::Status::ok();
    });
    host().mount("GET", "/fail", [](const vigil::HttpRequest&, vigil::HttpResponse&) {
      return vigil::Status::unavailable("backend down");
    });
    host().mount("GET", "/throw",
                 [](const vigil::HttpRequest&, vigil::HttpResponse&) -> vigil::Status {
                   throw std::logic_error("handler bug");
                 });
    host().mount(
        "GET", "/metrics", [this](const vigil::HttpRequest& req, vigil::HttpResponse& resp) {
          TextVisitor visitor(req.target().find("skip") != std::string_view::npos ? "web_hits"
                                                                                  : "");
          vigil::Status s = host().visit(visitor);
          if (!s.is_ok()) return s;
          resp.write(visitor.text);
          return vigil::Status::ok();
        });
    host().mount("GET", "/stream",
                 [this](const vigil::HttpRequest& req, vigil::HttpResponse& resp) {
                   int chunks = 0;
                   while (chunks < 1000 && !req.cancelled() && resp.write("0123456789")) ++chunks;
                   chunks_written = chunks;
                   return vigil::Status::ok();
                 });
    return vigil::Status::ok();
  }
  std::atomic<int> chunks_written{0};
};

class Duo final : public vigil::Collector, public vigil::HealthCheck {
 public:
  vigil::Status configure(const vigil::Config& cfg) override {
    limit_ = cfg.number("limit");
    return vigil::Status::ok();
  }
  vigil::Status collect(vigil::Emitter& out) override {
    level_ += 40;
    out.gauge("duo_level", level_);
    return vigil::Status::ok();
  }
  vigil::Status check(vigil::HealthResult& result) override {
    if (level_ > limit_) {
      result.status = VIGIL_HEALTH_WARNING;
      result.message = "level " + std::to_string(static_cast<int>(level_)) + " above " +
                       std::to_string(static_cast<int>(limit_));
    } else {
      result.status = VIGIL_HEALTH_OK;
      result.message = "fine";
    }
    return vigil::Status::ok();
  }

 private:
  double limit_ = 0;
  double level_ = 0;
};

class Pager final : public vigil::Notifier {
 public:
  vigil::Status notify(const vigil::Notification& n) override {
    host().info("delivering " + n.idempotency_key + " to " + n.receiver + " (" + n.status +
                ", step " + std::to_string(n.escalation_step) + ", attempt " +
                std::to_string(n.attempt) + ") " + n.payload_json);
    if (n.receiver == "nowhere") return vigil::Status::permanent("receiver nowhere does not exist");
    if (n.attempt < 2) return vigil::Status::retryable("pager gateway busy");
    return vigil::Status::ok();
  }
};

class Pusher final : public vigil::Exporter {
 public:
  vigil::Status push() override {
    ++pushes_;
    host().debug("pushed " + std::to_string(pushes_));
    return vigil::Status::ok();
  }
  vigil::Status flush(std::chrono::milliseconds deadline) override {
    host().info("flushed within " + std::to_string(deadline.count()) + "ms");
    return vigil::Status::ok();
  }

 private:
  int pushes_ = 0;
};

// Holds handles from configure() and unregisters one series per "gone" disk.
class Handles final : public vigil::Collector {
 public:
  vigil::Status configure(const vigil::Config&) override {
    host().describe("disk_free_bytes", vigil::MetricType::gauge, "Free bytes.", "bytes");
    for (const char* d : {"sda", "sdb"})
      disks_.push_back(host().gauge("disk_free_bytes", {{"disk", d}}));
    host().info(std::string("can unregister: ") + (host().can_unregister() ? "yes" : "no"));
    return vigil::Status::ok();
  }
  vigil::Status collect(vigil::Emitter& out) override {
    ++runs_;
    for (const auto& g : disks_)
      if (!g.set(1000.0 * runs_)) return vigil::Status::internal("a gauge write was refused");
    if (runs_ == 2) {
      host().unregister(disks_[1]);
      disks_.pop_back();
    }
    out.gauge("proc_up", 1, {{"pid", "7"}});
    if (runs_ == 2) out.remove("proc_up", {{"pid", "7"}});
    return vigil::Status::ok();
  }

 private:
  std::vector<vigil::Gauge> disks_;
  int runs_ = 0;
};

}  // namespace

VIGIL_PLUGIN_DESCRIPTOR(thrower_plugin, "thrower", "0.1.0",
                        vigil::collector<Thrower>("Fails on purpose.")
                            .option("mode", vigil::String, "ok", "how to fail"));

VIGIL_PLUGIN_DESCRIPTOR(probe_plugin, "probe", "0.1.0",
                        vigil::collector<Probe>("Records its configuration.")
                            .required_option("path", vigil::String, "a file")
                            .option("count", vigil::Int, "3", "an integer")
                            .option("ratio", vigil::Double, "0.25", "a number")
                            .option("verbose", vigil::Bool, "false", "a flag")
                            .option("every", vigil::Duration, "1m30s", "a duration")
                            .option("tags", vigil::StringList, "[\"a\",\"b\"]", "a list")
                            .option("extra", vigil::Json, nullptr, "anything")
                            .option("label", vigil::String, "\"quoted\"", "a quoted default")
                            .option("unset", vigil::String, nullptr, "never given"));

VIGIL_PLUGIN_DESCRIPTOR(meter_plugin, "meter", "0.1.0",
                        vigil::collector<Meter>("Writes counters and a histogram.")
                            .option("cpus", vigil::Int, "2", "how many cpus to report"));

VIGIL_PLUGIN_DESCRIPTOR(web_plugin, "web", "0.1.0", vigil::exporter<Web>("Serves routes."));

VIGIL_PLUGIN_DESCRIPTOR(duo_plugin, "duo", "0.1.0",
                        vigil::plugin<Duo>("Measures a level and checks it.")
                            .collector("Writes duo_level.")
                            .health_check("Warns above the limit.")
                            .option("limit", vigil::Double, "50", "warning threshold"));

VIGIL_PLUGIN_DESCRIPTOR(pager_plugin, "pager", "0.1.0", vigil::notifier<Pager>("Pages people."));

VIGIL_PLUGIN_DESCRIPTOR(pusher_plugin, "pusher", "0.1.0", vigil::exporter<Pusher>("Pushes."));

VIGIL_PLUGIN_DESCRIPTOR(handles_plugin, "handles", "0.1.0",
                        vigil::collector<Handles>("Keeps handles."));

}  // namespace sdk_test

// The one real entry point of this binary, to test the macro itself.
VIGIL_PLUGIN("entry_test", "2.3.4",
             vigil::collector<sdk_test::Probe>("Entry point test.")
                 .required_option("path", vigil::String, "a file"));
