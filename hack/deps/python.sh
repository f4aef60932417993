#!/usr/bin/env bash
# Installs the Python worker toolchain into a venv outside the repository:
# ${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/venv holds grpcio, pydantic, the build backend, and the
# checkers the Python tests run (pytest, ruff, mypy). Does nothing when that set is already there.
set -euo pipefail

cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
venv="$cache/venv"
# Bump the list (or any version in it) and the venv is brought up to date on the next run.
requirements=(
  "grpcio==1.85.1"
  "grpcio-tools==1.85.1"
  "grpcio-health-checking==1.85.1"
  "protobuf"
  "pydantic>=2.11,<3"
  "hatchling>=1.27"
  "pytest>=8"
  "ruff>=0.14"
  "mypy>=1.18"
  "types-protobuf"
  "types-grpcio"
  "types-grpcio-health-checking"
  # The official CloudEvents SDK: the e2e suite sends events with it, as a user would.
  "cloudevents==2.2.0"
)
stamp="$venv/.autopilot-requirements"
want="$(printf '%s\n' "${requirements[@]}")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

python="$(command -v python3 || true)"
[[ -n "$python" ]] || { echo "python3 (3.10 or later) is required for Python workers" >&2; exit 1; }
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "python3 is $("$python" --version); Python workers need 3.10 or later" >&2; exit 1; }

echo "installing the Python worker toolchain into $venv"
mkdir -p "$cache"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "${requirements[@]}"
printf '%s\n' "$want" >"$stamp"
