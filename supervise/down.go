package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
)

// Graph is the graph of the recorded services, built from their recorded
// dependencies: what pets down and pets list need, without a Petsfile.
func Graph(f *state.File) *petsfile.Graph {
	deps := map[petsfile.Key][]petsfile.Key{}
	for _, s := range f.Services {
		k := petsfile.Key{Name: s.Name, Tier: s.Tier}
		var ds []petsfile.Key
		for _, d := range s.Deps {
			if r, ok := f.Services[d]; ok {
				ds = append(ds, petsfile.Key{Name: r.Name, Tier: r.Tier})
			}
		}
		deps[k] = ds
	}
	return petsfile.GraphOf(deps)
}

// DownAll stops the named recorded services (all when names is empty) and
// every recorded service that depends on them, dependents first. It says on w
// what it stops and how each ended, and emits a service.stopped event for
// each on sink (may be nil).
func DownAll(ctx context.Context, dir *state.Dir, names []string, grace time.Duration, w io.Writer, sink events.Sink) error {
	_ = dir.PruneWatchers() // and the sockets of watching pets that were killed
	defer pruneCgroups(dir) // and cgroups a killed pets made but did not record
	f, err := dir.Read()
	if err != nil {
		return err
	}
	if len(names) == 0 && len(f.Services) == 0 {
		fmt.Fprintln(w, "Nothing is running.")
		return nil
	}
	g := Graph(f)
	want := map[petsfile.Key]bool{}
	if len(names) == 0 {
		for _, k := range g.Order {
			want[k] = true
		}
	}
	for _, n := range names {
		k, ok := recorded(f, n)
		if !ok {
			var running []string
			for _, s := range f.Services {
				running = append(running, s.Key())
			}
			sort.Strings(running)
			hint := "nothing is running"
			if len(running) > 0 {
				hint = "running: " + strings.Join(running, ", ")
			}
			return &petsfile.UsageError{Msg: fmt.Sprintf("%s is not running", n), Hint: hint}
		}
		want[k] = true
		for _, d := range g.Dependents(k) {
			want[d] = true
		}
	}
	var stop []petsfile.Key
	for _, k := range g.Order {
		if want[k] {
			stop = append(stop, k)
		}
	}
	plan := rebuild.Decide(rebuild.Input{Remove: stop, Old: g})
	for i := range plan.Steps {
		plan.Steps[i].Reason = "pets down"
	}
	x := &rebuild.Executor{Graph: g, Runner: &recordRunner{dir: dir, grace: grace, w: w}, Events: sink, KeepGoing: true}
	out := x.Run(ctx, 0, plan, map[petsfile.Key]petsfile.Value{})
	var errs []error
	for _, s := range out.Steps {
		if s.Err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.Key, s.Err))
		}
	}
	return errors.Join(errs...)
}

// recorded finds a recorded service by name or display name ("name-tier").
func recorded(f *state.File, n string) (petsfile.Key, bool) {
	if s, ok := f.Services[n]; ok {
		return petsfile.Key{Name: s.Name, Tier: s.Tier}, true
	}
	for _, s := range f.Services {
		if s.Key() == n {
			return petsfile.Key{Name: s.Name, Tier: s.Tier}, true
		}
	}
	return petsfile.Key{}, false
}

// recordRunner stops recorded services (the only thing pets down asks of a
// Runner), saying so on w.
type recordRunner struct {
	dir   *state.Dir
	grace time.Duration
	w     io.Writer
}

func (r *recordRunner) Down(ctx context.Context, k petsfile.Key) error {
	f, err := r.dir.Read()
	if err != nil {
		return err
	}
	rec, ok := f.Services[k.Name]
	if !ok || rec.Tier != k.Tier {
		return nil // gone meanwhile
	}
	fmt.Fprintf(r.w, "Stopping %s\n", rec.Key())
	how, err := stopServiceSaying(ctx, r.dir, rec, r.grace, r.w)
	for _, h := range how {
		if h == proc.Killed {
			fmt.Fprintf(r.w, "  %s ignored SIGTERM; killed after %s\n", rec.Key(), r.grace)
		}
	}
	return err
}

func (r *recordRunner) Check(context.Context, petsfile.Key) (petsfile.Value, rebuild.Health) {
	return petsfile.Value{}, rebuild.Absent
}

func (r *recordRunner) Alive(context.Context, petsfile.Key) (bool, string) { return false, "" }

func (r *recordRunner) Build(_ context.Context, k petsfile.Key) error {
	return fmt.Errorf("pets down cannot build %s", k)
}

func (r *recordRunner) Up(_ context.Context, k petsfile.Key, _ []petsfile.Value) (petsfile.Value, error) {
	return petsfile.Value{}, fmt.Errorf("pets down cannot start %s", k)
}
