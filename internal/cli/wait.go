package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/control"
	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

func newWaitCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait [SERVICE...]",
		Short: "Wait until services are ready and run what is on disk",
		Long: `Wait until the services (all the running services of this Petsfile when none
is named) are ready and fresh: each runs the files of its watch set and the
configuration now on disk. It is the gate for scripts, editors and agents
after an edit: with a pets watching, it returns once the edit is live;
it counts every change made before it was called.

It fails at once when a service is down (failed, crashed) with nothing
about to restart it, stale because its last build failed (it still runs
the previous version until a change builds again), or stale with no pets
watching it to restart it (run pets restart, or pets watch). It never
evaluates the Petsfile.`,
		Example: `  pets wait && curl localhost:8081/
  pets wait backend --timeout 2m`,
		RunE: func(cmd *cobra.Command, args []string) error { return runWait(cmd.Context(), g, args, timeout) },
	}
	cmd.Flags().StringVarP(&g.file, "file", "f", "", "path of the Petsfile whose services to wait for (default: ./Petsfile or the nearest parent's)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

func runWait(ctx context.Context, g *globals, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dir, st, err := g.readState()
	if err != nil {
		return err
	}
	// Those a pets watches are answered by it; the others are looked at
	// here. Without names, a pets watching this Petsfile answers for all
	// of its services, as they are once it has seen every edit (a reload
	// may add some).
	bySocket := map[string][]string{}
	all := map[string]bool{} // pets asked for every service they watch
	if len(names) == 0 {
		path, err := g.petsfilePath()
		if err != nil {
			return withRunningPetsfiles(err, st)
		}
		ws, err := dir.LiveWatchers()
		if err != nil {
			return err
		}
		for _, w := range ws {
			if w.Petsfile == path {
				all[w.Socket], bySocket[w.Socket] = true, nil
			}
		}
	}
	keys, err := g.waitKeys(st, names, len(all) > 0)
	if err != nil {
		return err
	}
	var mine []string
	for _, k := range keys {
		w, ok, err := dir.WatcherOf(k)
		if err != nil {
			return err
		}
		switch {
		case ok && all[w.Socket]:
			// answered with every service it watches
		case ok:
			bySocket[w.Socket] = append(bySocket[w.Socket], k)
		default:
			mine = append(mine, k)
		}
	}
	for socket, ks := range bySocket {
		err := waitThrough(ctx, g, socket, ks)
		if errors.Is(err, control.ErrNoWatcher) {
			mine = append(mine, ks...) // it went away
			continue
		}
		if err != nil {
			return err
		}
	}
	for _, k := range mine {
		if err := waitHere(ctx, g, dir, k, timeout); err != nil {
			return err
		}
	}
	return nil
}

// waitKeys are the services to wait for: the named ones, else the running
// services of the current Petsfile (found, not evaluated); none is an error
// unless a pets watches the Petsfile (watched).
func (g *globals) waitKeys(st *state.File, names []string, watched bool) ([]string, error) {
	var keys []string
	for _, n := range names {
		rec, ok := recordOf(st, n)
		if !ok {
			return nil, &petsfile.UsageError{Msg: n + " is not running", Hint: "start it with pets up " + n}
		}
		keys = append(keys, rec.Key())
	}
	if len(names) > 0 {
		return keys, nil
	}
	path, err := g.petsfilePath()
	if err != nil {
		return nil, err
	}
	for _, rec := range st.Services {
		if rec.Root == path || rec.Root == "" && rec.Petsfile == path {
			keys = append(keys, rec.Key())
		}
	}
	if len(keys) == 0 && !watched {
		return nil, &petsfile.UsageError{Msg: "none of " + path + "'s services is running", Hint: "start them with pets up"}
	}
	sort.Strings(keys)
	return keys, nil
}

// waitHere waits for a service no pets watches: until it is ready; then it
// must be fresh, since nothing would restart it.
func waitHere(ctx context.Context, g *globals, dir *state.Dir, key string, timeout time.Duration) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := dir.Read()
		if err != nil {
			return err
		}
		rec, ok := recordOf(st, key)
		if !ok {
			return fmt.Errorf("%s is not running (any more)", key)
		}
		switch stateOf(rec) {
		case events.Failed, events.Crashed:
			return fmt.Errorf("%s %s: %s; nothing watches it to restart it (pets restart %s, or pets watch)", key, stateOf(rec), reasonOf(rec), key)
		case events.Ready:
			if rec.Port == 0 || proc.Accepting(rec.Host()) {
				v, err := g.judge(ctx, dir, rec)
				if v.Freshness == events.Stale {
					// A pets starting to watch it (pets watch & pets
					// wait) would restart it: give one a moment to say so.
					if w, ok := watcherSoon(ctx, dir, key); ok {
						return waitThrough(ctx, g, w.Socket, []string{key})
					}
				}
				switch {
				case err != nil:
					return fmt.Errorf("%s: cannot tell whether it runs what is on disk: %w", key, err)
				case v.Freshness == events.Unknown:
					fmt.Fprintf(g.stderr, "%s: ready, freshness unknown (recorded by an older pets)\n", key)
					return nil
				case len(v.Files) > 0:
					advice := fmt.Sprintf("restart it (pets restart %s) or watch it (pets watch)", key)
					if slices.Contains(v.Files, rec.Root) || slices.Contains(v.Files, rec.Petsfile) {
						advice += fmt.Sprintf("; if the Petsfile no longer has it, stop it (pets down %s)", key)
					}
					return fmt.Errorf("%s is stale: %s changed since it started, and no pets watches it; %s", key, fileList(v.Files), advice)
				case len(v.Pods) > 0:
					return fmt.Errorf("%s is stale: pod %s has not had its files, and no pets watches it to give them; watch it (pets watch) or restart it (pets restart %s)", key, strings.Join(v.Pods, ", "), key)
				}
				fmt.Fprintf(g.stderr, "%s: ready, fresh\n", key)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready after %s", key, timeout)
		case <-tick.C:
		}
	}
}

