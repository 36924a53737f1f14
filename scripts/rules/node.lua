-- Stock rules for what collector_cpu, collector_memory and collector_loadavg collect, under
-- node_exporter's names. Usable as they are; copy and change thresholds to taste.
--
-- Every threshold has a lower recovery level (hysteresis), so a value hovering at the
-- threshold does not make the alert flap.

-- Share of CPU time not idle (nor iowait), per instance, over the last 5 minutes.
local function cpu_busy(q)
  local idle, total = {}, {}
  for _, s in ipairs(q.select("node_cpu_seconds_total")) do
    local key = s.labels.instance or ""
    local r = s:rate("5m")
    if r then
      total[key] = (total[key] or 0) + r
      if s.labels.mode == "idle" or s.labels.mode == "iowait" then
        idle[key] = (idle[key] or 0) + r
      end
    end
  end
  local out = {}
  for key, t in pairs(total) do
    if t > 0 then
      out[#out + 1] = { labels = { instance = key }, value = 1 - (idle[key] or 0) / t }
    end
  end
  return out
end

rule {
  name = "HostHighCpu",
  ["for"] = "10m",
  severity = "warning",
  eval = cpu_busy,
  above = 0.9,
  recover_below = 0.8,
  annotations = {
    summary = "CPU {{value | percent}} busy for 10 minutes",
    description = "CPU time not idle has stayed above 90 % on {{labels.instance}}.",
  },
}

rule {
  name = "HostMemoryLow",
  ["for"] = "5m",
  severity = "warning",
  eval = function(q)
    local out = {}
    for _, avail in ipairs(q.select("node_memory_MemAvailable_bytes")) do
      local total = q.select(string.format('node_memory_MemTotal_bytes{instance="%s"}',
                                           avail.labels.instance or ""))[1]
      local size = total and total:last()
      local free = avail:last()
      if size and size > 0 and free then
        out[#out + 1] = { labels = { instance = avail.labels.instance }, value = free / size }
      end
    end
    return out
  end,
  below = 0.1,
  recover_above = 0.15,
  annotations = {
    summary = "only {{value | percent}} of memory available",
  },
}

rule {
  name = "HostLoadHigh",
  ["for"] = "15m",
  severity = "warning",
  eval = function(q)
    local cpus = {}
    for _, s in ipairs(q.select('node_cpu_seconds_total{mode="idle"}')) do
      local key = s.labels.instance or ""
      cpus[key] = (cpus[key] or 0) + 1
    end
    local out = {}
    for _, s in ipairs(q.select("node_load5")) do
      local n = cpus[s.labels.instance or ""] or 1
      local v = s:last()
      if v then out[#out + 1] = { labels = { instance = s.labels.instance }, value = v / n } end
    end
    return out
  end,
  above = 2,
  recover_below = 1.5,
  annotations = {
    summary = "5-minute load is {{value | printf \"%.1f\"}} per CPU",
  },
}
