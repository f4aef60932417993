#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh machine; does nothing when all is there.
set -euo pipefail
need_apt=()
command -v bc >/dev/null || need_apt+=(bc)
command -v kubectl >/dev/null || need_apt+=(kubectl)
command -v prometheus >/dev/null || need_apt+=(prometheus)
# Notifications are tested against a real Alertmanager.
[[ -x /usr/bin/prometheus-alertmanager ]] || need_apt+=(prometheus-alertmanager)
# Git over SSH in the Git writer's tests: OpenSSH's sshd on loopback, ssh and ssh-keygen.
[[ -x /usr/sbin/sshd ]] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v git >/dev/null || need_apt+=(git)
# The dashboard's browser test: headless Chromium driven through chromedriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "Go is required to build the local control plane" >&2; exit 1; }
command -v cargo >/dev/null || { echo "Rust (cargo) is required" >&2; exit 1; }
# Each worker language installs its own toolchain pieces (venv, npm, Maven, Go modules).
for f in "$(dirname "$0")"/deps/*.sh; do
  [[ -e "$f" ]] && bash "$f"
done
echo "prerequisites present: $(go version | cut -d' ' -f3), $(cargo --version | cut -d' ' -f2), kubectl, prometheus, alertmanager"
