// Package cli is the pets command line, shared by the pets binary and
// pets-kube (the same commands with a Kubernetes client).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/windmilleng/pets/waiter"

	"github.com/spf13/cobra"
)

// Options are what a pets binary brings to Main.
type Options struct {
	Version string // stamped by the Makefile (-ldflags "-X main.version=...")
	// Kube is the Kubernetes side (pets-kube's); nil in the pets binary,
	// which hands what needs it to pets-kube beside it (see Kube).
	Kube Kube
}

// Main runs the pets command line on os.Args and returns the exit status.
func Main(o Options) int {
	startTrace()
	mark("main")
	if os.Getenv("PETS_DEBUG") == "1" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	ctx, cancel := context.WithCancel(context.Background())
	if len(os.Args) < 2 || os.Args[1] != waiter.Command {
		catchSignals(cancel) // pets waiter relays them itself
	}
	err := newRoot(os.Stdout, os.Stderr, o).ExecuteContext(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pets: "+err.Error())
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// catchSignals takes over the signals pets handles itself. (Each
// signal.Notify is a round trip to the Go runtime's signal thread, 0.2 to
// 0.5 ms in all here; taking them beside the Petsfile's evaluation let a
// signal end pets before an endless evaluation could be interrupted,
// TestFaultSignalStopsAnEndlessEvaluation, for no gain in pets' launch.)
func catchSignals(cancel func()) {
	// A closed stdout (pets up --watch | tee, then Ctrl-C) must not kill
	// pets before it stops its services: writes fail instead. Notify, not
	// Ignore: an ignored signal stays ignored in every service pets starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// The first Ctrl-C (or SIGTERM, SIGHUP) cancels: commands stop what
	// they started and exit. A second one quits at once; whatever is still
	// running is recorded, and pets down stops it.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { // lives as long as the process
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "pets: interrupted again: quitting now; `pets down` stops whatever is still running")
		os.Exit(130)
	}()
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// globals are the flags every subcommand has.
type globals struct {
	file     string
	stateDir string
	stdout   io.Writer
	stderr   io.Writer
	// logs (a watching pets, see nonBlocking) is where services' log
	// lines go; stdoutTTY says whether stdout was a terminal before.
	logs      io.Writer
	stdoutTTY *bool

	version string
	// kube is the Kubernetes side: pets-kube's, or the pets binary's
	// (kubeBinary), which hands work to pets-kube.
	kube Kube
	// handedOver: the pets binary ran this command's Petsfile already,
	// top-level run() calls included, and handed the command over (see
	// handOver); the first load skips them.
	handedOver bool
}

func newRoot(stdout, stderr io.Writer, o Options) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr, version: o.Version, kube: o.Kube}
	if g.kube == nil {
		g.kube = kubeBinary{}
	}
	g.handedOver = takeHandedOver()
	root := &cobra.Command{
		Use:   "pets",
		Short: "Start, watch and stop the servers you develop against",
		Long: `pets starts the servers a Petsfile describes, in dependency order, and keeps
track of them until 'pets down'. A Petsfile is Starlark: register() each
service with a provider that start()s it and returns service(server, host, port).`,
		Example: `  pets up                      # every service of tier "local"
  pets up frontend --with backend=k8s
  pets list
  pets logs -f backend
  pets down`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", "", "where pets records running services, logs and events (default $PETS_HOME, else $XDG_STATE_HOME/pets, else ~/.local/state/pets)")
	root.AddCommand(newUpCmd(g), newWatchCmd(g), newListCmd(g), newDownCmd(g), newLogsCmd(g), newEventsCmd(g), newRestartCmd(g), newWaitCmd(g), newVersionCmd(g), newPortForwardCmd(g), newWaiterCmd(g), newUICmd(g), newKubeCmd(g))
	return root
}
