#!/usr/bin/env bash
# tests/bench/pack/run.sh — the plugin pack's figures (issue 3, "How well"), side by side with
# node_exporter 1.5 and collectd 5.12 on this machine, in one run:
#   1. six collectors (cpu, memory, diskstats, netdev, loadavg, filesystem) + one scrape per
#      second: CPU per cycle and RSS of vigil, node_exporter and collectd;
#   2. textfile with 100,000 series: CPU per (parse + scrape), vigil against node_exporter;
#   3. hang isolation: how late a 100 ms probe plugin starts, without and with hung plugins.
# Prints one table (figure, vigil, node_exporter, collectd, target, PASS/MISS) on stdout;
# progress and the daemons' own output go to stderr and the temporary directory.
#
# It only measures: a MISS is reported, not a failure. It exits 1 only when something could not
# run (named under the table), 2 on a usage error or a missing build product. It never leaves a
# process it started behind, and writes nothing outside its own temporary directory.
#
# Usage: tests/bench/pack/run.sh BUILD_DIR [--seconds N] [--rounds N] [--text-seconds N]
#                                          [--hang-seconds N] [--keep]
#   BUILD_DIR: a full build, e.g. build/default (cmake --preset default && cmake --build --preset
#   default); needs bin/vigil, bin/bench_scrape, plugins/*.so and test-plugins/test_hang.so.
set -euo pipefail

usage() {
  sed -n '15,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[[ $# -ge 1 ]] || usage
[[ $1 == -h || $1 == --help ]] && usage
BUILD=$(cd "$1" 2>/dev/null && pwd) || {
  echo "run.sh: build directory '$1' not found; expected e.g. build/default" >&2
  exit 2
}
shift
SECONDS_PER_ROUND=30  # part 1: one round = this many cycles (one per second)
ROUNDS=3              # part 1 and 2: rounds; the median is reported
TEXT_SECONDS=10       # part 2: vigil cycles (and node_exporter scrapes) per round
HANG_SECONDS=20       # part 3: seconds per round (the three scenarios run side by side)
KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_ROUND=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --text-seconds) TEXT_SECONDS=$2; shift 2 ;;
    --hang-seconds) HANG_SECONDS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$SECONDS_PER_ROUND" "$ROUNDS" "$TEXT_SECONDS" "$HANG_SECONDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: found '$n', expected a positive whole number" >&2; exit 2; }
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VIGIL=$BUILD/bin/vigil
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
COLLECTD=${COLLECTD:-/usr/sbin/collectd}
COLLECTD_PLUGINS=${COLLECTD_PLUGINS:-/usr/lib/collectd}
CXX=${CXX:-c++}
SIX=(collector_cpu collector_memory collector_diskstats collector_netdev collector_loadavg
     collector_filesystem)
TEXT_SERIES=100000
CANNOT_RUN=()

missing=()
for f in "$VIGIL" "$BUILD/plugins/exporter_prometheus.so" "$BUILD/plugins/collector_textfile.so" \
         "$BUILD/test-plugins/test_hang.so" "$BUILD/bin/bench_scrape"; do
  [[ -e $f ]] || missing+=("$f")
done
for p in "${SIX[@]}"; do [[ -e $BUILD/plugins/$p.so ]] || missing+=("$BUILD/plugins/$p.so"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "run.sh: not built: ${missing[*]}" >&2
  echo "  build everything with: cmake --preset default && cmake --build --preset default" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "run.sh: curl is needed to scrape; apt-get install curl" >&2; exit 2; }
command -v "$CXX" >/dev/null || { echo "run.sh: $CXX is needed to build the probe plugin" >&2; exit 2; }
HAVE_NODE=1 HAVE_COLLECTD=1
if [[ ! -x $NODE_EXPORTER ]]; then
  HAVE_NODE=0
  CANNOT_RUN+=("node_exporter ($NODE_EXPORTER not found; apt-get install prometheus-node-exporter)")
fi
if [[ ! -x $COLLECTD || ! -e $COLLECTD_PLUGINS/write_prometheus.so ]]; then
  HAVE_COLLECTD=0
  CANNOT_RUN+=("collectd ($COLLECTD or $COLLECTD_PLUGINS/write_prometheus.so not found; apt-get install collectd-core)")
fi

