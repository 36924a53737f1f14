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
      name = "a check warning for 10 minutes warns, and resolves when it is ok again",
      interval = "1m",
      health = { { check = "db", values = "ok warningx14 okx5" } },
      series = { { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+60x21" } },
      alerts = {
        { at = "10m", firing = {}, pending = { { labels = { alertname = "HealthCheckWarning", check = "db", severity = "warning" } } } },
        { at = "11m", firing = { { labels = { alertname = "HealthCheckWarning", check = "db", severity = "warning" },
                                   annotations = { summary = "health check db has been warning for 10 minutes" } } } },
        { at = "16m", firing = {}, pending = {} },
      },
      notifications = {
        { at = "11m", receiver = "chat", status = "firing", alerts = { "HealthCheckWarning" } },
        { at = "16m", receiver = "chat", status = "resolved", alerts = { "HealthCheckWarning" } },
      },
    },
    {
      name = "a warning shorter than 10 minutes, or one that turns critical, never warns",
      interval = "1m",
      health = { { check = "db", values = "ok warningx8 okx2 warningx4 criticalx9" },
                 { check = "web", values = "okx30" } },
      series = { { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+60x30" } },
      alerts = {
        { at = "9m", firing = {}, pending = { { labels = { alertname = "HealthCheckWarning", check = "db", severity = "warning" } } } },
        { at = "12m", firing = {}, pending = {} },
        { at = "24m", firing = { { labels = { alertname = "HealthCheckDown", check = "db", severity = "critical" } } },
                      pending = {} },
      },
      notifications = {
        { at = "20m", receiver = "chat", status = "firing", step = 0, alerts = { "HealthCheckDown" } },
        { at = "25m", receiver = "pager", status = "firing", step = 1, alerts = { "HealthCheckDown" } },
      },
    },
    {
      name = "a plugin instance down for a minute pages, and resolves when it is up again",
      interval = "1m",
      series = {
        { 'vigil_plugin_up{instance="cpu",plugin="collector_cpu"}', "1x2 0x4 1x5" },
        { 'vigil_plugin_up{instance="disk",plugin="collector_disk"}', "1x13" },
        { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+60x13" },
      },
      alerts = {
        { at = "3m", firing = {}, pending = { { labels = { alertname = "PluginDown", instance = "cpu", plugin = "collector_cpu", severity = "critical" } } } },
        { at = "4m", firing = { { labels = { alertname = "PluginDown", instance = "cpu", plugin = "collector_cpu", severity = "critical" },
                                  annotations = { summary = "plugin instance cpu (collector_cpu) is not running" } } } },
        { at = "8m", firing = {}, pending = {} },
      },
      notifications = {
        { at = "4m", receiver = "chat", status = "firing", step = 0, alerts = { "PluginDown" } },
        { at = "8m", receiver = "chat", status = "resolved", alerts = { "PluginDown" } },
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
