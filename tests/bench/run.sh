#!/usr/bin/env bash
# tests/bench/run.sh — every benchmark of the issue's targets, in one script, on this machine:
# bench_store, bench_abi, bench_wakeup, then vigil serving 100,000 series against
# node_exporter's textfile collector serving the same series, then vigil as an agent (cpu +
# memory + prometheus) against node_exporter with its cpu and meminfo collectors. Prints one
# table: each figure, its target, PASS or MISS, and below it how each figure was measured.
#
# It only measures: a MISS is reported, not a failure. It exits non-zero only when something
# could not run (a missing binary, a process that did not come up). It never leaves a process it
# started behind, and writes nothing outside its own temporary directory.
#
# Usage: tests/bench/run.sh BUILD_DIR [--rounds N] [--scrapes N] [--node-scrapes N]
#                                     [--agent-seconds N] [--keep]
#   BUILD_DIR built with: ninja -C BUILD_DIR vigil collector_cpu collector_memory \
#                                            exporter_prometheus bench
#   Progress and the raw output of each bench go to stderr; the table goes to stdout.
set -euo pipefail

usage() {
  sed -n '12,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[[ $# -ge 1 ]] || usage
[[ $1 == -h || $1 == --help ]] && usage
BUILD=$(cd "$1" 2>/dev/null && pwd) || {
  echo "run.sh: build directory '$1' not found; expected e.g. build/default" >&2
  exit 2
}
shift
ROUNDS=3          # exposition rounds (median is reported)
SCRAPES=20        # vigil scrapes per exposition round
NODE_SCRAPES=5    # node_exporter scrapes per exposition round (it takes ~1 s each)
AGENT_SECONDS=30  # agent comparison: one scrape per second for this long
IDLE_SECONDS=10   # agent: CPU with no scrapes at all, for the breakdown
NEWCONN_SECONDS=10  # agent: one scrape per second on a new connection each, for the breakdown
AGENT_BURST=100   # agent: back-to-back scrapes for the scrape-only figure
KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    --node-scrapes) NODE_SCRAPES=$2; shift 2 ;;
    --agent-seconds) AGENT_SECONDS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
for n in "$ROUNDS" "$SCRAPES" "$NODE_SCRAPES" "$AGENT_SECONDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: found '$n', expected a positive whole number" >&2; exit 2; }
done

SERIES=100000
VIGIL=$BUILD/bin/vigil
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
CANNOT_RUN=()  # what could not be measured, for the exit status

missing=()
for f in "$VIGIL" "$BUILD/bin/bench_store" "$BUILD/bin/bench_abi" "$BUILD/bin/bench_scrape" \
         "$BUILD/bin/bench_wakeup" \
         "$BUILD/plugins/collector_cpu.so" "$BUILD/plugins/collector_memory.so" \
         "$BUILD/plugins/exporter_prometheus.so" "$BUILD/bench-plugins/bench_series.so" \
         "$BUILD/bench-plugins/bench_trivial.so"; do
  [[ -e $f ]] || missing+=("$f")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "run.sh: not built: ${missing[*]}" >&2
  echo "  build them with: ninja -C $BUILD vigil collector_cpu collector_memory exporter_prometheus bench" >&2
  echo "  (the build must be configured with -DVIGIL_BUILD_BENCH=ON, the default)" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "run.sh: curl is needed to scrape; apt-get install curl" >&2; exit 2; }
HAVE_NODE=1
if [[ ! -x $NODE_EXPORTER ]]; then
  HAVE_NODE=0
  CANNOT_RUN+=("node_exporter ($NODE_EXPORTER not found; apt-get install prometheus-node-exporter)")
fi

WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# ---- measuring a process --------------------------------------------------------------------
# On-CPU time of every thread of PID in ns (first field of each task's schedstat): tick-based
# utime+stime is 10 ms coarse, too coarse for sub-millisecond scrapes. Threads in these two
# daemons live as long as the process, so none is lost from the sum between two readings.
cpu_ns() {
  local pid=$1 total=0 t v
  for t in /proc/"$pid"/task/*/schedstat; do
    read -r v _ <"$t" 2>/dev/null || continue
    total=$((total + v))
  done
  echo "$total"
}
now_us() { echo "${EPOCHREALTIME/./}"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' /proc/"$1"/status; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR > 0) print v[int((NR + 1) / 2)]}'; }
med() { if [[ $# -gt 0 ]]; then printf '%s\n' "$@" | median; fi; }

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

stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Starts node_exporter with ARGS on a free port; sets NODE_PID and NODE_PORT.
start_node() {
  local logfile=$1
  shift
  NODE_PORT=$(free_port) || return 1
  "$NODE_EXPORTER" --web.listen-address=127.0.0.1:"$NODE_PORT" "$@" >"$logfile" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$NODE_PORT/" 2>/dev/null; then return 0; fi
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "run.sh: node_exporter did not come up with $*; its log:"
  sed 's/^/  /' "$logfile" >&2
  return 1
}

# Scrapes URL N times back to back over one kept-alive connection (as Prometheus does), with
# optional extra curl arguments. Prints "<PID's CPU ns per scrape> <bytes of the last response>
# <wall time in us>".
burst() {
  local pid=$1 url=$2 n=$3
  shift 3
  local args=() before after sizes start
  for _ in $(seq "$n"); do args+=(-o /dev/null "$url"); done
  start=$(now_us)
  before=$(cpu_ns "$pid")
  sizes=$(curl -s --fail -w '%{size_download}\n' "$@" "${args[@]}") || return 1
  after=$(cpu_ns "$pid")
  echo "$(((after - before) / n)) $(tail -1 <<<"$sizes") $(($(now_us) - start))"
}

# ---- 1. micro-benchmarks --------------------------------------------------------------------
log "== bench_store"
STORE_OUT=$("$BUILD/bin/bench_store") || { CANNOT_RUN+=("bench_store"); STORE_OUT=; }
printf '%s\n' "$STORE_OUT" >&2
WRITE_NS=$(sed -n 's/^gauge write by handle: \([0-9.]*\) ns.*/\1/p' <<<"$STORE_OUT")
RENDER_MS=$(sed -n 's/^visit + render [0-9]* series: \([0-9.]*\) ms.*/\1/p' <<<"$STORE_OUT")

log "== bench_abi"
ABI_OUT=$("$BUILD/bin/bench_abi" "$BUILD/bench-plugins/bench_trivial.so") ||
  { CANNOT_RUN+=("bench_abi"); ABI_OUT=; }
printf '%s\n' "$ABI_OUT" >&2
ABI_GAUGE_NS=$(sed -n 's/^RESULT abi_overhead_gauge_ns //p' <<<"$ABI_OUT")
ABI_NONE_NS=$(sed -n 's/^RESULT abi_overhead_none_ns //p' <<<"$ABI_OUT")

# The machine's floor for the agent rows: one timer wake-up of a sleeping thread, and a hand-off
# to a second thread, in CPU (bench_wakeup.cpp).
log "== bench_wakeup"
WAKE_OUT=$("$BUILD/bin/bench_wakeup" 3) || { CANNOT_RUN+=("bench_wakeup"); WAKE_OUT=; }
printf '%s\n' "$WAKE_OUT" >&2
WAKE_US=$(sed -n 's/^RESULT wakeup_us //p' <<<"$WAKE_OUT")
HANDOFF_US=$(sed -n 's/^RESULT handoff_us //p' <<<"$WAKE_OUT")

# ---- 2. exposition of 100,000 series ----------------------------------------------------------
# vigil_exposition PREFIX HANDLES ROUNDS GZIP: one vigil with bench_series (handles "sdk" or
# "raw") and exporter_prometheus; sets PREFIX_CPU PREFIX_GZ_CPU (medians, ns per scrape),
# PREFIX_BYTES PREFIX_GZ_BYTES, PREFIX_RSS0 (KiB before the first scrape), PREFIX_RSS PREFIX_HWM
# (after the scrapes) and PREFIX_COLLECT_MS. Returns 1 when vigil could not serve the series.
vigil_exposition() {
  local prefix=$1 handles=$2 rounds=$3 gzip=$4
  local config="$WORK/exposition-$handles.json" logfile="$WORK/exposition-$handles.log"
  local cpus=() gz_cpus=() bytes= gz_bytes= rss0= lines=0 cpu r collect
  cat >"$config" <<EOF
{
  "plugin_dirs": ["$BUILD/plugins", "$BUILD/bench-plugins"],
  "log": {"level": "info"},
  "http": {"address": "127.0.0.1", "port": 0},
  "scheduler": {"jitter": 0},
  "instances": [
    {"plugin": "bench_series", "name": "bench", "interval": "1h", "timeout": "60s",
     "options": {"series": $SERIES, "handles": "$handles"}},
    {"plugin": "exporter_prometheus", "name": "prometheus"}
  ]
}
EOF
  start_vigil "$config" "$logfile" || return 1
  local url="http://127.0.0.1:$VIGIL_PORT/metrics"
  for _ in $(seq 300); do
    lines=$(curl -s "$url" | grep -c '^bench_metric{' || true)
    [[ $lines -ge $SERIES ]] && break
    sleep 0.2
  done
  if [[ $lines -lt $SERIES ]]; then
    log "run.sh: /metrics showed $lines bench_metric lines, expected $SERIES; vigil's log:"
    sed 's/^/  /' "$logfile" >&2
    stop_pid "$VIGIL_PID"
    return 1
  fi
  # Not quite before the first scrape (the wait above scraped), but before any measured one.
  rss0=$(rss_kib "$VIGIL_PID")
  # The first scrapes after registration sort the series once; warm up past them.
  burst "$VIGIL_PID" "$url" 3 >/dev/null
  for r in $(seq "$rounds"); do
    read -r cpu bytes _ < <(burst "$VIGIL_PID" "$url" "$SCRAPES")
    cpus+=("$cpu")
    if [[ $gzip -eq 1 ]]; then
      read -r cpu gz_bytes _ < <(burst "$VIGIL_PID" "$url" "$SCRAPES" -H 'Accept-Encoding: gzip')
      gz_cpus+=("$cpu")
      log "  round $r: $((cpus[-1] / 1000)) us/scrape plain, $((gz_cpus[-1] / 1000)) us/scrape gzip"
    else
      log "  round $r: $((cpus[-1] / 1000)) us/scrape plain"
    fi
  done
  printf -v "${prefix}_RSS" '%s' "$(rss_kib "$VIGIL_PID")"
  printf -v "${prefix}_HWM" '%s' "$(hwm_kib "$VIGIL_PID")"
  # What one collect() of the 100k writes took, from vigil's own call-duration histogram.
  collect=$(curl -s "$url" | awk '
    /^vigil_plugin_call_duration_seconds_sum\{.*instance="bench"/ {s = $NF}
    /^vigil_plugin_call_duration_seconds_count\{.*instance="bench"/ {c = $NF}
    END {if (c > 0) printf "%.2f", s / c * 1000}')
  stop_pid "$VIGIL_PID"
  printf -v "${prefix}_CPU" '%s' "$(med "${cpus[@]}")"
  printf -v "${prefix}_GZ_CPU" '%s' "$(med "${gz_cpus[@]}")"
  printf -v "${prefix}_BYTES" '%s' "$bytes"
  printf -v "${prefix}_GZ_BYTES" '%s' "$gz_bytes"
  printf -v "${prefix}_RSS0" '%s' "$rss0"
  printf -v "${prefix}_COLLECT_MS" '%s' "$collect"
}

V_CPU= V_GZ_CPU= V_BYTES= V_GZ_BYTES= V_RSS0= V_RSS= V_HWM= V_COLLECT_MS=
log "== exposition: vigil with bench_series ($SERIES series, vigil::Gauge handles) + exporter_prometheus"
vigil_exposition V sdk "$ROUNDS" 1 || CANNOT_RUN+=("vigil exposition")

R_CPU= R_GZ_CPU= R_BYTES= R_GZ_BYTES= R_RSS0= R_RSS= R_HWM= R_COLLECT_MS=
log "== exposition, breakdown: the same with bare C handles in bench_series (the host's share)"
vigil_exposition R raw 1 0 || CANNOT_RUN+=("vigil exposition with raw handles")

N_CPUS=() N_GZ_CPUS=() N_BYTES= N_GZ_BYTES= N_RSS= N_HWM=
if [[ $HAVE_NODE -eq 1 ]]; then
  log "== exposition: node_exporter textfile collector with the same $SERIES series"
  mkdir -p "$WORK/textfile"
  awk -v n="$SERIES" 'BEGIN {
    print "# HELP bench_metric A synthetic gauge the benchmarks serve in bulk."
    print "# TYPE bench_metric gauge"
    for (i = 0; i < n; i++) printf "bench_metric{host=\"h1\",id=\"%d\"} %.10g\n", i, i * 0.5
  }' >"$WORK/textfile/bench.prom.tmp"
  mv "$WORK/textfile/bench.prom.tmp" "$WORK/textfile/bench.prom"
  if start_node "$WORK/node-textfile.log" --collector.disable-defaults --collector.textfile \
       --collector.textfile.directory="$WORK/textfile"; then
    URL="http://127.0.0.1:$NODE_PORT/metrics"
    burst "$NODE_PID" "$URL" 1 >/dev/null
    for r in $(seq "$ROUNDS"); do
      read -r cpu N_BYTES _ < <(burst "$NODE_PID" "$URL" "$NODE_SCRAPES")
      N_CPUS+=("$cpu")
      read -r cpu N_GZ_BYTES _ < <(burst "$NODE_PID" "$URL" "$NODE_SCRAPES" -H 'Accept-Encoding: gzip')
      N_GZ_CPUS+=("$cpu")
      log "  round $r: $((N_CPUS[-1] / 1000)) us/scrape plain, $((N_GZ_CPUS[-1] / 1000)) us/scrape gzip"
    done
    N_RSS=$(rss_kib "$NODE_PID")
    N_HWM=$(hwm_kib "$NODE_PID")
    stop_pid "$NODE_PID"
  else
    CANNOT_RUN+=("node_exporter textfile")
  fi
fi
N_CPU=$(med "${N_CPUS[@]}")
N_GZ_CPU=$(med "${N_GZ_CPUS[@]}")

# ---- 3. the agent: cpu + memory + prometheus ------------------------------------------------
# Both daemons run side by side, each scraped once per second with gzip by bench_scrape over one
# kept-alive connection, as Prometheus scrapes (it never reconnects per scrape). vigil's
# collectors run every second too, so each scrape pays for one collection in both
# (node_exporter collects on scrape). CPU per scrape = the process's CPU over the period / the
# scrapes, idle work (timers, Go's GC) included, as it is a real cost.
# For the breakdown: CPU with no scrape at all over IDLE_SECONDS (collection and timers); the
# same cadence with a new connection per scrape (what curl in a loop costs); and a scrape alone:
# AGENT_BURST back-to-back scrapes minus the idle rate over their wall time.
log "== agent: vigil (collector_cpu, collector_memory, exporter_prometheus) vs node_exporter (cpu, meminfo)"
cat >"$WORK/agent.json" <<EOF
{
  "plugin_dirs": ["$BUILD/plugins"],
  "log": {"level": "info"},
  "http": {"address": "127.0.0.1", "port": 0},
  "scheduler": {"interval": "1s", "jitter": 0},
  "instances": [
    {"plugin": "collector_cpu", "name": "cpu"},
    {"plugin": "collector_memory", "name": "memory"},
    {"plugin": "exporter_prometheus", "name": "prometheus"}
  ]
}
EOF
NAMES=()  # "A" for vigil, "AN" for node_exporter: the prefixes of their results
declare -A PID_OF URL_OF
if start_vigil "$WORK/agent.json" "$WORK/agent.log"; then
  NAMES+=(A)
  PID_OF[A]=$VIGIL_PID
  URL_OF[A]="http://127.0.0.1:$VIGIL_PORT/metrics"
else
  CANNOT_RUN+=("vigil agent")
fi
if [[ $HAVE_NODE -eq 1 ]]; then
  if start_node "$WORK/node-agent.log" --collector.disable-defaults --collector.cpu \
       --collector.meminfo; then
    NAMES+=(AN)
    PID_OF[AN]=$NODE_PID
    URL_OF[AN]="http://127.0.0.1:$NODE_PORT/metrics"
  else
    CANNOT_RUN+=("node_exporter agent")
  fi
fi
A_CPU= A_IDLE= A_NEWCONN= A_SCRAPE= A_RSS= A_HWM= A_BYTES= A_GZ_BYTES=
AN_CPU= AN_IDLE= AN_NEWCONN= AN_SCRAPE= AN_RSS= AN_HWM= AN_BYTES= AN_GZ_BYTES=
if [[ ${#NAMES[@]} -gt 0 ]]; then
  scrape_all() {
    local who
    for who in "${NAMES[@]}"; do
      curl -s -o /dev/null -H 'Accept-Encoding: gzip' "${URL_OF[$who]}" || true
    done
  }
  # Start-up work (first collections, first page, Go's early GCs) is not what is measured.
  for _ in 1 2 3; do
    scrape_all
    sleep 1
  done
  declare -A BEFORE
  log "  idle for ${IDLE_SECONDS}s"
  for who in "${NAMES[@]}"; do BEFORE[$who]=$(cpu_ns "${PID_OF[$who]}"); done
  sleep "$IDLE_SECONDS"
  for who in "${NAMES[@]}"; do
    printf -v "${who}_IDLE" '%s' $((($(cpu_ns "${PID_OF[$who]}") - BEFORE[$who]) / IDLE_SECONDS))
  done
  # scrape_each SECONDS PREFIX_SUFFIX [--new-connection]: both daemons at once, one bench_scrape
  # each, one gzip scrape per second; sets <who><SUFFIX> to the CPU ns per scrape.
  scrape_each() {
    local seconds=$1 suffix=$2 who
    shift 2
    local scrapers=()
    for who in "${NAMES[@]}"; do BEFORE[$who]=$(cpu_ns "${PID_OF[$who]}"); done
    for who in "${NAMES[@]}"; do
      "$BUILD/bin/bench_scrape" "${URL_OF[$who]}" "$seconds" 1000 --gzip "$@" >&2 &
      scrapers+=($!)
      PIDS+=($!)
    done
    for pid in "${scrapers[@]}"; do wait "$pid" || CANNOT_RUN+=("bench_scrape $*"); done
    for who in "${NAMES[@]}"; do
      printf -v "${who}${suffix}" '%s' $((($(cpu_ns "${PID_OF[$who]}") - BEFORE[$who]) / seconds))
    done
  }
  log "  one scrape per second for ${AGENT_SECONDS}s, one kept-alive connection each"
  scrape_each "$AGENT_SECONDS" _CPU
  log "  one scrape per second for ${NEWCONN_SECONDS}s, a new connection per scrape"
  scrape_each "$NEWCONN_SECONDS" _NEWCONN --new-connection
  log "  $AGENT_BURST back-to-back scrapes each"
  for who in "${NAMES[@]}"; do
    read -r cpu bytes wall < <(burst "${PID_OF[$who]}" "${URL_OF[$who]}" "$AGENT_BURST" \
                                 -H 'Accept-Encoding: gzip')
    idle_var=${who}_IDLE
    scrape=$((cpu - ${!idle_var} * wall / 1000000 / AGENT_BURST))
    printf -v "${who}_SCRAPE" '%s' "$scrape"
    printf -v "${who}_GZ_BYTES" '%s' "$bytes"
    printf -v "${who}_BYTES" '%s' "$(curl -s "${URL_OF[$who]}" | wc -c)"
    printf -v "${who}_RSS" '%s' "$(rss_kib "${PID_OF[$who]}")"
    printf -v "${who}_HWM" '%s' "$(hwm_kib "${PID_OF[$who]}")"
    stop_pid "${PID_OF[$who]}"
  done
fi

# ---- the table ------------------------------------------------------------------------------
# verdict VALUE OP LIMIT -> PASS / MISS / n/a
verdict() {
  [[ -z $1 ]] && { echo "n/a"; return; }
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "PASS" : "MISS" }'
}
row() { printf '%-62s %18s %12s  %s\n' "$1" "$2" "$3" "$4"; }
# Unit conversions that leave an empty input empty, so a figure not measured reads "n/a".
ms() { [[ -n $1 ]] && awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e6}' || true; }
us_ms() { [[ -n $1 ]] && awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e3}' || true; }
mib() { [[ -n $1 ]] && awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}' || true; }
mb() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN {printf "%.2f", b / 1e6}' || true; }
kb() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e3}' || true; }
ratio() { [[ -n $1 && -n $2 && $2 -gt 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a / b}' || true; }
show() {  # show VALUE UNIT [VALUE2]: "12.3 ms", "12.3 MiB (14.0)", or n/a
  if [[ -z $1 ]]; then echo "n/a"; elif [[ -n ${3:-} ]]; then echo "$1 $2 ($3)"; else echo "$1 $2"; fi
}

RATIO=$(ratio "$N_CPU" "$V_CPU")
RATIO_GZ=$(ratio "$N_GZ_CPU" "$V_GZ_CPU")

echo
echo "Vigil benchmarks: $(uname -n), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "command: tests/bench/run.sh ${BUILD} --rounds $ROUNDS --scrapes $SCRAPES --node-scrapes $NODE_SCRAPES --agent-seconds $AGENT_SECONDS"
echo
row "figure" "measured" "target" "result"
row "gauge write by handle (bench_store)" "$(show "$WRITE_NS" ns)" "<= 20 ns" "$(verdict "$WRITE_NS" '<=' 20)"
row "collect() ABI overhead, one gauge write (bench_abi)" "$(show "$ABI_GAUGE_NS" ns)" "<= 1000 ns" "$(verdict "$ABI_GAUGE_NS" '<=' 1000)"
row "collect() ABI overhead, empty collect (bench_abi)" "$(show "$ABI_NONE_NS" ns)" "" ""
row "store visit + render of 100k series, wall (bench_store)" "$(show "$RENDER_MS" ms)" "" ""
echo "-- exposition of $SERIES series"
row "vigil: CPU per scrape" "$(show "$(ms "$V_CPU")" ms)" "<= 15 ms" "$(verdict "$(ms "$V_CPU")" '<=' 15)"
row "node_exporter textfile: CPU per scrape" "$(show "$(ms "$N_CPU")" ms)" "(~790 ms)" ""
row "node_exporter / vigil, CPU per scrape" "$(show "$RATIO" x)" ">= 50 x" "$(verdict "$RATIO" '>=' 50)"
row "vigil: RSS holding the series, after the scrapes (peak)" "$(show "$(mib "$V_RSS")" MiB "$(mib "$V_HWM")")" "<= 40 MiB" "$(verdict "$(mib "$V_RSS")" '<=' 40)"
row "node_exporter textfile: RSS after the scrapes (peak)" "$(show "$(mib "$N_RSS")" MiB "$(mib "$N_HWM")")" "(150-180 MB)" ""
row "vigil: CPU per scrape, gzip level 1" "$(show "$(ms "$V_GZ_CPU")" ms)" "" ""
row "node_exporter textfile: CPU per scrape, gzip" "$(show "$(ms "$N_GZ_CPU")" ms)" "" ""
row "node_exporter / vigil, CPU per scrape, gzip" "$(show "$RATIO_GZ" x)" "" ""
row "page size, vigil: plain / gzip" "$(mb "$V_BYTES") / $(mb "$V_GZ_BYTES") MB" "" ""
row "page size, node_exporter: plain / gzip" "$(mb "$N_BYTES") / $(mb "$N_GZ_BYTES") MB" "(4.4 MB)" ""
row "vigil: one collect() writing the 100k gauges (self-metrics)" "$(show "$V_COLLECT_MS" ms)" "" ""
row "vigil: RSS once the series are served, before measuring" "$(show "$(mib "$V_RSS0")" MiB)" "" ""
row "breakdown, bare C handles in bench_series: CPU per scrape" "$(show "$(ms "$R_CPU")" ms)" "" ""
row "breakdown, bare C handles: RSS before / after the scrapes" "$(mib "$R_RSS0") / $(mib "$R_RSS") MiB" "" ""
echo "-- agent: vigil (collector_cpu, collector_memory, exporter_prometheus) / node_exporter (cpu, meminfo)"
row "vigil: CPU per scrape, one collection + one gzip scrape (kept-alive)" "$(show "$(ms "$A_CPU")" ms)" "<= 0.3 ms" "$(verdict "$(ms "$A_CPU")" '<=' 0.3)"
row "vigil: RSS (peak)" "$(show "$(mib "$A_RSS")" MiB "$(mib "$A_HWM")")" "<= 8 MiB" "$(verdict "$(mib "$A_RSS")" '<=' 8)"
row "node_exporter: CPU per scrape (collects on scrape)" "$(show "$(ms "$AN_CPU")" ms)" "" ""
row "node_exporter: RSS (peak)" "$(show "$(mib "$AN_RSS")" MiB "$(mib "$AN_HWM")")" "" ""
row "breakdown, vigil: CPU per second with no scrape (collection)" "$(show "$(ms "$A_IDLE")" ms)" "" ""
row "breakdown, vigil: as above, a new connection per scrape" "$(show "$(ms "$A_NEWCONN")" ms)" "" ""
row "breakdown, vigil: one gzip scrape alone (idle subtracted)" "$(show "$(ms "$A_SCRAPE")" ms)" "" ""
row "breakdown, this machine: a timer wake-up of a sleeping thread" "$(show "$(us_ms "$WAKE_US")" ms)" "" ""
row "breakdown, this machine: a hand-off to a second thread, on top" "$(show "$(us_ms "$HANDOFF_US")" ms)" "" ""
row "breakdown, node_exporter: CPU per second with no scrape" "$(show "$(ms "$AN_IDLE")" ms)" "" ""
row "breakdown, node_exporter: as above, a new connection per scrape" "$(show "$(ms "$AN_NEWCONN")" ms)" "" ""
row "breakdown, node_exporter: one gzip scrape alone" "$(show "$(ms "$AN_SCRAPE")" ms)" "" ""
row "page size, vigil: plain / gzip" "$(kb "$A_BYTES") / $(kb "$A_GZ_BYTES") kB" "" ""
row "page size, node_exporter: plain / gzip" "$(kb "$AN_BYTES") / $(kb "$AN_GZ_BYTES") kB" "" ""
cat <<EOF

How: CPU is the on-CPU time of all the daemon's threads (sum of /proc/PID/task/*/schedstat),
read before and after; RSS is VmRSS (peak: VmHWM); MiB = 1024^2 bytes.
Exposition: median of $ROUNDS rounds; a round is $SCRAPES back-to-back scrapes of vigil ($NODE_SCRAPES of
  node_exporter) over one kept-alive connection; CPU per scrape = the process's CPU over the round
  / scrapes. vigil's 100k series are written once (interval 1h), node_exporter reads its .prom
  file on every scrape, as its textfile collector does.
Agent: both daemons side by side for ${AGENT_SECONDS}s, each scraped once per second with gzip by
  bench_scrape over one kept-alive connection, as Prometheus does (the breakdown row repeats it for
  ${NEWCONN_SECONDS}s with a new connection per scrape); vigil's collectors run every 1s, so CPU per scrape
  = the process's CPU over the period / scrapes covers one collection and one scrape, idle work
  included. The "this machine" rows (bench_wakeup) are what waking a sleeping thread costs here,
  ten times a second with nothing else to do: vigil pays one such wake-up per tick and one per
  scrape. A MISS is a figure to look at, not a failure of this script.
EOF

if [[ ${#CANNOT_RUN[@]} -gt 0 ]]; then
  echo
  echo "could not run: ${CANNOT_RUN[*]}"
  exit 1
fi
exit 0
