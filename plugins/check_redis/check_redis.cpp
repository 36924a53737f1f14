// check_redis: a health check for a Redis server, speaking RESP over its own socket.
//
// Each check keeps one connection (authenticating with AUTH when it opens one, and reconnecting
// within the same check when the kept one turns out to be dead), sends PING, which must answer
// PONG, then INFO for clients, memory and replication. Critical: the server cannot be reached,
// authentication fails, PING gets another answer, the role is not the expected one, or a replica
// has lost its master link. Warning/critical: used memory against maxmemory (when one is set).
// Metrics use redis_exporter's names (redis_up, redis_connected_clients, ...) so its dashboards
// and alert rules apply.
// It must never log or report the password, and never wait past its own timeout: every network
// wait is bounded (see redis_connection.hpp).
#include <vigil/sdk.hpp>

#include <charconv>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "redis_connection.hpp"
#include "resp.hpp"
#include "vigil_plugin_procfs/human.hpp"
#include "vigil_plugin_procfs/server_check.hpp"

namespace vigil::check_redis {
namespace {

using procfs::format_bytes;
using procfs::format_config_duration;
using procfs::format_latency;
using procfs::format_percent;

constexpr std::chrono::milliseconds kDefaultTimeout{3000};
constexpr const char* kUp = "redis_up";
constexpr const char* kClients = "redis_connected_clients";
constexpr const char* kMemoryUsed = "redis_memory_used_bytes";
constexpr const char* kMemoryMax = "redis_memory_max_bytes";
constexpr const char* kReplicas = "redis_connected_slaves";
constexpr const char* kMasterLinkUp = "redis_master_link_up";
constexpr const char* kUptime = "redis_uptime_in_seconds";
constexpr const char* kInstanceInfo = "redis_instance_info";
constexpr const char* kPingDuration = "vigil_redis_ping_duration_seconds";

// A number from INFO, or nothing when the field is absent or not a number.
std::optional<double> number(const std::map<std::string, std::string>& info,
                             const std::string& key) {
  auto it = info.find(key);
  if (it == info.end()) return std::nullopt;
  double v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string field(const std::map<std::string, std::string>& info, const std::string& key) {
  auto it = info.find(key);
  return it == info.end() ? "" : it->second;
}

}  // namespace

// One instance per configured "check_redis" entry.
// Thread-safety: the host never runs two check() of one instance at once; nothing else runs.
class RedisCheck final : public HealthCheck {
 public:
  Status configure(const Config& cfg) override {
    std::string error;
    if (!parse_address(cfg.string("address"), address_, error))
      return Status::invalid_argument("option \"address\": " + error);

    if (cfg.is_set("password") && cfg.is_set("password_file"))
      return Status::invalid_argument(
          "options \"password\" and \"password_file\" are both set; keep one (password_file "
          "keeps the password out of the config file)");
    if (cfg.is_set("password")) {
      password_ = cfg.string("password");
      if (password_.empty())
        return Status::invalid_argument(
            "option \"password\" is empty; remove it, or give the password AUTH expects");
    }
    if (cfg.is_set("password_file")) {
      password_file_ = cfg.string("password_file");
      std::string password;
      if (!procfs::read_password_file(password_file_, password, error))
        return Status::invalid_argument(error);
      const std::string warning = procfs::password_file_warning(password_file_);
      if (!warning.empty()) host().warn(warning);
    }
    if (cfg.is_set("username")) {
      username_ = cfg.string("username");
      if (password_.empty() && password_file_.empty())
        return Status::invalid_argument(
            "option \"username\" is set without \"password\" or \"password_file\"; AUTH needs "
            "both (Redis 6 ACL users)");
    }

    std::string warning;
    if (!procfs::server_check_timeout(
            cfg.is_set("timeout") ? std::optional(cfg.duration("timeout")) : std::nullopt,
            cfg.timeout(), kDefaultTimeout, timeout_, error, warning))
      return Status::invalid_argument(error);
    if (!warning.empty()) host().warn(warning);

    warning_ = cfg.number("memory_warning");
    critical_ = cfg.number("memory_critical");
    if (!(warning_ > 0) || !(critical_ > 0) || warning_ > critical_)
      return Status::invalid_argument(
          "options \"memory_warning\" (" + format_percent(warning_) +
          ") and \"memory_critical\" (" + format_percent(critical_) +
          ") must be positive percentages of maxmemory with warning <= critical");

    if (cfg.is_set("role")) {
      std::string role = cfg.string("role");
      // INFO says "slave"; Redis' own documentation now says "replica". Accept both.
      if (role == "replica") role = "slave";
      if (role != "master" && role != "slave")
        return Status::invalid_argument("option \"role\" is \"" + role +
                                        "\"; expected \"master\", \"slave\" or \"replica\"");
      expected_role_ = role;
    }

    Host& h = host();
    h.describe(kUp, MetricType::gauge,
               "Whether the last check reached the Redis server and got PONG (1 for yes, 0 for "
               "no).");
    h.describe(kClients, MetricType::gauge, "Client connections (INFO connected_clients).");
    h.describe(kMemoryUsed, MetricType::gauge,
               "Memory Redis allocated for its data (INFO used_memory).", "bytes");
    h.describe(kMemoryMax, MetricType::gauge,
               "The maxmemory setting; 0 when Redis has no limit (INFO maxmemory).", "bytes");
    h.describe(kReplicas, MetricType::gauge, "Replicas connected (INFO connected_slaves).");
    h.describe(kMasterLinkUp, MetricType::gauge,
               "On a replica: whether the link to its master is up (1) or down (0).");
    h.describe(kUptime, MetricType::gauge, "Seconds since the server started.", "seconds");
    h.describe(kInstanceInfo, MetricType::gauge,
               "Always 1; the labels describe the server (role, version, mode).");
    h.describe(kPingDuration, MetricType::gauge, "Round trip of the last PING.", "seconds");
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    const Clock::time_point deadline = Clock::now() + timeout_;
    Outcome o = attempt(deadline);
    if (o.lost_kept_connection) {
      // The kept connection died between checks (restart, client timeout, failover): try once
      // more with a fresh one before calling the server down.
      host().info("the connection to " + address_.text() + " was lost (" + o.error +
                  "); reconnecting");
      o = attempt(deadline);
    }
    publish(o);
    verdict(o, result);
    return Status::ok();
  }

