-- Escalation steps with conditions on the time of day:
-- `vigil test-rules scripts/rules/tests/escalation_test.lua`.
return {
  rule_files = { "night_pager_fixture.lua" },
  start = "2026-01-05T20:00:00Z",  -- 21:00 in Berlin
  tests = {
    {
      name = "the pager is woken only after 22:00 Berlin time, the manager only in the 22:00 UTC hour",
      interval = "1m",
      series = { { "api_errors_total", "1x180" } },
      notifications = {
        -- pass 1 (21:00-22:00 Berlin): the chat only
        { at = "0s", receiver = "chat", status = "firing", step = 0, alerts = { "ApiErrors" } },
        -- pass 2: 21:20 UTC is 22:20 in Berlin, so the pager; 21:40 UTC is not 22:xx UTC
        { at = "60m", receiver = "chat", status = "firing", step = 0 },
        { at = "80m", receiver = "pager", status = "firing", step = 1 },
        -- pass 3: all three
        { at = "120m", receiver = "chat", status = "firing", step = 0 },
        { at = "140m", receiver = "pager", status = "firing", step = 1 },
        { at = "160m", receiver = "manager", status = "firing", step = 2 },
      },
    },
  },
}
