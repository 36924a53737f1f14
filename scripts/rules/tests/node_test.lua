-- Tests for node.lua: run with `vigil test-rules scripts/rules/tests/node_test.lua`.
return {
  rule_files = { "../node.lua" },
  tests = {
    {
      name = "high load per CPU fires after 15 minutes and notifies once",
      interval = "1m",
      series = {
        { 'node_load5{instance="db-1"}', "3x40" },
        { 'node_cpu_seconds_total{cpu="0",instance="db-1",mode="idle"}', "0+30x40" },
        { 'node_cpu_seconds_total{cpu="0",instance="db-1",mode="user"}', "0+30x40" },
      },
      alerts = {
        { at = "10m", firing = {}, pending = { { labels = { alertname = "HostLoadHigh", instance = "db-1", severity = "warning" } } } },
        { at = "15m", firing = { { labels = { alertname = "HostLoadHigh", instance = "db-1", severity = "warning" },
                                   annotations = { summary = "5-minute load is 3.0 per CPU" } } } },
      },
      notifications = {
        { at = "15m30s", receiver = "default", status = "firing", alerts = { "HostLoadHigh" } },
      },
    },
    {
      name = "CPU busy above 90 % fires, and stays until it drops below 80 %",
      interval = "1m",
      series = {
        -- 95 % busy for 20 minutes, then 85 % (between the thresholds), then 50 %.
        { 'node_cpu_seconds_total{cpu="0",mode="idle"}', "0+3x20 63+9x10 153+30x10" },
        { 'node_cpu_seconds_total{cpu="0",mode="user"}', "0+57x20 1197+51x10 1707+30x10" },
      },
      alerts = {
        { at = "16m", firing = { { labels = { alertname = "HostHighCpu", severity = "warning" } } } },
        { at = "28m", firing = { { labels = { alertname = "HostHighCpu", severity = "warning" } } } },
        { at = "40m", firing = {} },
      },
    },
    {
      name = "memory below 10 % available fires after 5 minutes",
      interval = "1m",
      series = {
        { 'node_memory_MemAvailable_bytes', "500x20" },
        { 'node_memory_MemTotal_bytes', "10000x20" },
      },
      alerts = {
        { at = "4m", firing = {} },
        { at = "5m", firing = { { labels = { alertname = "HostMemoryLow", severity = "warning" },
                                  annotations = { summary = "only 5% of memory available" } } } },
      },
    },
  },
}
