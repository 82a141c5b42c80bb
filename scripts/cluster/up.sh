#!/usr/bin/env bash
# Brings up the pets single-node test cluster (etcd, containerd + runc,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet), everything
# bound to 127.0.0.1 and kept under $PETS_CLUSTER_STATE (default
# /var/tmp/pets-cluster). Installs the Debian packages and builds the binaries and
# images when missing. Idempotent: when the cluster already runs it only reports.
# Prints the kubeconfig path (context "pets-test") and the time to Ready.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $(uname -s) == Linux ]] || die "the test cluster needs Linux (this is $(uname -s))"
[[ $(id -u) == 0 ]] || die "the test cluster needs root (containerd, runc, mounts, cgroups)"
export PATH="$PATH:/usr/sbin:/sbin"

t_start=$(now_ms)
KUBECTL=(kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s)
READY_TIMEOUT=${PETS_CLUSTER_READY_TIMEOUT:-120}

secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }

# cluster_ready: the node is Ready and untainted (pods can schedule) and the
# default ServiceAccount exists (pods can be created in "default").
cluster_ready() {
	local out
	out=$("${KUBECTL[@]}" get node localhost \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.spec.taints}' 2>/dev/null) || return 1
	[[ $out == "True/" ]] || return 1
	"${KUBECTL[@]}" -n default get serviceaccount default -o name >/dev/null 2>&1
}

all_alive() {
	local d
	for d in "${DAEMONS[@]}"; do pid_alive "$d" || return 1; done
}

any_alive() {
	local d
	for d in "${DAEMONS[@]}"; do pid_alive "$d" && return 0; done
	return 1
}

report() {
	cat >&2 <<EOF
[cluster] kubeconfig: $KUBECONFIG_PATH (context $CONTEXT_NAME)
[cluster]   kubectl --kubeconfig $KUBECONFIG_PATH get nodes
[cluster] images (imagePullPolicy: Never): $PAUSE_IMAGE $APP_IMAGE $NOTAR_IMAGE
EOF
}

