#!/usr/bin/env bash
# Refreshes the upstream CRDs that `ap cluster up --with` installs (cli/crds/): Istio's
# networking.istio.io CRDs from the istio.io/api Go module and the Gateway API standard
# channel from the sigs.k8s.io/gateway-api Go module, both fetched with `go mod download`.
# Each file records its module, version, source paths and the sha256 of what it was cut from.
#
#   bash hack/vendor-crds.sh                  the versions below
#   ISTIO_API=v1.32.0 GATEWAY_API=v1.6.3 bash hack/vendor-crds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ISTIO_API="${ISTIO_API:-v1.32.0}"
GATEWAY_API="${GATEWAY_API:-v1.6.3}"
out=cli/crds
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

dir() { GOMODCACHE="$work/mod" GOFLAGS=-modcacherw go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
istio=$(dir "istio.io/api@$ISTIO_API")
gateway=$(dir "sigs.k8s.io/gateway-api@$GATEWAY_API")
mkdir -p "$out"

python3 - "$istio" "$gateway" "$ISTIO_API" "$GATEWAY_API" "$out" <<'EOF'
import hashlib, os, re, sys
istio, gateway, istio_version, gateway_version, out = sys.argv[1:]

def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()

def documents(text):
    return [d.strip("\n") for d in re.split(r"(?m)^---[ \t]*$", text) if d.strip()]

def name(doc):
    m = re.search(r"(?m)^  name: (\S+)", doc)
    return m.group(1) if m else ""

def is_crd(doc):
    return re.search(r"(?m)^kind: CustomResourceDefinition$", doc) is not None

def write(path, header, docs):
    with open(path, "w") as f:
        f.write(header)
        for d in docs:
            f.write("---\n" + d + "\n")

source = "kubernetes/customresourcedefinitions.gen.yaml"
docs = [d for d in documents(open(os.path.join(istio, source)).read())
        if is_crd(d) and name(d).endswith(".networking.istio.io")]
write(os.path.join(out, "istio-networking.yaml"),
      f"# Istio's networking.istio.io CustomResourceDefinitions, unmodified, for `ap cluster up --with istio`.\n"
      f"# module: istio.io/api {istio_version} (the Go module proxy)\n"
      f"# source: {source} (sha256 {sha(os.path.join(istio, source))}), networking.istio.io only\n"
      f"# refresh: bash hack/vendor-crds.sh\n",
      docs)
print(f"istio-networking.yaml: {len(docs)} CRDs: {', '.join(name(d) for d in docs)}")

standard = os.path.join(gateway, "config/crd/standard")
docs, sources = [], []
for file in sorted(os.listdir(standard)):
    path = os.path.join(standard, file)
    crds = [d for d in documents(open(path).read()) if is_crd(d)]
    if crds:
        docs += crds
        sources.append(f"#   config/crd/standard/{file} (sha256 {sha(path)})\n")
write(os.path.join(out, "gateway-api-standard.yaml"),
      f"# The Gateway API standard channel's CustomResourceDefinitions, unmodified, for\n"
      f"# `ap cluster up --with gateway-api` (the channel's ValidatingAdmissionPolicy is left out).\n"
      f"# module: sigs.k8s.io/gateway-api {gateway_version} (the Go module proxy)\n"
      f"# source:\n{''.join(sources)}"
      f"# refresh: bash hack/vendor-crds.sh\n",
      docs)
print(f"gateway-api-standard.yaml: {len(docs)} CRDs: {', '.join(name(d) for d in docs)}")
EOF