WORK=$(mktemp -d /tmp/vigil-bench-pack.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# Everything measured runs from a copy: a build directory shared with others may be rebuilt
# during the run, and a binary a linker is rewriting cannot start (or is another build than the
# plugins beside it).
VIGIL_BUILT=$(date -u -r "$VIGIL" '+%Y-%m-%d %H:%M UTC')
SNAP=$WORK/build
mkdir -p "$SNAP/bin" "$SNAP/plugins" "$SNAP/test-plugins"
cp "$VIGIL" "$SNAP/bin/vigil"
cp "$BUILD"/plugins/*.so "$SNAP/plugins/"
cp "$BUILD/test-plugins/test_hang.so" "$SNAP/test-plugins/"
VIGIL=$SNAP/bin/vigil
PLUGINS=$SNAP/plugins
if ! "$VIGIL" version >/dev/null 2>&1; then
  echo "run.sh: $BUILD/bin/vigil does not run (being rebuilt?); try again once the build is done" >&2
  exit 2
fi

# ---- measuring a process --------------------------------------------------------------------
# On-CPU time of every thread of PID in ns (first field of each task's schedstat); tick-based
# utime+stime is 10 ms coarse, too coarse for sub-millisecond cycles. A thread that exits between
# two readings takes its time out of the sum, so thread_ids lets a caller see that happen.
cpu_ns() {
  local pid=$1 total=0 t v
  for t in /proc/"$pid"/task/*/schedstat; do
    read -r v _ <"$t" 2>/dev/null || continue
    total=$((total + v))
  done
  echo "$total"
}
thread_ids() { ls /proc/"$1"/task 2>/dev/null | sort | tr '\n' ' '; }
# Threads present in the first list and gone in the second: their CPU time left the sum.
threads_gone() { comm -23 <(tr ' ' '\n' <<<"$1" | sed '/^$/d') <(tr ' ' '\n' <<<"$2" | sed '/^$/d') | wc -l; }
now_us() { echo "${EPOCHREALTIME/./}"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' /proc/"$1"/status; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR > 0) print v[int((NR + 1) / 2)]}'; }
med() { if [[ $# -gt 0 ]]; then printf '%s\n' "$@" | median; fi; }
sleep_until() {  # sleep_until EPOCH_US
  local wait_us=$(($1 - $(now_us)))
  if [[ $wait_us -gt 0 ]]; then sleep "$(awk -v u="$wait_us" 'BEGIN {printf "%.6f", u / 1e6}')"; fi
}

# A port nothing listens on right now (bash's /dev/tcp fails to connect to a free one).
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return 0; fi
  done
  log "run.sh: found no free port between 20000 and 60000"
  return 1
}

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# One scrape asking for gzip on a new connection (warm-up, part 2); the body is discarded. The
# measured cycles of part 1 scrape as Prometheus does, over one kept-alive connection
# (bench_scrape); curl in a loop would connect afresh every time, which Prometheus never does.
scrape() { curl -s -o /dev/null --max-time 30 -H 'Accept-Encoding: gzip' "$1" || true; }
# N scrapes of URL back to back over one kept-alive connection (one curl, N URLs).
scrape_burst() {
  local url=$1 n=$2 args=()
  for _ in $(seq "$n"); do args+=(-o /dev/null "$url"); done
  curl -s --max-time 60 -H 'Accept-Encoding: gzip' "${args[@]}" || true
}
# Every daemon at once, one bench_scrape each: COUNT gzip scrapes a second apart; extra
# arguments go to bench_scrape (--new-connection). Records what could not run.
scrape_each_second() {
  local count=$1 w pid
  shift
  local scrapers=()
  for w in "${NAMES[@]}"; do
    "$BUILD/bin/bench_scrape" "${URL_OF[$w]}" "$count" 1000 --gzip "$@" >&2 &
    scrapers+=($!)
    PIDS+=($!)
  done
  for pid in "${scrapers[@]}"; do wait "$pid" || CANNOT_RUN+=("bench_scrape $*"); done
}
# The page in plain text, for reading values from it.
page() { curl -s --max-time 30 "$1" || true; }
# Sample lines of a page (not comments).
series_count() { grep -vc '^#' || true; }

# Starts vigil on CONFIG with its log in LOG; sets VIGIL_PID and VIGIL_PORT (from the "running:
# ... http://127.0.0.1:PORT/" line, as the integration tests do).
start_vigil() {
  local config=$1 logfile=$2
  "$VIGIL" run -c "$config" >"$logfile" 2>&1 &
  VIGIL_PID=$!
  PIDS+=("$VIGIL_PID")
  VIGIL_PORT=
  for _ in $(seq 600); do
    VIGIL_PORT=$(sed -n 's|.*running: .* http://[0-9.]*:\([0-9]*\)/.*|\1|p' "$logfile" | head -1)
    [[ -n $VIGIL_PORT ]] && return 0
    kill -0 "$VIGIL_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "run.sh: vigil did not come up with $config; its log:"
  sed 's/^/  /' "$logfile" >&2
  return 1
}

# Waits until URL answers; the daemon is PID. Returns 1 if it died or never answered.
wait_http() {
  local pid=$1 url=$2
  for _ in $(seq 300); do
    if curl -s -o /dev/null --max-time 5 "$url" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Starts node_exporter with ARGS on a free port; sets NODE_PID and NODE_PORT.
start_node() {
  local logfile=$1
  shift
  NODE_PORT=$(free_port) || return 1
  "$NODE_EXPORTER" --web.listen-address=127.0.0.1:"$NODE_PORT" "$@" >"$logfile" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  wait_http "$NODE_PID" "http://127.0.0.1:$NODE_PORT/" && return 0
  log "run.sh: node_exporter did not come up with $*; its log:"
  sed 's/^/  /' "$logfile" >&2
  return 1
}

# Starts collectd in the foreground with the six plugins and write_prometheus on a free port,
# every second, nothing else; sets COLLECTD_PID and COLLECTD_PORT.
start_collectd() {
  local conf=$WORK/collectd.conf logfile=$WORK/collectd.log
  COLLECTD_PORT=$(free_port) || return 1
  mkdir -p "$WORK/collectd"
  # df and disk leave out what node_exporter 1.5 leaves out by default (pseudo filesystems,
  # partitions, loop and RAM devices), so the three daemons report comparable sets.
  cat >"$conf" <<EOF
Hostname "bench"
FQDNLookup false
BaseDir "$WORK/collectd"
PIDFile "$WORK/collectd/collectd.pid"
PluginDir "$COLLECTD_PLUGINS"
TypesDB "/usr/share/collectd/types.db"
Interval 1
AutoLoadPlugin false
LoadPlugin cpu
LoadPlugin memory
LoadPlugin disk
LoadPlugin interface
LoadPlugin load
LoadPlugin df
LoadPlugin write_prometheus
<Plugin disk>
  Disk "/^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+\$/"
  IgnoreSelected true
</Plugin>
<Plugin df>
$(for t in autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs fusectl \
            hugetlbfs iso9660 mqueue nsfs overlay proc procfs pstore rpc_pipefs securityfs \
            selinuxfs squashfs sysfs tracefs; do echo "  FSType \"$t\""; done)
  IgnoreSelected true
</Plugin>
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$COLLECTD_PORT"
</Plugin>
EOF
  "$COLLECTD" -f -C "$conf" >"$logfile" 2>&1 &
  COLLECTD_PID=$!
  PIDS+=("$COLLECTD_PID")
  wait_http "$COLLECTD_PID" "http://127.0.0.1:$COLLECTD_PORT/metrics" && return 0
  log "run.sh: collectd did not come up with $conf; its log:"
  sed 's/^/  /' "$logfile" >&2
  return 1
}

# ---- 1. six collectors + one scrape per second ----------------------------------------------
# vigil's six collectors and collectd's six plugins run every second on their own; each daemon is
# also scraped once per second, so one second is one cycle (one collection of all six + one
# scrape). node_exporter collects when scraped, so its cycle is its scrape. CPU per cycle = the
# process's CPU over a round / the round's seconds: idle work (timers, Go's GC, collectd's
# flushes) is included, being part of the price.
log "== 1. six collectors + one scrape per second: vigil, node_exporter, collectd side by side"
instances=""
for p in "${SIX[@]}"; do
  name=${p#collector_}
  # The memory and filesystem plugins also hold a health check; the others have no check, and
  # node_exporter and collectd run none, so only the collectors run here.
  instances+="    {\"plugin\": \"$p\", \"name\": \"$name\", \"kinds\": [\"collector\"]},"$'\n'
done
cat >"$WORK/six.json" <<EOF
{
  "plugin_dirs": ["$PLUGINS"],
  "log": {"level": "info"},
  "http": {"address": "127.0.0.1", "port": 0},
  "scheduler": {"interval": "1s"},
  "instances": [
$instances    {"plugin": "exporter_prometheus", "name": "prometheus"}
  ]
}
EOF
# The same vigil again with a plugin directory holding only the seven plugins it runs: the host
# loads every plugin it finds (and their libraries: libcurl, libpq, ...), so the difference is
# what the other plugins of a full install cost it.
mkdir -p "$WORK/six-plugins"
for p in "${SIX[@]}" exporter_prometheus; do ln -s "$PLUGINS/$p.so" "$WORK/six-plugins/$p.so"; done
sed "s|\"$PLUGINS\"|\"$WORK/six-plugins\"|" "$WORK/six.json" >"$WORK/six-only.json"
NAMES=()  # V: vigil, VO: vigil with only its plugins, N: node_exporter, C: collectd
declare -A PID_OF URL_OF
declare -A LABEL_OF=([V]=vigil [VO]="vigil(own plugins only)" [N]=node_exporter [C]=collectd)
if start_vigil "$WORK/six.json" "$WORK/six-vigil.log"; then
  NAMES+=(V); PID_OF[V]=$VIGIL_PID; URL_OF[V]="http://127.0.0.1:$VIGIL_PORT/metrics"
else
  CANNOT_RUN+=("vigil with the six collectors")
fi
if start_vigil "$WORK/six-only.json" "$WORK/six-only-vigil.log"; then
  NAMES+=(VO); PID_OF[VO]=$VIGIL_PID; URL_OF[VO]="http://127.0.0.1:$VIGIL_PORT/metrics"
else
  CANNOT_RUN+=("vigil with the six collectors, only its plugins in the directory")
fi
if [[ $HAVE_NODE -eq 1 ]]; then
  if start_node "$WORK/six-node.log" --collector.disable-defaults --collector.cpu \
       --collector.meminfo --collector.diskstats --collector.netdev --collector.loadavg \
       --collector.filesystem; then
    NAMES+=(N); PID_OF[N]=$NODE_PID; URL_OF[N]="http://127.0.0.1:$NODE_PORT/metrics"
  else
    CANNOT_RUN+=("node_exporter with the six collectors")
  fi
fi
if [[ $HAVE_COLLECTD -eq 1 ]]; then
  if start_collectd; then
    NAMES+=(C); PID_OF[C]=$COLLECTD_PID; URL_OF[C]="http://127.0.0.1:$COLLECTD_PORT/metrics"
  else
    CANNOT_RUN+=("collectd with the six plugins")
  fi
fi
declare -A CYCLE IDLE SCRAPE NEWCONN RSS HWM SERIES
if [[ ${#NAMES[@]} -gt 0 ]]; then
  scrape_all() { local w; for w in "${NAMES[@]}"; do scrape "${URL_OF[$w]}"; done; }
  # Start-up (first collections, first pages, Go's early GCs) is not what is measured.
  for _ in 1 2 3 4 5; do scrape_all; sleep 1; done
  declare -A BEFORE TIDS ROUND_CPUS
  for r in $(seq "$ROUNDS"); do
    for w in "${NAMES[@]}"; do BEFORE[$w]=$(cpu_ns "${PID_OF[$w]}"); TIDS[$w]=$(thread_ids "${PID_OF[$w]}"); done
    scrape_each_second "$SECONDS_PER_ROUND"
    line="  round $r:"
    for w in "${NAMES[@]}"; do
      cpu=$((($(cpu_ns "${PID_OF[$w]}") - BEFORE[$w]) / SECONDS_PER_ROUND))
      gone=$(threads_gone "${TIDS[$w]}" "$(thread_ids "${PID_OF[$w]}")")
      [[ $gone -gt 0 ]] && log "  note: $gone thread(s) of ${LABEL_OF[$w]} exited during round $r; their CPU is not counted"
      ROUND_CPUS[$w]+="$cpu "
      line+=" ${LABEL_OF[$w]} $((cpu / 1000)) us/cycle"
    done
    log "$line"
  done
  for w in "${NAMES[@]}"; do
    # shellcheck disable=SC2086 # the list is whitespace-separated numbers
    CYCLE[$w]=$(med ${ROUND_CPUS[$w]})
    RSS[$w]=$(rss_kib "${PID_OF[$w]}")
    HWM[$w]=$(hwm_kib "${PID_OF[$w]}")
    SERIES[$w]=$(page "${URL_OF[$w]}" | series_count)
  done
  # Each collector's mean collect() wall time, from vigil's own call-duration histogram.
  COLLECTS=""
  COLLECT_SUM=""
  if [[ -n ${PID_OF[V]:-} ]]; then
    read -r COLLECT_SUM COLLECTS < <(page "${URL_OF[V]}" | awk '
      /^vigil_plugin_call_duration_seconds_sum\{/ {match($0, /instance="[^"]*"/); s[substr($0, RSTART + 10, RLENGTH - 11)] = $NF}
      /^vigil_plugin_call_duration_seconds_count\{/ {match($0, /instance="[^"]*"/); c[substr($0, RSTART + 10, RLENGTH - 11)] = $NF}
      END {
        for (i in c) if (c[i] > 0) {t += s[i] / c[i] * 1e6; l = l sprintf(" %s=%.0f", i, s[i] / c[i] * 1e6)}
        printf "%.0f%s\n", t, l
      }')
  fi
  # Breakdown: the cycle again for NEWCONN_S seconds with a new connection per scrape (what this
  # script measured before it scraped as Prometheus does); 10 s with nobody scraping (collection
  # and timers only; node_exporter collects nothing then); and one scrape alone: 50 back-to-back
  # scrapes on one connection minus the idle rate.
  NEWCONN_S=10
  log "  breakdown: ${NEWCONN_S}s with a new connection per scrape"
  for w in "${NAMES[@]}"; do BEFORE[$w]=$(cpu_ns "${PID_OF[$w]}"); done
  scrape_each_second "$NEWCONN_S" --new-connection
  for w in "${NAMES[@]}"; do NEWCONN[$w]=$((($(cpu_ns "${PID_OF[$w]}") - BEFORE[$w]) / NEWCONN_S)); done
  IDLE_S=10
  log "  breakdown: ${IDLE_S}s without scrapes"
  for w in "${NAMES[@]}"; do BEFORE[$w]=$(cpu_ns "${PID_OF[$w]}"); done
  sleep "$IDLE_S"
  for w in "${NAMES[@]}"; do IDLE[$w]=$((($(cpu_ns "${PID_OF[$w]}") - BEFORE[$w]) / IDLE_S)); done
  BURST=50
  log "  breakdown: $BURST back-to-back scrapes each"
  for w in "${NAMES[@]}"; do
    t0=$(now_us)
    c0=$(cpu_ns "${PID_OF[$w]}")
    scrape_burst "${URL_OF[$w]}" "$BURST"
    c1=$(cpu_ns "${PID_OF[$w]}")
    wall=$(($(now_us) - t0))
    SCRAPE[$w]=$(((c1 - c0 - IDLE[$w] * wall / 1000000) / BURST))
  done
  for w in "${NAMES[@]}"; do stop_pid "${PID_OF[$w]}"; done
fi

# ---- 2. textfile, 100,000 series --------------------------------------------------------------
# vigil re-reads a .prom file only when its inode, size or mtime changed; the file is touched
# once per second, half a second away from the collect, so every collect (interval 1s) parses
# the whole file, and the page is scraped once per second between them: a second is one parse
# plus one scrape. node_exporter reads every file on each scrape, so its cycle is its scrape.
log "== 2. textfile with $TEXT_SERIES series: vigil (collector_textfile) vs node_exporter (textfile)"
mkdir -p "$WORK/textfile"
awk -v n="$TEXT_SERIES" 'BEGIN {
  print "# HELP bench_metric A synthetic gauge the benchmarks serve in bulk."
  print "# TYPE bench_metric gauge"
  for (i = 0; i < n; i++) printf "bench_metric{host=\"h1\",id=\"%d\"} %.10g\n", i, i * 0.5
}' >"$WORK/textfile/bench.prom.tmp"
mv "$WORK/textfile/bench.prom.tmp" "$WORK/textfile/bench.prom"
TEXT_BYTES=$(stat -c %s "$WORK/textfile/bench.prom")
cat >"$WORK/textfile.json" <<EOF
{
  "plugin_dirs": ["$PLUGINS"],
  "log": {"level": "info"},
  "http": {"address": "127.0.0.1", "port": 0},
  "scheduler": {"jitter": 0},
  "instances": [
    {"plugin": "collector_textfile", "name": "textfile", "interval": "1s", "timeout": "10s",
     "options": {"directory": "$WORK/textfile"}},
    {"plugin": "exporter_prometheus", "name": "prometheus"}
  ]
}
EOF
# The textfile instance's collect() count and mean duration (s), from vigil's own histogram.
collect_stats() {
  page "$1" | awk '
    /^vigil_plugin_call_duration_seconds_sum\{.*instance="textfile"/ {s = $NF}
    /^vigil_plugin_call_duration_seconds_count\{.*instance="textfile"/ {c = $NF}
    END {printf "%d %.9f\n", c, s}'
}
TV_CYCLE="" TV_RSS="" TV_HWM="" TV_COLLECT="" TV_COLLECTS="" TV_LINES="" TV_IDLE="" TV_SCRAPE=""
if start_vigil "$WORK/textfile.json" "$WORK/textfile-vigil.log"; then
  url="http://127.0.0.1:$VIGIL_PORT/metrics"
  lines=0
  for _ in $(seq 300); do
    lines=$(page "$url" | grep -c '^bench_metric{' || true)
    [[ $lines -ge $TEXT_SERIES ]] && break
    sleep 0.2
  done
  if [[ $lines -lt $TEXT_SERIES ]]; then
    log "run.sh: vigil's /metrics showed $lines bench_metric lines, expected $TEXT_SERIES; its log:"
    sed 's/^/  /' "$WORK/textfile-vigil.log" >&2
    CANNOT_RUN+=("vigil textfile")
  else
    TV_LINES=$lines
    # Find the collect's phase: poll until the collect count moves; collects end about then.
    read -r c0 _ < <(collect_stats "$url")
    for _ in $(seq 100); do
      read -r c1 _ < <(collect_stats "$url")
      [[ $c1 -ne $c0 ]] && break
      sleep 0.02
    done
    # Each round: slots P, P+1, ..., P+T-1 (a scrape, then a touch), measured from P to P+T, so
    # it holds T scrapes and the T collects at about P+0.5, ..., P+T-0.5, each parsing the file
    # touched half a second earlier. The collect count is read just before P and just after
    # P+T (the page costs CPU, so outside the window); a spare slot between rounds keeps the
    # collect that finds no touch out of both.
    phase=$(($(now_us) + 1500000))  # a slot half a second after a collect ended
    tcpus=() tcollects=() tsums=()
    for r in $(seq 0 "$ROUNDS"); do  # round 0 warms up: the first re-parses, the first pages
      sleep_until $((phase - 300000))
      read -r c0 s0 < <(collect_stats "$url")
      sleep_until "$phase"
      before=$(cpu_ns "$VIGIL_PID")
      tids=$(thread_ids "$VIGIL_PID")
      for i in $(seq "$TEXT_SECONDS"); do
        sleep_until "$phase"
        scrape "$url"
        touch "$WORK/textfile/bench.prom"
        phase=$((phase + 1000000))
      done
      sleep_until "$phase"
      cpu=$((($(cpu_ns "$VIGIL_PID") - before) / TEXT_SECONDS))
      gone=$(threads_gone "$tids" "$(thread_ids "$VIGIL_PID")")
      [[ $gone -gt 0 ]] && log "  note: $gone thread(s) of vigil exited during the round; their CPU is not counted"
      read -r c1 s1 < <(collect_stats "$url")
      phase=$((phase + 1000000))  # the spare slot
      if [[ $r -gt 0 ]]; then
        tcpus+=("$cpu")
        tcollects+=($((c1 - c0)))
        tsums+=("$(awk -v a="$s0" -v b="$s1" -v n=$((c1 - c0)) 'BEGIN {if (n > 0) printf "%.9f", (b - a) / n}')")
        log "  vigil round $r: $((cpu / 1000)) us per parse + scrape ($((c1 - c0)) collects, mean collect $(awk -v s="${tsums[-1]}" 'BEGIN {printf "%.1f", s * 1000}') ms)"
      fi
    done
    TV_CYCLE=$(med "${tcpus[@]}")
    TV_COLLECT=$(med "${tsums[@]}")
    TV_COLLECTS=$(med "${tcollects[@]}")
    TV_RSS=$(rss_kib "$VIGIL_PID")
    TV_HWM=$(hwm_kib "$VIGIL_PID")
    # Breakdown: the file left alone and nobody scraping (each collect only re-writes the parsed
    # values), then 5 back-to-back scrapes minus that idle rate: the scrape alone.
    sleep 2
    before=$(cpu_ns "$VIGIL_PID")
    sleep 5
    TV_IDLE=$((($(cpu_ns "$VIGIL_PID") - before) / 5))
    t0=$(now_us)
    before=$(cpu_ns "$VIGIL_PID")
    for _ in 1 2 3 4 5; do scrape "$url"; done
    TV_SCRAPE=$((($(cpu_ns "$VIGIL_PID") - before - TV_IDLE * ($(now_us) - t0) / 1000000) / 5))
    log "  vigil breakdown: $((TV_IDLE / 1000)) us per second unchanged and unscraped, $((TV_SCRAPE / 1000)) us per scrape alone"
  fi
  stop_pid "$VIGIL_PID"
else
  CANNOT_RUN+=("vigil textfile")
fi
TN_CYCLE="" TN_RSS="" TN_HWM="" TN_LINES=""
if [[ $HAVE_NODE -eq 1 ]]; then
  if start_node "$WORK/textfile-node.log" --collector.disable-defaults --collector.textfile \
       --collector.textfile.directory="$WORK/textfile"; then
    url="http://127.0.0.1:$NODE_PORT/metrics"
    TN_LINES=$(page "$url" | grep -c '^bench_metric{' || true)
    scrape "$url"
    ncpus=()
    # One scrape per second, as for vigil; node_exporter's take about a second of CPU each on
    # these machines, so fewer of them per round keep the script short.
    n_scrapes=$(((TEXT_SECONDS + 1) / 2))
    for r in $(seq "$ROUNDS"); do
      before=$(cpu_ns "$NODE_PID")
      start=$(now_us)
      for i in $(seq "$n_scrapes"); do
        scrape "$url"
        sleep_until $((start + i * 1000000))
      done
      ncpus+=($((($(cpu_ns "$NODE_PID") - before) / n_scrapes)))
      log "  node_exporter round $r: $((ncpus[-1] / 1000)) us per scrape"
    done
    TN_CYCLE=$(med "${ncpus[@]}")
    TN_RSS=$(rss_kib "$NODE_PID")
    TN_HWM=$(hwm_kib "$NODE_PID")
    stop_pid "$NODE_PID"
  else
    CANNOT_RUN+=("node_exporter textfile")
  fi
fi

# ---- 3. hang isolation ------------------------------------------------------------------------
# bench_schedule (built here against the SDK headers alone) stamps the start of each collect()
# and reports its lateness against its planned slots. Probes every 100 ms, 250 ms and 1 s run
# beside the six collectors and the exporter (a real agent's load), scraped once per second, in
# three vigils side by side, so that the machine's own noise hits them alike: one with no hung
# plugin, one with a test_hang (collect() sleeps for an hour; timeout 200 ms), and one with as
# many test_hang instances as the scheduler has workers (4), so that every worker the pool
# started with ends up stuck.
log "== 3. hang isolation: bench_schedule probes, with and without hung plugins, ${HANG_SECONDS}s"
mkdir -p "$WORK/plugins"
if "$CXX" -std=c++17 -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -Wl,--no-undefined \
     -I "$ROOT/sdk/include" "$HERE/bench_schedule.cpp" -o "$WORK/plugins/bench_schedule.so" \
     2>"$WORK/bench_schedule.build.log"; then
  ln -s "$SNAP/test-plugins/test_hang.so" "$WORK/plugins/test_hang.so"
  HAVE_PROBE=1
else
  log "run.sh: could not build tests/bench/pack/bench_schedule.cpp:"
  sed 's/^/  /' "$WORK/bench_schedule.build.log" >&2
  CANNOT_RUN+=("hang isolation (bench_schedule did not build)")
  HAVE_PROBE=0
fi
declare -A H_SHARED H_LINES H_MAX H_WORST H_AT H_P99 H_P50 H_RUNS H_MISSED H_LATE H_TIMEOUTS H_PID H_URL
# A run later than half its interval counts in the next slot (and leaves a missed slot behind),
# so the 1 s probe is there to measure long stalls; the fast ones give many samples.
PROBES=(100ms 250ms 1s)
HANG_KEYS=()
# hang_config KEY HUNG: writes $WORK/hang-KEY.json.
hang_config() {
  local key=$1 hung=$2 i p
  {
    echo '{'
    echo "  \"plugin_dirs\": [\"$PLUGINS\", \"$WORK/plugins\"],"
    echo '  "log": {"level": "info"},'
    echo '  "http": {"address": "127.0.0.1", "port": 0},'
    echo '  "scheduler": {"interval": "1s", "workers": 4},'
    echo '  "shutdown_timeout": "1s",'
    echo '  "instances": ['
    for p in "${SIX[@]}"; do
      echo "    {\"plugin\": \"$p\", \"name\": \"${p#collector_}\", \"kinds\": [\"collector\"]},"
    done
    for i in "${PROBES[@]}"; do
      echo "    {\"plugin\": \"bench_schedule\", \"name\": \"probe_$i\", \"interval\": \"$i\"},"
    done
    for i in $(seq "$hung"); do
      echo "    {\"plugin\": \"test_hang\", \"name\": \"hang$i\", \"interval\": \"1s\", \"timeout\": \"200ms\", \"options\": {\"hang\": \"1h\"}},"
    done
    echo '    {"plugin": "exporter_prometheus", "name": "prometheus"}'
    echo '  ]'
    echo '}'
  } >"$WORK/hang-$key.json"
}
# hang_round KEY PAGE: appends to H_LINES[KEY] one line for the round: the worst over the probes
# of their max, p99 and p50 (seconds); the probes' runs, missed slots and runs later than 10 ms;
# the hung instances' timeouts; when the worst run started (seconds after its probe's first).
hang_round() {
  local key=$1 pg=$2 line
  line=$(awk '
      function worst(a, v) { return (v > a) ? v : a }
      function ticker() { match($0, /ticker="[^"]*"/); return substr($0, RSTART, RLENGTH) }
      /^bench_schedule_lateness_max_seconds\{/ {if ($NF > mx) {mx = $NF; who = ticker()}}
      /^bench_schedule_lateness_max_at_seconds\{/ {at[ticker()] = $NF}
      /^bench_schedule_lateness_p99_seconds\{/ {p99 = worst(p99, $NF)}
      /^bench_schedule_lateness_p50_seconds\{/ {p50 = worst(p50, $NF)}
      /^bench_schedule_runs_total\{/ {runs += $NF}
      /^bench_schedule_missed_slots_total\{/ {missed += $NF}
      /^bench_schedule_late_runs_total\{/ {late += $NF}
      /^vigil_plugin_timeouts_total\{.*instance="hang/ {timeouts += $NF}
      END {printf "%.6f %.6f %.6f %d %d %d %d %.1f\n", mx, p99, p50, runs, missed, late, timeouts, at[who]}' <<<"$pg")
  if [[ $(cut -d' ' -f4 <<<"$line") -eq 0 ]]; then
    log "run.sh: the probes reported no run with $key hung plugin(s); vigil's log:"
    sed 's/^/  /' "$WORK/hang-$key.log" >&2
    return 1
  fi
  H_LINES[$key]+="$line"$'\n'
  log "  $key: $(awk '{printf "max %.2f ms (%.1f s after start), p99 %.2f ms, %d probe runs, %d later than 10 ms, %d missed slots, %d hang timeouts", $1 * 1e3, $8, $2 * 1e3, $4, $6, $5, $7}' <<<"$line")"
}
# hang_summary KEY: sets H_*[KEY] over the rounds: the median of the rounds' max (the figure:
# a delay the hang causes shows in every round, the machine's own spikes seldom twice), the
# worst of all and when it came, the medians of p99 and p50, and the sums of the counts.
hang_summary() {
  local key=$1 lines
  [[ -n ${H_LINES[$key]:-} ]] || return 0
  lines=$(sed '/^$/d' <<<"${H_LINES[$key]}")
  H_MAX[$key]=$(cut -d' ' -f1 <<<"$lines" | median)
  H_P99[$key]=$(cut -d' ' -f2 <<<"$lines" | median)
  H_P50[$key]=$(cut -d' ' -f3 <<<"$lines" | median)
  read -r "H_RUNS[$key]" "H_MISSED[$key]" "H_LATE[$key]" "H_TIMEOUTS[$key]" "H_WORST[$key]" \
    "H_AT[$key]" < <(awk '
      {runs += $4; missed += $5; late += $6; timeouts += $7; if ($1 >= worst) {worst = $1; at = $8}}
      END {printf "%d %d %d %d %.6f %.1f\n", runs, missed, late, timeouts, worst, at}' <<<"$lines")
}
# The log times (ms of the day) of the runs a vigil's probes logged as late.
late_times() {
  sed -n 's/^[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9]*\)\.\([0-9]*\).*\[bench_schedule:.*after its planned slot.*/\1 \2 \3 \4/p' "$1" |
    awk '{print (($1 * 60 + $2) * 60 + $3) * 1000 + $4}'
}
# Reads late-run times on stdin; prints how many are within 20 ms of a late run in LOG.
shared_with() {
  awk -v other="$(late_times "$1" | tr '\n' ' ')" '
    BEGIN {n = split(other, t, " ")}
    {for (i = 1; i <= n; i++) if ($1 - t[i] <= 20 && t[i] - $1 <= 20) {shared++; break}}
    END {print shared + 0}'
}
if [[ $HAVE_PROBE -eq 1 ]]; then
  for r in $(seq "$ROUNDS"); do
    HANG_KEYS=()
    for s in "none 0" "one 1" "workers 4"; do
      read -r key hung <<<"$s"
      hang_config "$key" "$hung"
      if start_vigil "$WORK/hang-$key.json" "$WORK/hang-$key.log"; then
        HANG_KEYS+=("$key")
        H_PID[$key]=$VIGIL_PID
        H_URL[$key]="http://127.0.0.1:$VIGIL_PORT/metrics"
      else
        CANNOT_RUN+=("hang isolation, scenario $key")
      fi
    done
    [[ ${#HANG_KEYS[@]} -gt 0 ]] || break
    log "  round $r"
    start=$(now_us)
    for i in $(seq "$HANG_SECONDS"); do
      for key in "${HANG_KEYS[@]}"; do scrape "${H_URL[$key]}"; done
      sleep_until $((start + i * 1000000))
    done
    for key in "${HANG_KEYS[@]}"; do
      hang_round "$key" "$(page "${H_URL[$key]}")" || CANNOT_RUN+=("hang isolation, scenario $key")
    done
    for key in "${HANG_KEYS[@]}"; do stop_pid "${H_PID[$key]}"; done
    # Late runs the no-hung-plugin vigil also had at the same moment: the machine's, not the hang's.
    if [[ -e $WORK/hang-none.log ]]; then
      for key in one workers; do
        [[ -e $WORK/hang-$key.log ]] || continue
        H_SHARED[$key]=$((${H_SHARED[$key]:-0} + $(late_times "$WORK/hang-$key.log" |
          shared_with "$WORK/hang-none.log")))
      done
    fi
  done
  for key in none one workers; do hang_summary "$key"; done
fi

# ---- the table --------------------------------------------------------------------------------
# verdict VALUE OP LIMIT -> PASS / MISS / n/a
verdict() {
  [[ -z $1 ]] && { echo "n/a"; return; }
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "PASS" : "MISS" }'
}
# Unit conversions that leave an empty input empty, so a figure not measured reads "n/a".
ms() { [[ -n ${1:-} ]] && awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e6}' || true; }
ms_s() { [[ -n ${1:-} ]] && awk -v n="$1" 'BEGIN {printf "%.2f", n * 1e3}' || true; }
mb() { [[ -n ${1:-} ]] && awk -v k="$1" 'BEGIN {printf "%.1f", k * 1024 / 1e6}' || true; }
show() {  # show VALUE UNIT [VALUE2]: "1.23 ms", "5.2 MB (6.0)", or n/a
  if [[ -z ${1:-} ]]; then echo "n/a"; elif [[ -n ${3:-} ]]; then echo "$1 $2 ($3)"; else echo "$1 $2"; fi
}
row() { printf '%-50s %16s %16s %16s %12s  %s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
get() { local -n arr=$1; echo "${arr[$2]:-}"; }

V_CYCLE_MS=$(ms "$(get CYCLE V)")
V_RSS_MB=$(mb "$(get RSS V)")
RATIO=
if [[ -n $TV_CYCLE && -n $TN_CYCLE && $TV_CYCLE -gt 0 ]]; then
  RATIO=$(awk -v n="$TN_CYCLE" -v v="$TV_CYCLE" 'BEGIN {printf "%.1f", n / v}')
fi

echo
echo "Vigil plugin pack benchmarks: $(uname -n), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load $(cut -d' ' -f1-3 /proc/loadavg) at the end, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "vigil: $("$VIGIL" version 2>/dev/null | head -1), $BUILD/bin/vigil built $VIGIL_BUILT (source checkout now $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)); $("$NODE_EXPORTER" --version 2>&1 | head -1 | cut -d' ' -f1-3); $("$COLLECTD" -h 2>/dev/null | sed -n 's/^collectd \([0-9][0-9.]*[0-9]\).*/collectd \1/p' | head -1)"
echo "command: tests/bench/pack/run.sh ${BUILD} --seconds $SECONDS_PER_ROUND --rounds $ROUNDS --text-seconds $TEXT_SECONDS --hang-seconds $HANG_SECONDS"
echo
row "figure" "vigil" "node_exporter" "collectd" "target" "result"
echo "-- six collectors (cpu, memory, diskstats, netdev, loadavg, filesystem) + one gzip scrape per second; median of $ROUNDS x ${SECONDS_PER_ROUND}s"
row "CPU per cycle (one collection + one kept-alive scrape)" "$(show "$V_CYCLE_MS" ms)" \
  "$(show "$(ms "$(get CYCLE N)")" ms)" "$(show "$(ms "$(get CYCLE C)")" ms)" "<= 0.5 ms" \
  "$(verdict "$V_CYCLE_MS" '<=' 0.5)"
row "RSS at the end (peak), MB = 10^6 bytes" "$(show "$V_RSS_MB" MB "$(mb "$(get HWM V)")")" \
  "$(show "$(mb "$(get RSS N)")" MB "$(mb "$(get HWM N)")")" \
  "$(show "$(mb "$(get RSS C)")" MB "$(mb "$(get HWM C)")")" "<= 6 MB" "$(verdict "$V_RSS_MB" '<=' 6)"
row "breakdown: the cycle, a new connection per scrape" "$(show "$(ms "$(get NEWCONN V)")" ms)" \
  "$(show "$(ms "$(get NEWCONN N)")" ms)" "$(show "$(ms "$(get NEWCONN C)")" ms)" "" ""
row "breakdown: CPU per second, no scrape" "$(show "$(ms "$(get IDLE V)")" ms)" \
  "$(show "$(ms "$(get IDLE N)")" ms)" "$(show "$(ms "$(get IDLE C)")" ms)" "" ""
row "breakdown: one scrape alone (idle subtracted)" "$(show "$(ms "$(get SCRAPE V)")" ms)" \
  "$(show "$(ms "$(get SCRAPE N)")" ms)" "$(show "$(ms "$(get SCRAPE C)")" ms)" "" ""
row "series on the page (sample lines)" "$(get SERIES V)" "$(get SERIES N)" "$(get SERIES C)" "" ""
row "breakdown: vigil's six collect() calls, wall" "$(show "$(ms "${COLLECT_SUM:+$((COLLECT_SUM * 1000))}")" ms)" "" "" "" ""
row "breakdown: vigil, plugin dir with only its 7: CPU/cycle" "$(show "$(ms "$(get CYCLE VO)")" ms)" "" "" "" ""
row "breakdown: vigil, plugin dir with only its 7: RSS" "$(show "$(mb "$(get RSS VO)")" MB "$(mb "$(get HWM VO)")")" "" "" "" ""
if [[ -n ${COLLECTS:-} ]]; then echo "   vigil's mean collect() wall per collector, us:${COLLECTS}"; fi
echo "-- textfile: one .prom file of $TEXT_SERIES series ($(awk -v b="$TEXT_BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB); one re-parse + one gzip scrape per second"
row "CPU per parse + scrape" "$(show "$(ms "$TV_CYCLE")" ms)" "$(show "$(ms "$TN_CYCLE")" ms)" "" "" ""
row "node_exporter / vigil, CPU per parse + scrape" "$(show "$RATIO" x)" "" "" ">= 20 x" "$(verdict "$RATIO" '>=' 20)"
row "RSS at the end (peak), MB" "$(show "$(mb "$TV_RSS")" MB "$(mb "$TV_HWM")")" \
  "$(show "$(mb "$TN_RSS")" MB "$(mb "$TN_HWM")")" "" "" ""
row "breakdown: vigil collect() (read + parse + store)" "$(show "$(ms_s "$TV_COLLECT")" ms)" "" "" "" ""
row "breakdown: vigil one scrape alone" "$(show "$(ms "$TV_SCRAPE")" ms)" "" "" "" ""
row "breakdown: vigil CPU per second, file unchanged" "$(show "$(ms "$TV_IDLE")" ms)" "" "" "" ""
row "collects per round (1 per second expected)" "${TV_COLLECTS:-n/a}" "" "" "$TEXT_SECONDS" ""
row "bench_metric series served" "${TV_LINES:-n/a}" "${TN_LINES:-n/a}" "" "$TEXT_SERIES" ""
echo "-- hang isolation: lateness of collect() starts, probes every ${PROBES[*]} (the worst of them); 3 vigils side by side, median of $ROUNDS x ${HANG_SECONDS}s"
for s in "none:no hung plugin (the machine's own noise)" "one:one hung plugin (test_hang, timeout 200 ms)" \
         "workers:4 hung plugins (= scheduler workers)"; do
  key=${s%%:*}
  label=${s#*:}
  mx=$(ms_s "$(get H_MAX "$key")")
  target="" result=""
  if [[ $key != none ]]; then target="<= 10 ms"; result=$(verdict "$mx" '<=' 10); fi
  row "$label: max" "$(show "$mx" ms)" "" "" "$target" "$result"
  row "  worst round's max (s after start)" "$(show "$(ms_s "$(get H_WORST "$key")")" ms "$(get H_AT "$key") s")" "" "" "" ""
  row "  p99 / p50" "$(show "$(ms_s "$(get H_P99 "$key")") / $(ms_s "$(get H_P50 "$key")")" ms)" "" "" "" ""
  row "  probe runs / later than 10 ms / missed slots" \
    "$(get H_RUNS "$key") / $(get H_LATE "$key") / $(get H_MISSED "$key")" "" "" "" ""
  if [[ $key != none ]]; then
    row "  late runs the no-hang vigil had too (+-20 ms)" "$(get H_SHARED "$key")" "" "" "" ""
  fi
  row "  hung calls past their timeout" "$(get H_TIMEOUTS "$key")" "" "" "" ""
done
cat <<EOF

How: CPU is the on-CPU time of all of a daemon's threads (sum of /proc/PID/task/*/schedstat, ns),
read before and after; RSS is VmRSS (peak: VmHWM). Six collectors: each daemon is scraped with
gzip once a second over one kept-alive connection (bench_scrape), as Prometheus scrapes; the
"new connection" row repeats ${NEWCONN_S:-10}s connecting afresh per scrape, as curl in a loop
does (what this script measured before). vigil and collectd collect every second on their own
and are scraped once per second, so a second is a cycle; node_exporter collects on scrape, so a
scrape is a cycle; idle work is charged to the cycles. Textfile: the file is touched once per
second half a second away from vigil's collect (interval 1s), so each second is one full parse
plus one scrape; node_exporter reads the file on every scrape. Hang isolation: bench_schedule
(tests/bench/pack/bench_schedule.cpp) measures each start against phase + n x interval, the phase
being the earliest its runs allow; each round starts three fresh vigils side by side (no hung
plugin, one, four) and runs them ${HANG_SECONDS}s; the figure is the median of the rounds' worst.
A MISS is a figure to look at, not a failure of this script.
EOF

if [[ ${#CANNOT_RUN[@]} -gt 0 ]]; then
  echo
  echo "could not run: ${CANNOT_RUN[*]}"
  exit 1
fi
exit 0
