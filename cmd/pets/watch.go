package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
	livesync "github.com/windmilleng/pets/sync"
	"github.com/windmilleng/pets/watcher"
)

type watchFlags struct {
	quiet time.Duration
	cap   time.Duration
	color string
}

func (w *watchFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&w.quiet, "quiet", watcher.DefaultQuiet, "watch: a batch of changes closes after this long without a change")
	cmd.Flags().DurationVar(&w.cap, "max-wait", watcher.DefaultCap, "watch: a batch closes at the latest this long after its first change")
	cmd.Flags().StringVar(&w.color, "color", "auto", "watch: colour the log prefixes: auto, always or never")
}

func newWatchCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Restart running services as their files change",
		Long: `Attach the watch loop to services that are already up (all of this
Petsfile's running services when none is named): when a service's files
change it restarts, then its dependents are bounced in dependency order.
Logs stream with a prefix per service. Ctrl-C detaches and leaves the
services running.`,
		Example: `  pets up && pets watch
  pets watch backend`,
		RunE: func(cmd *cobra.Command, args []string) error { return runWatch(cmd, g, f, args) },
	}
	cmd.Flags().StringVarP(&g.file, "file", "f", "", "path of the Petsfile (default: ./Petsfile or the nearest parent's)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", supervise.DefaultReadyTimeout, "how long a restarted service may take to accept TCP connections")
	cmd.Flags().DurationVar(&f.grace, "grace", supervise.DefaultGrace, "time between SIGTERM and SIGKILL when restarting")
	f.watchOpts.register(cmd)
	return cmd
}

func runWatch(cmd *cobra.Command, g *globals, f *upFlags, names []string) error {
	ctx := cmd.Context()
	project, err := g.loadProject(ctx, supervise.TopLevelHost(g.stderr))
	if err != nil {
		return err
	}
	dir, err := g.openState()
	if err != nil {
		return err
	}
	st, err := dir.Read()
	if err != nil {
		return err
	}
	// The tiers that run now are the ones to watch.
	with := map[string]string{}
	mine := map[string]bool{}
	for _, rec := range st.Services {
		if _, ok := project.Service(petsfile.Key{Name: rec.Name, Tier: rec.Tier}); ok {
			with[rec.Name] = rec.Tier
			mine[rec.Name] = true
		}
	}
	if len(names) == 0 {
		for n := range mine {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return &petsfile.UsageError{Msg: "none of " + project.Path + "'s services is running", Hint: "start them first with pets up, or use pets up --watch"}
		}
	}
	graph, err := project.Resolve(names, "local", with)
	if err != nil {
		return err
	}
	sup := &supervise.Supervisor{State: dir, Project: project, Stderr: g.stderr, Grace: f.grace, ReadyTimeout: f.timeout, Kube: applier{}}
	values := map[petsfile.Key]petsfile.Value{}
	for _, k := range graph.Order {
		v, ok := sup.Running(ctx, k)
		if !ok {
			return &petsfile.UsageError{Msg: k.String() + " is not up", Hint: "start it with pets up " + k.Name + ", or use pets up --watch"}
		}
		values[k] = v
	}
	syncer, err := syncerFor(project, graph)
	if err != nil {
		return fmt.Errorf("live sync: %w", err)
	}
	w := &watchRun{g: g, wf: &f.watchOpts, project: project, graph: graph, sup: sup, dir: dir, values: values, spec: resolveSpec{names, "local", with}, syncer: syncer, seedAtStart: true}
	return w.run(ctx)
}

// resolveSpec is how the graph was resolved, to resolve it again on reload.
type resolveSpec struct {
	names []string
	tier  string
	with  map[string]string
}

