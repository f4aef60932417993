#!/usr/bin/env bash
# Regenerate the golden projects from scripted `ap` runs.
#
#   tests/golden/regenerate.sh            # rewrite tests/golden/rust
#   tests/golden/regenerate.sh OUT_DIR    # write the Rust golden project into OUT_DIR instead
#
# AP names the ap binary (default: built with cargo). cli/tests/ap.rs runs this script into
# a temporary directory and diffs the result against tests/golden/rust;
# cli/tests/golden_rust_builds.rs builds, tests and lints tests/golden/rust/worker.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tests/golden/rust}"
if [[ -z "${AP:-}" ]]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p autopilot-cli
  AP="${CARGO_TARGET_DIR:-$root/target}/debug/ap"
fi

# Only what the steps below create, so nothing else in OUT_DIR is lost.
rm -rf "$out/.gitignore" "$out/autopilot.yaml" "$out/autopilot-operator.yaml" "$out/deploy" "$out/worker" "$out/.autopilot"

"$AP" init "$out" --kind Canary --group canary.example.com --version v1alpha1 >/dev/null
# The SDK path is relative to $out/worker, as checked in at tests/golden/rust/worker.
"$AP" generate "$out" --lang rust --sdk-path ../../../../sdk-rust >/dev/null
