-- Deliberately wrong: the alert fires at 5m, not 4m, and a notification is sent that this test
-- does not expect. `vigil test-rules` must fail and name both differences.
return {
  rule_files = { "../../scripts/rules/node.lua" },
  tests = {
    {
      name = "expects the memory alert a minute too early",
      interval = "1m",
      series = {
        { 'node_memory_MemAvailable_bytes', "500x20" },
        { 'node_memory_MemTotal_bytes', "10000x20" },
      },
      alerts = { { at = "4m", firing = { { labels = { alertname = "HostMemoryLow", severity = "warning" } } } } },
      notifications = {},
      duration = "6m",
    },
  },
}
