package rebuild

import (
	"context"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// Syncer copies changed files into a running service (its Kubernetes pods)
// instead of restarting it. Implemented by package sync.
type Syncer interface {
	// Sync copies paths (absolute; deleted ones are deleted) as rules say,
	// runs the rules' triggered commands and restarts the container process
	// if a rule asks. Every path is covered by one of the rules.
	Sync(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule, paths []string) (SyncReport, error)
	// Changed records paths of k that changed but are not synced (the
	// service restarts instead): a pod that outlives the restart still
	// needs their deletions.
	Changed(k petsfile.Key, paths []string)
}

// SyncReport says what a sync did, for the round's line.
type SyncReport struct {
	Files int      // files copied
	Gone  int      // files deleted
	Pods  []string // namespace/name of each pod written to
	Ran   []string // commands run in the containers
	Took  time.Duration
}

func (l *Loop) syncRules(k petsfile.Key) []petsfile.SyncRule {
	for _, o := range l.Owners {
		if o.Key == k {
			return o.Sync
		}
	}
	return nil
}

// trySync syncs paths if every one is covered by a rule; covered says
// whether it tried.
func (l *Loop) trySync(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule, paths []string) (rep SyncReport, covered bool, err error) {
	if !covers(rules, paths) {
		return rep, false, nil
	}
	rep, err = l.Syncer.Sync(ctx, k, rules, paths)
	return rep, true, err
}

// covers says whether paths is a batch that rules can sync: not empty, and
// every path covered by one of them.
func covers(rules []petsfile.SyncRule, paths []string) bool {
	if len(rules) == 0 || len(paths) == 0 {
		return false
	}
	for _, p := range paths {
		ok := false
		for _, r := range rules {
			if _, c := r.Covers(p); c {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
