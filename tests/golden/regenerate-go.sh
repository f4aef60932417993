#!/usr/bin/env bash
# Regenerate the Go golden project from scripted `ap` runs.
#
#   tests/golden/regenerate-go.sh            # rewrite tests/golden/go
#   tests/golden/regenerate-go.sh OUT_DIR    # write the Go golden project into OUT_DIR instead
#
# AP names the ap binary (default: built with cargo). tests/e2e/tests/lang_go.rs runs this script
# into a temporary directory and diffs the result against tests/golden/go.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tests/golden/go}"
if [[ -z "${AP:-}" ]]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p autopilot-cli
  AP="${CARGO_TARGET_DIR:-$root/target}/debug/ap"
fi

# Only what the steps below create, so nothing else in OUT_DIR is lost.
rm -rf "$out/.gitignore" "$out/autopilot.yaml" "$out/autopilot-operator.yaml" "$out/deploy" "$out/worker" "$out/.autopilot"

"$AP" init "$out" --kind Canary --group canary.example.com --version v1alpha1 --lang go >/dev/null
# The SDK path is relative to $out/worker, as checked in at tests/golden/go/worker.
"$AP" generate "$out" --lang go --sdk-path ../../../../sdk-go >/dev/null
