package rebuild

import (
	"context"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// Reload is a new configuration for a running Loop: the Petsfile changed
// and evaluated. Build it with NewReload.
type Reload struct {
	Runner Runner
	Graph  *petsfile.Graph
	Owners []Owner
	Skip   map[string]bool
	Syncer Syncer // nil: keep the loop's

	Added, Removed, Changed, Unchanged []petsfile.Key
	Noticed                            time.Time // when the edit was seen
}

// ReloadResult reports an applied Reload.
type ReloadResult struct {
	*Reload
	Round Round // the restarts it caused (Services empty if none)
	Took  time.Duration
}

// NewReload compares the running graph with the new one. A service is
// changed when its fingerprint (petsfile.Project.Fingerprints: commands,
// address, deps, watch and ignore rules) differs; a tier change is a removal
// plus an addition.
func NewReload(old, new *petsfile.Graph, oldFP, newFP map[petsfile.Key]string) *Reload {
	r := &Reload{Graph: new, Noticed: time.Now()}
	inNew := map[petsfile.Key]bool{}
	for _, k := range new.Order {
		inNew[k] = true
	}
	for _, k := range old.Order {
		if !inNew[k] {
			r.Removed = append(r.Removed, k)
		}
	}
	inOld := map[petsfile.Key]bool{}
	for _, k := range old.Order {
		inOld[k] = true
	}
	for _, k := range new.Order {
		switch {
		case !inOld[k]:
			r.Added = append(r.Added, k)
		case oldFP[k] != newFP[k]:
			r.Changed = append(r.Changed, k)
		default:
			r.Unchanged = append(r.Unchanged, k)
		}
	}
	return r
}

// apply runs a reload on the loop's goroutine's behalf (called from the round
// goroutine): removed services stop, dependents first; then added and changed
// ones start in dependency order, together with those whose files changed
// before the round (held; synced when their sync rules cover the change),
// each one's dependents bounced.
func (l *Loop) apply(ctx context.Context, r *Reload, old *petsfile.Graph, rs *roundState, values map[petsfile.Key]petsfile.Value, n int, held *heldChanges) ReloadResult {
	t0 := time.Now()
	removed := map[petsfile.Key]bool{}
	for _, k := range r.Removed {
		removed[k] = true
	}
	for i := len(old.Order) - 1; i >= 0; i-- {
		if k := old.Order[i]; removed[k] {
			_ = r.Runner.Down(context.WithoutCancel(ctx), k) // as in a round: never half-way
			delete(values, k)
		}
	}
	owner := map[petsfile.Key]bool{}
	restart := map[petsfile.Key]bool{} // its configuration is new: no sync
	for _, k := range append(append([]petsfile.Key(nil), r.Added...), r.Changed...) {
		owner[k], restart[k] = true, true
	}
	byOwner := map[petsfile.Key][]string{}
	if held != nil {
		for k, ps := range held.paths {
			owner[k] = true
			if !restart[k] && !held.all[k] {
				byOwner[k] = ps
			}
		}
	}
	var owners []petsfile.Key
	for _, k := range r.Graph.Order {
		if owner[k] {
			owners = append(owners, k)
		}
	}
	res := ReloadResult{Reload: r}
	if len(owners) > 0 {
		var paths []string
		if held != nil {
			paths = held.every
		}
		res.Round = l.roundWith(ctx, r.Runner, r.Graph, rs, n, owners, planFor(r.Graph, owners), paths, values, byOwner)
	}
	res.Took = time.Since(t0)
	return res
}
