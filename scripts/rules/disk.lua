-- Stock rules for collector_filesystem (node_filesystem_* under node_exporter's names): space
-- running low, and space that will run out within a day at the current rate.

local ignored_fs = { tmpfs = true, devtmpfs = true, overlay = true, squashfs = true,
                     ramfs = true, iso9660 = true }

local function filesystems(q)
  local out = {}
  for _, avail in ipairs(q.select("node_filesystem_avail_bytes")) do
    local l = avail.labels
    if not ignored_fs[l.fstype or ""] then
      local size = q.select(string.format(
        'node_filesystem_size_bytes{device="%s",mountpoint="%s"}', l.device or "",
        l.mountpoint or ""))[1]
      out[#out + 1] = { avail = avail, size = size, labels = { device = l.device,
        mountpoint = l.mountpoint, fstype = l.fstype, instance = l.instance } }
    end
  end
  return out
end

rule {
  name = "DiskSpaceLow",
  ["for"] = "5m",
  severity = "warning",
  eval = function(q)
    local out = {}
    for _, fs in ipairs(filesystems(q)) do
      local free, size = fs.avail:last(), fs.size and fs.size:last()
      if free and size and size > 0 then
        out[#out + 1] = { labels = fs.labels, value = free / size }
      end
    end
    return out
  end,
  below = 0.1,
  recover_above = 0.15,
  annotations = {
    summary = "{{labels.mountpoint}} has {{value | percent}} space left",
  },
}

rule {
  name = "DiskSpaceCritical",
  ["for"] = "2m",
  severity = "critical",
  eval = function(q)
    local out = {}
    for _, fs in ipairs(filesystems(q)) do
      local free, size = fs.avail:last(), fs.size and fs.size:last()
      if free and size and size > 0 then
        out[#out + 1] = { labels = fs.labels, value = free / size }
      end
    end
    return out
  end,
  below = 0.05,
  recover_above = 0.08,
  annotations = {
    summary = "{{labels.mountpoint}} has only {{value | percent}} space left",
  },
}

-- Fill prediction: a straight line through the last 6 hours, 24 hours ahead. Only for
-- filesystems that are already below 40 % free, so a big but idle disk never pages.
rule {
  name = "DiskWillFillIn24h",
  ["for"] = "30m",
  severity = "warning",
  eval = function(q)
    local out = {}
    for _, fs in ipairs(filesystems(q)) do
      local free, size = fs.avail:last(), fs.size and fs.size:last()
      local ahead = fs.avail:predict_linear("6h", 24 * 3600)
      if free and size and size > 0 and ahead then
        out[#out + 1] = { labels = fs.labels, value = ahead,
                          enter = free / size < 0.4 and ahead < 0,
                          stay = ahead < 0.05 * size }
      end
    end
    return out
  end,
  annotations = {
    summary = "{{labels.mountpoint}} will be full within 24 hours at the current rate",
  },
}
