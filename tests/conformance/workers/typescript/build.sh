#!/usr/bin/env bash
# Builds the TypeScript conformance worker when out of date: the SDK (sdk-typescript/), then
# `npm ci` and `tsc` in worker/. Concurrent runs wait for each other (flock). Output to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
export npm_config_cache="${npm_config_cache:-$cache/npm}"

"$root/sdk-typescript/scripts/build.sh"

cd "$here/worker"
exec 9>"$cache/conformance-worker-typescript.lock"
flock 9
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ "$(cat node_modules/.autopilot-lock-sum 2>/dev/null)" != "$lock_sum" ]]; then
  npm ci --no-audit --no-fund --prefer-offline >&2
  echo "$lock_sum" >node_modules/.autopilot-lock-sum
fi
if [[ ! -f dist/src/main.js ]] ||
  [[ -n "$(find src test tsconfig.json "$root/sdk-typescript/dist" -newer dist/src/main.js -print -quit)" ]]; then
  node_modules/.bin/tsc >&2
fi
