#!/usr/bin/env bash
# make test: vet, every test with -race, and the macOS/Windows builds. Where
# the project's Kubernetes test cluster can run (Linux, root), it is brought
# up first and torn down afterwards, so the Kubernetes tests run against it;
# elsewhere they skip, naming what is missing (under CI=true they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ] && [ -z "${PETS_NO_CLUSTER:-}" ]; then
  trap 'make --no-print-directory cluster-down' EXIT
  make --no-print-directory cluster-up
fi

make --no-print-directory lint
$GO test -race -count=1 -timeout 30m ./...
make --no-print-directory crossbuild
