// check_postgres: a health check for a PostgreSQL server over libpq.
//
// Each check connects (keeping one connection between checks, and reconnecting within the same
// check when the kept one turns out to be dead), runs the configured query under
// statement_timeout, then reads connection counts from pg_stat_activity and max_connections.
// It reports critical when the server cannot be reached or the query fails (with libpq's or the
// server's reason), and warning/critical when connection usage crosses the thresholds. Metrics
// use postgres_exporter's names (pg_up, pg_stat_activity_count, pg_settings_max_connections) so
// its dashboards and alert rules apply.
// It must never log or report the password (from password_file or the conninfo string), and
// never wait past its own timeout: every network wait is bounded (see pg_session.hpp).
#include <vigil/sdk.hpp>

#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "pg_session.hpp"
#include "vigil_plugin_procfs/human.hpp"
#include "vigil_plugin_procfs/server_check.hpp"

namespace vigil::check_postgres {
namespace {

using procfs::format_config_duration;
using procfs::format_latency;
using procfs::format_percent;

constexpr std::chrono::milliseconds kDefaultTimeout{3000};
constexpr const char* kUp = "pg_up";
constexpr const char* kActivity = "pg_stat_activity_count";
constexpr const char* kMaxConnections = "pg_settings_max_connections";
constexpr const char* kClientConnections = "vigil_postgres_client_connections";
constexpr const char* kQueryDuration = "vigil_postgres_query_duration_seconds";

// Every state pg_stat_activity can show for a client backend, each counted per database even
// when zero (as postgres_exporter does), so a state that empties reads 0 instead of vanishing.
constexpr const char* kActivityQuery =
    "SELECT d.datname, s.state, count(a.pid) "
    "FROM pg_database AS d "
    "CROSS JOIN (VALUES ('active'), ('idle'), ('idle in transaction'), "
    "('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')) AS s(state) "
    "LEFT JOIN pg_stat_activity AS a ON a.datname = d.datname AND a.state = s.state "
    "WHERE d.datallowconn "
    "GROUP BY d.datname, s.state";

// What the thresholds compare: client backends (not the server's own background processes,
// which do not take max_connections slots) against max_connections.
constexpr const char* kUsageQuery =
    "SELECT current_setting('max_connections')::bigint, "
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')";

constexpr std::size_t kMaxQuotedQuery = 80;

std::string quote_query(const std::string& query) {
  std::string out = "\"";
  out += query.substr(0, kMaxQuotedQuery);
  if (query.size() > kMaxQuotedQuery) out += "...";
  out += '"';
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return out;
}

bool to_number(const std::optional<std::string>& text, double& out) {
  if (!text) return false;
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || ptr != text->data() + text->size()) return false;
  out = static_cast<double>(v);
  return true;
}

}  // namespace

// One instance per configured "check_postgres" entry.
// Thread-safety: the host never runs two check() of one instance at once; nothing else runs.
class PostgresCheck final : public HealthCheck {
 public:
  Status configure(const Config& cfg) override {
    Status parsed = parse_conninfo(cfg.string("conninfo"));
    if (!parsed.is_ok()) return parsed;

    if (cfg.is_set("password_file")) {
      password_file_ = cfg.string("password_file");
      if (conninfo_has_password_)
        return Status::invalid_argument(
            "options \"conninfo\" and \"password_file\" both give a password; keep only "
            "password_file (a password in conninfo would sit in the config file)");
      std::string password, error;
      if (!procfs::read_password_file(password_file_, password, error))
        return Status::invalid_argument(error);
      const std::string warning = procfs::password_file_warning(password_file_);
      if (!warning.empty()) host().warn(warning);
    }

    query_ = cfg.string("query");
    if (query_.find_first_not_of(" \t\r\n") == std::string::npos)
      return Status::invalid_argument(
          "option \"query\" is empty; expected an SQL statement such as \"SELECT 1\"");

    std::string error, warning;
    if (!procfs::server_check_timeout(
            cfg.is_set("timeout") ? std::optional(cfg.duration("timeout")) : std::nullopt,
            cfg.timeout(), kDefaultTimeout, timeout_, error, warning))
      return Status::invalid_argument(error);
    if (!warning.empty()) host().warn(warning);

    warning_ = cfg.number("connections_warning");
    critical_ = cfg.number("connections_critical");
    if (!(warning_ > 0) || !(critical_ > 0) || warning_ > critical_)
      return Status::invalid_argument(
          "options \"connections_warning\" (" + format_percent(warning_) +
          ") and \"connections_critical\" (" + format_percent(critical_) +
          ") must be positive percentages of max_connections with warning <= critical");

    Host& h = host();
    h.describe(kUp, MetricType::gauge,
               "Whether the last check could connect to the PostgreSQL server (1 for yes, 0 for "
               "no).");
    h.describe(kActivity, MetricType::gauge,
               "Number of connections per database and state, from pg_stat_activity.");
    h.describe(kMaxConnections, MetricType::gauge,
               "The server's max_connections setting: the most concurrent connections.");
    h.describe(kClientConnections, MetricType::gauge,
               "Client backends connected (pg_stat_activity), what the connection thresholds "
               "compare with max_connections.");
    h.describe(kQueryDuration, MetricType::gauge,
               "How long the configured query took in the last check.", "seconds");
    return Status::ok();
  }

