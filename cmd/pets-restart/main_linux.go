//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Exit codes (see the package comment).
const (
	exitError        = 1
	exitUsage        = 2
	exitNoWrapper    = 3
	exitNotRestarted = 4
	exitCannotStart  = 127
)

const usage = `usage:
  pets-restart [-grace 5s] -- CMD [ARGS...]
        run CMD in its own process group; restart it on SIGHUP
  pets-restart -restart [-timeout 10s] [-pid N]
        restart the CMD of the pets-restart wrapper in this container, and wait for it
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options is the parsed command line.
type options struct {
	restart bool          // signal mode
	grace   time.Duration // wrapper mode: SIGTERM -> SIGKILL
	timeout time.Duration // signal mode: how long to wait for the new child
	pid     int           // signal mode: only this wrapper pid (0: any)
	cmd     []string      // wrapper mode: CMD [ARGS...]
}

// usageError is a command line pets-restart does not understand.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "pets-restart: %v\n%s", err, usage)
		return exitUsage
	}
	if opts.restart {
		return signalWrappers(opts, stdout, stderr)
	}
	return wrap(opts.cmd, opts.grace, stderr)
}

// parseArgs splits args at the first "--" (flags before it, CMD after it) and
// checks that the flags fit the mode.
func parseArgs(args []string) (options, error) {
	var opts options
	fs := flag.NewFlagSet("pets-restart", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.BoolVar(&opts.restart, "restart", false, "signal mode: restart the wrapper's CMD")
	fs.DurationVar(&opts.grace, "grace", 5*time.Second, "wrapper mode: time between SIGTERM and SIGKILL")
	fs.DurationVar(&opts.timeout, "timeout", 10*time.Second, "signal mode: how long to wait for the restart")
	fs.IntVar(&opts.pid, "pid", 0, "signal mode: only the wrapper with this pid")

	flagArgs, cmd, dashes := args, []string(nil), false
	if i := slices.Index(args, "--"); i >= 0 {
		flagArgs, cmd, dashes = args[:i], args[i+1:], true
	}
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		if opts.restart {
			return opts, &usageError{fmt.Sprintf("unexpected argument %q: -restart takes no command", fs.Arg(0))}
		}
		return opts, &usageError{fmt.Sprintf("unexpected argument %q: put the command after --, as in pets-restart -- %s", fs.Arg(0), fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if opts.restart {
		switch {
		case dashes:
			return opts, &usageError{"-restart takes no command (no --): it restarts the command of the running wrapper"}
		case set["grace"]:
			return opts, &usageError{"-grace belongs to the wrapper (pets-restart -grace 5s -- CMD), not to -restart"}
		case opts.timeout <= 0:
			return opts, &usageError{fmt.Sprintf("-timeout %v: must be positive", opts.timeout)}
		case set["pid"] && opts.pid <= 0:
			return opts, &usageError{fmt.Sprintf("-pid %d: must be a process id", opts.pid)}
		}
		return opts, nil
	}
	switch {
	case set["timeout"] || set["pid"]:
		return opts, &usageError{"-timeout and -pid belong to -restart"}
	case !dashes:
		return opts, &usageError{"missing -- and the command to run, as in pets-restart -- your server"}
	case len(cmd) == 0:
		return opts, &usageError{"no command after --"}
	case opts.grace < 0:
		return opts, &usageError{fmt.Sprintf("-grace %v: must not be negative", opts.grace)}
	}
	opts.cmd = cmd
	return opts, nil
}
