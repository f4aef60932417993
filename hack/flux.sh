#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their Go modules into a cache
# directory outside the repository, keyed by version, and copies their CRDs beside them.
# A second run with the same versions finds the binaries and returns at once.
#
#   hack/flux.sh            build (or reuse) and print the directory (bin/ and crds/ inside)
#   hack/flux.sh --print    print the directory without building
#
# Each controller is built as its own main module from the module's published source, so it
# gets exactly the dependency versions its go.sum pins. The `./api` replace in their go.mod
# points at a nested module that the module zip leaves out; dropping it makes Go take the
# published api module of the same version, which the go.mod already requires.
#
# Environment: AUTOPILOT_CACHE (default ~/.cache/autopilot), FLUX_SOURCE_VERSION,
# FLUX_KUSTOMIZE_VERSION. v1.9.x is the newest line whose go.mod asks for Go 1.26; v1.10 needs 1.27.
set -euo pipefail

SOURCE_VERSION="${FLUX_SOURCE_VERSION:-v1.9.6}"
KUSTOMIZE_VERSION="${FLUX_KUSTOMIZE_VERSION:-v1.9.6}"
CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
# The script's own revision is part of the key so a change to how we build invalidates the cache.
RECIPE=1
DIR="$CACHE/flux/source-$SOURCE_VERSION-kustomize-$KUSTOMIZE_VERSION-r$RECIPE"
BIN="$DIR/bin"
CRDS="$DIR/crds"

if [[ "${1:-}" == "--print" ]]; then echo "$DIR"; exit 0; fi

have_all() {
  [[ -x "$BIN/source-controller" && -x "$BIN/kustomize-controller" ]] || return 1
  [[ -f "$CRDS/source.toolkit.fluxcd.io_gitrepositories.yaml" ]] || return 1
  [[ -f "$CRDS/kustomize.toolkit.fluxcd.io_kustomizations.yaml" ]] || return 1
}
if have_all; then echo "$DIR"; exit 0; fi

command -v go >/dev/null || { echo "flux: Go is required (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN" "$CRDS"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

# build NAME VERSION [MODULE=VERSION...]: github.com/fluxcd/NAME@VERSION -> $BIN/NAME, its CRDs
# -> $CRDS; each MODULE=VERSION pins a dependency to another version (see PINS below).
build() {
  local name=$1 version=$2 module="github.com/fluxcd/$1"
  shift 2
  local src
  src=$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d "$src" ]] || { echo "flux: go mod download $module@$version gave no source" >&2; exit 1; }
  cp "$src"/config/crd/bases/*.yaml "$CRDS/"
  [[ -x "$BIN/$name" ]] && return 0
  local work="$CACHE/flux/src-$name-$version"
  rm -rf "$work"
  cp -r "$src" "$work"
  chmod -R u+w "$work"
  (cd "$work" && go mod edit -dropreplace "$module/api")
  local pin
  for pin in "$@"; do (cd "$work" && go mod edit -replace "${pin%%=*}=${pin%%=*}@${pin#*=}"); done
  echo "flux: building $name $version (first time only; several minutes)" >&2
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$BIN/$name.tmp" .)
  mv "$BIN/$name.tmp" "$BIN/$name"
}

# The module proxy here does not serve github.com/fluxcd/pkg/artifact v0.18.3 (403 "not
# available"); v0.18.0 is the nearest version it serves, with the same API.
SOURCE_PINS=(github.com/fluxcd/pkg/artifact=v0.18.0)
build source-controller "$SOURCE_VERSION" "${SOURCE_PINS[@]}"
build kustomize-controller "$KUSTOMIZE_VERSION"
have_all || { echo "flux: build incomplete in $DIR" >&2; exit 1; }
echo "$DIR"
