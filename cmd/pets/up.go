package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/supervise"
	livesync "github.com/windmilleng/pets/sync"
)

type upFlags struct {
	tier    string
	with    []string
	dryRun  bool
	timeout time.Duration
	grace   time.Duration
	watch   bool
	noWatch bool

	watchOpts watchFlags
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

The services stay up, tracked, until 'pets down'.`,
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
	fl.BoolVar(&f.watch, "watch", false, "stay in the foreground: stream logs, restart services as their files change, stop them on Ctrl-C (default when PETS_WATCH=1)")
	fl.BoolVar(&f.noWatch, "no-watch", false, "start, wait until ready and exit (the default; overrides PETS_WATCH=1)")
	f.watchOpts.register(cmd)
	return cmd
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
	watch, err := f.watching()
	if err != nil {
		return err
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
		if watch {
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
	dir, err := g.openState()
	if err != nil {
		return err
	}
	sup := &supervise.Supervisor{
		State: dir, Project: project, Stderr: progress,
		Grace: f.grace, ReadyTimeout: f.timeout, DryRun: f.dryRun,
		Fingerprints: project.Fingerprints(ctx, graph), Kube: applier{},
	}
	// Live sync needs its cluster before anything starts: a missing
	// kubeconfig or a context that is not allowed stops here.
	var syncer *livesync.Syncer
	if !f.dryRun {
		if syncer, err = syncerFor(project, graph); err != nil {
			return fmt.Errorf("live sync: %w", err)
		}
	}
	unlock := func() {}
	if !f.dryRun {
		unlock, err = dir.LockUp(ctx, func() { fmt.Fprintln(g.stderr, "Waiting for another `pets up` to finish...") })
		if err != nil {
			return err
		}
	}
	var follower *supervise.LogFollower
	if watch && !f.dryRun {
		// Stream from before the first start, so its output shows too.
		follower = supervise.FollowLogs(logFiles(dir, graph), g.stdout, useColor(g, f.watchOpts.color))
	}
	eng := &rebuild.Engine{Runner: seeding{Runner: sup, syncer: syncer, project: project, stderr: g.stderr}, KeepGoing: watch, Report: func(ev rebuild.Event) { reportUp(g, f.dryRun, watch, ev) }}
	values, err := eng.Up(ctx, graph)
	unlock()
	var kg *rebuild.KeepGoingError
	if errors.As(err, &kg) {
		// Watching: what failed starts again on the next change to its files.
		err = nil
	}
	if err != nil {
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
	for _, k := range graph.Order {
		v := values[k]
		line := k.String()
		if h := v.Host(); h != "" {
			line += "\t" + h
		}
		fmt.Fprintln(g.stdout, line)
	}
	if watch {
		w := &watchRun{g: g, wf: &f.watchOpts, project: project, graph: graph, sup: sup, dir: dir, values: values,
			stopOnExit: true, spec: resolveSpec{names, f.tier, with}, follower: follower, failed: map[petsfile.Key]bool{}, syncer: syncer}
		if kg != nil {
			for k := range kg.Failed {
				w.failed[k] = true
			}
			for _, k := range kg.Skipped {
				w.failed[k] = true
			}
			fmt.Fprintf(g.stderr, "pets: %v; they start again on the next change to their files\n", kg)
		}
		return w.run(ctx)
	}
	return nil
}

func reportUp(g *globals, dry, keepGoing bool, ev rebuild.Event) {
	switch ev.Kind {
	case rebuild.Reused:
		fmt.Fprintf(g.stderr, "The service %s is already running\n", ev.Key)
	case rebuild.Started:
		if !dry {
			fmt.Fprintf(g.stderr, "The service %s is now running (ready in %s)\n", ev.Key, ev.Took.Round(time.Millisecond))
		}
	case rebuild.Failed:
		if keepGoing && ev.Err != nil { // else the error ends the command
			fmt.Fprintf(g.stderr, "pets: %s failed: %v\n", ev.Key, ev.Err)
		}
	case rebuild.Skipped:
		fmt.Fprintf(g.stderr, "pets: %s not started: %s\n", ev.Key, ev.Reason)
	case rebuild.Stopped:
		if ev.Reason == "rollback" {
			fmt.Fprintf(g.stderr, "Stopped %s (it was started by this command, which failed)\n", ev.Key)
		}
	}
}
