#!/usr/bin/env bash
# Regenerates the committed Python stubs of the worker contract from proto/ (no protoc needed:
# grpcio-tools bundles it). Run after changing proto/autopilot/worker/v1/worker.proto; the SDK's
# tests fail when the committed copy and stubs differ from it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/venv"
bash "$here/../hack/deps/python.sh"
cp "$here/../proto/autopilot/worker/v1/worker.proto" "$here/src/autopilot_sdk/proto/worker.proto"
cd "$here/src"
"$venv/bin/python" -m grpc_tools.protoc -I . \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  autopilot_sdk/proto/worker.proto