  Status check(HealthResult& result) override {
    const Clock::time_point deadline = Clock::now() + timeout_;
    Outcome o = attempt(deadline);
    if (o.lost_kept_connection) {
      // The kept connection died between checks (server restart, idle timeout, failover):
      // that alone is not worth a critical, so try once more with a fresh one.
      host().info("the connection to " + session_.target() + " was lost (" + o.error +
                  "); reconnecting");
      o = attempt(deadline);
    }
    publish(o);
    verdict(o, result);
    return Status::ok();
  }

 private:
  struct Activity {
    std::string datname, state;
    double count = 0;
  };

  struct Outcome {
    bool connected = false;
    bool lost_kept_connection = false;
    bool query_ok = false;
    bool stats_ok = false;
    std::string error;  // why connecting, the query or reading statistics failed
    double query_seconds = 0;
    double max_connections = 0, client_connections = 0;
    std::vector<Activity> activity;
  };

  Status parse_conninfo(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
    if (options == nullptr) {
      std::string reason = err != nullptr ? first_line(err) : "libpq ran out of memory";
      if (err != nullptr) PQfreemem(err);
      return Status::invalid_argument(
          "option \"conninfo\": " + reason +
          "; expected a libpq connection string such as \"host=127.0.0.1 port=5432 "
          "dbname=postgres user=vigil\" or a postgresql:// URI");
    }
    // Only what the string sets: libpq fills in its defaults (and PGPASSFILE, ~/.pgpass) itself
    // at connect time, so environment changes apply as they would to psql.
    bool has_application_name = false;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (o->val == nullptr) continue;
      std::string keyword = o->keyword;
      if (keyword == "password") conninfo_has_password_ = true;
      if (keyword == "application_name" || keyword == "fallback_application_name")
        has_application_name = true;
      params_.emplace_back(std::move(keyword), o->val);
    }
    PQconninfoFree(options);
    // So a DBA sees who holds the connection in pg_stat_activity.
    if (!has_application_name) params_.emplace_back("fallback_application_name", "vigil");
    return Status::ok();
  }

  Outcome attempt(Clock::time_point deadline) {
    Outcome o;
    const bool reused = session_.connected();
    if (!reused) {
      ConnParams params = params_;
      if (!password_file_.empty()) {
        std::string password;
        if (!procfs::read_password_file(password_file_, password, o.error)) return o;
        params.emplace_back("password", std::move(password));
      }
      if (!session_.connect(params, deadline, o.error)) {
        if (o.error == "timed out waiting for the server")
          o.error =
              "no answer within " + format_config_duration(timeout_) + " (option \"timeout\")";
        o.error = "cannot connect to " + session_.target() + ": " + o.error;
        return o;
      }
      // The server cancels the query on its own too, so one left behind by a check that gave
      // up never keeps running.
      QueryResult set =
          session_.exec("SET statement_timeout = " + std::to_string(timeout_.count()), deadline);
      if (!set.ok) {
        o.error = "connected to " + session_.target() +
                  " but setting statement_timeout failed: " + set.error;
        session_.close();
        return o;
      }
    }
    o.connected = true;

    const int64_t start = host().monotonic_ns();
    QueryResult q = session_.exec(query_, deadline);
    o.query_seconds = static_cast<double>(host().monotonic_ns() - start) / 1e9;
    if (!q.ok) {
      if (reused && !q.timed_out && !session_.connected()) {
        o.lost_kept_connection = true;
        o.connected = false;
        o.error = q.error;
        session_.close();
        return o;
      }
      o.error = q.timed_out ? "did not finish within " + format_config_duration(timeout_) +
                                  " (option \"timeout\"; the server cancels it through "
                                  "statement_timeout)"
                            : q.error;
      o.error = "query " + quote_query(query_) + " failed on " + session_.target() + ": " + o.error;
      // After a server-side error the connection is fine and the counts are still worth
      // having; after a timeout or a broken connection there is nothing left to ask.
      if (!session_.connected()) return o;
    } else {
      o.query_ok = true;
    }
    read_statistics(deadline, o);
    return o;
  }

  void read_statistics(Clock::time_point deadline, Outcome& o) {
    std::string failure;
    QueryResult usage = session_.exec(kUsageQuery, deadline);
    if (!usage.ok) {
      failure =
          usage.timed_out ? "no answer within " + format_config_duration(timeout_) : usage.error;
    } else if (usage.rows.size() != 1 || usage.rows[0].size() != 2 ||
               !to_number(usage.rows[0][0], o.max_connections) ||
               !to_number(usage.rows[0][1], o.client_connections)) {
      failure = "expected one row (max_connections, client backends) from the server";
    }
    if (failure.empty()) {
      QueryResult activity = session_.exec(kActivityQuery, deadline);
      if (!activity.ok) {
        failure = activity.timed_out ? "no answer within " + format_config_duration(timeout_)
                                     : activity.error;
      } else {
        for (const auto& row : activity.rows) {
          Activity a;
          if (row.size() != 3 || !row[0] || !row[1] || !to_number(row[2], a.count)) {
            failure = "expected rows of (datname, state, count) from pg_stat_activity";
            break;
          }
          a.datname = *row[0];
          a.state = *row[1];
          o.activity.push_back(std::move(a));
        }
      }
    }
    if (!failure.empty()) {
      o.activity.clear();
      if (o.query_ok)
        o.error = "reading connection counts from pg_stat_activity on " + session_.target() +
                  " failed: " + failure;
      return;
    }
    o.stats_ok = true;
  }

  void publish(const Outcome& o) {
    Host& h = host();
    if (!up_) up_ = h.gauge(kUp);
    up_.set(o.connected ? 1 : 0);
    if (o.query_ok) {
      if (!query_duration_) query_duration_ = h.gauge(kQueryDuration);
      query_duration_.set(o.query_seconds);
    }
    if (!o.stats_ok) return;
    if (!max_connections_) max_connections_ = h.gauge(kMaxConnections);
    max_connections_.set(o.max_connections);
    if (!client_connections_) client_connections_ = h.gauge(kClientConnections);
    client_connections_.set(o.client_connections);

    std::set<std::pair<std::string, std::string>> seen;
    for (const Activity& a : o.activity) {
      auto key = std::make_pair(a.datname, a.state);
      seen.insert(key);
      auto it = activity_.find(key);
      if (it == activity_.end())
        it =
            activity_.emplace(key, h.gauge(kActivity, {{"datname", a.datname}, {"state", a.state}}))
                .first;
      it->second.set(a.count);
    }
    // A database that was dropped leaves the exposition rather than reading 0 forever.
    for (auto it = activity_.begin(); it != activity_.end();) {
      if (seen.count(it->first) != 0) {
        ++it;
        continue;
      }
      h.unregister(it->second);
      it = activity_.erase(it);
    }
  }

  void verdict(const Outcome& o, HealthResult& r) const {
    if (!o.connected || !o.query_ok) {
      r.status = VIGIL_HEALTH_CRITICAL;
      r.message = o.error;
      return;
    }
    std::string head = session_.target() + ": query ran in " + format_latency(o.query_seconds);
    if (!o.stats_ok) {
      r.status = VIGIL_HEALTH_UNKNOWN;
      r.message = head + ", but " + o.error;
      return;
    }
    const double used =
        o.max_connections > 0 ? o.client_connections / o.max_connections * 100.0 : 0.0;
    std::ostringstream msg;
    msg << head << "; " << static_cast<long long>(o.client_connections) << " of "
        << static_cast<long long>(o.max_connections) << " connections in use ("
        << format_percent(used) << ")";
    if (used >= critical_) {
      r.status = VIGIL_HEALTH_CRITICAL;
      msg << ", at or above the critical threshold of " << format_percent(critical_);
    } else if (used >= warning_) {
      r.status = VIGIL_HEALTH_WARNING;
      msg << ", at or above the warning threshold of " << format_percent(warning_);
    } else {
      r.status = VIGIL_HEALTH_OK;
    }
    r.message = msg.str();
  }

  ConnParams params_;  // from "conninfo", never with the password_file's password
  bool conninfo_has_password_ = false;
  std::string password_file_;
  std::string query_;
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
  double warning_ = 80, critical_ = 90;
  Session session_;
  Gauge up_, max_connections_, client_connections_, query_duration_;
  std::map<std::pair<std::string, std::string>, Gauge> activity_;
};

}  // namespace vigil::check_postgres

VIGIL_PLUGIN(
    "check_postgres", "1.0.0",
    vigil::health_check<vigil::check_postgres::PostgresCheck>(
        "PostgreSQL: connect, run a query, and compare connection usage from pg_stat_activity "
        "with max_connections")
        .option("conninfo", vigil::String, "host=127.0.0.1 port=5432 dbname=postgres",
                "libpq connection string or postgresql:// URI (host, port, dbname, user, "
                "sslmode, ...); keep the password out of it and use password_file")
        .option("password_file", vigil::String, nullptr,
                "file whose first line is the password; when unset libpq's own PGPASSFILE / "
                "~/.pgpass lookup applies")
        .option("query", vigil::String, "SELECT 1",
                "one SQL statement run on every check; its failure is critical")
        .option("timeout", vigil::Duration, nullptr,
                "the whole check (connect, query, statistics) must finish within this; also "
                "the session's statement_timeout. Default: 3s, or 80 % of the instance's "
                "timeout when that is shorter")
        .option("connections_warning", vigil::Double, "80",
                "warning when client connections reach this percentage of max_connections")
        .option("connections_critical", vigil::Double, "90",
                "critical when client connections reach this percentage of max_connections"));
