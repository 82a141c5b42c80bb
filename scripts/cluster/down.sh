#!/usr/bin/env bash
# Tears the pets test cluster down and deletes its state: kubelet first (so it
# restarts nothing), then every containerd task and container (through ctr on the
# cluster's own socket), then the other daemons by pid file; then unmounts
# everything under the state dir, removes the kubepods cgroups and the few files
# kubelet/containerd/CNI put outside it. Verifies that no process, mount or
# cgroup is left and fails if one is. Safe to run when nothing is up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $(uname -s) == Linux ]] || die "the test cluster needs Linux"
[[ $(id -u) == 0 ]] || die "cluster-down needs root"
export PATH="$PATH:/usr/sbin:/sbin"
t_start=$(now_ms)

mkdir -p "$(dirname "$STATE_DIR")"
exec 8>"$STATE_DIR.lock"
flock 8

# stop NAME...: SIGTERM the daemons, wait up to 15 s, then SIGKILL.
stop() {
	local d pids=() pid i
	for d in "$@"; do
		if pid_alive "$d"; then
			pid=$(<"$PID_DIR/$d.pid")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	for ((i = 0; i < 150; i++)); do
		local left=()
		for pid in "${pids[@]}"; do proc_running "$pid" && left+=("$pid"); done
		((${#left[@]})) || break
		pids=("${left[@]}")
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if proc_running "$pid"; then
			log "pid $pid did not stop on SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	for d in "$@"; do rm -f "$PID_DIR/$d.pid"; done
}

# pids_matching STRING: our daemons, shims and runc processes whose command line
# contains STRING (the state dir path, which every daemon and shim of this
# cluster has in its arguments; other programs, e.g. a `tail -f` of a log, are
# left alone).
pids_matching() {
	local p cmd exe
	for p in /proc/[0-9]*; do
		[[ ${p#/proc/} == "$$" || ${p#/proc/} == "$BASHPID" ]] && continue
		proc_running "${p#/proc/}" || continue
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		exe=${exe##*/}
		case ${exe% (deleted)} in
		etcd | containerd | containerd-shim* | runc | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet) ;;
		*) continue ;;
		esac
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$1"* ]] && echo "${p#/proc/}"
	done
	return 0
}

# The kubelet (cgroupfs driver) puts every pod under a "kubepods" cgroup in each hierarchy.
kubepods_cgroups() { find /sys/fs/cgroup -depth -type d -name '*kubepods*' 2>/dev/null || true; }

state_mounts() {
	# Mount points at or under the state dir, deepest first (mountinfo field 5).
	awk -v s="$STATE_DIR" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r -u
}

# Container and sandbox ids of this cluster, for the files named after them
# outside the state dir: from containerd's state dir, our shims' command lines
# and the CNI results of our network ("pets"); ctr adds the live ones below.
ids=()
collect_ids() {
	local d p cmd f
	for d in "$STATE_DIR/containerd/state/io.containerd.runtime.v2.task/k8s.io" \
		"$STATE_DIR/containerd/state/io.containerd.grpc.v1.cri/sandboxes" \
		"$STATE_DIR/containerd/state/io.containerd.grpc.v1.cri/containers"; do
		[[ -d $d ]] && for p in "$d"/*; do [[ -e $p ]] && ids+=("${p##*/}"); done
	done
	for p in $(pids_matching "-address $CONTAINERD_SOCK"); do
		cmd=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline") || continue
		ids+=("$(grep -A1 -x -- -id <<<"$cmd" | tail -n1)")
	done
	for f in /var/lib/cni/results/pets-*-eth0; do
		[[ -e $f ]] || continue
		f=${f#/var/lib/cni/results/pets-}
		ids+=("${f%-eth0}")
	done
}
collect_ids

if pid_alive containerd || pid_alive kubelet || [[ -d $STATE_DIR ]]; then
	log "stopping the cluster in $STATE_DIR"
fi

# 1. kubelet, so that nothing gets restarted behind our back.
stop kubelet

# 2. every task and container in containerd's k8s.io namespace.
if pid_alive containerd && [[ -S $CONTAINERD_SOCK ]]; then
	mapfile -t -O "${#ids[@]}" ids < <(ctr_ containers ls -q 2>/dev/null || true)
	# SIGKILL every task; the CRI plugin usually deletes a task itself once it
	# sees it exit, so delete only what is still listed as STOPPED, until none is left.
	for ((i = 0; i < 100; i++)); do
		mapfile -t tasks < <(ctr_ tasks ls 2>/dev/null | awk 'NR > 1 { print $1 " " $3 }')
		((${#tasks[@]})) || break
		for t in "${tasks[@]}"; do
			id=${t% *}
			case ${t#* } in
			STOPPED) ctr_ tasks delete "$id" >/dev/null 2>&1 || true ;;
			*) ((i % 10)) || ctr_ tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true ;;
			esac
		done
		sleep 0.05
	done
	for id in "${ids[@]}"; do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
	left=$(ctr_ tasks ls -q 2>/dev/null || true)
	[[ -z $left ]] || log "tasks still listed after kill/delete: $left"
fi

# 3. the remaining daemons.
stop kube-scheduler kube-controller-manager kube-apiserver containerd
stop etcd

# 4. anything of ours still running: shims (their -address is our socket) and
#    processes left in our pod cgroups.
for pid in $(pids_matching "$STATE_DIR"); do
	log "killing leftover process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-120)"
	kill -KILL "$pid" 2>/dev/null || true
done
for d in $(kubepods_cgroups); do
	find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
done | sort -u | while read -r pid; do
	[[ -n $pid ]] || continue
	log "killing leftover pod process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-120)"
	kill -KILL "$pid" 2>/dev/null || true
done

# 5. mounts under the state dir (netns, rootfs overlays, volumes).
for ((i = 0; i < 5; i++)); do
	mapfile -t mounts < <(state_mounts)
	((${#mounts[@]})) || break
	for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	sleep 0.1
done

# 6. cgroups: the kubepods trees, deepest first.
for ((i = 0; i < 20; i++)); do
	mapfile -t cg < <(for d in $(find /sys/fs/cgroup -maxdepth 2 -type d -name kubepods 2>/dev/null); do
		find "$d" -depth -type d; done | sort -u -r)
	((${#cg[@]})) || break
	for d in "${cg[@]}"; do rmdir "$d" 2>/dev/null || true; done
	sleep 0.1
done

# 7. paths outside the state dir that kubelet, containerd and CNI hard-code.
mapfile -t ids < <(printf '%s\n' "${ids[@]}" | grep -E '^[0-9a-f]{64}$' | sort -u)
if [[ -d /var/log/containers ]]; then
	for l in /var/log/containers/*; do
		[[ -L $l ]] || continue
		t=$(readlink "$l")
		[[ $t == "$STATE_DIR"/* ]] && rm -f "$l"
	done
	rmdir /var/log/containers 2>/dev/null || true
fi
rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/DEPRECATION
rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
if [[ -d /run/containerd/s ]]; then
	# Shim sockets are /run/containerd/s/sha256(<containerd address>/<namespace>/<id>).
	for id in "${ids[@]}"; do
		rm -f "/run/containerd/s/$(printf '%s' "$CONTAINERD_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
	done
	rmdir /run/containerd/s /run/containerd 2>/dev/null || true
fi
if [[ -d /var/lib/cni ]]; then
	for id in "${ids[@]}"; do rm -f /var/lib/cni/results/pets-"$id"-eth0 /var/lib/cni/results/cni-loopback-"$id"-lo; done
	rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
fi

# 8. verify, then delete the state dir.
problems=()
left_pids=$(pids_matching "$STATE_DIR" | tr '\n' ' ')
[[ -z ${left_pids// /} ]] || problems+=("processes still running: $left_pids")
left_mounts=$(state_mounts | tr '\n' ' ')
[[ -z ${left_mounts// /} ]] || problems+=("mounts left: $left_mounts")
left_cg=$(kubepods_cgroups | tr '\n' ' ')
[[ -z ${left_cg// /} ]] || problems+=("cgroups left: $left_cg")
if ((${#problems[@]})); then
	for p in "${problems[@]}"; do log "$p"; done
	die "cluster-down incomplete; $STATE_DIR kept"
fi
if [[ -e $STATE_DIR ]]; then
	rm -rf --one-file-system "$STATE_DIR"
	log "down in $(awk -v ms=$(($(now_ms) - t_start)) 'BEGIN { printf "%.1f s", ms / 1000 }'): no process, mount or cgroup left; $STATE_DIR removed"
fi
