#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing, builds the local
# control plane (cached), then lint, build and all test suites. Ends with one summary line.
#
#   bash hack/test.sh            everything
#   bash hack/test.sh --quick    skip the lints
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export AUTOPILOT_CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
# Heavy build output lives outside the repository so a fresh clone reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUTOPILOT_CACHE/target}"
export CARGO_TERM_COLOR=never
quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
start=$(date +%s)

step "prerequisites"
bash hack/install-deps.sh

step "control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)"
AUTOPILOT_CONTROLPLANE_BIN="$(bash hack/controlplane.sh)"
export AUTOPILOT_CONTROLPLANE_BIN
echo "binaries in $AUTOPILOT_CONTROLPLANE_BIN"

step "Jaeger (trace inputs and the canary's trace check)"
AUTOPILOT_JAEGER_BIN="$(bash hack/jaeger.sh)"
export AUTOPILOT_JAEGER_BIN
echo "jaeger at $AUTOPILOT_JAEGER_BIN"

step "helm (from its Go module, for the chart tests)"
AUTOPILOT_HELM="$(bash hack/helm.sh)"
export AUTOPILOT_HELM
echo "helm at $AUTOPILOT_HELM"

step "Flux (source-controller, kustomize-controller) for the GitOps tests"
AUTOPILOT_FLUX_DIR="$(bash hack/flux.sh)"
export AUTOPILOT_FLUX_DIR
echo "Flux in $AUTOPILOT_FLUX_DIR"

if ! $quick; then
  step "format and lints"
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
fi

step "build"
cargo build --workspace --all-targets

step "tests"
log="$AUTOPILOT_CACHE/last-test.log"
mkdir -p "$AUTOPILOT_CACHE"
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | paste -sd+ - | bc)
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | paste -sd+ - | bc)
ignored=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) ignored.*/\1/' | paste -sd+ - | bc)
echo
echo "took $(( $(date +%s) - start ))s"
if [[ $status -ne 0 && "${failed:-0}" -eq 0 ]]; then failed=1; echo "cargo test failed before running every suite (see above)"; fi
echo "${passed:-0} passed, ${failed:-0} failed, ${ignored:-0} skipped"
exit "$status"
