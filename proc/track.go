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
	// Keep (Linux): a waiter of Waiters that pets asked to stay for the
	// next start (Proc.Stay): StopTracked stops the rest, then waits for
	// its done (or its exit) and leaves it, and the cgroup, be.
	Keep *Proc
	kept bool // Keep reported done (StopTracked)
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

// drop returns ms without the waiter t keeps.
func (t Tracked) drop(ms []member) []member {
	if t.Keep == nil {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		if m.pid != t.Keep.PID || m.start != t.Keep.Start {
			out = append(out, m)
		}
	}
	return out
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
