#!/usr/bin/env bash
# Builds helm from its Go module (helm.sh/helm/v4/cmd/helm at HELM_VERSION) into a cache
# directory outside the repository, keyed by version, and prints the binary's path. A second run
# finds it and returns at once. The tests that lint, render and install charts use it.
#
# Environment: AUTOPILOT_CACHE (default ~/.cache/autopilot), HELM_VERSION.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
BIN="$CACHE/helm/$HELM_VERSION/bin"
if [[ -x "$BIN/helm" ]]; then echo "$BIN/helm"; exit 0; fi

command -v go >/dev/null || { echo "helm: Go is required (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
echo "building helm $HELM_VERSION from helm.sh/helm/v4/cmd/helm into $BIN" >&2
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN="$BIN" \
  go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
echo "$BIN/helm"
