#!/usr/bin/env bash
# Write `.env` for docker compose with fresh random secrets, once: an existing `.env` is kept
# (the key pepper must never change once keys exist). docker-compose.yml has no fallback values,
# so `docker compose up` needs this (or a `.env` written by hand from deploy/docker/env.example).
#
#   scripts/compose-env.sh && docker compose up --build -d
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -f .env ]; then
  echo "compose-env: .env exists; kept as it is" >&2
  exit 0
fi
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
umask 077
{
  echo "# Written by scripts/compose-env.sh. Git-ignored; never commit it."
  echo "# Changing TOLLGATE_KEY_PEPPER invalidates every API key."
  echo "TOLLGATE_ADMIN_TOKEN=tga-$(hex 24)"
  echo "TOLLGATE_KEY_PEPPER=$(hex 32)"
  echo "TOLLGATE_INTERNAL_SECRET=$(hex 32)"
  echo "POSTGRES_PASSWORD=$(hex 16)"
} > .env
echo "compose-env: wrote .env (admin token: grep TOLLGATE_ADMIN_TOKEN .env)" >&2
