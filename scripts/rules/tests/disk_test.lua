-- Tests for disk.lua: `vigil test-rules scripts/rules/tests/disk_test.lua`.
local fs = 'device="/dev/sda1",fstype="ext4",mountpoint="/var"'
return {
  rule_files = { "../disk.lua" },
  tests = {
    {
      name = "space below 10 % warns after 5 minutes, below 5 % is critical, tmpfs is ignored",
      interval = "1m",
      series = {
        { "node_filesystem_avail_bytes{" .. fs .. "}", "8x10 4x10" },
        { "node_filesystem_size_bytes{" .. fs .. "}", "100x20" },
        { 'node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"}', "1x20" },
        { 'node_filesystem_size_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"}', "100x20" },
      },
      alerts = {
        { at = "4m", firing = {} },
        { at = "5m", firing = { { labels = { alertname = "DiskSpaceLow", severity = "warning",
                                             device = "/dev/sda1", fstype = "ext4", mountpoint = "/var" },
                                  annotations = { summary = "/var has 8% space left" } } } },
        { at = "13m", firing = {
            { labels = { alertname = "DiskSpaceLow", severity = "warning", device = "/dev/sda1", fstype = "ext4", mountpoint = "/var" } },
            { labels = { alertname = "DiskSpaceCritical", severity = "critical", device = "/dev/sda1", fstype = "ext4", mountpoint = "/var" } } } },
      },
    },
    {
      name = "a disk filling at a steady rate is predicted full within a day",
      interval = "1m",
      series = {
        -- 30 % of 1000 free, losing 1 a minute: empty in 5 hours.
        { "node_filesystem_avail_bytes{" .. fs .. "}", "300-1x200" },
        { "node_filesystem_size_bytes{" .. fs .. "}", "1000x200" },
        -- 30 % free and steady: never predicted full.
        { 'node_filesystem_avail_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/data"}', "300x200" },
        { 'node_filesystem_size_bytes{device="/dev/sdb1",fstype="xfs",mountpoint="/data"}', "1000x200" },
      },
      alerts = {
        { at = "30m", firing = {} },
        { at = "31m", firing = { { labels = { alertname = "DiskWillFillIn24h", severity = "warning",
                                              device = "/dev/sda1", fstype = "ext4", mountpoint = "/var" } } } },
      },
    },
  },
}
