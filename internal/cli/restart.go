package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/control"
	"github.com/windmilleng/pets/fresh"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
)

func newRestartCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "restart SERVICE...",
		Short: "Restart services and bounce their dependents",
		Long: `Restart the named services (a name, or name-tier) and bounce every running
service that depends on them, in dependency order: the round a watching pets
would run for a change to their files. When a pets watches them, it runs the
round, after the one in progress if any; otherwise this command runs it,
holding the lock pets up holds. A service that is down is started.`,
		Example: `  pets restart backend
  pets restart backend-local worker`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &petsfile.UsageError{Msg: "pets restart: name the services to restart", Hint: "pets restart SERVICE..., e.g. pets restart backend (pets list shows what runs)"}
			}
			return runRestart(cmd.Context(), g, f, args)
		},
	}
	cmd.Flags().StringVarP(&g.file, "file", "f", "", "path of the Petsfile (default: ./Petsfile or the nearest parent's), when no pets watches the services")
	cmd.Flags().DurationVar(&f.timeout, "timeout", supervise.DefaultReadyTimeout, "how long a restarted service may take to be ready")
	cmd.Flags().DurationVar(&f.grace, "grace", supervise.DefaultGrace, "time between SIGTERM and SIGKILL when stopping")
	f.registerLogMax(cmd)
	return cmd
}

func runRestart(ctx context.Context, g *globals, f *upFlags, names []string) error {
	dir, st, err := g.readState()
	if err != nil {
		return err
	}
	// A recorded service is named by its record; one that is down, by the
	// Petsfile (evaluated once, and only then), which says whether it is a
	// service at all.
	var keys []string
	var project *petsfile.Project
	down := map[string]petsfile.Key{}
	for _, n := range names {
		if rec, ok := recordOf(st, n); ok {
			keys = append(keys, rec.Key())
			continue
		}
		if project == nil {
			if project, err = loadRestartProject(ctx, g, st, names); err != nil {
				return err
			}
		}
		k, err := serviceNamed(project, n)
		if err != nil {
			return err
		}
		keys = append(keys, k.String())
		down[k.String()] = k
	}
	p := newPrinter(g.stderr)
	// Through the pets that watches them, if one does.
	watchers := map[string][]string{}
	for _, k := range keys {
		w, ok, err := dir.WatcherOf(k)
		if err != nil {
			return err
		}
		if ok {
			watchers[w.Socket] = append(watchers[w.Socket], k)
		}
	}
	switch {
	case len(watchers) > 1 || len(watchers) == 1 && len(watchers[firstKey(watchers)]) != len(keys):
		return &petsfile.UsageError{Msg: "these services are not all watched by the same pets", Hint: "restart them one watching pets at a time"}
	case len(watchers) == 1:
		err := control.Do(ctx, firstKey(watchers), control.Request{Op: "restart", Services: keys}, func(r control.Reply) error {
			if r.Event != nil {
				p.Emit(*r.Event)
			}
			return nil
		})
		if !errors.Is(err, control.ErrNoWatcher) {
			return err
		}
		// It went away: run the round here.
	}
	if project == nil {
		if project, err = loadRestartProject(ctx, g, st, names); err != nil {
			return err
		}
	}
	return restartInPlace(ctx, g, f, dir, st, project, keys, down, p)
}

// loadRestartProject evaluates the Petsfile of -f, else of the current
// directory or a parent; outside any project, the one the first recorded
// service of names runs from.
func loadRestartProject(ctx context.Context, g *globals, st *state.File, names []string) (*petsfile.Project, error) {
	if g.file == "" {
		if _, err := g.petsfilePath(); err != nil {
			for _, n := range names {
				if rec, ok := recordOf(st, n); ok && rec.Root != "" {
					g.file = rec.Root
					break
				}
			}
		}
	}
	return g.loadProject(ctx, supervise.TopLevelHost(g.stderr))
}

