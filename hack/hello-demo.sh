#!/usr/bin/env bash
# The main job: a local control plane (no cluster or containers needed), the generic
# autopilot-scheduler and a Rust worker for the `hello` example, three Greetings driven through
# their phases live, then a summary and a clean teardown.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export AUTOPILOT_CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUTOPILOT_CACHE/target}"
bash hack/install-deps.sh >/dev/null
AUTOPILOT_CONTROLPLANE_BIN="$(bash hack/controlplane.sh)"
export AUTOPILOT_CONTROLPLANE_BIN

echo "building the scheduler, the example worker and the control plane runner..."
cargo build --quiet -p autopilot-scheduler -p autopilot-example-hello -p autopilot-testenv --bins
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$bin/autopilot-controlplane" "$work/kubeconfig" >"$work/controlplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do [[ -s "$work/kubeconfig" ]] && break; sleep 0.5; done
[[ -s "$work/kubeconfig" ]] || { echo "control plane did not start:"; cat "$work/controlplane.log"; exit 1; }
export KUBECONFIG="$work/kubeconfig"
head -1 "$work/controlplane.log"

kubectl apply -f examples/hello/deploy/crd.yaml >/dev/null
kubectl wait --for=condition=Established crd/greetings.demo.autopilot.dev --timeout=30s >/dev/null

AUTOPILOT_WORKER_ADDR=127.0.0.1:50071 "$bin/hello-worker" >"$work/worker.log" 2>&1 &
pids+=($!)
"$bin/autopilot-scheduler" --project-dir examples/hello --kubeconfig "$KUBECONFIG" >"$work/scheduler.log" 2>&1 &
pids+=($!)

for i in 1 2 3; do
  kubectl apply -f - >/dev/null <<YAML
apiVersion: demo.autopilot.dev/v1
kind: Greeting
metadata: {name: hello-$i, namespace: default}
spec: {message: "hello number $i", rounds: $((i + 1))}
YAML
done

echo
echo "Greetings moving through Initializing -> Processing (rounds) -> Finished:"
last=""
for _ in $(seq 1 120); do
  table=$(kubectl get greetings -n default 2>/dev/null || true)
  if [[ "$table" != "$last" ]]; then
    printf '\n[%s]\n%s\n' "$(date +%H:%M:%S)" "$table"
    last="$table"
  fi
  done_count=$(kubectl get greetings -n default -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Finished$' || true)
  [[ "$done_count" == 3 ]] && break
  sleep 0.5
done

echo
echo "Summary:"
kubectl get configmaps -n default -l app.kubernetes.io/managed-by=autopilot \
  -o custom-columns=CONFIGMAP:.metadata.name,OWNER:.metadata.ownerReferences[0].name,ROUND:.data.round
echo
kubectl get events -n default --field-selector involvedObject.kind=Greeting \
  -o custom-columns=OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message 2>/dev/null | head -20 || true
echo
curl -s http://127.0.0.1:9491/metrics | grep -E '^autopilot_(worker_calls_total|phase_transitions_total)' || true
if [[ "$done_count" != 3 ]]; then
  echo "demo: not every Greeting finished; scheduler log:"; tail -30 "$work/scheduler.log"; exit 1
fi
echo
echo "demo: 3 Greetings finished; tearing down the control plane."
