#!/usr/bin/env bash
# Bring the whole gateway up on this machine: Postgres and Redis (installed and started if
# missing), a release build, migrations, the four services and the built-in mock provider in the
# background, a demo tenant and key. Idempotent: run it again and it reuses what is running.
#
#   scripts/quickstart.sh          start (or confirm) everything, print a working curl
#   scripts/quickstart.sh stop     stop what it started
#   scripts/quickstart.sh status   show what is running
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE="$ROOT/.tollgate"
mkdir -p "$STATE/logs" "$STATE/pids" "$STATE/spool"
EDGE_PORT=${TOLLGATE_EDGE_PORT:-8080}
MOCK_PORT=${TOLLGATE_MOCK_PORT:-9000}
SERVICES=(mock-provider logging billing routing edge)

pid_alive() { [ -f "$STATE/pids/$1.pid" ] && kill -0 "$(cat "$STATE/pids/$1.pid")" 2>/dev/null; }

stop_all() {
  for ((i=${#SERVICES[@]}-1; i>=0; i--)); do
    s=${SERVICES[$i]}
    if pid_alive "$s"; then
      kill -TERM "$(cat "$STATE/pids/$s.pid")" 2>/dev/null || true
      for _ in $(seq 1 100); do pid_alive "$s" || break; sleep 0.1; done
      echo "stopped $s"
    fi
    rm -f "$STATE/pids/$s.pid"
  done
}

case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  status)
    for s in "${SERVICES[@]}"; do
      if pid_alive "$s"; then echo "$s: running (pid $(cat "$STATE/pids/$s.pid"))"; else echo "$s: stopped"; fi
    done
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

# 1. Datastores.
# shellcheck source=scripts/services.sh
source scripts/services.sh

# 2. Build. The toolchain comes from rust-toolchain.toml through rustup.
if ! command -v cargo >/dev/null 2>&1; then
  echo "quickstart: cargo is not installed; install Rust with rustup (https://rustup.rs) first." >&2
  exit 1
fi
echo "quickstart: building (release; the first build takes several minutes)..." >&2
cargo build --release --locked --bins -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

# 3. Secrets for this machine, made once.
if [ ! -f "$STATE/secrets.env" ]; then
  umask 077
  {
    echo "TOLLGATE_KEY_PEPPER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "TOLLGATE_ADMIN_TOKEN=tga-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } > "$STATE/secrets.env"
  umask 022
fi
# Added on its own so a .tollgate/ made before internal authentication existed gains it too.
if ! grep -q '^TOLLGATE_INTERNAL_SECRET=' "$STATE/secrets.env"; then
  umask 077
  echo "TOLLGATE_INTERNAL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >> "$STATE/secrets.env"
  umask 022
fi
set -a; source "$STATE/secrets.env"; set +a

# 4. Configuration (kept if you edited it).
if [ ! -f "$STATE/tollgate.toml" ]; then
  sed -e "s#@EDGE_PORT@#$EDGE_PORT#g" -e "s#@MOCK_PORT@#$MOCK_PORT#g" \
      -e "s#@SPOOL@#$STATE/spool#g" -e "s#@ROUTING_SPOOL@#$STATE/routing-spool#g" deploy/local/tollgate.toml > "$STATE/tollgate.toml"
fi
export TOLLGATE_CONFIG="$STATE/tollgate.toml"
# A config kept from before `[internal]` existed still gets authenticated gRPC calls.
grep -q '^\[internal\]' "$TOLLGATE_CONFIG" || export TOLLGATE_INTERNAL__SECRET="env:TOLLGATE_INTERNAL_SECRET"
export TOLLGATE_DATABASE__URL="$DATABASE_URL" TOLLGATE_REDIS__URL="$REDIS_URL"
"$BIN/tollgatectl" config check "$TOLLGATE_CONFIG" >/dev/null

# 5. Migrations.
"$BIN/tollgatectl" migrate --database-url "$DATABASE_URL"

# 6. Services, in dependency order.
start_one() {
  local name=$1; shift
  if pid_alive "$name"; then return; fi
  nohup "$@" >>"$STATE/logs/$name.log" 2>&1 &
  echo $! > "$STATE/pids/$name.pid"
}
start_one mock-provider "$BIN/tollgate-mock-provider" --listen "127.0.0.1:$MOCK_PORT"
TOLLGATE_TELEMETRY__METRICS_LISTEN=127.0.0.1:9103 start_one logging "$BIN/tollgate-logging"
TOLLGATE_TELEMETRY__METRICS_LISTEN=127.0.0.1:9102 start_one billing "$BIN/tollgate-billing"
TOLLGATE_TELEMETRY__METRICS_LISTEN=127.0.0.1:9101 start_one routing "$BIN/tollgate-routing"
start_one edge "$BIN/tollgate-edge"

URL="http://127.0.0.1:$EDGE_PORT"
for _ in $(seq 1 150); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
if ! curl -fsS "$URL/readyz" >/dev/null 2>&1; then
  echo "quickstart: the edge did not become ready; see $STATE/logs/*.log" >&2
  curl -sS "$URL/readyz" >&2 || true
  exit 1
fi

# 7. A demo tenant and key, made once (and again if the old key no longer works).
export TOLLGATE_URL="$URL"
KEY=""
if [ -f "$STATE/env" ]; then KEY=$(sed -n 's/^TOLLGATE_API_KEY=//p' "$STATE/env"); fi
if [ -z "$KEY" ] || [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$URL/v1/models")" != 200 ]; then
  TENANT=$("$BIN/tollgatectl" --json tenants list | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(next((t["id"] for t in d if t["name"]=="demo"), ""))')
  if [ -z "$TENANT" ]; then
    TENANT=$("$BIN/tollgatectl" --json tenants create demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  fi
  KEY=$("$BIN/tollgatectl" --json keys create --tenant "$TENANT" --name demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  for _ in $(seq 1 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$URL/v1/models")" = 200 ] && break
    sleep 0.1
  done
fi

umask 077
cat > "$STATE/env" <<ENV
TOLLGATE_URL=$URL
TOLLGATE_API_KEY=$KEY
TOLLGATE_ADMIN_TOKEN=$TOLLGATE_ADMIN_TOKEN
TOLLGATE_INTERNAL_SECRET=$TOLLGATE_INTERNAL_SECRET
DATABASE_URL=$DATABASE_URL
REDIS_URL=$REDIS_URL
ENV
umask 022

cat <<MSG

Tollgate is up at $URL (mock provider on :$MOCK_PORT; logs in .tollgate/logs/; metrics at
$URL/metrics and 127.0.0.1:9101-9103/metrics for routing, billing, logging).
Credentials are in .tollgate/env:  set -a; source .tollgate/env; set +a

  curl $URL/v1/chat/completions \\
    -H "Authorization: Bearer \$TOLLGATE_API_KEY" -H "Content-Type: application/json" \\
    -d '{"model": "mock", "messages": [{"role": "user", "content": "Hello!"}]}'

OpenAI SDKs: base_url=$URL/v1, api_key=\$TOLLGATE_API_KEY.   Stop: scripts/quickstart.sh stop
MSG
