#!/usr/bin/env bash
# Builds everything a release of Autopilot publishes, checks it the way each registry will, and
# says what a real release would upload where.
#
#   hack/release.sh --dry-run [--out DIR] [--skip-binaries]
#
# Into DIR (default ${AUTOPILOT_CACHE:-~/.cache/autopilot}/release/<version>):
#   crates/   autopilot-proto and autopilot-sdk .crate files (`cargo package`, which builds them
#             from the packaged sources alone)
#   python/   the autopilot-sdk wheel and sdist (PEP 517 build with hatchling), `twine check`ed
#   npm/      the @autopilot/sdk tarball (`npm pack`, with its .d.ts types)
#   go/       the autopilot.dev/sdk-go module as the Go proxy serves it (.zip, .mod, .info)
#   maven/    dev.autopilot:autopilot-sdk jar, sources jar, javadoc jar and pom
#   bin/      `ap` and `autopilot-scheduler` release binaries for this platform
#   SHA256SUMS
# Nothing is uploaded: publishing needs each registry's credentials and is done by a maintainer
# with the commands printed at the end. Takes several minutes (the release build dominates);
# not part of hack/test.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"
dry_run=false
skip_binaries=false
out=""
while (($#)); do
  case "$1" in
    --dry-run) dry_run=true ;;
    --skip-binaries) skip_binaries=true ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! $dry_run; then
  echo "only --dry-run is implemented: it builds and checks every artifact and prints the commands" >&2
  echo "a maintainer runs with the registries' credentials to publish them" >&2
  exit 2
fi
out="${out:-$cache/release/$version}"
rm -rf "$out"
mkdir -p "$out"/{crates,python,npm,go,maven,bin}
step() { printf '\n== %s\n' "$*"; }

step "Rust crates (cargo package: autopilot-proto, autopilot-sdk)"
(cd "$root" && cargo package --locked -p autopilot-proto -p autopilot-sdk --allow-dirty)
cp "${CARGO_TARGET_DIR:-$root/target}/package/autopilot-proto-$version.crate" \
   "${CARGO_TARGET_DIR:-$root/target}/package/autopilot-sdk-$version.crate" "$out/crates/"

step "Python SDK (wheel + sdist with hatchling, twine check)"
venv="$cache/release-venv"
if [[ ! -x "$venv/bin/twine" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "build>=1.2" "twine>=6"
fi
"$venv/bin/python" -m build --outdir "$out/python" "$root/sdk-python" >/dev/null
"$venv/bin/twine" check --strict "$out/python"/*

step "TypeScript SDK (npm pack)"
bash "$root/sdk-typescript/scripts/build.sh"
(cd "$root/sdk-typescript" && npm_config_cache="$cache/npm" npm pack --silent --pack-destination "$out/npm" >/dev/null)
tar -tzf "$out/npm/autopilot-sdk-$version.tgz" | grep -qx 'package/dist/index.d.ts' \
  || { echo "the npm tarball lacks dist/index.d.ts" >&2; exit 1; }

step "Go SDK (module zip as the Go proxy serves it)"
go_module="$(sed -n 's/^module //p' "$root/sdk-go/go.mod")"
(cd "$root/sdk-go" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build ./... && go vet ./...)
# The module proxy's layout: what `GOPROXY=file://$out/go` would serve to `go get`.
gobin="$cache/go-bin"
if [[ ! -x "$gobin/gorelease-zip" ]]; then
  mkdir -p "$gobin/src/gorelease-zip"
  cat >"$gobin/src/gorelease-zip/main.go" <<'GO'
// Command gorelease-zip writes a module's proxy zip from a directory (golang.org/x/mod/zip).
package main

import (
	"os"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	out, err := os.Create(os.Args[4])
	if err != nil {
		panic(err)
	}
	defer out.Close()
	if err := zip.CreateFromDir(out, module.Version{Path: os.Args[1], Version: os.Args[2]}, os.Args[3]); err != nil {
		panic(err)
	}
}
GO
  (cd "$gobin/src/gorelease-zip" && cat >go.mod <<'MOD'
module gorelease-zip

go 1.24

require golang.org/x/mod v0.37.0
MOD
   GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$gobin/gorelease-zip" .)
fi
proxy="$out/go/$go_module/@v"
mkdir -p "$proxy"
"$gobin/gorelease-zip" "$go_module" "v$version" "$root/sdk-go" "$proxy/v$version.zip"
cp "$root/sdk-go/go.mod" "$proxy/v$version.mod"
printf '{"Version":"v%s"}\n' "$version" >"$proxy/v$version.info"
echo "v$version" >"$proxy/list"

step "Java SDK (jar, sources, javadoc, pom)"
(cd "$root/sdk-java" && mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$cache/m2" -Prelease package -DskipTests)
for f in "autopilot-sdk-$version.jar" "autopilot-sdk-$version-sources.jar" "autopilot-sdk-$version-javadoc.jar"; do
  cp "$root/sdk-java/target/$f" "$out/maven/"
done
cp "$root/sdk-java/pom.xml" "$out/maven/autopilot-sdk-$version.pom"

if ! $skip_binaries; then
  step "Release binaries (ap, autopilot-scheduler)"
  (cd "$root" && cargo build --release --locked -p autopilot-cli -p autopilot-scheduler)
  triple="$(rustc -vV | sed -n 's/^host: //p')"
  for b in ap autopilot-scheduler; do
    cp "${CARGO_TARGET_DIR:-$root/target}/release/$b" "$out/bin/$b-$version-$triple"
  done
fi

step "Checksums"
(cd "$out" && find . -type f ! -name SHA256SUMS ! -name list | sort | sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
cat "$out/SHA256SUMS"

cat <<EOF

== What a real release of $version would upload, and where (nothing was uploaded)

  crates.io      autopilot-proto $version, then autopilot-sdk $version (it depends on the first)
                   cargo publish -p autopilot-proto && cargo publish -p autopilot-sdk
  PyPI           autopilot-sdk $version: $(cd "$out/python" && echo *)
                   twine upload $out/python/*
  npm            @autopilot/sdk $version (the @autopilot scope must belong to the project)
                   npm publish $out/npm/autopilot-sdk-$version.tgz --access public
  Go             $go_module v$version: push the tag sdk-go/v$version; proxy.golang.org fetches the
                 module from the repository that https://${go_module%%/*} points at with a
                 go-import meta tag (the project must own that domain); the zip in $out/go is
                 what the proxy will serve
  Maven Central  dev.autopilot:autopilot-sdk $version: jar, sources, javadoc, pom, each signed
                 (.asc) by the project's key; the dev.autopilot namespace must be verified
                   mvn -Prelease deploy (with the Central publishing plugin and credentials)
  Release page   v$version: $(cd "$out/bin" 2>/dev/null && echo *) and SHA256SUMS
  Images         autopilot-scheduler:$version from ./Dockerfile (needs a container engine)

Artifacts: $out
EOF
