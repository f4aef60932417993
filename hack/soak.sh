#!/usr/bin/env bash
# The chaos soak on a release build: resources through a multi-phase operator while the
# scheduler's leader is SIGKILLed every 10 s (two replicas: each kill is a failover), workers
# are SIGKILLed mid-call every 3 s, and kube-apiserver and etcd are each restarted once; then
# every resource's end state is checked and the figures printed (Markdown, see RELIABILITY.md).
#
#   bash hack/soak.sh                       1,000 resources, 120 s of faults
#   bash hack/soak.sh --small               100 resources, 40 s of faults (what CI runs)
#   bash hack/soak.sh --resources 300       other arguments go to autopilot-soak (--help)
#
# Exits 1 when a check failed; the logs of a failed run are kept and their directory printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTOPILOT_CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUTOPILOT_CACHE/target}"
export CARGO_TERM_COLOR=never
if [[ -z "${AUTOPILOT_CONTROLPLANE_BIN:-}" ]]; then
  AUTOPILOT_CONTROLPLANE_BIN="$(bash hack/controlplane.sh)"
fi
export AUTOPILOT_CONTROLPLANE_BIN
cargo build --release -p autopilot-scheduler -p autopilot-bench >&2
exec "$CARGO_TARGET_DIR/release/autopilot-soak" \
  --scheduler-bin "$CARGO_TARGET_DIR/release/autopilot-scheduler" "$@"
