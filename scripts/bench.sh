#!/usr/bin/env bash
# make bench: every speed figure beside its floor, one run, this machine. As
# root on Linux the Kubernetes test cluster is brought up for the figures
# that need it, after the local figures (its daemons do not run beside them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] && [ -z "${PETS_NO_CLUSTER:-}" ]; then
  # cluster-up is idempotent (it re-imports the images); a cluster that was
  # up already (make cluster-up) is left up afterwards.
  if ! scripts/cluster/status.sh >/dev/null 2>&1; then
    # The pod figures come last: their pods may still be going away, and
    # cluster-down fails while anything is left (it then says what).
    trap 'make --no-print-directory cluster-down >/dev/null 2>&1 || { sleep 5; make --no-print-directory cluster-down >/dev/null; }' EXIT
  fi
  set -- -cluster-up "make --no-print-directory cluster-up >/dev/null" "$@"
fi
go run ./internal/bench "$@"
