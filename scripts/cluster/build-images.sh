#!/usr/bin/env bash
# Builds the helper programs (./tools) and the three OCI image-layout tarballs of
# the test cluster into $PETS_CLUSTER_CACHE. Skips work whose inputs did not change.
#   pause image   pets.local/pause:1        the pod sandbox (a static Go sleeper)
#   app image     pets.local/busybox-app:1  busybox-static with every applet in /bin
#                                           (sh, tar, httpd, ...) and /bin/pets-restart
#                                           (cmd/pets-restart, the in-container restart
#                                           wrapper for sync rules with restart=True);
#                                           default command: httpd -f -v -p 8080 -h /www
#   no-tar image  pets.local/notar-http:1   only /notar-http (static Go HTTP server on
#                                           :8080 serving /www): no shell, no tar
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$TOOLS_BIN_DIR" "$IMAGES_DIR"
exec 9>"$CACHE_DIR/.build-images.lock"
flock 9

(
	cd "$CLUSTER_DIR/tools"
	export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
	go build -trimpath -ldflags "-s -w" -o "$TOOLS_BIN_DIR/" ./...
)
# The restart wrapper comes from the pets module itself (the repository root).
(
	cd "$CLUSTER_DIR/../.."
	CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
		go build -trimpath -ldflags "-s -w" -o "$TOOLS_BIN_DIR/pets-restart" ./cmd/pets-restart
)

BUSYBOX=$(command -v busybox)
stamp=$(cat "$TOOLS_BIN_DIR/pause" "$TOOLS_BIN_DIR/notar-http" "$TOOLS_BIN_DIR/oci-layout" "$BUSYBOX" \
	"$TOOLS_BIN_DIR/pets-restart" \
	"${BASH_SOURCE[0]}" "$CLUSTER_DIR/common.sh" | sha256sum | cut -d' ' -f1)
if [[ -f $IMAGES_DIR/.stamp && "$(<"$IMAGES_DIR/.stamp")" == "$stamp" ]] &&
	[[ -f $IMAGES_DIR/pause.tar && -f $IMAGES_DIR/app.tar && -f $IMAGES_DIR/notar.tar ]]; then
	exit 0
fi

log "building images into $IMAGES_DIR"
tmp=$(mktemp -d "$IMAGES_DIR/rootfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
OCI="$TOOLS_BIN_DIR/oci-layout"

# pause
mkdir -p "$tmp/pause"
install -m 0755 "$TOOLS_BIN_DIR/pause" "$tmp/pause/pause"
"$OCI" -o "$IMAGES_DIR/pause.tar" -name "$PAUSE_IMAGE" -rootfs "$tmp/pause" -entrypoint '["/pause"]' >/dev/null

# busybox app
r="$tmp/app"
mkdir -p "$r/bin" "$r/etc" "$r/root" "$r/www" "$r/tmp" "$r/var/run"
chmod 1777 "$r/tmp"
install -m 0755 "$BUSYBOX" "$r/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[[ $a == busybox ]] || ln -s busybox "$r/bin/$a"
done
install -m 0755 "$TOOLS_BIN_DIR/pets-restart" "$r/bin/pets-restart"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
printf 'hello from %s\n' "$APP_IMAGE" >"$r/www/index.html"
"$OCI" -o "$IMAGES_DIR/app.tar" -name "$APP_IMAGE" -rootfs "$r" -workdir / -port 8080 \
	-cmd '["httpd","-f","-v","-p","8080","-h","/www"]' >/dev/null

# no tar, no shell
r="$tmp/notar"
mkdir -p "$r/www"
install -m 0755 "$TOOLS_BIN_DIR/notar-http" "$r/notar-http"
printf 'hello from %s\n' "$NOTAR_IMAGE" >"$r/www/index.html"
"$OCI" -o "$IMAGES_DIR/notar.tar" -name "$NOTAR_IMAGE" -rootfs "$r" -workdir / -port 8080 \
	-entrypoint '["/notar-http"]' -cmd '["-addr",":8080","-dir","/www"]' >/dev/null

echo "$stamp" >"$IMAGES_DIR/.stamp"
