# Shared settings for the pets local test cluster scripts. Sourced, not executed.
# shellcheck shell=bash

# Pinned Kubernetes version of the server binaries (must match k8sbin/go.mod).
K8S_VERSION=v1.32.4

CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Binaries and built images are cached here (outside the repository tree).
CACHE_DIR="${PETS_CLUSTER_CACHE:-${HOME:-/root}/.cache/pets-cluster}"
# Everything the running cluster owns: data, sockets, certs, logs, pid files.
STATE_DIR="${PETS_CLUSTER_STATE:-/var/tmp/pets-cluster}"
# Written by up.sh; its current context is named "pets-test".
KUBECONFIG_PATH="${PETS_CLUSTER_KUBECONFIG:-$STATE_DIR/kubeconfig}"
CONTEXT_NAME=pets-test

K8S_BIN_DIR="$CACHE_DIR/k8s-$K8S_VERSION/bin"
TOOLS_BIN_DIR="$CACHE_DIR/tools/bin"
IMAGES_DIR="$CACHE_DIR/images"

CONTAINERD_SOCK="$STATE_DIR/run/containerd/containerd.sock"
PID_DIR="$STATE_DIR/pids"
LOG_DIR="$STATE_DIR/logs"
PKI_DIR="$STATE_DIR/pki"

# Images imported into containerd (pods must use imagePullPolicy: Never).
PAUSE_IMAGE=pets.local/pause:1
APP_IMAGE=pets.local/busybox-app:1
NOTAR_IMAGE=pets.local/notar-http:1

# Daemons in start order; cluster-down stops them in reverse.
DAEMONS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() { date +%s%3N; }

ctr_() { ctr -a "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# proc_running PID: true when PID exists and is not a zombie. (Daemons are
# reparented to PID 1, which may reap exited children only every second or so.)
proc_running() {
	local stat
	stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]]
}

# pid_alive NAME: true when the pid file of NAME names a live process that is still NAME.
pid_alive() {
	local f="$PID_DIR/$1.pid" pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	proc_running "$pid" || return 1
	# Guard against pid reuse: the executable must still be the one we started.
	local exe
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ ${exe##*/} == "$1" || ${exe##*/} == "$1 (deleted)" ]]
}
