// Command pets starts the servers a Petsfile describes, in dependency order,
// keeps track of them, and stops them again.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/kube"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getenv("PETS_DEBUG") == "1" {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	// client-go's klog lines are debug output, not noise on stderr.
	klogTo := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PETS_DEBUG") == "1" {
		klogTo = slog.Default()
	}
	kube.RouteClientGoLogs(klogTo)

	// A closed stdout (pets up --watch | tee, then Ctrl-C) must not kill pets
	// before it stops its services: writes fail instead. Notify, not Ignore:
	// an ignored signal stays ignored in every service pets starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	// The first Ctrl-C (or SIGTERM, SIGHUP) cancels: commands stop what they
	// started and exit. A second one quits at once; whatever is still running
	// is recorded, and pets down stops it.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() { // lives as long as the process
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "pets: interrupted again: quitting now; `pets down` stops whatever is still running")
		os.Exit(130)
	}()
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pets: "+err.Error())
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
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
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
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
	root.AddCommand(newUpCmd(g), newWatchCmd(g), newListCmd(g), newDownCmd(g), newLogsCmd(g), newEventsCmd(g), newRestartCmd(g), newWaitCmd(g), newVersionCmd(g), newPortForwardCmd(g), newWaiterCmd(g), newUICmd(g))
	return root
}
