#!/usr/bin/env bash
# The gateway's overhead, measured: a dedicated stack on its own ports (release build, mock
# provider, billing, logging and Redis limits all on), then the same load straight to the mock
# and through the gateway in the same run. Prints a Markdown table.
#
#   scripts/bench.sh               full run (~2 minutes after the build)
#   BENCH_SECONDS=5 scripts/bench.sh   shorter runs
#   BENCH_BIN=/path/to/bins scripts/bench.sh   prebuilt binaries (compare two builds, before and
#                                    after a change, on the same machine in one sitting)
# Run it alone: it saturates both cores by design.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${BENCH_SECONDS:-10}
WORK=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

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
start mock "$BIN/tollgate-mock-provider" --listen "$MOCK"
start logging "$BIN/tollgate-logging"
start billing "$BIN/tollgate-billing"
start routing "$BIN/tollgate-routing"
start edge "$BIN/tollgate-edge"
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
DIRECT="http://$MOCK/v1/chat/completions"; GW="http://$EDGE/v1/chat/completions"
AUTH=(-H "authorization: Bearer $KEY" -H "content-type: application/json")
mock_opts() { curl -fsS -X PUT "http://$MOCK/_mock/options" -H 'content-type: application/json' -d "$1" >/dev/null; }
bench() { "$BIN/tollgate-bench" "$@" 2>/dev/null; }
field() { python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r.get('$2', ''))" "$1"; }

echo "bench: saturation (mock adds 0 ms, 64 connections, ${SECS}s each)..." >&2
mock_opts '{"latency_ms":0,"chunks":16}'
bench saturate --url "$GW" "${AUTH[@]}" --body "$BODY" --connections 64 --duration 2s >/dev/null  # warm pools
SAT_D=$(bench saturate --url "$DIRECT" "${AUTH[@]}" --body "$BODY" --connections 64 --duration "${SECS}s" --warmup 1s)
SAT_G=$(bench saturate --url "$GW" "${AUTH[@]}" --body "$BODY" --connections 64 --duration "${SECS}s" --warmup 1s)

echo "bench: fixed rate 1000 req/s (mock adds 50 ms)..." >&2
mock_opts '{"latency_ms":50,"chunks":16}'
RATE_D=$(bench rate --url "$DIRECT" "${AUTH[@]}" --body "$BODY" --rps 1000 --connections 256 --duration "${SECS}s" --warmup 1s)
RATE_G=$(bench rate --url "$GW" "${AUTH[@]}" --body "$BODY" --rps 1000 --connections 256 --duration "${SECS}s" --warmup 1s)

# Note: routing holds a stream's role-only first event until the first output token, so a
# provider failing before its first token can still be replaced; the first byte through the
# gateway is therefore the first token, one chunk delay (5 ms) after the direct first byte.
echo "bench: streaming time to first byte (mock adds 50 ms, 16 chunks 5 ms apart)..." >&2
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

python3 - "$SAT_D" "$SAT_G" "$RATE_D" "$RATE_G" "$TT_D" "$TT_G" <<'PY'
import json, sys
sd, sg, rd, rg, td, tg = (json.loads(a) for a in sys.argv[1:7])
def row(name, d, g, key, fmt="{:.2f}", unit=" ms"):
    dv, gv = d.get(key), g.get(key)
    diff = gv - dv if dv is not None and gv is not None else None
    print(f"| {name} | {fmt.format(dv)}{unit} | {fmt.format(gv)}{unit} | {'+' if diff >= 0 else ''}{fmt.format(diff)}{unit} |")
print("| measure | direct to mock | through gateway | gateway adds |")
print("|---|---|---|---|")
row("requests/s at saturation (0 ms mock, 64 conns)", sd, sg, "rps", "{:.0f}", "")
row("p50 at saturation", sd, sg, "p50_ms")
row("p99 at saturation", sd, sg, "p99_ms")
row("p50 at 1,000 req/s (50 ms mock)", rd, rg, "p50_ms")
row("p99 at 1,000 req/s (50 ms mock)", rd, rg, "p99_ms")
row("stream TTFB p50 (50 ms mock)", td, tg, "ttfb_p50_ms")
row("stream TTFB p99 (50 ms mock)", td, tg, "ttfb_p99_ms")
errs = {k: v.get("errors", 0) for k, v in zip(["sat direct","sat gw","rate direct","rate gw","ttfb direct","ttfb gw"], [sd,sg,rd,rg,td,tg])}
late = {k: v.get("late", 0) for k, v in zip(["rate direct","rate gw"], [rd,rg])}
print(f"\nerrors: {errs}; late (rate mode): {late}")
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
