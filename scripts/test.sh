#!/usr/bin/env bash
# Runs every test of Tally: unit and integration tests (real server, real embedded databases), then the
# conformance suite against the release binary. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# One target directory outside the clone, shared by developers and CI, so DuckDB's C++ build happens once
# per machine; tests and the server share the release profile for the same reason.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}"
export CARGO_TERM_COLOR=never

cargo build --release --workspace --all-targets
cargo test --release --workspace -- --test-threads 2

SHARED="${TALLY_SHARED_DIR:-../shared}"
if [ -x "$SHARED/conformance/run" ]; then
  BIN="$CARGO_TARGET_DIR/release/tally serve"
  # Suites whose issues are done must pass completely.
  python3 "$SHARED/conformance/run" --server-cmd "$BIN" --only-tags events-api
  # Suites still in progress: reported, not yet gating.
  python3 "$SHARED/conformance/run" --server-cmd "$BIN" --cases "$SHARED/conformance/cases/v2" --no-fail | tail -n 1 | sed 's/^conformance:/conformance (v2, in progress):/'
else
  echo "conformance suite not found at $SHARED/conformance (set TALLY_SHARED_DIR); skipped"
fi
