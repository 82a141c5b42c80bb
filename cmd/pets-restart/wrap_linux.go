//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
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

	name := cmdString(argv)
	pid, err := start(argv)
	if err != nil {
		fmt.Fprintf(stderr, "pets-restart: %v\n", err)
		return exitCannotStart
	}

	var (
		restarting bool             // SIGHUP: the child was told to stop; start it again when it is gone
		stopping   bool             // SIGTERM/SIGINT: exit when the child is gone
		killTimer  *time.Timer      // SIGKILL for the child's group after grace
		killC      <-chan time.Time // killTimer.C while armed, else nil
	)
	armKill := func() {
		if killC == nil {
			killTimer = time.NewTimer(grace)
			killC = killTimer.C
		}
	}
	disarmKill := func() {
		if killTimer != nil {
			killTimer.Stop()
			killTimer, killC = nil, nil
		}
	}

	for {
		select {
		case <-chld:
			for {
				var ws syscall.WaitStatus
				wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if errors.Is(err, syscall.EINTR) {
					continue
				}
				if err != nil || wpid <= 0 {
					break // ECHILD or nothing more to reap
				}
				if wpid != pid {
					continue // an orphan the kernel reparented to us (we are PID 1)
				}
				// The child is gone; what is left of its group goes with it.
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				disarmKill()
				code := exitCode(ws)
				switch {
				case stopping:
					return code
				case restarting:
					restarting = false
					if pid, err = start(argv); err != nil {
						fmt.Fprintf(stderr, "pets-restart: %v\n", err)
						return exitCannotStart
					}
					fmt.Fprintf(stderr, "pets-restart: started %s (pid %d)\n", name, pid)
				default:
					if code != 0 {
						fmt.Fprintf(stderr, "pets-restart: %s (pid %d) exited with code %d\n", name, wpid, code)
					}
					return code
				}
			}

		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				if restarting || stopping {
					continue // the new child (if any) starts after this request anyway
				}
				restarting = true
				fmt.Fprintf(stderr, "pets-restart: restarting %s (pid %d)\n", name, pid)
				signalGroup(pid, syscall.SIGTERM)
				armKill()
			case sig == syscall.SIGTERM || sig == syscall.SIGINT:
				stopping = true
				signalGroup(pid, sig.(syscall.Signal))
				armKill()
			default:
				signalGroup(pid, sig.(syscall.Signal))
			}

		case <-killC:
			killTimer, killC = nil, nil
			signalGroup(pid, syscall.SIGKILL)
		}
	}
}

// start starts argv in a process group of its own, with the wrapper's stdin,
// stdout, stderr and environment. PATH is searched at every start, so a restart
// runs whatever the sync put there.
func start(argv []string) (int, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, fmt.Errorf("cannot start %s: %w", argv[0], err)
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, fmt.Errorf("cannot start %s: %w", path, err)
	}
	return pid, nil
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
