#!/usr/bin/env bash
# The gateway's overhead, measured: a dedicated stack on its own ports (release build, mock
# provider, billing, logging and Redis limits all on), then the same load straight to the mock,
# through a bare nginx hop, and through the gateway in the same run. Prints Markdown tables:
# saturation, added latency at fixed rates, streaming time to first byte, and CPU per request of
# every process of the stack (edge, routing, billing, logging, Redis, Postgres) read from /proc.
#
#   scripts/bench.sh                   one-core mode (default): the whole stack, Redis and
#                                      Postgres included, on CPU 1; load generator and mock on CPU 0
#   BENCH_MODE=spread scripts/bench.sh nothing pinned
#   BENCH_SECONDS=5 scripts/bench.sh   shorter runs
#   BENCH_RATE_CONNS=16 scripts/bench.sh   fixed-rate phases over 16 connections (default 256)
#   BENCH_BIN=/path/to/bins scripts/bench.sh   prebuilt binaries (compare two builds, before and
#                                    after a change, on the same machine in one sitting)
#   BENCH_PROFILE=dir scripts/bench.sh   also `perf record` the stack's CPU during each gateway
#                                    phase (onecore: all of CPU 1) and write dir/<phase>.txt: per
#                                    process, its share in the kernel and its top frames
# Run it alone: it saturates both cores by design. nginx (Debian's nginx-light) is installed when
# missing, for the bare-proxy baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${BENCH_SECONDS:-10}
MODE=${BENCH_MODE:-onecore}
# Connections the fixed-rate phases spread their requests over (each opened on first use).
RATE_CONNS=${BENCH_RATE_CONNS:-256}
WORK=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
PIDS=()
ALL_CPUS="0-$(($(nproc) - 1))"
if [ "$MODE" = onecore ] && [ "$(nproc)" -ge 2 ]; then
  STACK=(taskset -c 1); LOAD=(taskset -c 0)
else
  MODE=spread; STACK=(); LOAD=()
fi
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Redis and Postgres are shared services: give them every CPU back.
  for p in $(pgrep -x redis-server) $(pgrep -x postgres); do taskset -apc "$ALL_CPUS" "$p" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

if ! command -v nginx >/dev/null 2>&1; then
  echo "bench: installing nginx-light for the bare-proxy baseline..." >&2
  (apt-get install -y -q nginx-light >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx-light >/dev/null 2>&1; }) \
    || echo "bench: nginx could not be installed; its column stays empty" >&2
fi

PG_DB=tollgate_bench source scripts/services.sh
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  cargo build --release --locked --bins -q
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
fi

EDGE=127.0.0.1:18080; MOCK=127.0.0.1:19000
export TOLLGATE_BENCH_PEPPER=bench-pepper TOLLGATE_BENCH_ADMIN=bench-admin
cat > "$WORK/tollgate.toml" <<TOML
[edge]
listen = "$EDGE"
admin_token = "env:TOLLGATE_BENCH_ADMIN"
key_pepper = "env:TOLLGATE_BENCH_PEPPER"
routing_url = "http://127.0.0.1:15051"
billing_url = "http://127.0.0.1:15052"
logging_url = "http://127.0.0.1:15053"
[edge.usage]
spool_dir = "$WORK/spool"
[routing]
listen = "127.0.0.1:15051"
[billing]
listen = "127.0.0.1:15052"
key_pepper = "env:TOLLGATE_BENCH_PEPPER"
[logging]
listen = "127.0.0.1:15053"
[redis]
key_prefix = "tgbench$$"
[telemetry]
log_filter = "warn"
[[providers]]
name = "mock"
kind = "openai"
base_url = "http://$MOCK/v1"
[[models]]
name = "mock"
deployments = [{ provider = "mock", model = "mock-1" }]
price = { input = "0.15", output = "0.60" }
TOML
export TOLLGATE_CONFIG="$WORK/tollgate.toml" TOLLGATE_DATABASE__URL="$DATABASE_URL" TOLLGATE_REDIS__URL="$REDIS_URL"
"$BIN/tollgatectl" migrate --database-url "$DATABASE_URL" >/dev/null

