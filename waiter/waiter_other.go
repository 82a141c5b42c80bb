//go:build !linux && !windows

package waiter

import (
	"errors"
	"os"
	"syscall"
)

// becomeSubreaper: not available here (the waiter reaps its child alone).
func becomeSubreaper() error { return errors.ErrUnsupported }

func reapTree(child *os.Process, _ bool, onChild func(exited)) exited {
	return waitChild(child, onChild)
}

// relay passes sig on to the command's process group.
func relay(sig syscall.Signal, child int) {
	if err := syscall.Kill(-child, sig); err != nil {
		_ = syscall.Kill(child, sig)
	}
}

// childAttr: the command leads its own process group.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
