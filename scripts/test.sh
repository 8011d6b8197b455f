#!/usr/bin/env bash
# The whole check, as CI runs it: datastores (installed and started if missing), formatting,
# clippy with warnings as errors, the deploy files, and every test against real Postgres and
# Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/services.sh
source scripts/services.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "test: cargo is not installed; install Rust with rustup first." >&2
  exit 1
fi

echo "== Python SDKs for the whole-system tests" >&2
TOLLGATE_PYTHON=$(bash scripts/python-sdks.sh)
export TOLLGATE_PYTHON
echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy -D warnings" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== deploy files" >&2
scripts/validate-deploy.sh
echo "== tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
echo "== fuzz (short: 10 s per target; scripts/fuzz.sh long for 600 s)" >&2
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz.sh
echo "== fault suite (short: the real binaries killed, stalled and black-holed under load)" >&2
scripts/faults.sh --short
