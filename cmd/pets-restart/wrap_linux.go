//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrap runs argv as the wrapper's child, restarts it on SIGHUP, and returns the
// exit code the wrapper exits with (see the package comment).
//
// Everything happens in this one goroutine's select loop. The wrapper reaps its
// children itself (wait4(-1) on SIGCHLD) instead of using exec.Cmd.Wait: as PID 1
// it also inherits orphans, and reaping those with wait4(-1) would otherwise race
// with a Wait on the child.
func wrap(argv []string, grace time.Duration, stderr io.Writer) int {
	// SIGCHLD has a channel of its own: one pending SIGCHLD is enough (each one
	// reaps every exited child), and a burst of other signals must not crowd it out.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(chld)
	defer signal.Stop(sigs)

	w := &wrapper{argv: argv, name: cmdString(argv), grace: grace, stderr: stderr}
	defer w.stopPolling()
	if !w.launch(false) {
		return exitCannotStart
	}
	for {
		var code int
		var done bool
		select {
		case <-chld:
			code, done = w.reap()
		case sig := <-sigs:
			code, done = w.signal(sig.(syscall.Signal))
		case <-w.killC:
			w.killTimer, w.killC = nil, nil
			signalGroup(w.pid, syscall.SIGKILL)
		case <-w.pollC:
			if !w.launch(false) {
				code, done = exitCannotStart, true
			}
		}
		if done {
			return code
		}
	}
}

// wrapper is the state of wrap's loop.
type wrapper struct {
	argv   []string
	name   string // argv as a shell user would type it
	grace  time.Duration
	stderr io.Writer

	pid        int              // CMD's process; 0 while waiting for it
	restarting bool             // SIGHUP: the child was told to stop; start it again when it is gone
	stopping   bool             // SIGTERM/SIGINT: exit when the child is gone
	killTimer  *time.Timer      // SIGKILL for the child's group after grace
	killC      <-chan time.Time // killTimer.C while armed, else nil
	poll       *time.Ticker     // while waiting for CMD's file
	pollC      <-chan time.Time // poll.C while waiting, else nil
	waitingFor string           // why CMD is not running yet, as said on stderr ("" when not waiting)
}

func (w *wrapper) armKill() {
	if w.killC == nil {
		w.killTimer = time.NewTimer(w.grace)
		w.killC = w.killTimer.C
	}
}

func (w *wrapper) disarmKill() {
	if w.killTimer != nil {
		w.killTimer.Stop()
		w.killTimer, w.killC = nil, nil
	}
}

func (w *wrapper) stopPolling() {
	if w.poll != nil {
		w.poll.Stop()
		w.poll, w.pollC = nil, nil
	}
}

// launch starts CMD, or waits for its file (polling every waitEvery) if it is
// not there yet or is still being written; false: CMD cannot start. restart:
// say so when it starts.
func (w *wrapper) launch(restart bool) bool {
	p, err := start(w.argv)
	var nt *notThereError
	if errors.As(err, &nt) {
		if w.waitingFor != nt.why {
			w.waitingFor = nt.why
			fmt.Fprintf(w.stderr, "pets-restart: %s %s: waiting for it (it starts as soon as it is there)\n", nt.path, nt.why)
		}
		if w.poll == nil {
			w.poll = time.NewTicker(waitEvery)
			w.pollC = w.poll.C
		}
		return true
	}
	if err != nil {
		fmt.Fprintf(w.stderr, "pets-restart: %v\n", err)
		return false
	}
	w.pid = p
	w.stopPolling()
	if w.waitingFor != "" || restart {
		fmt.Fprintf(w.stderr, "pets-restart: started %s (pid %d)\n", w.name, w.pid)
	}
	w.waitingFor = ""
	return true
}

