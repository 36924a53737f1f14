-- Where the example's alerts go: everything to the "log" notifier (the host's log), critical
-- alerts through an escalation policy that repeats until someone acknowledges
-- (`vigil ack FINGERPRINT`). Replace the receivers with your own notifier instances.

policy "critical" {
  steps = {
    notify { "log" }, wait "10m",
    notify { "log", when = function(ctx) return ctx.firing > 0 end }, wait "30m",
  },
  ["repeat"] = 3,
  on_resolve = true,
}

route {
  receiver = "log",
  group_by = { "alertname" },
  group_wait = "30s",
  group_interval = "5m",
  repeat_interval = "4h",
  routes = {
    { matchers = { 'severity="critical"' }, policy = "critical" },
  },
}

-- A host that is down makes its warnings noise.
inhibit {
  source = { 'alertname="HealthCheckDown"' },
  target = { 'severity="warning"' },
  equal = {},
}
