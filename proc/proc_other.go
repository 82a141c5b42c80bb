//go:build !linux && !darwin && !windows

package proc

import (
	"fmt"
	"runtime"
	"syscall"
)

// liveMember cannot tell zombies apart here; trust kill(2).
func liveMember(int) bool { return true }

func setPdeathsig(*syscall.SysProcAttr) {}

// StartTime is not implemented on this OS: pets cannot tell its processes
// from later ones with the same pid, so it neither records nor signals them.
func StartTime(pid int) (uint64, error) {
	return 0, fmt.Errorf("process start times are not available on %s/%s (pid %d): %w", runtime.GOOS, runtime.GOARCH, pid, ErrNoStartTime)
}

func startTime(pid int, _ bool) (uint64, error) { return StartTime(pid) }
