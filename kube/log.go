package kube

import (
	"log/slog"

	"k8s.io/klog/v2"
)

// RouteClientGoLogs sends client-go's own logging (klog: reflector warnings, "Unhandled
// Error" lines, fallback notices), which goes to stderr by default, to l instead. cmd/pets
// calls it once at startup, with a logger that discards unless PETS_DEBUG=1, so that no
// client-go line lands in the user's output. It sets process-wide state.
func RouteClientGoLogs(l *slog.Logger) {
	klog.SetSlogLogger(l)
}
