#!/usr/bin/env bash
# make bench-ab REF=<commit> [ONLY=restart] [N=20] [PAIRS=4]: one group of
# figures (bench -only) for this work tree's pets against REF's, in
# interleaved runs on this machine: REF is built as it built itself (make
# build, in a temporary worktree); the bench is this tree's for both.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${REF:-}
if [ -z "$ref" ]; then
  echo "make bench-ab: set REF to the commit to measure against (REF=HEAD~1), and ONLY to the figures (restart, startup, parallel, ...)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach -q "$tmp/src" "$ref"
make --no-print-directory -C "$tmp/src" build >/dev/null
# Both sides' binaries are copied afresh: how a file came into the page
# cache changes how fast it execs (see build in the Makefile), and an older
# commit's make build left its linker's output as it was.
mkdir -p "$tmp/this" "$tmp/that"
cp bin/pets* "$tmp/this/"
cp "$tmp/src/bin/"pets* "$tmp/that/"
go run ./internal/bench -only "${ONLY:-restart}" -n "${N:-20}" -pets "$tmp/this/pets" -against "$tmp/that/pets" -pairs "${PAIRS:-4}"
