#!/usr/bin/env bash
# The canary example, live: a local control plane (no cluster or containers needed; kwok
# simulates the pods, so Deployments report ready replicas as they roll out), a real
# Prometheus scraping a traffic simulator that speaks Istio's metrics, the generic
# autopilot-scheduler and the example's worker. It releases a healthy version (promoted step by
# step) and then a faulty one (rolled back), showing phase, weight and success rate as they
# change, then prints a summary and tears everything down.
#
#   bash hack/canary-demo.sh              # the Rust worker
#   CANARY_WORKER=python bash hack/canary-demo.sh   # the Python worker
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export AUTOPILOT_CACHE="${AUTOPILOT_CACHE:-$HOME/.cache/autopilot}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$AUTOPILOT_CACHE/target}"
worker_lang="${CANARY_WORKER:-rust}"
bash hack/install-deps.sh >/dev/null
AUTOPILOT_CONTROLPLANE_BIN="$(bash hack/controlplane.sh)"
export AUTOPILOT_CONTROLPLANE_BIN

echo "building the scheduler, the canary worker, the traffic simulator and the control plane runner..."
cargo build --quiet -p autopilot-scheduler -p autopilot-example-canary -p autopilot-testenv --bins
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A loopback port nobody listens on (other demos and tests may run on the same machine).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
# GET http://$1$2 without curl; prints the body.
http_get() {
  local body
  exec 3<>"/dev/tcp/${1%:*}/${1#*:}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
  body=$(cat <&3)
  exec 3>&-
  printf '%s' "${body#*$'\r\n\r\n'}"
}
wait_for() { # what, seconds, command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "demo: timed out after ${secs}s waiting for $what" >&2
  return 1
}

worker_port=$(free_port); sim_port=$(free_port); prom_port=$(free_port); metrics_port=$(free_port)
ns=default

# With kube-scheduler and kwok: the Deployments get (simulated) Running, Ready pods.
"$bin/autopilot-controlplane" --kwok "$work/kubeconfig" >"$work/controlplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do [[ -s "$work/kubeconfig" ]] && break; sleep 0.5; done
[[ -s "$work/kubeconfig" ]] || { echo "control plane did not start:"; cat "$work/controlplane.log"; exit 1; }
export KUBECONFIG="$work/kubeconfig"
head -1 "$work/controlplane.log"

# The operator's CRD (from `ap generate`), and minimal stand-ins for Istio's and Gateway API's.
kubectl apply --server-side -f examples/canary/deploy/crd.yaml >/dev/null
kubectl apply --server-side -f - >/dev/null <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: virtualservices.networking.istio.io}
spec:
  group: networking.istio.io
  names: {kind: VirtualService, plural: virtualservices, singular: virtualservice, listKind: VirtualServiceList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: httproutes.gateway.networking.k8s.io
  annotations: {api-approved.kubernetes.io: "https://github.com/kubernetes-sigs/gateway-api/pull/2466"}
spec:
  group: gateway.networking.k8s.io
  names: {kind: HTTPRoute, plural: httproutes, singular: httproute, listKind: HTTPRouteList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
YAML
kubectl wait --for=condition=Established --timeout=30s \
  crd/canarydeployments.canary.autopilot.dev crd/virtualservices.networking.istio.io \
  crd/httproutes.gateway.networking.k8s.io >/dev/null

# Traffic simulator and Prometheus scraping it every second.
"$bin/traffic-simulator" "127.0.0.1:$sim_port" >"$work/simulator.log" 2>&1 &
pids+=($!)
wait_for "the traffic simulator" 30 http_get "127.0.0.1:$sim_port" /metrics
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: mesh
    static_configs: [{targets: ['127.0.0.1:$sim_port']}]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_for "Prometheus to be ready" 60 http_get "127.0.0.1:$prom_port" /-/ready
echo "Prometheus on 127.0.0.1:$prom_port scraping the traffic simulator on 127.0.0.1:$sim_port"

# The project as the scheduler runs it here: the example's autopilot.yaml, local endpoints.
mkdir -p "$work/project"
cp examples/canary/autopilot.yaml "$work/project/"
cat >"$work/project/autopilot-operator.yaml" <<YAML
workInterval: 2s
workers: {endpoint: "http://127.0.0.1:$worker_port", deadline: 5s}
retry: {initialBackoff: 200ms, maxBackoff: 2s}
prometheus: {url: "http://127.0.0.1:$prom_port", timeout: 2s}
metricsAddr: "127.0.0.1:$metrics_port"
healthAddr: ""
logLevel: info
YAML

case "$worker_lang" in
  rust) AUTOPILOT_WORKER_ADDR="127.0.0.1:$worker_port" "$bin/canary-worker" >"$work/worker.log" 2>&1 & ;;
  python)
    [[ -f examples/canary/worker-python/main.py ]] || { echo "demo: the Python canary worker is not there yet" >&2; exit 1; }
    AUTOPILOT_WORKER_ADDR="127.0.0.1:$worker_port" PYTHONDONTWRITEBYTECODE=1 \
      PYTHONPATH="$root/sdk-python/src:$root/examples/canary/worker-python" \
      "$AUTOPILOT_CACHE/venv/bin/python" examples/canary/worker-python/main.py >"$work/worker.log" 2>&1 & ;;
  *) echo "demo: CANARY_WORKER is rust or python, not $worker_lang" >&2; exit 1 ;;
