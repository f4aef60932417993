#!/usr/bin/env bash
# Regenerate the Java golden project from scripted `ap` runs.
#
#   tests/golden/regenerate-java.sh            # rewrite tests/golden/java
#   tests/golden/regenerate-java.sh OUT_DIR    # write the Java golden project into OUT_DIR instead
#
# AP names the ap binary (default: built with cargo). tests/e2e/tests/lang_java.rs runs this
# script into a temporary directory and diffs the result against tests/golden/java.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tests/golden/java}"
if [[ -z "${AP:-}" ]]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p autopilot-cli
  AP="${CARGO_TARGET_DIR:-$root/target}/debug/ap"
fi

# Only what the steps below create, so nothing else in OUT_DIR is lost.
rm -rf "$out/.gitignore" "$out/autopilot.yaml" "$out/autopilot-operator.yaml" "$out/deploy" "$out/worker" "$out/.autopilot"

"$AP" init "$out" --kind Canary --group canary.example.com --version v1alpha1 >/dev/null
# `ap init` declares no worker, which means one Rust worker: declare a Java one instead.
printf '\n# The worker serving every phase, in Java.\nworkers:\n  - name: canary-worker\n    language: java\n' >>"$out/autopilot.yaml"
# The SDK path is relative to $out/worker, as checked in at tests/golden/java/worker.
"$AP" generate "$out" --lang java --sdk-path ../../../../sdk-java >/dev/null
