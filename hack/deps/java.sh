#!/usr/bin/env bash
# Java worker toolchain: JDK 17 and Maven from apt, then the Java SDK installed into the Maven
# repository under the cache (not ~/.m2), so generated Java workers resolve dev.autopilot:autopilot-sdk.
# Fast when everything is there: the SDK is reinstalled only when its sources change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
repo="$cache/m2"

need_apt=()
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

mkdir -p "$repo"
stamp="$repo/.autopilot-sdk-java.sha"
sum="$(cd "$root" && find sdk-java/pom.xml sdk-java/src proto/autopilot -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$repo/dev/autopilot/autopilot-sdk/0.1.0/autopilot-sdk-0.1.0.jar" || "$(cat "$stamp" 2>/dev/null)" != "$sum" ]]; then
  echo "installing the Java SDK into $repo"
  mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$repo" -f "$root/sdk-java/pom.xml" install -DskipTests >/dev/null
  echo "$sum" >"$stamp"
fi