esac
pids+=($!)
echo "worker: $worker_lang on 127.0.0.1:$worker_port"
"$bin/autopilot-scheduler" --project-dir "$work/project" --kubeconfig "$KUBECONFIG" \
  --namespaces "$ns" >"$work/scheduler.log" 2>&1 &
pids+=($!)

# The application: podinfo:6.0 serving, then released through a CanaryDeployment.
kubectl apply -n "$ns" -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo}
spec:
  replicas: 2
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec: {containers: [{name: podinfo, image: "ghcr.io/stefanprodan/podinfo:6.0.0", ports: [{containerPort: 9898}]}]}
---
apiVersion: canary.autopilot.dev/v1
kind: CanaryDeployment
metadata: {name: podinfo}
spec:
  targetRef: podinfo
  port: 9898
  interval: 3s
  analysisPeriod: 10s
  stepWeight: 20
  maxWeight: 60
  failureLimit: 3
  successThreshold: 0.95
  maxLatencyMs: 200
  noData: hold
  traffic: istio
YAML

# Traffic follows the route: 50 requests per second split by the canary's weight.
set_traffic() { # workload rps errorRate latencyMs
  http_get "127.0.0.1:$sim_port" "/set?namespace=$ns&workload=$1&rps=$2&errorRate=$3&latencyMs=$4" >/dev/null
}
canary_errors=0 canary_latency=20
route_traffic() {
  local w=${1:-0}
  set_traffic podinfo-primary "$((50 * (100 - w) / 100))" 0 15
  set_traffic podinfo-canary "$((50 * w / 100))" "$canary_errors" "$canary_latency"
}
route_traffic 0

