#!/usr/bin/env bash
# The fault suite: builds the service binaries, then runs tollgate-faults, which starts them as
# real processes (each on its own ports, a fresh database, its own Redis key prefix, Postgres,
# Redis, billing, logging and the provider behind fault-injecting proxies), kills, stalls and
# black-holes them under load, and checks the usage ledger against every answer. Prints one
# table (also written to target/faults-report.md) and exits non-zero on any lost or doubled
# ledger row, undocumented 5xx, or a stack that did not recover.
#
#   scripts/faults.sh            every scenario, longer loads (several minutes)
#   scripts/faults.sh --short    the CI subset, well under 3 minutes
#   scripts/faults.sh --only redis
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh
cargo build --bins -q
exec "${CARGO_TARGET_DIR:-target}/debug/tollgate-faults" \
  --bin-dir "${CARGO_TARGET_DIR:-target}/debug" "$@"
