#!/usr/bin/env bash
# Installs the Debian packages the local test cluster needs. Idempotent: prints
# nothing and touches no network when everything is already installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PKGS=(etcd-server containerd runc containernetworking-plugins busybox-static)

missing=()
for p in "${PKGS[@]}"; do
	if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	[[ $(id -u) == 0 ]] || die "need root to install: ${missing[*]}"
	command -v apt-get >/dev/null || die "apt-get not found (Debian/Ubuntu only): install ${missing[*]}"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for c in etcd containerd containerd-shim-runc-v2 runc ctr busybox; do # kubectl: build-bins.sh
	command -v "$c" >/dev/null || die "$c not found on PATH after installing packages"
done
[[ -x /usr/lib/cni/loopback ]] || die "/usr/lib/cni/loopback missing (containernetworking-plugins)"
