#!/usr/bin/env bash
# make test: vet, every test with -race, and the macOS/Windows builds. Where
# the project's Kubernetes test cluster can run (Linux, root), it is brought
# up first and torn down afterwards, so the Kubernetes tests run against it;
# elsewhere they skip, naming what is missing (under CI=true they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] && [ -z "${PETS_NO_CLUSTER:-}" ]; then
  # cluster-up is idempotent (it re-imports the images); a cluster that was
  # up already (make cluster-up) is left up afterwards.
  if ! scripts/cluster/status.sh >/dev/null 2>&1; then
    trap 'make --no-print-directory cluster-down' EXIT
  fi
  make --no-print-directory cluster-up
fi

# The status page's browser tests (cmd/pets/ui_test.go) drive Debian's
# chromium, headless. As root on Debian it is installed when missing;
# elsewhere they skip, naming what is missing (under CI=true they fail).
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  echo "installing chromium (for the status page's browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi

make --no-print-directory lint
$GO test -race -count=1 -timeout 30m ./...
make --no-print-directory crossbuild
