#!/usr/bin/env bash
# Checks a running test cluster end to end, in a throwaway namespace: the node is
# Ready; a Deployment of the app image runs; kubectl exec with a tar on stdin
# works; kubectl port-forward to the pod's httpd works (127.0.0.1 only); a pod of
# the no-tar/no-shell image runs, serves HTTP, and exec of tar in it fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NS=pets-smoke-$$
K=(kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=20s)
KN=("${K[@]}" -n "$NS")
tmp=$(mktemp -d)
pf=""
cleanup() {
	[[ -n $pf ]] && kill "$pf" 2>/dev/null && wait "$pf" 2>/dev/null
	"${K[@]}" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ms() { date +%s%3N; }
step() { printf '[smoke] %-58s' "$1" >&2; }
ok() { printf 'ok %s\n' "${1:-}" >&2; }

step "node localhost Ready"
[[ "$("${K[@]}" get node localhost -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
ok

"${K[@]}" create namespace "$NS" >/dev/null
for i in $(seq 50); do "${KN[@]}" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.1; done
step "Deployments of the app and no-tar images roll out"
t=$(ms)
"${KN[@]}" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: $APP_IMAGE, imagePullPolicy: Never, ports: [{containerPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: notar}
spec:
  selector: {matchLabels: {app: notar}}
  template:
    metadata: {labels: {app: notar}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: notar, image: $NOTAR_IMAGE, imagePullPolicy: Never, ports: [{containerPort: 8080}]}
YAML
"${KN[@]}" rollout status deploy/app --timeout=60s >/dev/null
"${KN[@]}" rollout status deploy/notar --timeout=60s >/dev/null
ok "($(($(ms) - t)) ms)"
app=$("${KN[@]}" get pod -l app=app -o name)
notar=$("${KN[@]}" get pod -l app=notar -o name)

step "kubectl exec with tar on stdin into the app pod"
mkdir -p "$tmp/src/sub"
echo "synced $$" >"$tmp/src/sub/hello.txt"
chmod 640 "$tmp/src/sub/hello.txt"
t=$(ms)
tar -C "$tmp/src" -cf - sub | "${KN[@]}" exec -i "$app" -c app -- tar -xf - -C /www
d=$(($(ms) - t))
[[ "$("${KN[@]}" exec "$app" -- cat /www/sub/hello.txt)" == "synced $$" ]]
[[ "$("${KN[@]}" exec "$app" -- stat -c %a /www/sub/hello.txt)" == 640 ]]
ok "($d ms)"

# port_forward POD: starts kubectl port-forward on a free 127.0.0.1 port, sets $port.
port_forward() {
	"${KN[@]}" port-forward --address 127.0.0.1 "$1" :8080 >"$tmp/pf.log" 2>&1 &
	pf=$!
	port=""
	for i in $(seq 100); do
		port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$tmp/pf.log")
		[[ -n $port ]] && return 0
		sleep 0.05
	done
	cat "$tmp/pf.log" >&2
	return 1
}
stop_forward() { kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null || true; pf=""; }

step "kubectl port-forward to httpd in the app pod"
port_forward "$app"
[[ "$(curl -fsS "http://127.0.0.1:$port/sub/hello.txt")" == "synced $$" ]]
stop_forward
ok "(127.0.0.1:$port)"

step "no-tar pod serves HTTP through port-forward"
port_forward "$notar"
[[ "$(curl -fsS "http://127.0.0.1:$port/healthz")" == ok ]]
stop_forward
ok

step "exec of tar / sh in the no-tar pod fails"
if out=$(echo x | "${KN[@]}" exec -i "$notar" -- tar -xf - 2>&1); then
	echo "unexpected success: $out" >&2
	exit 1
fi
grep -q 'executable file not found' <<<"$out"
! "${KN[@]}" exec "$notar" -- sh -c true >/dev/null 2>&1
ok

echo "[smoke] all checks passed" >&2
