#!/usr/bin/env bash
# Builds Jaeger v2 (the all-in-one `jaeger` binary: OTLP receiver, in-memory storage, query API)
# from its Go module into a cache directory outside the repository, keyed by version.
# A second run with the same version finds the binary and returns at once.
#
#   hack/jaeger.sh            build (or reuse) and print the path of the binary
#   hack/jaeger.sh --print    print the path without building
#
# Environment: AUTOPILOT_CACHE (default ~/.cache/autopilot), JAEGER_VERSION.
set -euo pipefail

JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"
CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
# The script's own revision is part of the key so a change to how we build invalidates the cache.
RECIPE=1
DIR="$CACHE/jaeger/jaeger-$JAEGER_VERSION-r$RECIPE"
BIN="$DIR/bin/jaeger"

if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { echo "jaeger: Go is required (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$DIR/bin" "$DIR/src"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
work="$DIR/src"
cat >"$work/go.mod" <<GOMOD
module autopilot.local/jaeger

go 1.24.0
GOMOD
echo "jaeger: building jaeger $JAEGER_VERSION (first time only; several minutes)" >&2
(cd "$work" && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >&2)
(cd "$work" && go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
mv "$BIN.tmp" "$BIN"
echo "$BIN"
