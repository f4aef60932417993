#!/usr/bin/env bash
# Runs the benchmarks on a release build and prints their tables (Markdown); see BENCHMARKS.md.
#
#   bash hack/bench.sh                         everything (about 10 minutes on an idle 2-core machine)
#   bash hack/bench.sh --smoke                 tiny counts, under 2 minutes: checks the harness only
#   bash hack/bench.sh --only worker-call      one benchmark (worker-call, reconcile, memory)
#
# Other arguments go to autopilot-bench (`--help` lists them). Progress goes to stderr, the
# tables to stdout:  bash hack/bench.sh | tee bench.md
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTOPILOT_CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
# As hack/test.sh: heavy build output lives outside the repository.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUTOPILOT_CACHE/target}"
export CARGO_TERM_COLOR=never

# Only the control plane is needed (built from Go modules on first use, then cached); the
# language toolchains that hack/install-deps.sh also installs are not.
if [[ -z "${AUTOPILOT_CONTROLPLANE_BIN:-}" ]]; then
  AUTOPILOT_CONTROLPLANE_BIN="$(bash hack/controlplane.sh)"
fi
export AUTOPILOT_CONTROLPLANE_BIN

# The scheduler measured is the release binary users run, not a debug build.
cargo build --release -p autopilot-scheduler -p autopilot-bench >&2
exec "$CARGO_TARGET_DIR/release/autopilot-bench" \
  --scheduler-bin "$CARGO_TARGET_DIR/release/autopilot-scheduler" "$@"
