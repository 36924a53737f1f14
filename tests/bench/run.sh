#!/usr/bin/env bash
# tests/bench/run.sh — every benchmark of the issue's targets, in one script, on this machine:
# bench_store, bench_abi, then vigil serving 100,000 series against node_exporter's textfile
# collector serving the same series, then vigil as an agent (cpu + memory + prometheus) against
# node_exporter with its cpu and meminfo collectors. Prints one table: each figure, its target,
# PASS or MISS.
#
# It only measures: a MISS is reported, not a failure. It exits non-zero only when something
# could not run (a missing binary, a process that did not come up). It never leaves a process it
# started behind, and never touches anything outside its own temporary directory.
#
# Usage: tests/bench/run.sh BUILD_DIR [--rounds N] [--scrapes N] [--node-scrapes N]
#                                     [--agent-seconds N] [--keep]
#   BUILD_DIR built with: ninja -C BUILD_DIR vigil collector_cpu collector_memory \
#                                            exporter_prometheus bench
set -euo pipefail

usage() {
  sed -n '13,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[[ $# -ge 1 ]] || usage
BUILD=$(cd "$1" 2>/dev/null && pwd) || {
  echo "run.sh: build directory '$1' not found; expected e.g. build/default" >&2
  exit 2
}
shift
ROUNDS=3          # exposition rounds (median is reported)
SCRAPES=20        # vigil scrapes per exposition round
NODE_SCRAPES=5    # node_exporter scrapes per exposition round (it takes ~1 s each)
AGENT_SECONDS=30  # agent comparison: one scrape per second for this long
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

SERIES=100000
VIGIL=$BUILD/bin/vigil
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
CANNOT_RUN=()  # what could not be measured, for the exit status

missing=()
for f in "$VIGIL" "$BUILD/bin/bench_store" "$BUILD/bin/bench_abi" \
         "$BUILD/plugins/collector_cpu.so" "$BUILD/plugins/collector_memory.so" \
         "$BUILD/plugins/exporter_prometheus.so" "$BUILD/bench-plugins/bench_series.so" \
         "$BUILD/bench-plugins/bench_trivial.so"; do
  [[ -e $f ]] || missing+=("$f")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "run.sh: not built: ${missing[*]}" >&2
  echo "  build them with: ninja -C $BUILD vigil collector_cpu collector_memory exporter_prometheus bench" >&2
  echo "  (configured with -DVIGIL_BUILD_BENCH=ON, the default)" >&2
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
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
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
rss_kib() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' /proc/"$1"/status; }
kib_to_mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ns_to_ms() { awk -v n="$1" 'BEGIN {printf "%.3f", n / 1e6}'; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else print v[int((NR + 1) / 2)]}'; }

# A port nothing listens on right now (bash's /dev/tcp fails to connect to a free one).
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  echo "run.sh: found no free port" >&2
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
  NODE_PORT=$(free_port)
  "$NODE_EXPORTER" --web.listen-address=127.0.0.1:"$NODE_PORT" "$@" >"$logfile" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$NODE_PORT/" 2>/dev/null; then return 0; fi
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "run.sh: node_exporter did not come up; its log:"
  sed 's/^/  /' "$logfile" >&2
  return 1
}

