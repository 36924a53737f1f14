-- Stock rules for health checks and for the agent's own data: a check that is down, a plugin
-- that failed to start, and data that stopped coming (dead-man).

rule {
  name = "HealthCheckDown",
  ["for"] = "2m",
  severity = "critical",
  eval = function(q)
    local out = {}
    for _, s in ipairs(q.select("vigil_health_status")) do
      local v = s:last()
      if v then out[#out + 1] = { labels = { check = s.labels.check }, value = v } end
    end
    return out
  end,
  -- 2 is critical; 3 (unknown) is not "down". Recovered once it is ok or warning again.
  when = function(v) return v == 2 end,
  recover_when = function(v) return v <= 1 end,
  annotations = {
    summary = "health check {{labels.check}} is critical",
  },
}

rule {
  name = "HealthCheckWarning",
  ["for"] = "10m",
  severity = "warning",
  eval = function(q)
    local out = {}
    for _, s in ipairs(q.select('vigil_health_status')) do
      local v = s:last()
      if v then out[#out + 1] = { labels = { check = s.labels.check }, value = v } end
    end
    return out
  end,
  when = function(v) return v == 1 end,
  annotations = {
    summary = "health check {{labels.check}} has been warning for 10 minutes",
  },
}

rule {
  name = "PluginDown",
  ["for"] = "1m",
  severity = "critical",
  expr = "vigil_plugin_up",
  below = 1,
  annotations = {
    summary = "plugin instance {{labels.instance}} ({{labels.plugin}}) is not running",
  },
}

-- Dead-man: the CPU collector writes every interval; no CPU data for 5 minutes means
-- collection itself is broken (the agent is alive enough to evaluate this rule, so the
-- scheduler or the plugin is stuck).
rule {
  name = "CollectionStalled",
  ["for"] = "1m",
  severity = "critical",
  eval = function(q)
    if q.absent("node_cpu_seconds_total", "5m") then
      return { { labels = {}, value = 1 } }
    end
    return {}
  end,
  annotations = {
    summary = "no CPU samples for 5 minutes: collection has stalled",
  },
}