// watcherSoon waits up to a second for a pets to start watching key.
func watcherSoon(ctx context.Context, dir *state.Dir, key string) (state.Watcher, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if w, ok, err := dir.WatcherOf(key); err == nil && ok {
			return w, true
		}
		select {
		case <-ctx.Done():
			return state.Watcher{}, false
		case <-tick.C:
		}
	}
}

// waitThrough asks the pets listening on socket to wait for keys (none:
// every service it watches) for the time ctx has left, the time the user
// gave: its answer (what is not ready yet, and why, "timed out after" that
// time) is given answerGrace more to arrive. (It used to be given a second
// less than this command, and said so: --timeout 3s "timed out after
// 1.999s".) Ctrl-C still ends the wait at once.
func waitThrough(ctx context.Context, g *globals, socket string, keys []string) error {
	deadline, ok := ctx.Deadline()
	// To a tenth of a second: what this command spent before asking is
	// not worth a "timed out after 2.997s".
	budget := time.Until(deadline).Round(100 * time.Millisecond)
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if ok {
		actx, cancel = context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(answerGrace))
	}
	defer cancel()
	defer context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel() // interrupted, not out of time: the answer is not awaited
		}
	})()
	return control.Do(actx, socket, control.Request{Op: "wait", Services: keys, TimeoutMs: budget.Milliseconds()}, func(r control.Reply) error {
		for _, s := range r.Status {
			fmt.Fprintf(g.stderr, "%s: %s, %s\n", s.Service, s.State, s.Freshness)
		}
		return nil
	})
}

// answerGrace is how long pets wait waits, past its timeout, for the
// watching pets' answer to a wait that ran out of time.
const answerGrace = 2 * time.Second

// withRunningPetsfiles adds to a usage error (no Petsfile here) which
// Petsfiles the running services come from, as -f arguments: pets wait
// run outside a project still has something to wait for.
func withRunningPetsfiles(err error, st *state.File) error {
	var ue *petsfile.UsageError
	if !errors.As(err, &ue) || st == nil || len(st.Services) == 0 {
		return err
	}
	wd, _ := os.Getwd()
	seen := map[string]bool{}
	var files []string
	for _, rec := range st.Services {
		f := rec.Petsfile
		if rel, rerr := filepath.Rel(wd, f); wd != "" && rerr == nil && len(rel) < len(f) {
			f = rel
		}
		if f != "" && !seen[f] {
			seen[f] = true
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return err
	}
	sort.Strings(files)
	return &petsfile.UsageError{Msg: ue.Msg, Hint: "name the services (pets wait SERVICE...), or pass the Petsfile of the running ones: pets wait -f " + strings.Join(files, ", or -f ")}
}

// fileList names a few files: "a.go, b.go and 3 more".
func fileList(files []string) string {
	if len(files) <= 3 {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(files[:3], ", "), len(files)-3)
}