# Scrapes URL N times back to back over one connection (as Prometheus keeps it alive), with
# optional extra curl arguments; prints "<cpu ns per scrape> <bytes of the last response>" for
# PID's CPU over the scrapes.
burst() {
  local pid=$1 url=$2 n=$3
  shift 3
  local args=() before after sizes
  for _ in $(seq "$n"); do args+=(-o /dev/null "$url"); done
  before=$(cpu_ns "$pid")
  sizes=$(curl -s --fail -w '%{size_download}\n' "$@" "${args[@]}") || return 1
  after=$(cpu_ns "$pid")
  echo "$(((after - before) / n)) $(tail -1 <<<"$sizes")"
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

# ---- 2. exposition of 100,000 series ----------------------------------------------------------
log "== exposition: vigil with bench_series ($SERIES series) + exporter_prometheus"
cat >"$WORK/exposition.json" <<EOF
{
  "plugin_dirs": ["$BUILD/plugins", "$BUILD/bench-plugins"],
  "log": {"level": "info"},
  "http": {"address": "127.0.0.1", "port": 0},
  "scheduler": {"jitter": 0},
  "instances": [
    {"plugin": "bench_series", "name": "bench", "interval": "1h", "timeout": "60s",
     "options": {"series": $SERIES}},
    {"plugin": "exporter_prometheus", "name": "prometheus"}
  ]
}
EOF
V_CPU=() V_GZ_CPU=() V_BYTES= V_GZ_BYTES= V_RSS= V_HWM= V_COLLECT_MS=
if start_vigil "$WORK/exposition.json" "$WORK/exposition.log"; then
  URL="http://127.0.0.1:$VIGIL_PORT/metrics"
  lines=0
  for _ in $(seq 300); do
    lines=$(curl -s "$URL" | grep -c '^bench_metric{' || true)
    [[ $lines -ge $SERIES ]] && break
    sleep 0.2
  done
  if [[ $lines -ge $SERIES ]]; then
    # The first scrape after registration sorts the series once; warm up past it.
    burst "$VIGIL_PID" "$URL" 3 >/dev/null
    for r in $(seq "$ROUNDS"); do
      read -r cpu V_BYTES < <(burst "$VIGIL_PID" "$URL" "$SCRAPES")
      V_CPU+=("$cpu")
      read -r cpu V_GZ_BYTES < <(burst "$VIGIL_PID" "$URL" "$SCRAPES" -H 'Accept-Encoding: gzip')
      V_GZ_CPU+=("$cpu")
      log "  round $r: $(ns_to_ms "${V_CPU[-1]}") ms/scrape plain, $(ns_to_ms "${V_GZ_CPU[-1]}") ms/scrape gzip"
    done
    V_RSS=$(rss_kib "$VIGIL_PID")
    V_HWM=$(hwm_kib "$VIGIL_PID")
    # What one collect() of the 100k writes took, from vigil's own call-duration histogram.
    V_COLLECT_MS=$(curl -s "$URL" | awk '
      /^vigil_plugin_call_duration_seconds_sum\{.*instance="bench"/ {s = $NF}
      /^vigil_plugin_call_duration_seconds_count\{.*instance="bench"/ {c = $NF}
      END {if (c > 0) printf "%.2f", s / c * 1000}')
  else
    log "run.sh: /metrics showed $lines bench_metric lines, expected $SERIES; vigil's log:"
    sed 's/^/  /' "$WORK/exposition.log" >&2
    CANNOT_RUN+=("vigil exposition")
  fi
  stop_pid "$VIGIL_PID"
else
  CANNOT_RUN+=("vigil exposition")
fi

N_CPU=() N_GZ_CPU=() N_BYTES= N_GZ_BYTES= N_RSS= N_HWM=
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
      read -r cpu N_BYTES < <(burst "$NODE_PID" "$URL" "$NODE_SCRAPES")
      N_CPU+=("$cpu")
      read -r cpu N_GZ_BYTES < <(burst "$NODE_PID" "$URL" "$NODE_SCRAPES" -H 'Accept-Encoding: gzip')
      N_GZ_CPU+=("$cpu")
      log "  round $r: $(ns_to_ms "${N_CPU[-1]}") ms/scrape plain, $(ns_to_ms "${N_GZ_CPU[-1]}") ms/scrape gzip"
    done
    N_RSS=$(rss_kib "$NODE_PID")
    N_HWM=$(hwm_kib "$NODE_PID")
    stop_pid "$NODE_PID"
  else
    CANNOT_RUN+=("node_exporter textfile")
  fi
fi

# ---- 3. the agent: cpu + memory + prometheus ------------------------------------------------
# Both daemons run side by side; each is scraped once per second for AGENT_SECONDS, on a new
# connection each time, and vigil's collectors run every second too, so every scrape pays for
# one collection in both (node_exporter collects on scrape). CPU per scrape = the process's total
# CPU over the period / the scrapes: idle work (timers, Go's GC) is counted, as it is a real cost.
log "== agent: vigil (collector_cpu, collector_memory, exporter_prometheus) vs node_exporter (cpu, meminfo), ${AGENT_SECONDS}s at one scrape per second"
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
A_CPU= A_RSS= A_HWM= A_BYTES= AN_CPU= AN_RSS= AN_HWM= AN_BYTES=
agent_vigil=0 agent_node=0
if start_vigil "$WORK/agent.json" "$WORK/agent.log"; then
  agent_vigil=1
  AV_URL="http://127.0.0.1:$VIGIL_PORT/metrics"
else
  CANNOT_RUN+=("vigil agent")
fi
if [[ $HAVE_NODE -eq 1 ]]; then
  if start_node "$WORK/node-agent.log" --collector.disable-defaults --collector.cpu \
       --collector.meminfo; then
    agent_node=1
    AN_URL="http://127.0.0.1:$NODE_PORT/metrics"
  else
    CANNOT_RUN+=("node_exporter agent")
  fi
fi
if [[ $agent_vigil -eq 1 || $agent_node -eq 1 ]]; then
  # Let start-up work (first collections, first page, Go's early GCs) finish first.
  # Prometheus asks for gzip; so do these scrapes.
  scrape_both() {
    if [[ $agent_vigil -eq 1 ]]; then curl -s -o /dev/null -H 'Accept-Encoding: gzip' "$AV_URL"; fi
    if [[ $agent_node -eq 1 ]]; then curl -s -o /dev/null -H 'Accept-Encoding: gzip' "$AN_URL"; fi
  }
  for _ in 1 2 3; do
    scrape_both
    sleep 1
  done
  if [[ $agent_vigil -eq 1 ]]; then
    v_before=$(cpu_ns "$VIGIL_PID")
    A_BYTES=$(curl -s "$AV_URL" | wc -c)
  fi
  if [[ $agent_node -eq 1 ]]; then
    n_before=$(cpu_ns "$NODE_PID")
    AN_BYTES=$(curl -s "$AN_URL" | wc -c)
  fi
  start_us=${EPOCHREALTIME/./}
  for i in $(seq "$AGENT_SECONDS"); do
    scrape_both
    now_us=${EPOCHREALTIME/./}
    wait_us=$((start_us + i * 1000000 - now_us))
    if [[ $wait_us -gt 0 ]]; then
      sleep "$(awk -v u="$wait_us" 'BEGIN {printf "%.6f", u / 1e6}')"
    fi
  done
  # Each daemon was also scraped once, uncompressed, for the page size: AGENT_SECONDS + 1 scrapes.
  if [[ $agent_vigil -eq 1 ]]; then
    A_CPU=$((($(cpu_ns "$VIGIL_PID") - v_before) / (AGENT_SECONDS + 1)))
    A_RSS=$(rss_kib "$VIGIL_PID")
    A_HWM=$(hwm_kib "$VIGIL_PID")
    stop_pid "$VIGIL_PID"
  fi
  if [[ $agent_node -eq 1 ]]; then
    AN_CPU=$((($(cpu_ns "$NODE_PID") - n_before) / (AGENT_SECONDS + 1)))
    AN_RSS=$(rss_kib "$NODE_PID")
    AN_HWM=$(hwm_kib "$NODE_PID")
    stop_pid "$NODE_PID"
  fi
fi

# ---- the table ------------------------------------------------------------------------------
med() { if [[ $# -eq 0 ]]; then echo ""; else printf '%s\n' "$@" | median; fi; }
V_MED=$(med "${V_CPU[@]}")
V_GZ_MED=$(med "${V_GZ_CPU[@]}")
N_MED=$(med "${N_CPU[@]}")
N_GZ_MED=$(med "${N_GZ_CPU[@]}")

# verdict VALUE OP LIMIT -> PASS / MISS / n/a
verdict() {
  [[ -z $1 ]] && { echo "n/a"; return; }
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "PASS" : "MISS" }'
}
row() { printf '%-58s %14s %12s  %s\n' "$1" "$2" "$3" "$4"; }
fmt() { [[ -z $1 ]] && echo "n/a" || echo "$1 $2"; }
ms() { [[ -z $1 ]] && echo "" || ns_to_ms "$1"; }
mib() { [[ -z $1 ]] && echo "" || kib_to_mib "$1"; }
mb_bytes() { [[ -z $1 ]] && echo "" || awk -v b="$1" 'BEGIN {printf "%.2f", b / 1e6}'; }

RATIO=
if [[ -n $V_MED && -n $N_MED && $V_MED -gt 0 ]]; then
  RATIO=$(awk -v n="$N_MED" -v v="$V_MED" 'BEGIN {printf "%.0f", n / v}')
fi
RATIO_GZ=
if [[ -n $V_GZ_MED && -n $N_GZ_MED && $V_GZ_MED -gt 0 ]]; then
  RATIO_GZ=$(awk -v n="$N_GZ_MED" -v v="$V_GZ_MED" 'BEGIN {printf "%.0f", n / v}')
fi

echo
echo "Vigil benchmarks on $(hostname) ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "CPU = on-CPU time of all the daemon's threads (/proc/PID/task/*/schedstat); RSS = VmRSS; MiB = 1024^2 bytes."
echo "Exposition: median of $ROUNDS rounds; a round is $SCRAPES back-to-back scrapes of vigil ($NODE_SCRAPES of node_exporter) over one"
echo "  connection, CPU per scrape = process CPU over the round / scrapes. Agent: CPU per scrape = process CPU over"
echo "  ${AGENT_SECONDS}s with one collection and one gzip scrape per second / scrapes (idle work included)."
echo
row "figure" "measured" "target" "result"
row "gauge write by handle (bench_store)" "$(fmt "$WRITE_NS" ns)" "<= 20 ns" "$(verdict "$WRITE_NS" '<=' 20)"
row "collect() ABI overhead, one gauge write (bench_abi)" "$(fmt "$ABI_GAUGE_NS" ns)" "<= 1000 ns" "$(verdict "$ABI_GAUGE_NS" '<=' 1000)"
row "collect() ABI overhead, empty collect (bench_abi)" "$(fmt "$ABI_NONE_NS" ns)" "-" ""
row "store visit + render 100k series, wall (bench_store)" "$(fmt "$RENDER_MS" ms)" "-" ""
row "vigil: CPU per scrape of 100k series" "$(fmt "$(ms "$V_MED")" ms)" "<= 15 ms" "$(verdict "$(ms "$V_MED")" '<=' 15)"
row "vigil: same, gzip (level 1)" "$(fmt "$(ms "$V_GZ_MED")" ms)" "-" ""
row "node_exporter textfile: CPU per scrape of 100k series" "$(fmt "$(ms "$N_MED")" ms)" "(~790 ms)" ""
row "node_exporter textfile: same, gzip" "$(fmt "$(ms "$N_GZ_MED")" ms)" "-" ""
row "node_exporter / vigil CPU per scrape" "$(fmt "$RATIO" x)" ">= 50 x" "$(verdict "$RATIO" '>=' 50)"
row "node_exporter / vigil CPU per scrape, gzip" "$(fmt "$RATIO_GZ" x)" "-" ""
row "vigil: RSS holding 100k series (peak)" "$(fmt "$(mib "$V_RSS")" "MiB") ($(mib "$V_HWM"))" "<= 40 MiB" "$(verdict "$(mib "$V_RSS")" '<=' 40)"
row "node_exporter textfile: RSS (peak)" "$(fmt "$(mib "$N_RSS")" "MiB") ($(mib "$N_HWM"))" "(150-180 MB)" ""
row "page size, vigil plain / gzip" "$(mb_bytes "$V_BYTES") / $(mb_bytes "$V_GZ_BYTES") MB" "-" ""
row "page size, node_exporter plain / gzip" "$(mb_bytes "$N_BYTES") / $(mb_bytes "$N_GZ_BYTES") MB" "(4.4 MB)" ""
row "vigil: one collect() writing 100k gauges (self-metrics)" "$(fmt "$V_COLLECT_MS" ms)" "-" ""
row "agent vigil (cpu, memory, prometheus): CPU per scrape" "$(fmt "$(ms "$A_CPU")" ms)" "<= 0.3 ms" "$(verdict "$(ms "$A_CPU")" '<=' 0.3)"
row "agent vigil: RSS (peak)" "$(fmt "$(mib "$A_RSS")" "MiB") ($(mib "$A_HWM"))" "<= 8 MiB" "$(verdict "$(mib "$A_RSS")" '<=' 8)"
row "agent node_exporter (cpu, meminfo): CPU per scrape" "$(fmt "$(ms "$AN_CPU")" ms)" "-" ""
row "agent node_exporter: RSS (peak)" "$(fmt "$(mib "$AN_RSS")" "MiB") ($(mib "$AN_HWM"))" "-" ""
row "agent page size, vigil / node_exporter (plain)" "$(mb_bytes "$A_BYTES") / $(mb_bytes "$AN_BYTES") MB" "-" ""

if [[ ${#CANNOT_RUN[@]} -gt 0 ]]; then
  echo
  echo "could not run: ${CANNOT_RUN[*]}"
  exit 1
fi
exit 0
