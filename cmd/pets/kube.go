package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

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
	c, _, err := kubeClient(project.AllowedContexts)
	if err != nil {
		return nil, err
	}
	return &livesync.Syncer{Client: c}, nil
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

func (applier) Apply(ctx context.Context, manifests []byte, ns string, wait bool, allowed []string) (string, error) {
	c, cfg, err := kubeClient(allowed)
	if err != nil {
		return "", err
	}
	objs, err := c.Apply(ctx, manifests, ns)
	if err != nil {
		return "", err
	}
	if wait {
		if err := c.WaitRollout(ctx, objs, 5*time.Minute); err != nil {
			return "", err
		}
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.String()
	}
	return fmt.Sprintf("%s to context %s", strings.Join(names, ", "), cfg.Context), nil
}

// seeding is a Runner that keeps a Syncer in step with deploys: before a
// service's provider runs, the Syncer forgets what it synced into it; after,
// a service with sync rules gets its rules' whole trees into its pods, so
// they hold the developer's files from the start, not the image's. A failed
// seed is reported and does not fail the service: its pods get the trees
// with the next sync instead.
type seeding struct {
	rebuild.Runner
	syncer  *livesync.Syncer // may be nil: nothing syncs
	project *petsfile.Project
	stderr  io.Writer
}

func (s seeding) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	if s.syncer == nil {
		return s.Runner.Up(ctx, k, deps)
	}
	s.syncer.Deployed(k)
	v, err := s.Runner.Up(ctx, k, deps)
	if err == nil {
		seed(ctx, s.stderr, s.syncer, s.project, k, " at deploy")
	}
	return v, err
}

// seed gives k's pods its sync rules' trees (if it has rules) and says so on
// stderr; a failure is reported, not returned: the next sync tries again.
func seed(ctx context.Context, stderr io.Writer, syncer *livesync.Syncer, project *petsfile.Project, k petsfile.Key, when string) {
	svc, ok := project.Service(k)
	if syncer == nil || !ok || len(svc.Sync) == 0 {
		return
	}
	rep, err := syncer.Seed(ctx, k, svc.Sync)
	if err != nil {
		fmt.Fprintf(stderr, "pets: %s: syncing its files%s failed (pets tries again at the next sync): %v\n", k, when, err)
		return
	}
	fmt.Fprintf(stderr, "[%s] %s: synced %s%s in %s\n", time.Now().Format("15:04:05.000"), k, syncWhat(rep), when, rep.Took.Round(time.Millisecond))
}

// Alive passes the cheap liveness check through.
func (s seeding) Alive(ctx context.Context, k petsfile.Key) bool {
	return rebuild.Alive(ctx, s.Runner, k)
}
