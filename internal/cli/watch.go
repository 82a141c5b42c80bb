package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/fresh"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
	"github.com/windmilleng/pets/ui"
	"github.com/windmilleng/pets/watcher"
)

type watchFlags struct {
	quiet  time.Duration
	cap    time.Duration
	color  string
	uiPort int
	// uiPortSet says whether --ui-port was given (the default port falls
	// back to the next ones when taken; a chosen one does not).
	uiPortSet func() bool
}

func (w *watchFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&w.quiet, "quiet", watcher.DefaultQuiet, "watch: a batch of changes closes after this long without a change (longer while many files change, and while git holds its index lock)")
	cmd.Flags().DurationVar(&w.cap, "max-wait", watcher.DefaultCap, "watch: a batch closes at the latest this long after its first change, even while git holds its index lock")
	cmd.Flags().StringVar(&w.color, "color", "auto", "watch: colour the log prefixes: auto, always or never")
	cmd.Flags().IntVar(&w.uiPort, "ui-port", ui.DefaultPort, "watch: the status page's port on 127.0.0.1 (the default falls back to the next free one; 0: no status page)")
	w.uiPortSet = func() bool { return cmd.Flags().Changed("ui-port") }
}

func newWatchCmd(g *globals) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Restart running services as their files change",
		Long: `Attach the watch loop to services that are already up (all of this
Petsfile's running services when none is named): when a service's files
change it restarts, then its dependents are bounced in dependency order.
What changed while no pets was watching is restarted (or synced) at once.
Logs stream with a prefix per service. Ctrl-C detaches and leaves the
services running. One pets watches a service at a time.`,
		Example: `  pets up && pets watch
  pets watch backend`,
		RunE: func(cmd *cobra.Command, args []string) error { return runWatch(cmd, g, f, args) },
	}
	cmd.Flags().StringVarP(&g.file, "file", "f", "", "path of the Petsfile (default: ./Petsfile or the nearest parent's)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", supervise.DefaultReadyTimeout, "how long a restarted service may take to accept TCP connections")
	cmd.Flags().DurationVar(&f.grace, "grace", supervise.DefaultGrace, "time between SIGTERM and SIGKILL when restarting")
	f.registerLogMax(cmd)
	cmd.Flags().BoolVar(&f.serial, "serial", false, "restart services one at a time, in dependency order, instead of each as soon as what it depends on is ready")
	f.watchOpts.register(cmd)
	return cmd
}

func runWatch(cmd *cobra.Command, g *globals, f *upFlags, names []string) error {
	ctx := cmd.Context()
	defer g.nonBlocking()()
	project, err := g.loadProject(ctx, supervise.TopLevelHost(g.stderr))
	if err != nil {
		return err
	}
	dir, st, err := g.readState()
	if err != nil {
		return err
	}
	// The tiers that run now are the ones to watch. Without names: every
	// service that runs, and (after a reload) every service of their tier.
	all, with := running(project, st)
	spec := &watchSpec{names: names, tier: "local", with: with}
	if len(names) == 0 {
		if len(all) == 0 {
			return &petsfile.UsageError{Msg: "none of " + project.Path + "'s services is running", Hint: "start them first with pets up, or use pets up --watch"}
		}
		names = all
		spec.names, spec.tier, spec.attached, spec.known = all, commonTier(with), true, map[string]bool{}
		for _, svc := range project.Services() {
			spec.known[svc.Name] = true
		}
	}
	graph, err := project.Resolve(names, "local", with)
	if err != nil {
		return err
	}
	for _, k := range graph.Order {
		if rec, ok := st.Services[k.Name]; !ok || rec.Tier != k.Tier {
			return &petsfile.UsageError{Msg: k.String() + " is not up", Hint: "start it with pets up " + k.Name + ", or use pets up --watch"}
		}
	}
	syncer, err := g.newSyncer(g.stderr, project, graph)
	if err != nil {
		return fmt.Errorf("live sync: %w", err)
	}
	w := g.newWatch(dir, f, spec)
	if err := w.listen(project, graph); err != nil {
		return err
	}
	fp := project.Fingerprints(ctx, graph)
	cfg := rebuild.Config{Graph: graph, Runner: w.supervisor(project, fp), Syncer: syncer, Stamps: fresh.NewStamper(dir, project, graph, stateIgnore(dir))}
	s, err := w.begin(project, cfg, true, false)
	if err != nil {
		w.close()
		return err
	}
	return w.run(ctx, s)
}

// commonTier is the tier every running service has, else "local".
func commonTier(tiers map[string]string) string {
	t := ""
	for _, tier := range tiers {
		if t != "" && tier != t {
			return "local"
		}
		t = tier
	}
	if t == "" {
		return "local"
	}
	return t
}

// newWatch prepares a watching pets.
func (g *globals) newWatch(dir *state.Dir, f *upFlags, spec *watchSpec) *watch {
	p := newPrinter(g.stderr)
	return &watch{g: g, wf: &f.watchOpts, dir: dir, spec: spec, up: f, printer: p, sink: g.events(dir, "watch", p)}
}

// stateIgnore are the globs the watcher and the stamps ignore besides the
// Petsfile's: what pets itself writes while it runs. The state directory;
// and the files its own output goes to, for `pets up --watch > pets.log`
// in the project would otherwise restart a service at every line pets
// prints about it (a restart it would then print), and make it read stale
// for ever.
func stateIgnore(dir *state.Dir) []string {
	out := []string{filepath.ToSlash(dir.Path) + "/**"}
	for _, p := range outputFiles() {
		out = append(out, globQuote(filepath.ToSlash(p)))
	}
	return out
}

// globQuote escapes what a doublestar pattern would read as a wildcard.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]{}\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
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
	} else if g.stdoutTTY != nil {
		tty = *g.stdoutTTY
	}
	return supervise.ColorEnabled(mode, tty, os.Getenv("NO_COLOR"))
}