// serviceNamed is the service of project that n names: name-tier, or a
// name at the tier local (as pets up would start it).
func serviceNamed(project *petsfile.Project, n string) (petsfile.Key, error) {
	for _, s := range project.Services() {
		if s.Key.String() == n {
			return s.Key, nil
		}
	}
	// Resolve says why n is not a service: unknown, or not at that tier.
	if _, err := project.Resolve([]string{n}, "local", nil); err != nil {
		return petsfile.Key{}, err
	}
	return petsfile.Key{Name: n, Tier: "local"}, nil
}

// restartInPlace runs the restart round itself, under the up lock. down
// are those of keys without a record (the project has them).
func restartInPlace(ctx context.Context, g *globals, f *upFlags, dir *state.Dir, st *state.File, project *petsfile.Project, keys []string, down map[string]petsfile.Key, p *printer) error {
	// The services of this Petsfile that run, at the tiers they run at, so
	// that their dependents are bounced; and those to start, at theirs
	// (with the dependencies they need).
	names, with := running(project, st)
	var restart []petsfile.Key
	for _, k := range keys {
		if key, ok := down[k]; ok {
			if t, ok := with[key.Name]; ok && t != key.Tier {
				return &petsfile.UsageError{Msg: key.Name + " runs at tier " + t, Hint: "pets restart " + key.Name + "-" + t + ", or pets down " + key.Name + " first"}
			}
			names, with[key.Name] = append(names, key.Name), key.Tier
			restart = append(restart, key)
			continue
		}
		rec, _ := recordOf(st, k)
		key := petsfile.Key{Name: rec.Name, Tier: rec.Tier}
		if _, ok := project.Service(key); !ok {
			if rec.Root == project.Path {
				return &petsfile.UsageError{Msg: k + " runs, but " + project.Path + " no longer has it", Hint: "stop it with pets down " + k}
			}
			return &petsfile.UsageError{Msg: k + " is not a service of " + project.Path, Hint: "run pets restart from its project (" + rec.Root + "), or with -f"}
		}
		restart = append(restart, key)
	}
	graph, err := project.Resolve(names, "local", with)
	if err != nil {
		return err
	}
	unlock, err := dir.LockUp(ctx, func() { fmt.Fprintln(g.stderr, "Waiting for another `pets up` to finish...") })
	if err != nil {
		return err
	}
	defer unlock()
	syncer, err := g.newSyncer(g.stderr, project, graph)
	if err != nil {
		return fmt.Errorf("live sync: %w", err)
	}
	eng := &rebuild.Engine{
		Runner: &supervise.Supervisor{State: dir, Project: project, Stderr: g.stderr, Grace: f.grace, ReadyTimeout: f.timeout, LogMax: int64(f.logMax), Fingerprints: project.Fingerprints(ctx, graph), Kube: g.kube},
		Syncer: syncer, Owners: rebuild.OwnersOf(project, graph), Stamps: fresh.NewStamper(dir, project, graph, stateIgnore(dir)),
		Events: g.events(dir, "restart", p),
		Lock:   func(ctx context.Context, k petsfile.Key) (func(), error) { return dir.LockService(ctx, k.Name) },
	}
	if failed := eng.Restart(ctx, graph, restart).Failed(); len(failed) > 0 {
		var names []string
		for _, s := range failed {
			names = append(names, s.Key.String())
		}
		return fmt.Errorf("%s failed", strings.Join(names, ", "))
	}
	return nil
}

// recordOf finds a recorded service by name or display name.
func recordOf(st *state.File, n string) (*state.Service, bool) {
	if rec, ok := st.Services[n]; ok {
		return rec, true
	}
	for _, rec := range st.Services {
		if rec.Key() == n {
			return rec, true
		}
	}
	return nil, false
}

func firstKey(m map[string][]string) string {
	for k := range m {
		return k
	}
	return ""
}