// watchRun is one watch loop: pets up --watch or pets watch.
type watchRun struct {
	g          *globals
	wf         *watchFlags
	project    *petsfile.Project
	graph      *petsfile.Graph
	sup        *supervise.Supervisor
	dir        *state.Dir
	values     map[petsfile.Key]petsfile.Value
	failed     map[petsfile.Key]bool // down at the start: they start on their next change
	stopOnExit bool                  // pets up --watch: Ctrl-C stops every service of the graph
	spec       resolveSpec
	follower   *supervise.LogFollower // may be nil: made here
	syncer     *livesync.Syncer       // may be nil: made here if the graph syncs
	// seedAtStart: pets watch attaches and does not know what the pods
	// hold: once the watcher runs (no edit is missed), each syncing
	// service's pods get its trees, so that an edit then sends only itself.
	seedAtStart bool
}

func logFiles(dir *state.Dir, graph *petsfile.Graph) map[string]string {
	logs := map[string]string{}
	for _, k := range graph.Order {
		logs[k.String()] = dir.LogPath(k.Name, k.Tier)
	}
	return logs
}

func useColor(g *globals, mode string) bool {
	tty := false
	if f, ok := g.stdout.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return supervise.ColorEnabled(mode, tty, os.Getenv("NO_COLOR"))
}

