#!/usr/bin/env bash
# What Go workers need: the Go toolchain (checked, not installed), the SDK's modules from the Go
# proxy, and — only to regenerate sdk-go/workerv1 — protoc (Debian protobuf-compiler) and the
# protoc-gen-go / protoc-gen-go-grpc plugins, built with `go install` into the cache.
# Idempotent, and quick when everything is present.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
bin="$cache/go-bin"
PROTOC_GEN_GO=v1.36.11
PROTOC_GEN_GO_GRPC=v1.5.1

command -v go >/dev/null || { echo "Go is required for Go workers (https://go.dev/dl)" >&2; exit 1; }
if ! command -v protoc >/dev/null; then
  echo "installing protobuf-compiler with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
fi
mkdir -p "$bin"
stamp="$bin/.versions"
want="protoc-gen-go@$PROTOC_GEN_GO protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "installing $want into $bin"
  (cd "$root/sdk-go" && GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO")
  (cd "$cache" && GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC")
  echo "$want" >"$stamp"
fi
# The SDK's dependencies, so that building a generated worker needs no network later.
(cd "$root/sdk-go" && go mod download)
