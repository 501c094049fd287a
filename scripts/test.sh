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
  RUN="python3 $SHARED/conformance/run --server-cmd"
  # Every case must pass (the runner skips only the cases it documents in --list-skips): the shared suite
  # and Tally's own cases converted from more of Plausible's tests (conformance/README.md).
  $RUN "$BIN" -j 4 --cases "$SHARED/conformance/cases" conformance/cases
else
  echo "conformance suite not found at $SHARED/conformance (set TALLY_SHARED_DIR); skipped"
fi

# The official tracker in headless Chromium (installs Debian chromium and the npm packages when missing).
if [ "${TALLY_SKIP_BROWSER:-0}" != "1" ]; then
  bash scripts/tracker-e2e.sh "$CARGO_TARGET_DIR/release/tally"
fi
