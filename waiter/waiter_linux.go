package waiter

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/windmilleng/pets/proc"
)

// becomeSubreaper makes orphaned descendants this process's children.
func becomeSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// reapTree reaps child and, as a subreaper, every descendant, until none
// is left; onChild learns how child ended as soon as it is reaped.
func reapTree(child *os.Process, subreaper bool, onChild func(exited)) exited {
	if !subreaper {
		return waitChild(child, onChild)
	}
	how := exited{text: "unknown", code: 1}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return how // ECHILD: the tree is gone
		}
		if pid == child.Pid {
			how = exitedOf(ws)
			onChild(how)
		}
	}
}

// relay passes sig on to every process below the waiter.
func relay(sig syscall.Signal, child int) {
	if err := proc.SignalDescendants(sig); err != nil {
		_ = syscall.Kill(child, sig)
	}
}

// childAttr: the command leads its own process group, and is killed if the
// waiter dies first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