 private:
  struct Outcome {
    bool lost_kept_connection = false;
    bool up = false;       // PING answered PONG
    bool info_ok = false;  // INFO answered and was read
    std::string error;     // why the server is not up, or why INFO failed
    double ping_seconds = 0;
    std::map<std::string, std::string> info;
  };

  std::string no_answer() const {
    return "no answer within " + format_config_duration(timeout_) + " (option \"timeout\")";
  }

  Outcome attempt(Clock::time_point deadline) {
    Outcome o;
    const bool reused = conn_.is_open();
    std::string error;
    Reply reply;
    if (!reused) {
      if (!conn_.open(address_, deadline, error)) {
        o.error = "cannot connect to " + address_.text() + ": " +
                  (error == "timed out" ? no_answer() : error);
        return o;
      }
      if (!authenticate(deadline, o.error)) {
        conn_.close();
        return o;
      }
    }

    const int64_t start = host().monotonic_ns();
    if (!conn_.command({"PING"}, deadline, reply, error)) {
      if (reused && error != "timed out") {
        o.lost_kept_connection = true;
        o.error = error;
        return o;
      }
      o.error =
          "PING to " + address_.text() + " failed: " + (error == "timed out" ? no_answer() : error);
      return o;
    }
    o.ping_seconds = static_cast<double>(host().monotonic_ns() - start) / 1e9;
    if (reply.type != Reply::Type::simple || reply.text != "PONG") {
      o.error = "PING to " + address_.text() + " answered " + describe(reply) + ", expected PONG";
      if (reply.type == Reply::Type::error && reply.text.rfind("NOAUTH", 0) == 0)
        o.error += "; the server wants a password: set \"password\" or \"password_file\"";
      // The connection is fine but useless as it is; authenticate afresh next time.
      conn_.close();
      return o;
    }
    o.up = true;

    if (!conn_.command({"INFO"}, deadline, reply, error)) {
      o.error = "INFO failed: " + (error == "timed out" ? no_answer() : error);
      return o;
    }
    if (reply.type != Reply::Type::bulk) {
      o.error = "INFO answered " + describe(reply) + ", expected the server's information";
      if (reply.type == Reply::Type::error && reply.text.rfind("NOPERM", 0) == 0)
        o.error += "; allow the user the info command (ACL +info)";
      return o;
    }
    o.info = parse_info(reply.text);
    o.info_ok = true;
    return o;
  }

