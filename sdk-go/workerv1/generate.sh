#!/usr/bin/env bash
# Regenerates the Go stubs of proto/autopilot/worker/v1/worker.proto into this directory.
# Users of the SDK never run this: the stubs are checked in. Needs protoc (Debian
# protobuf-compiler) and protoc-gen-go / protoc-gen-go-grpc on PATH (hack/deps/go.sh installs
# them into ${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/go-bin).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/go-bin:$PATH"
map="Mautopilot/worker/v1/worker.proto=autopilot.dev/sdk-go/workerv1"
protoc -I "$root/proto" \
  --go_out="$root/sdk-go" --go_opt=module=autopilot.dev/sdk-go --go_opt="$map" \
  --go-grpc_out="$root/sdk-go" --go-grpc_opt=module=autopilot.dev/sdk-go --go-grpc_opt="$map" \
  autopilot/worker/v1/worker.proto
