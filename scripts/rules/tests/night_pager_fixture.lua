-- Routing for escalation_test.lua: a policy whose later steps look at the time the step runs.
-- The pager is only woken at night in Berlin (vigil.time_of_day reads the step's time); the
-- manager only hears of it in the 22:00 UTC hour (from ctx.now, seconds since the epoch).
rule { name = "ApiErrors", expr = "api_errors_total", above = 0, severity = "critical" }

policy "night_pager" {
  steps = {
    notify { "chat" }, wait "20m",
    notify { "pager", when = function(ctx)
      local hour = vigil.time_of_day("Europe/Berlin")
      return hour >= 22 or hour < 7
    end }, wait "20m",
    notify { "manager", when = function(ctx) return (ctx.now // 3600) % 24 == 22 end }, wait "20m",
  },
  ["repeat"] = 3,
  on_resolve = false,
}
route { receiver = "chat", policy = "night_pager", group_wait = "0s", group_by = { "alertname" } }