  // AUTH on a fresh connection; false with `error` when the server refuses or does not answer.
  bool authenticate(Clock::time_point deadline, std::string& error) {
    if (password_.empty() && password_file_.empty()) return true;
    std::string password = password_;
    if (!password_file_.empty() && !procfs::read_password_file(password_file_, password, error))
      return false;
    std::vector<std::string> args{"AUTH"};
    if (!username_.empty()) args.push_back(username_);
    args.push_back(std::move(password));
    Reply reply;
    std::string io_error;
    const std::string who = username_.empty() ? "" : " as user \"" + username_ + "\"";
    if (!conn_.command(args, deadline, reply, io_error)) {
      error = "authenticating to " + address_.text() + who +
              " failed: " + (io_error == "timed out" ? no_answer() : io_error);
      return false;
    }
    if (reply.type == Reply::Type::error) {
      error = "authenticating to " + address_.text() + who + " failed: " + describe(reply);
      return false;
    }
    return true;
  }

  void publish(const Outcome& o) {
    Host& h = host();
    if (!up_) up_ = h.gauge(kUp);
    up_.set(o.up ? 1 : 0);
    if (!o.up) return;
    if (!ping_) ping_ = h.gauge(kPingDuration);
    ping_.set(o.ping_seconds);
    if (!o.info_ok) return;

    set(clients_, kClients, number(o.info, "connected_clients"));
    set(memory_used_, kMemoryUsed, number(o.info, "used_memory"));
    set(memory_max_, kMemoryMax, number(o.info, "maxmemory"));
    set(replicas_, kReplicas, number(o.info, "connected_slaves"));
    set(uptime_, kUptime, number(o.info, "uptime_in_seconds"));

    const std::string role = field(o.info, "role");
    if (role == "slave") {
      set(master_link_up_, kMasterLinkUp, field(o.info, "master_link_status") == "up" ? 1.0 : 0.0);
    } else if (master_link_up_) {
      // Promoted to master: the series no longer means anything.
      h.unregister(master_link_up_);
      master_link_up_ = Gauge();
    }

    Labels labels{{"role", role},
                  {"redis_version", field(o.info, "redis_version")},
                  {"redis_mode", field(o.info, "redis_mode")}};
    if (labels != info_labels_ && info_) {
      h.unregister(info_);
      info_ = Gauge();
    }
    if (!info_) {
      info_ = h.gauge(kInstanceInfo, labels);
      info_labels_ = labels;
    }
    info_.set(1);
  }

  void set(Gauge& gauge, const char* name, std::optional<double> value) {
    if (!value) return;
    if (!gauge) gauge = host().gauge(name);
    gauge.set(*value);
  }

