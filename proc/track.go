package proc

import "fmt"

// Tracked names every process of one start of a service, however pets can
// find them: the cgroup it made for the start (Linux, where it may create
// one), the marker variable each process inherits, and the process groups
// it started, whose leaders are pets' waiters (see package supervise) or,
// in records of older pets, the commands themselves.
type Tracked struct {
	Cgroup  string     // cgroup v2 directory holding them all ("": none)
	Marker  string     // "NAME=value" in each one's environment ("": none)
	Groups  []Identity // the process groups pets started, oldest first
	Waiters []Identity // those of Groups led by a waiter
}

// member is one live process of a Tracked set.
type member struct {
	pid   int
	start uint64
	ppid  int // its parent when it was found (Linux; 0 elsewhere)
}

// isWaiter reports whether m is one of t's waiters.
func (t Tracked) isWaiter(m member) bool {
	for _, w := range t.Waiters {
		if w.PID == m.pid && w.Start == m.start {
			return true
		}
	}
	return false
}

// StillRunningError: processes of a service survived SIGKILL (a process
// stuck in the kernel, or one pets may not signal).
type StillRunningError struct {
	PIDs []int
	Err  error
}

func (e *StillRunningError) Error() string {
	return fmt.Sprintf("processes %v still run after SIGKILL: %v", e.PIDs, e.Err)
}

func (e *StillRunningError) Unwrap() error { return e.Err }