// run runs the rebuild loop over the graph until ctx ends.
func (wr *watchRun) run(ctx context.Context) error {
	g, wf, project, graph, sup, dir, values, spec := wr.g, wr.wf, wr.project, wr.graph, wr.sup, wr.dir, wr.values, wr.spec
	owners := rebuild.OwnersOf(project, graph)
	watchOpts := func(owners []rebuild.Owner) watcher.Options {
		ignores := append(rebuild.GlobalIgnores(owners), filepath.ToSlash(dir.Path)+"/**")
		var roots []string
		for _, r := range rebuild.Roots(owners) {
			if fi, err := os.Stat(r); err == nil && !fi.IsDir() {
				fmt.Fprintf(g.stderr, "pets: not watching %s: it is not a directory\n", r)
				continue
			} else if err != nil {
				// Not there yet: watch the nearest directory above it,
				// which sees it appear (and everything written into it).
				up := existingParent(r)
				fmt.Fprintf(g.stderr, "pets: %s does not exist yet; watching %s for it\n", r, up)
				r = up
			}
			roots = append(roots, r)
		}
		roots = outermost(roots)
		return watcher.Options{Roots: roots, Ignore: ignores, Quiet: wf.quiet, Cap: wf.cap}
	}
	w, err := watcher.New(watchOpts(owners))
	if err != nil {
		return wr.stop(graph, err)
	}
	pf, err := watcher.WatchFiles(project.Files, wf.quiet)
	if err != nil {
		w.Close()
		return wr.stop(graph, err)
	}
	syncer := wr.syncer
	if syncer == nil {
		if syncer, err = syncerFor(project, graph); err != nil {
			w.Close()
			pf.Close()
			return wr.stop(graph, fmt.Errorf("live sync: %w", err))
		}
	}
	if wr.seedAtStart {
		for _, k := range graph.Order {
			seed(ctx, g.stderr, syncer, project, k, " at attach")
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var wg sync.WaitGroup
	defer wg.Wait()
	defer w.Close()
	defer pf.Close()

	changes := make(chan rebuild.Changes)
	wg.Add(1)
	go func() { // adapts the watcher to the engine; owned by watchLoop
		defer wg.Done()
		defer close(changes)
		for {
			select {
			case b := <-w.Batches():
				select {
				case changes <- rebuild.Changes{Paths: b.Paths, All: b.Overflow}:
				case <-ctx.Done():
					return
				}
			case err := <-w.Errors():
				var le *watcher.LimitError
				if errors.As(err, &le) {
					cancel(err)
					return
				}
				fmt.Fprintln(g.stderr, "pets: watch:", err)
			case <-ctx.Done():
				return
			}
		}
	}()

	follower := wr.follower
	if follower == nil {
		follower = supervise.FollowLogs(logFiles(dir, graph), g.stdout, useColor(g, wf.color))
	}
	wg.Add(1)
	go func() { // streams logs; owned by watchLoop
		defer wg.Done()
		_ = follower.Run(ctx)
	}()

	var mu sync.Mutex  // guards owned and stopGraph: callbacks run on the round goroutine
	stopGraph := graph // what stopOwned stops on the way out: the last applied graph
	reloads := make(chan *rebuild.Reload)
	coming := make(chan struct{})
	wg.Add(1)
	go func() { // re-reads the Petsfile when it or a loaded file changes; owned by watchLoop
		defer wg.Done()
		defer close(reloads)
		fp := sup.Fingerprints
		if fp == nil {
			fp = project.Fingerprints(ctx, graph)
		}
		cur := graph
		syncer := syncer // this goroutine's own: it may start one when sync rules appear
		unfollow := followPods(ctx, g.stderr, syncer, project, graph)
		defer func() { unfollow() }()
		for {
			var changed []string
			select {
			case <-pf.Started(): // a Petsfile write: hold file changes from now on
				select {
				case coming <- struct{}{}:
				case <-ctx.Done():
					return
				}
				continue
			case changed = <-pf.Changes():
			case err := <-pf.Errors():
				fmt.Fprintln(g.stderr, "pets: watch Petsfile:", err)
				continue
			case <-ctx.Done():
				return
			}
			noticed := time.Now()
			select {
			case coming <- struct{}{}: // hold file changes for this reload
			case <-ctx.Done():
				return
			}
			r, next, nextFP, err := reloadProject(ctx, g, project.Path, spec, cur, fp)
			if err != nil {
				fmt.Fprintf(g.stderr, "[%s] %s changed but does not evaluate; still running the previous configuration:\n%v\n",
					time.Now().Format("15:04:05.000"), strings.Join(shortPaths(changed), ", "), err)
				select {
				case reloads <- nil: // changes held for this reload go ahead
				case <-ctx.Done():
					return
				}
				continue
			}
			r.Noticed = noticed
			r.Runner = &supervise.Supervisor{State: dir, Project: next, Stderr: g.stderr, Grace: sup.Grace, ReadyTimeout: sup.ReadyTimeout, Fingerprints: nextFP, Kube: sup.Kube}
			if syncer == nil {
				// Sync rules that appear in a reload get a Syncer then.
				s, err := syncerFor(next, r.Graph)
				if err != nil {
					fmt.Fprintf(g.stderr, "pets: live sync unavailable (changes restart the services instead): %v\n", err)
				} else if s != nil {
					syncer = s
					r.Syncer = s
				}
			}
			r.Runner = roundRunner{Runner: seeding{Runner: r.Runner, syncer: syncer, project: next, stderr: g.stderr}, dir: dir}
			r.Owners = rebuild.OwnersOf(next, r.Graph)
			r.Skip = map[string]bool{}
			for _, p := range next.Files {
				r.Skip[p] = true
			}
			follower.Add(logFiles(dir, r.Graph)) // before the new services start
			select {
			case reloads <- r: // from here on the loop owns changes with r's owners
			case <-ctx.Done():
				return
			}
			if err := w.Update(watchOpts(r.Owners)); err != nil {
				fmt.Fprintln(g.stderr, "pets: watch:", err)
			}
			if err := pf.Update(next.Files); err != nil {
				fmt.Fprintln(g.stderr, "pets: watch Petsfile:", err)
			}
			unfollow()
			unfollow = followPods(ctx, g.stderr, syncer, next, r.Graph)
			cur, fp = r.Graph, nextFP
		}
	}()

	runner := roundRunner{Runner: seeding{Runner: sup, syncer: syncer, project: project, stderr: g.stderr}, dir: dir}
	loop := &rebuild.Loop{
		Failed:       wr.failed,
		Reloads:      reloads,
		ReloadComing: coming,
		ReloadSettle: wf.quiet,
		Reloaded: func(res rebuild.ReloadResult) {
			mu.Lock()
			stopGraph = res.Graph
			mu.Unlock()
			fmt.Fprintln(g.stderr, reloadLine(res))
			reportFailures(ctx, g, res.Round)
		},
		Runner: runner, Graph: graph, Values: values, Owners: owners, Changes: changes,
		Skip: map[string]bool{},
		Started: func(n int, ks []petsfile.Key, syncing map[petsfile.Key]bool) {
			fmt.Fprintf(g.stderr, "[%s] round %d: %s\n", time.Now().Format("15:04:05.000"), n, startLine(ks, syncing))
		},
		Report: func(r rebuild.Round) {
			fmt.Fprintln(g.stderr, roundLine(r))
			reportFailures(ctx, g, r)
		},
		Interrupted: func(within time.Duration) {
			fmt.Fprintf(g.stderr, "pets: letting the restart in progress finish (for up to %s; Ctrl-C again to quit now)\n", within)
		},
		Crashed: func(k petsfile.Key) {
			fmt.Fprintf(g.stderr, "pets: %s is not running any more (see pets logs %s); it restarts on the next change to its files\n", k, k)
		},
	}
	if syncer != nil {
		loop.Syncer = syncer
	}
	for _, p := range project.Files {
		loop.Skip[p] = true
	}
	stopHow := "Ctrl-C to stop them."
	if !wr.stopOnExit {
		stopHow = "Ctrl-C to detach (they keep running)."
	}
	roots := strings.Join(rebuild.Roots(owners), ", ")
	if roots == "" {
		roots = "no directories (only the Petsfile)"
	}
	fmt.Fprintf(g.stderr, "Watching %s for %s. %s\n", roots, keyList(graph.Order), stopHow)
	err = loop.Run(ctx)
	cause := context.Cause(ctx)
	cancel(nil)
	w.Close()
	wg.Wait()
	mu.Lock()
	last := stopGraph
	mu.Unlock()
	if le := (*watcher.LimitError)(nil); errors.As(cause, &le) {
		return wr.stop(last, le)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return wr.stop(last, err)
	}
	return wr.stop(last, nil)
}

// existingParent returns the nearest existing directory above p.
func existingParent(p string) string {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() || d == filepath.Dir(d) {
			return d
		}
	}
}

// outermost drops the roots that lie inside another.
func outermost(roots []string) []string {
	sort.Strings(roots) // a directory before what is inside it
	var out []string
next:
	for _, r := range roots {
		for _, o := range out {
			if rel, err := filepath.Rel(o, r); err == nil && filepath.IsLocal(rel) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// followPods keeps the pods of graph's syncing services in step as they
// are replaced (sync.Syncer.Follow) until the returned stop is called.
func followPods(ctx context.Context, stderr io.Writer, syncer *livesync.Syncer, project *petsfile.Project, graph *petsfile.Graph) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, k := range graph.Order {
		svc, ok := project.Service(k)
		if syncer == nil || !ok || len(svc.Sync) == 0 {
			continue
		}
		wg.Add(1)
		go func() { // owned by followPods: ends with stop
			defer wg.Done()
			err := syncer.Follow(ctx, k, svc.Sync, func(rep rebuild.SyncReport, err error) {
				switch {
				case errors.Is(err, livesync.ErrNotFollowing):
					fmt.Fprintf(stderr, "pets: %s: %v (a replaced pod gets its files with the next sync)\n", k, err)
					return
				case err != nil:
					fmt.Fprintf(stderr, "pets: %s: a new pod did not get its files (pets tries again at the next sync): %v\n", k, err)
					return
				}
				fmt.Fprintf(stderr, "[%s] %s: new pod: synced %s in %s\n", time.Now().Format("15:04:05.000"), k, syncWhat(rep), rep.Took.Round(time.Millisecond))
			})
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(stderr, "pets: %s: not following its pods (a replaced pod gets its files with the next sync): %v\n", k, err)
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

func reportFailures(ctx context.Context, g *globals, r rebuild.Round) {
	for _, s := range r.Services {
		if s.Err != nil && ctx.Err() == nil {
			fmt.Fprintf(g.stderr, "pets: %s failed; it restarts on the next change to its files:\n%v\n", s.Key, s.Err)
		}
	}
}

// stop stops, for pets up --watch, every service of graph, dependents first,
// and returns err.
func (wr *watchRun) stop(graph *petsfile.Graph, err error) error {
	if !wr.stopOnExit {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := []error{err}
	for i := len(graph.Order) - 1; i >= 0; i-- {
		errs = append(errs, wr.sup.Down(ctx, graph.Order[i]))
	}
	return errors.Join(errs...)
}

// reloadProject evaluates the Petsfile again and compares the result with
// the running graph.
func reloadProject(ctx context.Context, g *globals, path string, spec resolveSpec, cur *petsfile.Graph, curFP map[petsfile.Key]string) (*rebuild.Reload, *petsfile.Project, map[petsfile.Key]string, error) {
	next, err := petsfile.Load(ctx, path, petsfile.Options{Host: supervise.TopLevelHost(g.stderr), Stderr: g.stderr})
	if err != nil {
		return nil, nil, nil, err
	}
	graph, err := next.Resolve(spec.names, spec.tier, spec.with)
	if err != nil {
		return nil, nil, nil, err
	}
	fp := next.Fingerprints(ctx, graph)
	return rebuild.NewReload(cur, graph, curFP, fp), next, fp, nil
}

// reloadLine is the one line a reload prints.
func reloadLine(res rebuild.ReloadResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] Petsfile reloaded in %dms:", time.Now().Format("15:04:05.000"), time.Since(res.Noticed).Milliseconds())
	for _, part := range []struct {
		what string
		ks   []petsfile.Key
	}{{"added", res.Added}, {"removed", res.Removed}, {"changed", res.Changed}} {
		fmt.Fprintf(&b, " %d %s", len(part.ks), part.what)
		if len(part.ks) > 0 {
			fmt.Fprintf(&b, " (%s)", keyList(part.ks))
		}
		b.WriteString(",")
	}
	fmt.Fprintf(&b, " %d unchanged", len(res.Unchanged))
	if len(res.Round.Services) > 0 {
		b.WriteString("; ")
		for i, s := range res.Round.Services {
			if i > 0 {
				b.WriteString(", ")
			}
			switch {
			case s.Skipped != "":
				fmt.Fprintf(&b, "%s skipped (%s)", s.Key, s.Skipped)
			case s.Err != nil:
				fmt.Fprintf(&b, "%s FAILED", s.Key)
			case s.Synced:
				fmt.Fprintf(&b, "%s synced %s in %s", s.Key, syncWhat(s.Sync), s.Took.Round(time.Millisecond))
			case slices.Contains(res.Added, s.Key):
				fmt.Fprintf(&b, "%s started in %s", s.Key, s.Took.Round(time.Millisecond))
			case s.Changed:
				fmt.Fprintf(&b, "%s restarted in %s", s.Key, s.Took.Round(time.Millisecond))
			default:
				fmt.Fprintf(&b, "%s bounced in %s", s.Key, s.Took.Round(time.Millisecond))
			}
			if s.Fallback != "" {
				fmt.Fprintf(&b, " (instead of a sync: %s)", s.Fallback)
			}
		}
		if len(res.Round.Paths) > 0 {
			fmt.Fprintf(&b, " (with %s)", strings.Join(shortPaths(res.Round.Paths), ", "))
		}
	}
	return b.String()
}

// startLine says what a round is about to do: "syncing backend-k8s,
// restarting db-local".
func startLine(ks []petsfile.Key, syncing map[petsfile.Key]bool) string {
	var sync, restart []petsfile.Key
	for _, k := range ks {
		if syncing[k] {
			sync = append(sync, k)
		} else {
			restart = append(restart, k)
		}
	}
	var parts []string
	if len(sync) > 0 {
		parts = append(parts, "syncing "+keyList(sync))
	}
	if len(restart) > 0 {
		parts = append(parts, "restarting "+keyList(restart))
	}
	return strings.Join(parts, ", ")
}

func keyList(ks []petsfile.Key) string {
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k.String()
	}
	return strings.Join(parts, ", ")
}

// roundLine is the one line a round prints: files, services, how long each took.
func roundLine(r rebuild.Round) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] round %d: ", time.Now().Format("15:04:05.000"), r.N)
	switch len(r.Paths) {
	case 0:
		b.WriteString("files may have changed (events were lost)")
	case 1, 2, 3:
		b.WriteString(strings.Join(shortPaths(r.Paths), ", "))
	default:
		fmt.Fprintf(&b, "%s and %d more files", strings.Join(shortPaths(r.Paths[:2]), ", "), len(r.Paths)-2)
	}
	b.WriteString(" ->")
	for i, s := range r.Services {
		if i > 0 {
			b.WriteString(",")
		}
		verb := "restarted"
		if !s.Changed {
			verb = "bounced"
		}
		switch {
		case s.Skipped != "":
			fmt.Fprintf(&b, " %s skipped (%s)", s.Key, s.Skipped)
		case s.Synced:
			fmt.Fprintf(&b, " %s synced %s in %s", s.Key, syncWhat(s.Sync), s.Took.Round(time.Millisecond))
		case errors.Is(s.Err, context.Canceled):
			fmt.Fprintf(&b, " %s interrupted", s.Key)
		case s.Err != nil:
			fmt.Fprintf(&b, " %s FAILED after %s", s.Key, s.Took.Round(time.Millisecond))
		default:
			fmt.Fprintf(&b, " %s %s in %s", s.Key, verb, s.Took.Round(time.Millisecond))
		}
		if s.Fallback != "" {
			fmt.Fprintf(&b, " (instead of a sync: %s)", s.Fallback)
		}
	}
	fmt.Fprintf(&b, " (%s in all)", r.Took.Round(time.Millisecond))
	return b.String()
}

// syncWhat says what a sync did: "2 files (1 deleted) to ns/pod-a, ran
// "make css", restarted the process".
func syncWhat(rep rebuild.SyncReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d deleted) to %s", count(rep.Files, "file"), rep.Gone, strings.Join(slices.Compact(slices.Sorted(slices.Values(rep.Pods))), " "))
	seen := map[string]bool{}
	for _, r := range rep.Ran {
		if seen[r] {
			continue
		}
		seen[r] = true
		if r == "restart" {
			b.WriteString(", restarted the process")
		} else {
			fmt.Fprintf(&b, ", ran %q", r)
		}
	}
	return b.String()
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func shortPaths(ps []string) []string {
	wd, _ := os.Getwd()
	out := make([]string, len(ps))
	for i, p := range ps {
		if rel, err := filepath.Rel(wd, p); err == nil && len(rel) < len(p) {
			p = rel
		}
		out[i] = p
	}
	return out
}

// roundRunner is the watch loop's Runner: each restart holds the lock that
// `pets up` holds, so a pets up in another terminal and a round never start
// the same service at once.
type roundRunner struct {
	rebuild.Runner // a seeding Runner
	dir            *state.Dir
}

func (r roundRunner) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	unlock, err := r.dir.LockUp(ctx, nil)
	if err != nil {
		return petsfile.Value{}, err
	}
	defer unlock()
	return r.Runner.Up(ctx, k, deps)
}

func (r roundRunner) Down(ctx context.Context, k petsfile.Key) error {
	unlock, err := r.dir.LockUp(ctx, nil)
	if err != nil {
		return err
	}
	defer unlock()
	return r.Runner.Down(ctx, k)
}

// Alive passes the cheap liveness check through.
func (r roundRunner) Alive(ctx context.Context, k petsfile.Key) bool {
	return rebuild.Alive(ctx, r.Runner, k)
}
