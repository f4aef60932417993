#!/usr/bin/env bash
# Regenerate the TypeScript golden project from scripted `ap` runs.
#
#   tests/golden/regenerate-typescript.sh            # rewrite tests/golden/typescript
#   tests/golden/regenerate-typescript.sh OUT_DIR    # write it into OUT_DIR instead
#
# AP names the ap binary (default: built with cargo). tests/e2e/tests/lang_typescript.rs runs
# this script into a temporary directory and diffs the result against tests/golden/typescript.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tests/golden/typescript}"
if [[ -z "${AP:-}" ]]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p autopilot-cli
  AP="${CARGO_TARGET_DIR:-$root/target}/debug/ap"
fi

# Only what the steps below create, so nothing else in OUT_DIR is lost.
rm -rf "$out/.gitignore" "$out/autopilot.yaml" "$out/autopilot-operator.yaml" "$out/deploy" "$out/worker" "$out/.autopilot"

"$AP" init "$out" --kind Canary --group canary.example.com --version v1alpha1 >/dev/null
# The one worker, written in TypeScript.
cat >>"$out/autopilot.yaml" <<'YAML'

# The worker serving every non-final phase.
workers:
  - name: canary-operator
    language: typescript
YAML
# The SDK path is relative to $out/worker, as checked in at tests/golden/typescript/worker.
"$AP" generate "$out" --lang typescript --sdk-path ../../../../sdk-typescript >/dev/null
