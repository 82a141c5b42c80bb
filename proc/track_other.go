//go:build !linux

package proc

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// Members returns the pids of t's live processes (Linux only).
func (t Tracked) Members() ([]int, error) { return nil, unsupported("process trees") }

// StopTracked stops t's process groups: SIGTERM to each (a waiter exits
// once its command's group has), SIGKILL to each once grace has passed,
// and returns when the groups are gone. Here pets cannot see processes
// that left their group.
func StopTracked(ctx context.Context, t Tracked, grace time.Duration) (Stopped, error) {
	var live []Identity
	for i := len(t.Groups) - 1; i >= 0; i-- {
		if ours(t.Groups[i]) {
			live = append(live, t.Groups[i])
		}
	}
	if len(live) == 0 {
		return AlreadyGone, nil
	}
	// A waiter passes a signal on to its command's group; that group is
	// signalled directly when recorded, so a waiter is asked only when no
	// other group is (its command's is not recorded yet).
	others := false
	for _, g := range live {
		others = others || !t.isWaiter(member{pid: g.PID, start: g.Start})
	}
	for _, g := range live {
		switch {
		case !t.isWaiter(member{pid: g.PID, start: g.Start}):
			_ = signalGroup(g.PID, sigTerm)
		case !others && Alive(g):
			_ = signalOne(g.PID, sigTerm)
		}
	}
	gone := func() bool {
		for _, g := range live {
			if groupExists(g.PID) {
				return false
			}
		}
		return true
	}
	termCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if poll(termCtx, gone) == nil {
		return Terminated, nil
	}
	if ctx.Err() != nil {
		return AlreadyGone, ctx.Err()
	}
	for _, g := range live {
		_ = signalGroup(g.PID, sigKill)
	}
	killCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := poll(killCtx, gone); err != nil {
		var left []int
		for _, g := range live {
			if groupExists(g.PID) {
				left = append(left, g.PID)
			}
		}
		return Killed, &StillRunningError{PIDs: left, Err: err}
	}
	return Killed, nil
}

// Descendants returns the processes below pid (Linux only).
func Descendants(int) ([]int, error) { return nil, unsupported("process trees") }

// SignalDescendants sends sig to every process below this one (Linux only).
func SignalDescendants(syscall.Signal) error { return unsupported("process trees") }

// CgroupMount finds the cgroup v2 mount (Linux only).
func CgroupMount() (dir, root string, err error) { return "", "", unsupported("cgroups") }

// OwnCgroup returns this process's cgroup (Linux only).
func OwnCgroup() (string, error) { return "", unsupported("cgroups") }

// bornIn: no cgroups here (Linux only).
func bornIn(*exec.Cmd, string) (func(), bool) { return nil, false }

// CgroupAdd moves pid into a cgroup (Linux only).
func CgroupAdd(string, int) error { return unsupported("cgroups") }

// CgroupProcs lists a cgroup's processes (Linux only).
func CgroupProcs(string) ([]int, error) { return nil, unsupported("cgroups") }

// CgroupPopulated reports whether a cgroup holds a process (Linux only).
func CgroupPopulated(string) (bool, error) { return false, unsupported("cgroups") }

// RemoveCgroup removes a cgroup directory (Linux only).
func RemoveCgroup(string) error { return unsupported("cgroups") }
