-- Routing for the stock rules' tests: chat first, the pager 5 minutes later, twice over.
policy "page" {
  steps = { notify { "chat" }, wait "5m", notify { "pager" }, wait "10m" },
  ["repeat"] = 2,
}
route { receiver = "chat", group_wait = "0s", group_by = { "alertname" },
        routes = { { matchers = { 'severity="critical"' }, policy = "page" } } }
