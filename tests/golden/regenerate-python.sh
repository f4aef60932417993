#!/usr/bin/env bash
# Regenerate the golden Python project from scripted `ap` runs.
#
#   tests/golden/regenerate-python.sh            # rewrite tests/golden/python
#   tests/golden/regenerate-python.sh OUT_DIR    # write the Python golden project into OUT_DIR instead
#
# AP names the ap binary (default: built with cargo). tests/e2e/tests/lang_python.rs runs this
# script into a temporary directory and diffs the result against tests/golden/python.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tests/golden/python}"
if [[ -z "${AP:-}" ]]; then
  cargo build --quiet --manifest-path "$root/Cargo.toml" -p autopilot-cli
  AP="${CARGO_TARGET_DIR:-$root/target}/debug/ap"
fi

# Only what the steps below create, so nothing else in OUT_DIR is lost.
rm -rf "$out/.gitignore" "$out/autopilot.yaml" "$out/autopilot-operator.yaml" "$out/deploy" "$out/worker" "$out/.autopilot"

"$AP" init "$out" --kind Canary --group canary.example.com --version v1alpha1 >/dev/null
# The worker is written in Python: the one edit a user makes to the file `ap init` wrote.
cat >>"$out/autopilot.yaml" <<'YAML'

# Which worker serves which phases, in which language.
workers:
  - name: canary-worker
    language: python
YAML
# The SDK path is relative to $out/worker, as checked in at tests/golden/python/worker.
"$AP" generate "$out" --lang python --sdk-path ../../../../sdk-python >/dev/null
