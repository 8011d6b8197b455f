#!/usr/bin/env bash
# Idempotent: install (if missing) and start PostgreSQL and Redis on loopback, create the
# tollgate role and database. Source it to get DATABASE_URL and REDIS_URL exported.
set -euo pipefail
PG_DB=${PG_DB:-tollgate}; PG_APP_USER=${PG_APP_USER:-tollgate}; PG_APP_PASS=${PG_APP_PASS:-tollgate}
REDIS_PORT=${REDIS_PORT:-6379}
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=600 -y -qq "$@"; }
sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql postgresql-client)
command -v redis-server  >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli     >/dev/null 2>&1 || need+=(redis-tools)
if ((${#need[@]})); then
  echo "services: installing ${need[*]}" >&2
  sudo_if apt-get -o DPkg::Lock::Timeout=600 -y -qq update >/dev/null
  sudo_if apt-get -o DPkg::Lock::Timeout=600 -y -qq install --no-install-recommends "${need[@]}" >/dev/null
fi

PG_VER=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_lsclusters -h | awk -v v="$PG_VER" '$1==v && $2=="main"' | grep -q . || sudo_if pg_createcluster "$PG_VER" main >/dev/null
PG_PORT=$(pg_lsclusters -h | awk -v v="$PG_VER" '$1==v && $2=="main" {print $3}')
pg_lsclusters -h | awk -v v="$PG_VER" '$1==v && $2=="main" {print $4}' | grep -q online \
  || sudo_if pg_ctlcluster --skip-systemctl-redirect "$PG_VER" main start
for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.5; done
pg_isready -q -h 127.0.0.1 -p "$PG_PORT"

psql_su() { sudo_if runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAtX "$@"; }
psql_su -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_APP_USER}') THEN
    CREATE ROLE \"${PG_APP_USER}\" LOGIN CREATEDB PASSWORD '${PG_APP_PASS}';
  END IF; END \$\$;" >/dev/null
[ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname = '${PG_DB}'")" = 1 ] \
  || psql_su -c "CREATE DATABASE \"${PG_DB}\" OWNER \"${PG_APP_USER}\"" >/dev/null

if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /tmp --logfile /tmp/tollgate-redis.log
  for _ in $(seq 1 60); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.5; done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG

export DATABASE_URL="postgres://${PG_APP_USER}:${PG_APP_PASS}@127.0.0.1:${PG_PORT}/${PG_DB}"
export REDIS_URL="redis://127.0.0.1:${REDIS_PORT}"
echo "services: PostgreSQL ${PG_VER} on ${PG_PORT}, Redis on ${REDIS_PORT}" >&2
