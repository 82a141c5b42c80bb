package main

import (
	"context"

	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	livesync "github.com/windmilleng/pets/sync"
)

// syncerFor returns a Syncer when some service of graph has sync rules: the
// kubeconfig is loaded as kubectl does and its context must look local or be
// listed in the Petsfile's allow_k8s_contexts. nil, nil when no service syncs.
func syncerFor(project *petsfile.Project, graph *petsfile.Graph) (*livesync.Syncer, error) {
	need := false
	for _, k := range graph.Order {
		if s, ok := project.Service(k); ok && len(s.Sync) > 0 {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	cfg, err := kube.LoadConfig(kube.LoadOptions{})
	if err != nil {
		return nil, err
	}
	if err := kube.CheckContext(cfg.Context, cfg.Server, project.AllowedContexts); err != nil {
		return nil, err
	}
	c, err := kube.New(cfg)
	if err != nil {
		return nil, err
	}
	return &livesync.Syncer{Client: c}, nil
}

// deployingRunner tells the Syncer when a service is (re)deployed, so a
// restarted service's pods are not assumed to hold earlier syncs.
type deployingRunner struct {
	rebuild.Runner
	syncer *livesync.Syncer
}

func (d deployingRunner) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	d.syncer.Deployed(k)
	return d.Runner.Up(ctx, k, deps)
}

func (d deployingRunner) Alive(ctx context.Context, k petsfile.Key) bool {
	if a, ok := d.Runner.(interface {
		Alive(context.Context, petsfile.Key) bool
	}); ok {
		return a.Alive(ctx, k)
	}
	_, ok := d.Runner.Running(ctx, k)
	return ok
}
