package supervise

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/windmilleng/pets/petsfile"
)

// Applier applies Kubernetes manifests for k8s_apply (implemented in cmd/pets
// on package kube). While it waits for the rollout it tells progress, every
// few seconds, what it waits for ("waiting for the rollout of
// deployment/backend: ... (10s of 5m0s)").
type Applier interface {
	Apply(ctx context.Context, manifests []byte, namespace string, wait bool, allowed []string, progress func(line string)) (summary string, err error)
}

var (
	_ petsfile.KubeHost = (*host)(nil)
	_ petsfile.KubeHost = dryHost{}
)

func (h *host) Apply(ctx context.Context, _ petsfile.Key, manifests []byte, ns string, wait bool, allowed []string) error {
	if h.s.Kube == nil {
		return fmt.Errorf("k8s_apply: this pets was built without Kubernetes support")
	}
	summary, err := h.s.Kube.Apply(ctx, manifests, ns, wait, allowed, h.progress)
	if err != nil {
		return err
	}
	h.s.printf("Pets applied %s", summary)
	return nil
}

// PortForward runs `pets port-forward` as a server of the service: its own
// process group, recorded like start(), so it outlives this command and
// `pets down` stops it.
func (h *host) PortForward(ctx context.Context, k petsfile.Key, ns, sel string, local, remote int, allowed []string) (petsfile.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return petsfile.Process{}, fmt.Errorf("k8s_port_forward: find the pets binary: %w", err)
	}
	args := []string{"exec", shellQuote(exe), "port-forward"}
	if ns != "" {
		args = append(args, "--namespace", shellQuote(ns))
	}
	for _, a := range allowed {
		args = append(args, "--allow-context", shellQuote(a))
	}
	args = append(args, shellQuote(sel), fmt.Sprintf("%d:%d", local, remote))
	return h.Start(ctx, petsfile.Command{Service: k, Dir: os.TempDir(), Line: strings.Join(args, " ")})
}

func (d dryHost) Apply(_ context.Context, _ petsfile.Key, manifests []byte, ns string, wait bool, _ []string) error {
	d.say("apply %d bytes of manifests (namespace %q, wait %v)", len(manifests), ns, wait)
	return nil
}

func (d dryHost) PortForward(_ context.Context, _ petsfile.Key, ns, sel string, local, remote int, _ []string) (petsfile.Process, error) {
	d.say("port-forward 127.0.0.1:%d to port %d of pods %q (namespace %q)", local, remote, sel, ns)
	return petsfile.Process{}, nil
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
