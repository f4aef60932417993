#!/usr/bin/env bash
# Installs the SDK's dependencies (npm ci) and compiles it into dist/, when either is out of
# date. Workers that depend on the SDK by path run this first; concurrent runs wait for each
# other (flock), so a worker never loads a half-written dist/.
#
# npm's cache lives under ${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/npm.
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
mkdir -p "$cache"
export npm_config_cache="${npm_config_cache:-$cache/npm}"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run hack/deps/typescript.sh" >&2; exit 1; }
done

exec 9>"$cache/sdk-typescript.lock"
flock 9

cd "$sdk"
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ "$(cat node_modules/.autopilot-lock-sum 2>/dev/null)" != "$lock_sum" ]]; then
  npm ci --no-audit --no-fund --prefer-offline >&2
  echo "$lock_sum" >node_modules/.autopilot-lock-sum
fi
if [[ ! -f dist/index.js ]] || [[ -n "$(find src proto tsconfig.json -newer dist/index.js -print -quit)" ]]; then
  node_modules/.bin/tsc -p tsconfig.json >&2
fi
