package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/supervise"
	"github.com/windmilleng/pets/waiter"
)

// Kube is what pets does with a Kubernetes cluster. The pets binary has
// none of it: client-go's packages cost every start some 10 ms of init and
// 25 MB of memory, Kubernetes used or not. pets-kube, built beside pets,
// is the same commands with a Kube (KubeBinary); pets hands a command to it
// (see kubeSide) when the Petsfile live-syncs into pods, and runs one of its
// hidden `kube` commands for a single apply or question.
type Kube interface {
	// Syncer connects to the current context (KUBECONFIG, as kubectl) if
	// it looks local or is allowed; report (nil: nowhere) is told what a
	// seed waits for, every few seconds.
	Syncer(allowed []string, report func(k petsfile.Key, line string)) (rebuild.Syncer, error)
	// Apply applies manifests for k8s_apply.
	supervise.Applier
	// Unseeded lists the ready pods of the rules recorded in holding that
	// do not hold their trees (sync.Unseeded).
	Unseeded(ctx context.Context, holding []string) ([]string, error)
	// PortForward forwards until ctx ends (pets port-forward).
	PortForward(ctx context.Context, stderr io.Writer, o PortForward) error
}

// PortForward is what `pets port-forward` was asked.
type PortForward struct {
	Selector, Namespace string
	Local, Remote       int
	Allowed             []string
}

// KubeBinary is the name of pets with Kubernetes, installed beside pets.
const KubeBinary = "pets-kube"

// needsKube says whether project live-syncs into pods: what pets hands to
// pets-kube as a whole, before it starts anything (a sync keeps a client
// and watches pods for as long as pets runs).
func needsKube(project *petsfile.Project) bool {
	for _, s := range project.Services() {
		if len(s.Sync) > 0 {
			return true
		}
	}
	return false
}

// newSyncer returns a Syncer when some service of graph has sync rules,
// nil, nil when none has. While a seed waits for a ready pod it says so on
// progress (nil: nowhere) every few seconds: "pets: backend-k8s: waiting for
// a ready pod of ...".
func (g *globals) newSyncer(progress io.Writer, project *petsfile.Project, graph *petsfile.Graph) (rebuild.Syncer, error) {
	need := false
	for _, k := range graph.Order {
		if s, ok := project.Service(k); ok && len(s.Sync) > 0 {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	var report func(petsfile.Key, string)
	if progress != nil {
		var mu sync.Mutex // seeds of several services may report at once
		report = func(k petsfile.Key, line string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(progress, "pets: %s: %s\n", k, line)
		}
	}
	return g.kube.Syncer(project.AllowedContexts, report)
}

// kubeBeside returns pets-kube beside this executable (its target, if pets
// is a symlink).
func kubeBeside() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	p, ok := waiter.Sibling(exe, KubeBinary)
	if !ok {
		return "", &petsfile.UsageError{
			Msg:  fmt.Sprintf("pets hands what needs Kubernetes to %s, and there is no %s", KubeBinary, p),
			Hint: "make build puts it beside bin/pets; or go install github.com/windmilleng/pets/cmd/" + KubeBinary,
		}
	}
	return p, nil
}

// errNoKube is what the Kube of the pets binary says where it cannot hand
// the command over any more (something started already).
var errNoKube = errors.New("this pets has no Kubernetes client")

// handedOverEnv tells pets-kube that pets handed it the command (handOver).
const handedOverEnv = "PETS_HANDED_OVER"

// takeHandedOver says whether pets handed this command over, and removes
// the mark so that nothing this command starts inherits it.
func takeHandedOver() bool {
	v := os.Getenv(handedOverEnv)
	os.Unsetenv(handedOverEnv)
	return v == "1"
}
