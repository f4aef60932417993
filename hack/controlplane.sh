#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)
# and kwok (which simulates nodes and the pods on them) from Go modules into a cache directory
# outside the repository, keyed by version.
# A second run with the same versions finds the binaries and returns at once.
#
#   hack/controlplane.sh            build (or reuse) and print the bin directory
#   hack/controlplane.sh --print    print the bin directory without building
#
# Environment: AUTOPILOT_CACHE (default ~/.cache/autopilot), K8S_VERSION, ETCD_VERSION, KWOK_VERSION.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
# The script's own revision is part of the key so a change to how we build invalidates the cache.
RECIPE=3
BIN="$CACHE/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-r$RECIPE/bin"
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)

if [[ "${1:-}" == "--print" ]]; then echo "$BIN"; exit 0; fi

have_all() {
  [[ -x "$BIN/etcd" ]] || return 1
  [[ -x "$BIN/kwok" ]] || return 1
  for c in "${K8S_COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || return 1; done
}
if have_all; then echo "$BIN"; exit 0; fi

command -v go >/dev/null || { echo "controlplane: Go is required (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

# --- kube-apiserver, kube-controller-manager and kube-scheduler from k8s.io/kubernetes ---
build_k8s() {
  local work="$CACHE/controlplane/src-k8s-$K8S_VERSION"
  mkdir -p "$work"
  local staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module autopilot.local/controlplane"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    local mod
    mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # Every module k8s.io/kubernetes replaces with ./staging/... gets its published v0.x twin.
    grep -E '=> \./staging/' "$mod" | awk '{print $1}' | sort -u | while read -r m; do
      echo "	$m => $m $staging_version"
    done
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$work" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null)
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=module-$K8S_VERSION"
  done
  for c in "${K8S_COMPONENTS[@]}"; do
    [[ -x "$BIN/$c" ]] && continue
    echo "controlplane: building $c $K8S_VERSION (first time only; several minutes)" >&2
    (cd "$work" && go build -trimpath -ldflags "$ld" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$BIN/$c.tmp" "$BIN/$c"
  done
}

# --- etcd from go.etcd.io/etcd/server/v3 ---
build_etcd() {
  [[ -x "$BIN/etcd" ]] && return 0
  local work="$CACHE/controlplane/src-etcd-$ETCD_VERSION"
  mkdir -p "$work"
  cat >"$work/go.mod" <<GOMOD
module autopilot.local/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$work/tools.go" <<GO
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  echo "controlplane: building etcd $ETCD_VERSION (first time only)" >&2
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
      -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

# --- kwok from sigs.k8s.io/kwok (the controller only; it runs outside the cluster) ---
build_kwok() {
  [[ -x "$BIN/kwok" ]] && return 0
  local work="$CACHE/controlplane/src-kwok-$KWOK_VERSION"
  mkdir -p "$work"
  cat >"$work/go.mod" <<GOMOD
module autopilot.local/kwok

go 1.24.0

require sigs.k8s.io/kwok $KWOK_VERSION
GOMOD
  cat >"$work/tools.go" <<GO
//go:build tools

package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
GO
  echo "controlplane: building kwok $KWOK_VERSION (first time only)" >&2
  (cd "$work" && go get "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$work" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
      -o "$BIN/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok)
  mv "$BIN/kwok.tmp" "$BIN/kwok"
}

build_etcd
build_k8s
build_kwok
have_all || { echo "controlplane: build incomplete in $BIN" >&2; exit 1; }
echo "$BIN"
