-- Tests for health.lua: `vigil test-rules scripts/rules/tests/health_test.lua`.
return {
  rule_files = { "../health.lua", "routing_fixture.lua" },
  tests = {
    {
      name = "a critical check fires after 2 minutes, pages through escalation, and an ack stops it",
      interval = "1m",
      health = { { check = "db", values = "ok criticalx39 okx10" } },
      series = { { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+60x60" } },
      alerts = {
        { at = "2m", firing = {}, pending = { { labels = { alertname = "HealthCheckDown", check = "db", severity = "critical" } } } },
        { at = "3m", firing = { { labels = { alertname = "HealthCheckDown", check = "db", severity = "critical" },
                                  annotations = { summary = "health check db is critical" } } } },
        { at = "20m", firing = { { labels = { alertname = "HealthCheckDown", check = "db", severity = "critical" },
                                   flags = { "acknowledged" } } } },
      },
      actions = { { at = "17m", ack = { alertname = "HealthCheckDown" }, author = "alice", comment = "on it" } },
      notifications = {
        { at = "3m", receiver = "chat", status = "firing", step = 0, alerts = { "HealthCheckDown" } },
        { at = "8m", receiver = "pager", status = "firing", step = 1 },
        -- acknowledged at 17m: both hear of it at once, and the second pass (which would start
        -- at 18m) never happens
        { at = "17m", receiver = "chat", status = "firing", step = 1 },
        { at = "17m", receiver = "pager", status = "firing", step = 1 },
        { at = "41m", receiver = "chat", status = "resolved" },
        { at = "41m", receiver = "pager", status = "resolved" },
      },
    },
    {
      name = "no CPU samples for 5 minutes is a stalled collection",
      interval = "1m",
      series = { { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+60x5" } },
      alerts = {
        { at = "9m", firing = {} },
        { at = "11m", firing = { { labels = { alertname = "CollectionStalled", severity = "critical" } } } },
      },
    },
  },
}
