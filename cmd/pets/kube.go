package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	livesync "github.com/windmilleng/pets/sync"
)

// newSyncer returns a Syncer when some service of graph has sync rules: the
// kubeconfig is loaded as kubectl does and its context must look local or be
// listed in the Petsfile's allow_k8s_contexts. nil, nil when no service syncs.
// While a seed waits for a ready pod it says so on progress (nil: nowhere)
// every few seconds: "pets: backend-k8s: waiting for a ready pod of ...".
func newSyncer(progress io.Writer, project *petsfile.Project, graph *petsfile.Graph) (*livesync.Syncer, error) {
	need := false
	for _, k := range graph.Order {
		if s, ok := project.Service(k); ok && len(s.Sync) > 0 {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	c, _, err := kubeClient(project.AllowedContexts)
	if err != nil {
		return nil, err
	}
	s := &livesync.Syncer{Client: c}
	if progress != nil {
		var mu sync.Mutex // seeds of several services may report at once
		s.Report = func(k petsfile.Key, line string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(progress, "pets: %s: %s\n", k, line)
		}
	}
	return s, nil
}

// kubeClient connects to the current context (KUBECONFIG, as kubectl) if it
// looks local or is allowed.
func kubeClient(allowed []string) (*kube.Client, *kube.Config, error) {
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

// applier implements supervise.Applier with package kube.
type applier struct{}

func (applier) Apply(ctx context.Context, manifests []byte, ns string, wait bool, allowed []string, progress func(string)) (string, error) {
	c, cfg, err := kubeClient(allowed)
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
