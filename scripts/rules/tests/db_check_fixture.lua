-- A rule for health_query_test.lua that reads one check through q.health(): "db" not ok for
-- 2 minutes, with how long it has been in its current status as the value.
rule {
  name = "DbCheckNotOk",
  ["for"] = "2m",
  severity = "warning",
  eval = function(q)
    local h = q.health("db")
    if not h or h.status == "ok" then return {} end
    return { { labels = { check = h.check }, value = vigil.now() - h.since } }
  end,
  annotations = { summary = "db has been in its status for {{value | duration}}" },
}
route { receiver = "chat", group_wait = "0s", group_interval = "1m", group_by = { "alertname" } }
