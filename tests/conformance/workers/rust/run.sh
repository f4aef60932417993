#!/usr/bin/env bash
# Runs the Rust reference worker of the conformance scenario on $AUTOPILOT_WORKER_ADDR.
#
# The worker is the `autopilot-conformance-worker-rust` binary of the autopilot-conformance
# crate (source: main.rs beside this script). When AUTOPILOT_CONFORMANCE_RUST_WORKER names the
# binary (the suite's own test sets it), that binary runs; otherwise it is built with cargo into
# the workspace's target directory and run from there.
set -euo pipefail

bin="${AUTOPILOT_CONFORMANCE_RUST_WORKER:-}"
if [[ -z "$bin" ]]; then
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
  cargo build --quiet --manifest-path "$root/Cargo.toml" \
    -p autopilot-conformance --bin autopilot-conformance-worker-rust >&2
  target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)"
  bin="$target/debug/autopilot-conformance-worker-rust"
fi
exec "$bin"