declare -A PID_OF
start() { local n=$1; shift; "$@" >"$WORK/$n.log" 2>&1 & PIDS+=($!); PID_OF[$n]=$!; }
start mock "${LOAD[@]}" "$BIN/tollgate-mock-provider" --listen "$MOCK"
start logging "${STACK[@]}" "$BIN/tollgate-logging"
start billing "${STACK[@]}" "$BIN/tollgate-billing"
start routing "${STACK[@]}" "$BIN/tollgate-routing"
start edge "${STACK[@]}" "$BIN/tollgate-edge"
if [ "$MODE" = onecore ]; then
  for p in $(pgrep -x redis-server) $(pgrep -x postgres); do taskset -apc 1 "$p" >/dev/null 2>&1 || true; done
fi
NGINX=127.0.0.1:18090
if command -v nginx >/dev/null 2>&1; then
  cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  upstream mock { server $MOCK; keepalive 128; }
  server {
    listen $NGINX;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
  start nginx "${STACK[@]}" nginx -c "$WORK/nginx.conf" -g 'daemon off;'
fi
for _ in $(seq 1 150); do curl -fsS "http://$EDGE/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://$EDGE/readyz" >/dev/null || { echo "bench: edge not ready; logs in $WORK" >&2; exit 1; }

export TOLLGATE_URL="http://$EDGE" TOLLGATE_ADMIN_TOKEN=bench-admin
TENANT=$("$BIN/tollgatectl" --json tenants create "bench-$$" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
KEY=$("$BIN/tollgatectl" --json keys create --tenant "$TENANT" --name bench --rpm 100000000 --concurrency 100000 \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "http://$EDGE/v1/models")" = 200 ] && break; sleep 0.1
done

BODY='{"model":"mock","messages":[{"role":"user","content":"Benchmark the gateway overhead please"}],"max_tokens":16}'
SBODY='{"model":"mock","stream":true,"messages":[{"role":"user","content":"Benchmark the gateway overhead please"}]}'
DIRECT="http://$MOCK/v1/chat/completions"; GW="http://$EDGE/v1/chat/completions"; NX="http://$NGINX/v1/chat/completions"
AUTH=(-H "authorization: Bearer $KEY" -H "content-type: application/json")
mock_opts() { curl -fsS -X PUT "http://$MOCK/_mock/options" -H 'content-type: application/json' -d "$1" >/dev/null; }
bench() { "${LOAD[@]}" "$BIN/tollgate-bench" "$@" 2>/dev/null; }

# CPU time (clock ticks, user and system) of every process of the stack, by name, as JSON.
procs() {
  echo "edge ${PID_OF[edge]}"; echo "routing ${PID_OF[routing]}"; echo "billing ${PID_OF[billing]}"
  echo "logging ${PID_OF[logging]}"
  for p in $(pgrep -x redis-server); do echo "redis $p"; done
  for p in $(pgrep -x postgres); do echo "postgres $p"; done
  if [ -n "${PID_OF[nginx]:-}" ]; then echo "nginx ${PID_OF[nginx]}"; for p in $(pgrep -P "${PID_OF[nginx]}"); do echo "nginx $p"; done; fi
}
ticks() {
  procs | while read -r name pid; do
    awk -v n="$name" '{print n, $14, $15}' "/proc/$pid/stat" 2>/dev/null || true
  done | python3 -c '
import json, sys
t = {}
for line in sys.stdin:
    n, u, s = line.split()
    e = t.setdefault(n, [0, 0]); e[0] += int(u); e[1] += int(s)
print(json.dumps(t))'
}
# BENCH_PROFILE: sample the stack during one phase (named by $PROFILE_AS), then summarise it.
profile_start() {
  [ -n "${BENCH_PROFILE:-}" ] && [ -n "${PROFILE_AS:-}" ] || return 0
  mkdir -p "$BENCH_PROFILE"
  local where=(-a); [ "$MODE" = onecore ] && where=(-C 1)
  perf record -q -F 1999 "${where[@]}" -o "$BENCH_PROFILE/$PROFILE_AS.data" >/dev/null 2>&1 & PERF_PID=$!
}
profile_stop() {
  [ -n "${PERF_PID:-}" ] || return 0
  kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; PERF_PID=
  local data="$BENCH_PROFILE/$PROFILE_AS.data" out="$BENCH_PROFILE/$PROFILE_AS.txt"
  : > "$out"
  procs | sort -u | awk '{a[$1] = a[$1] ? a[$1] "," $2 : $2} END {for (n in a) print n, a[n]}' | while read -r name pids; do
    { echo "## $name ($pids)"
      perf report -i "$data" --pid "$pids" --no-children --sort dso --stdio -q 2>/dev/null | head -8
      perf report -i "$data" --pid "$pids" --no-children --sort sym --stdio -q --percent-limit 0.7 2>/dev/null | head -40
      echo; } >> "$out"
  done
  perf report -i "$data" --no-children --sort comm --stdio -q 2>/dev/null | head -20 >> "$out"
}
# One measured phase: the load report with the stack's CPU ticks before and after attached.
phase() {
  local before after report
  profile_start
  before=$(ticks); report=$(bench "$@"); after=$(ticks)
  profile_stop
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["cpu_before"]=json.loads(sys.argv[2]); r["cpu_after"]=json.loads(sys.argv[3]); print(json.dumps(r))' \
    "$report" "$before" "$after"
}

echo "bench ($MODE): saturation (mock adds 0 ms, 64 connections, ${SECS}s each)..." >&2
mock_opts '{"latency_ms":0,"chunks":16}'
bench saturate --url "$GW" "${AUTH[@]}" --body "$BODY" --connections 64 --duration 2s >/dev/null  # warm pools
SAT_D=$(phase saturate --url "$DIRECT" "${AUTH[@]}" --body "$BODY" --connections 64 --duration "${SECS}s" --warmup 0s)
SAT_N='{}'
if [ -n "${PID_OF[nginx]:-}" ]; then
  bench saturate --url "$NX" "${AUTH[@]}" --body "$BODY" --connections 64 --duration 1s >/dev/null
  SAT_N=$(phase saturate --url "$NX" "${AUTH[@]}" --body "$BODY" --connections 64 --duration "${SECS}s" --warmup 0s)
fi
SAT_G=$(PROFILE_AS=saturation phase saturate --url "$GW" "${AUTH[@]}" --body "$BODY" --connections 64 --duration "${SECS}s" --warmup 0s)

echo "bench ($MODE): fixed rates 300 and 1,000 req/s (mock answers at once)..." >&2
R300_D=$(phase rate --url "$DIRECT" "${AUTH[@]}" --body "$BODY" --rps 300 --connections "$RATE_CONNS" --duration "${SECS}s" --warmup 0s)
R300_G=$(PROFILE_AS=rate300 phase rate --url "$GW" "${AUTH[@]}" --body "$BODY" --rps 300 --connections "$RATE_CONNS" --duration "${SECS}s" --warmup 0s)
R1K_D=$(phase rate --url "$DIRECT" "${AUTH[@]}" --body "$BODY" --rps 1000 --connections "$RATE_CONNS" --duration "${SECS}s" --warmup 0s)
R1K_G=$(PROFILE_AS=rate1000 phase rate --url "$GW" "${AUTH[@]}" --body "$BODY" --rps 1000 --connections "$RATE_CONNS" --duration "${SECS}s" --warmup 0s)

# Note: routing holds a stream's role-only first event until the first output token, so a
# provider failing before its first token can still be replaced; the first byte through the
# gateway is therefore the first token, one chunk delay (5 ms) after the direct first byte.
echo "bench ($MODE): streaming time to first byte (mock adds 50 ms, 16 chunks 5 ms apart)..." >&2
mock_opts '{"latency_ms":50,"chunk_delay_ms":5,"chunks":16}'
TT_D=$(bench ttfb --url "$DIRECT" "${AUTH[@]}" --body "$SBODY" --requests 300 --concurrency 16)
TT_G=$(bench ttfb --url "$GW" "${AUTH[@]}" --body "$SBODY" --requests 300 --concurrency 16)

echo "bench: routing decision cost (50 deployments)..." >&2
if [ -n "${BENCH_BIN:-}" ]; then
  DECISION="(not measured with BENCH_BIN: the example builds from this tree)"
else
  DECISION=$(cargo run --release --locked -q -p tollgate-routing --example decision_cost 2>/dev/null || echo "decision_cost example failed")
fi

DROPPED=$(curl -fsS "http://$EDGE/metrics" | awk '/^tollgate_log_records_dropped_total/ {print $2}')

rss() { awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

echo "Mode: $MODE ($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(date -u +%Y-%m-%d)."
echo
python3 - "$(getconf CLK_TCK)" "$SAT_D" "$SAT_N" "$SAT_G" "$R300_D" "$R300_G" "$R1K_D" "$R1K_G" "$TT_D" "$TT_G" <<'PY'
import json, sys
tck = int(sys.argv[1])
sd, sn, sg, r3d, r3g, r1d, r1g, td, tg = (json.loads(a) for a in sys.argv[2:11])

def cpu(r):
    """ms of CPU per request, by process, user+system and system alone."""
    b, a, n = r.get("cpu_before", {}), r.get("cpu_after", {}), max(r.get("requests", 0), 1)
    out = {}
    for name in a:
        u = a[name][0] - b.get(name, [0, 0])[0]
        s = a[name][1] - b.get(name, [0, 0])[1]
        out[name] = ((u + s) * 1000 / tck / n, s * 1000 / tck / n)
    return out

print("| saturation (0 ms mock, 64 connections) | requests/s | p50 | p99 |")
print("|---|---|---|---|")
for name, r in [("direct to mock", sd), ("bare nginx hop", sn), ("through the gateway", sg)]:
    if r.get("rps") is None:
        print(f"| {name} | n/a | | |"); continue
    print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
if sn.get("rps"):
    print()
    print(f"Gateway at {100 * sg['rps'] / sn['rps']:.1f}% of the nginx hop's rate (target: at least 40%).")

print()
print("| added latency (mock answers at once) | p50 | p99 |")
print("|---|---|---|")
for name, d, g in [("300 req/s", r3d, r3g), ("1,000 req/s", r1d, r1g)]:
    print(f"| {name} | +{g['p50_ms'] - d['p50_ms']:.2f} ms | +{g['p99_ms'] - d['p99_ms']:.2f} ms |")
print(f"| stream TTFB p50 / p99 (50 ms mock) | +{tg['ttfb_p50_ms'] - td['ttfb_p50_ms']:.2f} ms | +{tg['ttfb_p99_ms'] - td['ttfb_p99_ms']:.2f} ms |")

names = ["edge", "routing", "billing", "logging", "redis", "postgres"]
print()
print("| CPU per request, ms (user+sys / of which sys) | " + " | ".join(names) + " | whole stack |")
print("|---|" + "---|" * (len(names) + 1))
for name, r in [("300 req/s", r3g), ("1,000 req/s", r1g), ("saturation", sg)]:
    c = cpu(r)
    cells = [f"{c.get(n, (0, 0))[0]:.3f} / {c.get(n, (0, 0))[1]:.3f}" for n in names]
    total = sum(c.get(n, (0, 0))[0] for n in names)
    print(f"| {name} | " + " | ".join(cells) + f" | {total:.3f} |")
if sn.get("rps"):
    c = cpu(sn)
    print()
    print(f"The nginx hop at saturation: {c.get('nginx', (0, 0))[0]:.3f} ms CPU per request.")
print()
print("Target (issue 12): whole stack at most 0.25 ms per request at any rate.")
errs = {k: v.get("errors", 0) for k, v in zip(["sat direct", "sat nginx", "sat gw", "300 direct", "300 gw", "1k direct", "1k gw", "ttfb direct", "ttfb gw"], [sd, sn, sg, r3d, r3g, r1d, r1g, td, tg])}
late = {k: v.get("late", 0) for k, v in zip(["300 direct", "300 gw", "1k direct", "1k gw"], [r3d, r3g, r1d, r1g])}
print()
print(f"errors: {errs}; late (rate mode): {late}")
PY
echo
echo "| service | peak RSS |"
echo "|---|---|"
for n in edge routing billing logging mock; do echo "| $n | $(rss "${PID_OF[$n]}") |"; done
echo
echo "Request-log records dropped by the edge during the run (best effort by design): ${DROPPED:-0}"
echo
echo "Routing decision cost with 50 deployments configured:"
echo '```'
echo "$DECISION"
echo '```'
# Usage and logs were on for every gateway request: show that they arrived.
sleep 1
echo
"$BIN/tollgatectl" spend --tenant "$TENANT" --group-by tenant 2>/dev/null | tail -3 || true
