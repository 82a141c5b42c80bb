package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/logfile"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/fresh"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
)

type upFlags struct {
	tier    string
	with    []string
	dryRun  bool
	timeout time.Duration
	grace   time.Duration
	watch   bool
	noWatch bool
	serial  bool
	logMax  logSize

	watchOpts watchFlags
}

// logSize is --log-max: a size (50M, 1G; 0: never rotate) as the
// Supervisor's LogMax (0: PETS_LOG_MAX, else the default; < 0: never).
type logSize int64

func (l *logSize) String() string {
	if *l == 0 {
		return ""
	}
	if *l < 0 {
		return "0"
	}
	return strconv.FormatInt(int64(*l), 10)
}

func (l *logSize) Set(s string) error {
	n, err := logfile.ParseSize(s)
	if err != nil {
		return err
	}
	if n == 0 {
		n = -1
	}
	*l = logSize(n)
	return nil
}

func (l *logSize) Type() string { return "size" }

// registerLogMax adds --log-max to cmd.
func (f *upFlags) registerLogMax(cmd *cobra.Command) {
	cmd.Flags().Var(&f.logMax, "log-max", "rotate each service's log at this size, keeping 3 old files (50M, 1G; 0: never; default 50M, or PETS_LOG_MAX)")
}

func newUpCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "up [SERVICE...]",
		Short: "Start services and their dependencies, in dependency order",
		Long: `Start the named services (every service of --tier when none is named) and
their dependencies. Each waits until the ones it depends on are ready.
Services already up and ready are reused. When one fails, what this command
started is stopped again and the error shows the tail of its log.

The services stay up, tracked, until 'pets down'. With --watch, pets stays in
the foreground and restarts what an edit touches; Ctrl-C then stops what
this command started (reloads included) and leaves up what was up before.`,
		Example: `  pets up
  pets up frontend
  pets up frontend --with backend=k8s
  pets up --tier k8s --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error { return runUp(cmd, g, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&g.file, "file", "f", "", "path of the Petsfile (default: ./Petsfile or the nearest parent's)")
	fl.StringVar(&f.tier, "tier", "local", "tier of the named services; dependencies inherit their dependent's tier")
	fl.StringArrayVar(&f.with, "with", nil, "run a service at another tier: --with backend=k8s (repeatable, or comma-separated)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would run, in order, and run nothing")
	fl.DurationVar(&f.timeout, "timeout", supervise.DefaultReadyTimeout, "how long a service may take to accept TCP connections (service(..., timeout=) overrides)")
	fl.DurationVar(&f.grace, "grace", supervise.DefaultGrace, "when stopping (a replaced or rolled-back service): time between SIGTERM and SIGKILL")
	fl.BoolVar(&f.watch, "watch", false, "stay in the foreground: stream logs, restart services as their files change; Ctrl-C stops what this command started (default when PETS_WATCH=1)")
	fl.BoolVar(&f.serial, "serial", false, "start (and restart, and stop) services one at a time, in dependency order, instead of each as soon as what it depends on is ready")
	fl.BoolVar(&f.noWatch, "no-watch", false, "start, wait until ready and exit (the default; overrides PETS_WATCH=1)")
	f.registerLogMax(cmd)
	f.watchOpts.register(cmd)
	return cmd
}

// parallel is the Parallel of the engine: 1 with --serial, else 0 (each
// service as soon as what it depends on is ready).
func (f *upFlags) parallel() int {
	if f.serial {
		return 1
	}
	return 0
}

// watching says whether up stays in the foreground: --watch, else
// PETS_WATCH=1, and --no-watch overrides both.
func (f *upFlags) watching() (bool, error) {
	if f.watch && f.noWatch {
		return false, &petsfile.UsageError{Msg: "--watch and --no-watch contradict each other", Hint: "pick one"}
	}
	if f.noWatch {
		return false, nil
	}
	switch strings.ToLower(os.Getenv("PETS_WATCH")) {
	case "1", "true", "yes", "on":
		return true, nil
	}
	return f.watch, nil
}

func runUp(cmd *cobra.Command, g *globals, f *upFlags, names []string) error {
	ctx := cmd.Context()
	watching, err := f.watching()
	if err != nil {
		return err
	}
	if watching {
		defer g.nonBlocking()()
	}
	with, err := petsfile.ParseWith(f.with)
	if err != nil {
		return err
	}
	top := supervise.TopLevelHost(g.stderr)
	progress := g.stderr
	if f.dryRun {
		// The plan is the result of a dry run: stdout.
		progress = g.stdout
		top = supervise.DryHost(progress)
		if watching {
			return &petsfile.UsageError{Msg: "--dry-run and --watch do not go together", Hint: "drop one of them"}
		}
	}
	project, err := g.loadProject(ctx, top)
	if err != nil {
		return err
	}
	graph, err := project.Resolve(names, f.tier, with)
	if err != nil {
		return err
	}
	mark("petsfile")
	dir, err := g.openState()
	if err != nil {
		return err
	}
	sup := &supervise.Supervisor{
		State: dir, Project: project, Stderr: progress,
		Grace: f.grace, ReadyTimeout: f.timeout, DryRun: f.dryRun, LogMax: int64(f.logMax),
		Kube: g.kube, KeepFailed: watching,
	}
	// The waiters of what starts first are forked now, held, while the
	// state, the watches and the up lock are seen to (first: the request
	// socket's claim below would take the other core from their fork).
	sup.Prefork(firstStarts(graph))
	defer sup.DropPreforked()
	sink, w, listened := upOutput(g, dir, f, names, with, watching, project, graph)
	// Watching, w takes requests and claims the services in the background
	// while the rest is seen to (the state, the up lock, the watches);
	// listened waits for it, once, before anything starts or w closes.
	closeWatch := func() {
		if w != nil {
			_ = listened()
			w.close()
		}
	}
	warnOrphans(g, dir, project)
	sup.Fingerprints = project.Fingerprints(ctx, graph)
	// Live sync needs its cluster before anything starts: a missing
	// kubeconfig or a context that is not allowed stops here.
	var syncer rebuild.Syncer
	if !f.dryRun {
		if syncer, err = g.newSyncer(g.stderr, project, graph); err != nil {
			closeWatch()
			return fmt.Errorf("live sync: %w", err)
		}
	}
	unlock := func() {}
	if !f.dryRun {
		unlock, err = dir.LockUp(ctx, func() { fmt.Fprintln(g.stderr, "Waiting for another `pets up` to finish...") })
		if err != nil {
			closeWatch()
			return err
		}
	}
	mark("state")
	// Watching, the file watcher is in place before anything starts, and
	// the walk of what each service starts from comes after the start
	// (a change made meanwhile is a batch of the watcher's); else that
	// walk comes first.
	var stamper *fresh.Stamper
	var stamps rebuild.Stamps
	if !f.dryRun {
		stamper = fresh.NewStamper(dir, project, graph, stateIgnore(dir))
		stamps = stamper
	}
	var sess *rebuild.Session
	var indexed <-chan error // the walk after the start, watching
	if watching {
		since := time.Now()
		sess, err = w.begin(project, rebuild.Config{Graph: graph, Runner: sup, Syncer: syncer, Stamps: stamps}, false, true)
		if err == nil {
			err = listened()
		}
		if err != nil {
			unlock()
			closeWatch()
			return err
		}
		if stamper != nil {
			indexed = stamper.Defer(since)
		}
	} else if stamper != nil {
		if err := stamper.Prepare(); err != nil {
			fmt.Fprintf(g.stderr, "pets: cannot tell what the services start from (pets list will say unknown): %v\n", err)
		}
	}
	mark("watches")
	eng := &rebuild.Engine{Runner: sup, Syncer: syncer, Owners: rebuild.OwnersOf(project, graph), Stamps: stamps, Events: sink, KeepGoing: watching,
		Lock: func(ctx context.Context, k petsfile.Key) (func(), error) { return dir.LockService(ctx, k.Name) }, Parallel: f.parallel()}
	if f.dryRun {
		eng.Lock, eng.Parallel = nil, 1 // the plan is printed in order
	}
	values, err := eng.Up(ctx, graph)
	sup.DropPreforked() // those of services that were up already
	unlock()
	if indexed != nil {
		// The walk Started begins: its garbage (a path per file) goes
		// sooner than the default lets it, since what lives on is the
		// index, and peak RSS is what a large tree costs (make bench:
		// 100,000 files).
		gc := debug.SetGCPercent(50)
		go func() { // ends with the walk
			if err := <-indexed; err != nil {
				sink.Emit(events.Event{Type: events.WatchError, Error: "cannot tell what the services started from (pets list will say unknown): " + err.Error()})
			}
			debug.SetGCPercent(gc)
			mark("indexed")
		}()
	}
	if stamper != nil {
		stamper.Started()
	}
	var kg *rebuild.KeepGoingError
	if errors.As(err, &kg) {
		// Watching: what failed starts again on the next change to its files.
		err = nil
	}
	if err != nil {
		closeWatch()
		var ue *rebuild.UpError
		if errors.As(err, &ue) && ctx.Err() != nil {
			return fmt.Errorf("interrupted while starting %s; stopped what this command started", ue.Key)
		}
		return err
	}
	if f.dryRun {
		fmt.Fprintln(g.stdout, "Dry run: nothing was started.")
		return nil
	}
	printHosts(g, graph, values)
	if !watching {
		return nil
	}
	sup.Stderr = g.stderr
	sess.Values, sess.Down, sess.Started, sess.Unstarted = values, notStarted(g, kg), eng.Started, eng.Unstarted
	// The status page after the first start, which it does not need: its
	// server, its seed from the events file and its state write cost the
	// start about 2 ms (make bench: startup). The page still shows the
	// start, from the events file.
	w.startUI(graph)
	return w.run(ctx, sess)
}

// upOutput is where up's events go: the watch session's printer and
// sink when watching (which refuses, before anything starts, services
// another pets watches, and streams their logs from before the first
// start), else a printer of its own; w is nil unless watching. Watching,
// listened waits for w's listen (watch.listening) and says whether it
// failed, the same each time; else it is nil.
func upOutput(g *globals, dir *state.Dir, f *upFlags, names []string, with map[string]string, watching bool, project *petsfile.Project, graph *petsfile.Graph) (sink *eventSink, w *watch, listened func() error) {
	if !watching {
		p := newPrinter(g.stderr)
		p.dry = f.dryRun
		if f.dryRun {
			return g.events(nil, "up", p), nil, nil
		}
		return g.events(dir, "up", p), nil, nil
	}
	w = g.newWatch(dir, f, &watchSpec{names: names, tier: f.tier, with: with})
	w.printer.keepGoing = true
	w.follower = supervise.FollowLogs(logFiles(dir, graph), g.logOut(), useColor(g, f.watchOpts.color))
	return w.sink, w, sync.OnceValue(w.listening(project, graph))
}

// printHosts prints each service started, with its address, on stdout.
func printHosts(g *globals, graph *petsfile.Graph, values map[petsfile.Key]petsfile.Value) {
	for _, k := range graph.Order {
		line := k.String()
		if h := values[k].Host(); h != "" {
			line += "\t" + h
		}
		fmt.Fprintln(g.stdout, line)
	}
}

// notStarted are the services a watching up could not start (kg, may be
// nil), said on stderr: they start again on the next change to their files.
func notStarted(g *globals, kg *rebuild.KeepGoingError) map[petsfile.Key]bool {
	down := map[petsfile.Key]bool{}
	if kg == nil {
		return down
	}
	for k := range kg.Failed {
		down[k] = true
	}
	for _, k := range kg.Skipped {
		down[k] = true
		fmt.Fprintf(g.stderr, "pets: %s not started: a dependency failed\n", k)
	}
	fmt.Fprintf(g.stderr, "pets: %v; they start again on the next change to their files\n", kg)
	return down
}

// firstStarts are the services of g that depend on none: those an up
// starts first.
func firstStarts(g *petsfile.Graph) []petsfile.Key {
	var out []petsfile.Key
	for _, k := range g.Order {
		if len(g.Deps[k]) == 0 {
			out = append(out, k)
		}
	}
	return out
}

// warnOrphans says which running services of project's Petsfile it no
// longer has: nothing restarts them; pets down stops them.
func warnOrphans(g *globals, dir *state.Dir, project *petsfile.Project) {
	f, err := dir.Read()
	if err != nil {
		return
	}
	for _, rec := range f.Services {
		if rec.Root != project.Path {
			continue
		}
		if _, ok := project.Service(petsfile.Key{Name: rec.Name, Tier: rec.Tier}); !ok {
			fmt.Fprintf(g.stderr, "pets: %s runs, but %s no longer has it; stop it with pets down %s\n", rec.Key(), project.Path, rec.Key())
		}
	}
}