  void verdict(const Outcome& o, HealthResult& r) const {
    if (!o.up) {
      r.status = VIGIL_HEALTH_CRITICAL;
      r.message = o.error;
      return;
    }
    const std::string prefix = address_.text() + ": ";
    const std::string pong = "PONG in " + format_latency(o.ping_seconds);
    if (!o.info_ok) {
      r.status = VIGIL_HEALTH_UNKNOWN;
      r.message = prefix + pong + ", but " + o.error;
      return;
    }

    const std::string role = field(o.info, "role");
    const double clients = number(o.info, "connected_clients").value_or(0);
    const double replicas = number(o.info, "connected_slaves").value_or(0);
    const double used = number(o.info, "used_memory").value_or(0);
    const double max = number(o.info, "maxmemory").value_or(0);
    std::string summary = pong + "; " + (role.empty() ? "unknown role" : role) + ", " +
                          std::to_string(static_cast<long long>(clients)) + " clients, " +
                          std::to_string(static_cast<long long>(replicas)) + " replicas, memory " +
                          format_bytes(used);
    double percent = 0;
    if (max > 0) {
      percent = used / max * 100.0;
      summary += " of maxmemory " + format_bytes(max) + " (" + format_percent(percent) + ")";
    } else {
      summary += " (no maxmemory)";
    }

    // The worst finding decides; each adds its own sentence in front of the summary.
    vigil_health_status status = VIGIL_HEALTH_OK;
    std::string findings;
    auto add = [&](vigil_health_status s, const std::string& what) {
      if (s > status) status = s;
      findings += what + "; ";
    };
    if (!expected_role_.empty() && role != expected_role_)
      add(VIGIL_HEALTH_CRITICAL, "role is " + (role.empty() ? "not reported" : role) +
                                     ", expected " + expected_role_ + " (option \"role\")");
    if (role == "slave" && field(o.info, "master_link_status") != "up") {
      std::string link = "replica of " + field(o.info, "master_host") + ":" +
                         field(o.info, "master_port") + " with master_link_status " +
                         field(o.info, "master_link_status");
      auto down_for = number(o.info, "master_link_down_since_seconds");
      if (down_for && *down_for >= 0)
        link += " for " + std::to_string(static_cast<long long>(*down_for)) + " s";
      add(VIGIL_HEALTH_CRITICAL, link);
    }
    if (max > 0 && percent >= critical_) {
      add(VIGIL_HEALTH_CRITICAL,
          "memory at or above the critical threshold of " + format_percent(critical_));
    } else if (max > 0 && percent >= warning_) {
      add(VIGIL_HEALTH_WARNING,
          "memory at or above the warning threshold of " + format_percent(warning_));
    }
    r.status = status;
    r.message = prefix + findings + summary;
  }

  Address address_;
  std::string username_, password_, password_file_;
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
  double warning_ = 80, critical_ = 90;
  std::string expected_role_;  // "", "master" or "slave"
  Connection conn_;
  Gauge up_, ping_, clients_, memory_used_, memory_max_, replicas_, uptime_, master_link_up_, info_;
  Labels info_labels_;
};

}  // namespace vigil::check_redis

VIGIL_PLUGIN(
    "check_redis", "1.0.0",
    vigil::health_check<vigil::check_redis::RedisCheck>(
        "Redis: PING must answer PONG; INFO gives clients, memory against maxmemory, and the "
        "replication role and link")
        .option("address", vigil::String, "127.0.0.1:6379",
                "host:port, [ipv6]:port, or a Unix socket path (/run/redis/redis.sock)")
        .option("username", vigil::String, nullptr,
                "ACL user for AUTH (Redis 6 and later); needs password or password_file")
        .option("password", vigil::String, nullptr,
                "password for AUTH (requirepass or the ACL user's); prefer password_file")
        .option("password_file", vigil::String, nullptr,
                "file whose first line is the password for AUTH")
        .option("timeout", vigil::Duration, nullptr,
                "the whole check (connect, AUTH, PING, INFO) must finish within this. Default: "
                "3s, or 80 % of the instance's timeout when that is shorter")
        .option("memory_warning", vigil::Double, "80",
                "warning when used_memory reaches this percentage of maxmemory (only when "
                "maxmemory is set)")
        .option("memory_critical", vigil::Double, "90",
                "critical when used_memory reaches this percentage of maxmemory (only when "
                "maxmemory is set)")
        .option("role", vigil::String, nullptr,
                "expected replication role: \"master\", or \"slave\" / \"replica\"; any other "
                "role is critical. Unset: any role"));
