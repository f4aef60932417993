#!/usr/bin/env bash
# The README's main job: the canary release operator (examples/canary) live on the embedded
# local control plane. `CANARY_WORKER=python bash hack/demo.sh` runs the Python worker instead
# of the Rust one; hack/hello-demo.sh is the smallest operator's demo.
set -euo pipefail
exec bash "$(dirname "$0")/canary-demo.sh" "$@"