bar() { # weight -> 20-cell bar
  local w=${1:-0} full=$(( ${1:-0} / 5 )) out=""
  for i in $(seq 1 20); do if ((i <= full)); then out+="#"; else out+="."; fi; done
  printf '%s %3s%%' "$out" "$w"
}
show_until_releases() { # how many releases in history end this stage
  local want=$1 last="" line phase weight queries rate p99 iter failed outcomes msg
  for _ in $(seq 1 300); do
    # A range over lastQueries: indexing an empty list would fail the whole jsonpath.
    line=$(kubectl get canarydeployment podinfo -n "$ns" -o jsonpath='{.status.phase}{"|"}{.status.statusInfo.currentWeight}{"|"}{range .status.statusInfo.lastQueries[*]}{.name}={.value}{" "}{end}{"|"}{.status.statusInfo.iteration}{"|"}{.status.statusInfo.failedChecks}{"|"}{.status.statusInfo.history[*].outcome}{"|"}{.status.statusInfo.message}' 2>/dev/null || true)
    IFS='|' read -r phase weight queries iter failed outcomes msg <<<"$line"
    pods=$(kubectl get deployment podinfo-primary podinfo-canary -n "$ns" -o jsonpath='{range .items[*]}{.status.readyReplicas}/{.spec.replicas} {end}' 2>/dev/null || true)
    read -r primary_pods canary_pods <<<"$pods"
    [[ "${primary_pods:-/}" == /* ]] && primary_pods="0${primary_pods:-/-}"
    [[ "${canary_pods:-/}" == /* ]] && canary_pods="0${canary_pods:-/-}"
    line+="|$pods"
    rate=-; p99=-
    [[ "$queries" =~ successRate=([0-9.]+) ]] && rate=${BASH_REMATCH[1]:0:5}
    [[ "$queries" =~ latencyP99=([0-9]+) ]] && p99="${BASH_REMATCH[1]}ms"
    route_traffic "${weight:-0}"
    if [[ "$line" != "$last" && -n "$phase" ]]; then
      printf '%s  %-12s canary %s  success %-5s p99 %-6s check %-2s failed %s/3  pods primary %s canary %s  %s\n' \
        "$(date +%H:%M:%S)" "$phase" "$(bar "${weight:-0}")" "$rate" "$p99" \
        "${iter:-0}" "${failed:-0}" "$primary_pods" "$canary_pods" "$msg"
      last="$line"
    fi
    [[ $(wc -w <<<"$outcomes") -ge $want && "$phase" == Waiting ]] && return 0
    sleep 0.5
  done
  echo "demo: the release did not finish; scheduler log:" >&2; tail -30 "$work/scheduler.log" >&2
  return 1
}

echo
echo "Waiting for the operator to set up podinfo-primary, podinfo-canary and the route..."
show_until_releases 0

echo
echo "=== Release 1: podinfo 6.0.1, healthy (0% errors, 20 ms) ==="
canary_errors=0 canary_latency=20
kubectl set image -n "$ns" deployment/podinfo podinfo=ghcr.io/stefanprodan/podinfo:6.0.1 >/dev/null
show_until_releases 1

echo
echo "=== Release 2: podinfo 6.0.2, faulty (30% errors) ==="
canary_errors=0.3 canary_latency=20
kubectl set image -n "$ns" deployment/podinfo podinfo=ghcr.io/stefanprodan/podinfo:6.0.2 >/dev/null
show_until_releases 2

echo
echo "Summary"
echo "-------"
kubectl get canarydeployment podinfo -n "$ns" -o jsonpath='{range .status.statusInfo.history[*]}  revision {.revision}: {.outcome} at {.finishedAt} ({.message}){"\n"}{end}'
echo
kubectl get deployments -n "$ns" -o custom-columns=DEPLOYMENT:.metadata.name,REPLICAS:.spec.replicas,READY:.status.readyReplicas,IMAGE:.spec.template.spec.containers[0].image
echo
kubectl get pods -n "$ns" -o wide 2>/dev/null | head -12 || true
echo
kubectl get virtualservice podinfo -n "$ns" \
  -o jsonpath='route: {range .spec.http[0].route[*]}{.destination.host}={.weight}% {end}{"\n"}'
echo "last queries:"
kubectl get canarydeployment podinfo -n "$ns" -o jsonpath='{range .status.statusInfo.lastQueries[*]}  {.name} = {.value} ({.result}): {.query}{"\n"}{end}'
echo
echo "Events:"
kubectl get events -n "$ns" --field-selector involvedObject.kind=CanaryDeployment --sort-by=.lastTimestamp \
  -o custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message 2>/dev/null | tail -25 || true
promoted=$(kubectl get canarydeployment podinfo -n "$ns" -o jsonpath='{.status.statusInfo.history[*].outcome}')
echo
if [[ "$promoted" != "promoted failed" ]]; then
  echo "demo: expected one promoted and one failed release, got: $promoted" >&2; exit 1
fi
echo "demo: 6.0.1 promoted, 6.0.2 rolled back; tearing down."
