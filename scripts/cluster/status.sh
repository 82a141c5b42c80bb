#!/usr/bin/env bash
# Prints which daemons of the test cluster run, and the node's state. Exit 0 when
# every daemon runs and the node is Ready, 1 otherwise.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ok=0
for d in "${DAEMONS[@]}"; do
	if pid_alive "$d"; then
		printf '%-24s running (pid %s)\n' "$d" "$(<"$PID_DIR/$d.pid")"
	else
		printf '%-24s not running\n' "$d"
		ok=1
	fi
done
if ((ok == 0)); then
	kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s get nodes || ok=1
	echo "kubeconfig: $KUBECONFIG_PATH (context $CONTEXT_NAME)"
fi
exit $ok
