#!/usr/bin/env bash
# Fuzzes the wire-format code that reads untrusted bytes (fuzz/: SSE and Bedrock event-stream
# decoders, request peeks and rewrites, the provider translations). Each target runs for
# FUZZ_SECONDS starting from the committed seeds in fuzz/corpus/<target>; any crash, panic or
# broken property fails the script and leaves the input in fuzz/artifacts/<target>/.
#   scripts/fuzz.sh            short mode: 20 s per target (FUZZ_SECONDS overrides)
#   scripts/fuzz.sh long       600 s per target
#   scripts/fuzz.sh [short|long] <target>...   only those targets
# Needs the nightly toolchain (installed if missing) and cargo-fuzz (installed if missing).
# FUZZ_SANITIZER=address builds with ASan; the default is none because our crates forbid
# `unsafe`, and a panic (debug assertions are on) is what we look for.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=short
case "${1:-}" in
  short | long) MODE=$1; shift ;;
esac
if [ "$MODE" = long ]; then DEFAULT_SECONDS=600; else DEFAULT_SECONDS=20; fi
SECONDS_EACH=${FUZZ_SECONDS:-$DEFAULT_SECONDS}
SANITIZER=${FUZZ_SANITIZER:-none}

if ! command -v rustup >/dev/null 2>&1; then
  echo "fuzz: rustup is not installed; install Rust with rustup first." >&2
  exit 1
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo +nightly install cargo-fuzz --locked >&2
fi

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cd fuzz && cargo +nightly fuzz list)
fi

cd fuzz
echo "== fuzz: building ${#TARGETS[@]} targets (sanitizer: $SANITIZER)" >&2
cargo +nightly fuzz build -s "$SANITIZER"

for t in "${TARGETS[@]}"; do
  # New inputs the fuzzer finds go to the first (scratch) directory, so the committed seeds
  # only change when someone adds one on purpose. Short runs start from the seeds alone (a
  # grown scratch corpus takes the whole budget to replay); long runs resume where the last
  # long run stopped.
  if [ "$MODE" = short ]; then rm -rf "target/corpus/$t"; fi
  mkdir -p "target/corpus/$t"
  echo "== fuzz: $t for ${SECONDS_EACH}s" >&2
  cargo +nightly fuzz run -s "$SANITIZER" "$t" "target/corpus/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
echo "== fuzz: ${#TARGETS[@]} targets, no crash" >&2
