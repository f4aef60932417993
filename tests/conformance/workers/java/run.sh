#!/usr/bin/env bash
# Builds the Java conformance worker when its sources changed, then runs it in this process,
# serving on $AUTOPILOT_WORKER_ADDR (default 127.0.0.1:50051, or unix:/path).
# Needs JDK 17 and Maven; hack/deps/java.sh installs them and the SDK into the cache's Maven repo.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
repo="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}/m2"
worker="$here/worker"
jar="$worker/target/probe-worker.jar"

bash "$root/hack/deps/java.sh" >&2
newest="$(find "$worker/pom.xml" "$worker/src" "$repo/dev/autopilot/autopilot-sdk" -type f -newer "$jar" 2>/dev/null | head -1 || true)"
if [[ ! -f "$jar" || -n "$newest" ]]; then
  mvn_args=(-B -q -Dstyle.color=never -Dmaven.repo.local="$repo" -f "$worker/pom.xml" package -DskipTests)
  mvn -o "${mvn_args[@]}" >&2 || mvn "${mvn_args[@]}" >&2
fi
exec java -jar "$jar"