// reap reaps every exited child (on SIGCHLD). When CMD is among them, the
// wrapper exits with its code (done), or starts it again if it was
// restarting.
func (w *wrapper) reap() (code int, done bool) {
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || wpid <= 0 {
			return 0, false // ECHILD or nothing more to reap
		}
		if wpid != w.pid {
			continue // an orphan the kernel reparented to us (we are PID 1)
		}
		// The child is gone; what is left of its group goes with it.
		_ = syscall.Kill(-w.pid, syscall.SIGKILL)
		w.disarmKill()
		code := exitCode(ws)
		switch {
		case w.stopping:
			return code, true
		case w.restarting:
			w.restarting = false
			w.pid = 0
			if !w.launch(true) {
				return exitCannotStart, true
			}
		default:
			if code != 0 {
				fmt.Fprintf(w.stderr, "pets-restart: %s (pid %d) exited with code %d\n", w.name, wpid, code)
			}
			return code, true
		}
	}
}

// signal handles a signal the wrapper got: SIGHUP restarts CMD, SIGTERM and
// SIGINT stop it (and then the wrapper), the others are passed on.
func (w *wrapper) signal(sig syscall.Signal) (code int, done bool) {
	switch {
	case w.pid == 0 && (sig == syscall.SIGTERM || sig == syscall.SIGINT):
		// Waiting for CMD's file: nothing runs, nothing to wait for.
		return 128 + int(sig), true
	case w.pid == 0 && sig == syscall.SIGHUP:
		// pets-restart -restart while waiting: look now rather than at the next poll.
		if !w.launch(false) {
			return exitCannotStart, true
		}
	case w.pid == 0:
		// Nothing to forward it to.
	case sig == syscall.SIGHUP:
		if w.restarting || w.stopping {
			return 0, false // the new child (if any) starts after this request anyway
		}
		w.restarting = true
		fmt.Fprintf(w.stderr, "pets-restart: restarting %s (pid %d)\n", w.name, w.pid)
		signalGroup(w.pid, syscall.SIGTERM)
		w.armKill()
	case sig == syscall.SIGTERM || sig == syscall.SIGINT:
		w.stopping = true
		signalGroup(w.pid, sig)
		w.armKill()
	default:
		signalGroup(w.pid, sig)
	}
	return 0, false
}

// waitEvery is how often the wrapper looks for a CMD whose file is not there yet.
const waitEvery = 100 * time.Millisecond

// notThereError is a CMD given as a path whose file does not exist yet, or is
// still being written (exec fails with ETXTBSY while a writer holds it open,
// as tar does until the file is whole): the wrapper waits for it.
type notThereError struct {
	path, why string
}

func (e *notThereError) Error() string { return e.path + " " + e.why }

// start starts argv in a process group of its own, with the wrapper's stdin,
// stdout, stderr and environment. PATH is searched at every start, so a restart
// runs whatever the sync put there. A CMD given as a path (with a /) whose file
// does not exist, or is being written, is a *notThereError.
func start(argv []string) (int, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		if strings.Contains(argv[0], "/") && errors.Is(err, fs.ErrNotExist) {
			return 0, &notThereError{argv[0], "does not exist yet"}
		}
		return 0, fmt.Errorf("cannot start %s: %w", argv[0], err)
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	switch {
	case errors.Is(err, syscall.ETXTBSY):
		return 0, &notThereError{path, "is being written"}
	case errors.Is(err, syscall.ENOENT) && strings.Contains(argv[0], "/") && missing(path):
		// Removed since LookPath. (ENOENT for a file that is there means its
		// interpreter, the #! line's, is missing: an error.)
		return 0, &notThereError{path, "does not exist yet"}
	case err != nil:
		return 0, fmt.Errorf("cannot start %s: %w", path, err)
	}
	return pid, nil
}

// missing reports whether the file at path does not exist.
func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// signalGroup sends sig to the process group the child leads, and to the child
// itself should it have moved to another group.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
	if pg, err := syscall.Getpgid(pid); err == nil && pg != pid {
		_ = syscall.Kill(pid, sig)
	}
}

// exitCode is the shell's view of a wait status: the exit code, or 128+N for a
// process that signal N killed.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// cmdString shows argv the way a shell user would type it.
func cmdString(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
