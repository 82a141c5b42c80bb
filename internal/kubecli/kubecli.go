// Package kubecli is pets' Kubernetes side, on client-go: what pets-kube
// adds to the pets command line (cli.Kube). The pets binary does not link
// it (see cli.Kube for why).
package kubecli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/windmilleng/pets/internal/cli"
	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	livesync "github.com/windmilleng/pets/sync"
)

// New returns the Kubernetes side, with client-go's own logging routed to
// debug output (PETS_DEBUG=1) instead of stderr.
func New() cli.Kube {
	klogTo := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PETS_DEBUG") == "1" {
		klogTo = slog.Default()
	}
	kube.RouteClientGoLogs(klogTo)
	return k8s{}
}

type k8s struct{}

func (k8s) Syncer(allowed []string, report func(petsfile.Key, string)) (rebuild.Syncer, error) {
	c, _, err := client(allowed)
	if err != nil {
		return nil, err
	}
	return &livesync.Syncer{Client: c, Report: report}, nil
}

func (k8s) Apply(ctx context.Context, manifests []byte, ns string, wait bool, allowed []string, progress func(string)) (string, error) {
	c, cfg, err := client(allowed)
	if err != nil {
		return "", err
	}
	objs, err := c.Apply(ctx, manifests, ns)
	if err != nil {
		return "", err
	}
	if wait {
		var report func(kube.Waiting)
		if progress != nil {
			report = func(w kube.Waiting) { progress(w.String()) }
		}
		if err := c.WaitRollout(ctx, objs, 5*time.Minute, report); err != nil {
			return "", err
		}
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.String()
	}
	return fmt.Sprintf("%s to context %s", strings.Join(names, ", "), cfg.Context), nil
}

func (k8s) Unseeded(ctx context.Context, holding []string) ([]string, error) {
	c, _, err := client(nil)
	if err != nil {
		return nil, err
	}
	return livesync.Unseeded(ctx, c, holding)
}

func (k8s) PortForward(ctx context.Context, stderr io.Writer, o cli.PortForward) error {
	c, cfg, err := client(o.Allowed)
	if err != nil {
		return err
	}
	f, err := c.PortForward(ctx, kube.ForwardOptions{
		Pods:      kube.PodSelector{Namespace: o.Namespace, Selector: o.Selector},
		LocalPort: o.Local, RemotePort: o.Remote, Log: stderr,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Forwarding %s to port %d of pods %q (context %s)\n", f.Addr(), o.Remote, o.Selector, cfg.Context)
	<-ctx.Done()
	return f.Close()
}

// client connects to the current context (KUBECONFIG, as kubectl) if it
// looks local or is allowed.
func client(allowed []string) (*kube.Client, *kube.Config, error) {
	cfg, err := kube.LoadConfig(kube.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	if err := kube.CheckContext(cfg.Context, cfg.Server, allowed); err != nil {
		return nil, nil, err
	}
	c, err := kube.New(cfg)
	return c, cfg, err
}
