#!/usr/bin/env bash
# The official Plausible tracker in headless Chromium against a local Tally (Debian chromium + npm
# @plausible-analytics/tracker and playwright-core). Usage: scripts/tracker-e2e.sh [path/to/tally]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}"
BIN="${1:-$CARGO_TARGET_DIR/release/tally}"
if ! command -v chromium >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null
fi
(cd e2e && npm install --no-audit --no-fund --silent >/dev/null)
TALLY_BIN="$BIN" node --test e2e/tracker.test.mjs
