-- q.health() over time: `vigil test-rules scripts/rules/tests/health_query_test.lua`.
return {
  rule_files = { "db_check_fixture.lua" },
  tests = {
    {
      name = "a check warning then critical is one alert, its value counting from each change",
      interval = "1m",
      health = { { check = "db", values = "ok warningx2 criticalx3 okx3" } },
      alerts = {
        { at = "2m", firing = {}, pending = { { labels = { alertname = "DbCheckNotOk", check = "db", severity = "warning" } } } },
        { at = "3m", firing = { { labels = { alertname = "DbCheckNotOk", check = "db", severity = "warning" },
                                  annotations = { summary = "db has been in its status for 2m" } } } },
        -- critical since 4m: the same alert (the value is not part of its identity)
        { at = "6m", firing = { { labels = { alertname = "DbCheckNotOk", check = "db", severity = "warning" },
                                  annotations = { summary = "db has been in its status for 2m" } } } },
        { at = "8m", firing = {}, pending = {} },
      },
      notifications = {
        { at = "3m", receiver = "chat", status = "firing", alerts = { "DbCheckNotOk" } },
        { at = "8m", receiver = "chat", status = "resolved", alerts = { "DbCheckNotOk" } },
      },
    },
    {
      name = "a check that is never reported gives nil, and nothing fires",
      interval = "1m",
      health = { { check = "cache", values = "criticalx10" } },
      alerts = { { at = "5m", firing = {}, pending = {} } },
      notifications = {},
    },
  },
}