show_logs() {
	local d
	for d in "$@"; do
		[[ -f $LOG_DIR/$d.log ]] || continue
		printf '[cluster] ---- last lines of %s ----\n' "$LOG_DIR/$d.log" >&2
		tail -n 25 "$LOG_DIR/$d.log" >&2
	done
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND every 100 ms;
# fails early, with logs, when one of the started daemons died.
wait_for() {
	local desc=$1 timeout=$2
	shift 2
	local deadline=$(($(now_ms) + timeout * 1000)) d
	until "$@"; do
		for d in "${started[@]}"; do
			if ! pid_alive "$d"; then
				show_logs "$d"
				die "$d exited while waiting for $desc (logs: $LOG_DIR/$d.log); run cluster-down to clean up"
			fi
		done
		if (($(now_ms) > deadline)); then
			show_logs "${started[@]}"
			die "timed out after ${timeout}s waiting for $desc; run cluster-down to clean up"
		fi
		sleep 0.1
	done
}

started=()
# start NAME COMMAND...: runs a daemon in its own session, detached from any
# terminal, logging to $LOG_DIR/NAME.log, its pid in $PID_DIR/NAME.pid.
start() {
	local name=$1
	shift
	# fd 8 (the cluster lock) must not leak into the daemons, or it stays held.
	setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 8>&- &
	echo $! >"$PID_DIR/$name.pid"
	started+=("$name")
	# Until the forked shell has exec'd the daemon, /proc/PID/exe is still bash.
	local i
	for ((i = 0; i < 100; i++)); do
		pid_alive "$name" && return 0
		proc_running $! || break
		sleep 0.02
	done
	pid_alive "$name" || { show_logs "$name"; die "$name did not start (logs: $LOG_DIR/$name.log)"; }
}

import_images() {
	local f
	for f in pause app notar; do
		ctr_ images import --no-unpack=false "$IMAGES_DIR/$f.tar" >/dev/null
	done
	cp "$IMAGES_DIR/.stamp" "$STATE_DIR/images.stamp"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apiserver_ready() { "${KUBECTL[@]}" get --raw /readyz >/dev/null 2>&1; }

mkdir -p "$(dirname "$STATE_DIR")"
exec 8>"$STATE_DIR.lock"
flock 8

# ---- already running? ---------------------------------------------------
if all_alive; then
	"$CLUSTER_DIR/build-images.sh"
	if [[ ! -f $STATE_DIR/images.stamp || "$(<"$IMAGES_DIR/.stamp")" != "$(<"$STATE_DIR/images.stamp")" ]]; then
		log "images changed: re-importing"
		import_images
	fi
	started=("${DAEMONS[@]}")
	wait_for "the node to be Ready" "$READY_TIMEOUT" cluster_ready
	log "already up: node localhost Ready (checked in $(secs $(($(now_ms) - t_start))))"
	report
	exit 0
fi
if any_alive || [[ -e $STATE_DIR ]]; then
	log "found a partial or stale cluster in $STATE_DIR: tearing it down first"
	flock -u 8
	"$CLUSTER_DIR/down.sh"
	flock 8
fi

# ---- dependencies, binaries, images ----------------------------------------
"$CLUSTER_DIR/install-deps.sh"
"$CLUSTER_DIR/build-bins.sh"
"$CLUSTER_DIR/build-images.sh"
t_prep=$(now_ms)

for p in 2379 2380 6443 10250 10257 10259 10248; do
	port_open "$p" && die "127.0.0.1:$p is already in use by something else"
done

# ---- state dir, certificates, configs ----------------------------------------
CFG="$STATE_DIR/config"
mkdir -p "$STATE_DIR" "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$CFG" "$STATE_DIR/etcd" \
	"$STATE_DIR/containerd/root" "$STATE_DIR/containerd/state" "$(dirname "$CONTAINERD_SOCK")" \
	"$STATE_DIR/runc" "$STATE_DIR/cni/bin" "$STATE_DIR/cni/net.d" "$STATE_DIR/kubelet" \
	"$STATE_DIR/pod-logs" "$STATE_DIR/volume-plugins"
chmod 700 "$STATE_DIR/etcd"
"$TOOLS_BIN_DIR/pki" -dir "$PKI_DIR" -server https://127.0.0.1:6443 -context "$CONTEXT_NAME" \
	-admin-kubeconfig "$KUBECONFIG_PATH"

ln -sf /usr/lib/cni/loopback "$STATE_DIR/cni/bin/loopback"
install -m 0755 "$TOOLS_BIN_DIR/pets-cni" "$STATE_DIR/cni/bin/pets-cni"
cat >"$STATE_DIR/cni/net.d/10-pets.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "pets", "plugins": [{"type": "pets-cni"}]}
EOF

cat >"$CFG/containerd.toml" <<EOF
version = 2
root = "$STATE_DIR/containerd/root"
state = "$STATE_DIR/containerd/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$CONTAINERD_SOCK"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # No CAP_SYS_RESOURCE here: without this every sandbox fails in runc
  # ("failed to update /proc/self/oom_score_adj: Permission denied").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
        Root = "$STATE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$STATE_DIR/cni/bin"
    conf_dir = "$STATE_DIR/cni/net.d"
    max_conf_num = 1
EOF

cat >"$CFG/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
tlsCertFile: $PKI_DIR/kubelet-serving.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving.key
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
  x509:
    clientCAFile: $PKI_DIR/ca.crt
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupsPerQOS: true
failSwapOn: false
makeIPTablesUtilChains: false
# Pods get an empty resolv.conf: nothing in a pod may talk to the host's resolver.
resolvConf: ""
clusterDomain: cluster.local
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
evictionHard:
  memory.available: "10Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
podLogsDir: $STATE_DIR/pod-logs
volumePluginDir: $STATE_DIR/volume-plugins
nodeStatusReportFrequency: 10s
syncFrequency: 10s
EOF

# ---- start -------------------------------------------------------------------
t_daemons=$(now_ms)
start etcd etcd --name pets-test --data-dir "$STATE_DIR/etcd" \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster pets-test=http://127.0.0.1:2380 --initial-cluster-state new \
	--logger zap --log-outputs stderr
start containerd containerd --config "$CFG/containerd.toml"

wait_for "etcd on 127.0.0.1:2379" 30 port_open 2379
start kube-apiserver "$K8S_BIN_DIR/kube-apiserver" \
	--etcd-servers=http://127.0.0.1:2379 \
	--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=6443 \
	--endpoint-reconciler-type=none \
	--service-cluster-ip-range=198.18.0.0/24 \
	--tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
	--client-ca-file="$PKI_DIR/ca.crt" \
	--kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
	--kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority="$PKI_DIR/ca.crt" \
	--kubelet-preferred-address-types=Hostname \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$PKI_DIR/sa.pub" \
	--service-account-signing-key-file="$PKI_DIR/sa.key" \
	--authorization-mode=Node,RBAC \
	--enable-admission-plugins=NodeRestriction \
	--allow-privileged=true \
	--profiling=false

wait_for "the containerd socket" 30 test -S "$CONTAINERD_SOCK"
import_images &
import_pid=$!

wait_for "kube-apiserver /readyz" 60 apiserver_ready
start kube-controller-manager "$K8S_BIN_DIR/kube-controller-manager" \
	--kubeconfig="$PKI_DIR/kube-controller-manager.kubeconfig" \
	--authentication-kubeconfig="$PKI_DIR/kube-controller-manager.kubeconfig" \
	--authorization-kubeconfig="$PKI_DIR/kube-controller-manager.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=10257 \
	--leader-elect=false \
	--use-service-account-credentials=false \
	--service-account-private-key-file="$PKI_DIR/sa.key" \
	--root-ca-file="$PKI_DIR/ca.crt" \
	--cluster-name=pets-test \
	--node-monitor-period=1s \
	--controllers='*,-nodeipam,-cloud-node-lifecycle,-service,-route,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ttl,-bootstrapsigner,-tokencleaner' \
	--profiling=false
start kube-scheduler "$K8S_BIN_DIR/kube-scheduler" \
	--kubeconfig="$PKI_DIR/kube-scheduler.kubeconfig" \
	--authentication-kubeconfig="$PKI_DIR/kube-scheduler.kubeconfig" \
	--authorization-kubeconfig="$PKI_DIR/kube-scheduler.kubeconfig" \
	--bind-address=127.0.0.1 --secure-port=10259 \
	--leader-elect=false \
	--profiling=false

wait "$import_pid" || die "importing the images into containerd failed (logs: $LOG_DIR/containerd.log)"
start kubelet "$K8S_BIN_DIR/kubelet" \
	--config="$CFG/kubelet.yaml" \
	--kubeconfig="$PKI_DIR/kubelet.kubeconfig" \
	--hostname-override=localhost \
	--root-dir="$STATE_DIR/kubelet"

wait_for "the node to be Ready" "$READY_TIMEOUT" cluster_ready
t_end=$(now_ms)
log "node localhost Ready in $(secs $((t_end - t_daemons))) after starting the daemons ($(secs $((t_end - t_start))) in all, $(secs $((t_prep - t_start))) of it checking deps/binaries/images)"
report
