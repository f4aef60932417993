#!/usr/bin/env bash
# TypeScript workers: Node.js 20+ and npm (apt), then the SDK's packages and its build
# (sdk-typescript/scripts/build.sh: npm ci with the cache under $AUTOPILOT_CACHE/npm, then tsc).
# Idempotent: each step is skipped when already done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v npm >/dev/null || (($(node_major) < 20)); then
  echo "installing nodejs and npm with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || true
fi
command -v npm >/dev/null || { echo "npm is required for TypeScript workers (apt-get install nodejs npm)" >&2; exit 1; }
(($(node_major) >= 20)) || { echo "Node.js 20 or later is required for TypeScript workers; found $(node --version)" >&2; exit 1; }

"$root/sdk-typescript/scripts/build.sh"
echo "typescript: node $(node --version), npm $(npm --version 2>/dev/null), SDK built"
