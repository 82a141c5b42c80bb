package proc

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Members returns the pids of t's live processes: those of its cgroup, or,
// without one, those Tree finds by its marker and groups.
func (t Tracked) Members() ([]int, error) {
	ms, err := t.members()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.pid
	}
	return out, nil
}

func (t Tracked) members() ([]member, error) {
	if t.Cgroup != "" {
		pids, err := CgroupProcs(t.Cgroup)
		if err == nil {
			return t.drop(withStart(pids)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		// Removed under us: look for the processes the other ways.
	}
	if t.Marker == "" && len(t.Groups) == 0 {
		return nil, nil
	}
	pids, err := Tree(t.Marker, t.liveGroups())
	if err != nil {
		return nil, err
	}
	return t.drop(withStart(pids)), nil
}

// subtree returns the live processes of group g and their descendants:
// among the cgroup's processes where t has one (its processes' descendants
// are all there, and whatever is there is t's, so no pid reuse needs
// ruling out: no walk through every process of the machine), else among
// all, if g may still hold t's processes.
func (t Tracked) subtree(g Identity) ([]member, error) {
	pgid := g.PID
	var pids []int
	err := fs.ErrNotExist
	if t.Cgroup != "" {
		pids, err = CgroupProcs(t.Cgroup)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if !ours(g) {
			return nil, nil
		}
		pids, err := Tree("", []int{pgid})
		return t.drop(withStart(pids)), err
	}
	if err != nil {
		return nil, err
	}
	stats := make(map[int]stat, len(pids))
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil && st.state != "Z" && st.state != "X" {
			stats[pid] = st
		}
	}
	in := map[int]bool{}
	var inTree func(pid int, depth int) bool
	inTree = func(pid int, depth int) bool {
		st, ok := stats[pid]
		if !ok || depth > len(stats) {
			return false
		}
		if v, done := in[pid]; done {
			return v
		}
		v := st.pgrp == pgid || inTree(st.ppid, depth+1)
		in[pid] = v
		return v
	}
	var out []int
	for pid := range stats {
		if inTree(pid, 0) {
			out = append(out, pid)
		}
	}
	return t.drop(withStart(out)), nil
}

// waiterPIDs returns the pids of t's waiters.
func (t Tracked) waiterPIDs() []int {
	out := make([]int, len(t.Waiters))
	for i, w := range t.Waiters {
		out[i] = w.PID
	}
	return out
}

// liveGroups returns the groups of t that may still hold its processes.
func (t Tracked) liveGroups() []int {
	var out []int
	for _, g := range t.Groups {
		if ours(g) {
			out = append(out, g.PID)
		}
	}
	return out
}

// withStart pairs each live (not zombie) process with its start time and
// its parent, from one read of its /proc/PID/stat.
func withStart(pids []int) []member {
	out := make([]member, 0, len(pids))
	self := os.Getpid()
	for _, pid := range pids {
		if pid == self {
			continue
		}
		if st, err := readStat(pid); err == nil && st.start != 0 && st.state != "Z" && st.state != "X" {
			out = append(out, member{pid: pid, start: st.start, ppid: st.ppid})
		}
	}
	return out
}

// StopTracked stops every process of t: the groups newest first, each
// with its descendants, then whatever else t holds (processes that left
// their group and their parent: daemons). Each gets SIGTERM (a waiter
// none: it exits once its command's tree is gone); once grace has passed,
// what is left is killed (cgroup.kill where t has a cgroup, else SIGKILL to
// each process, again for any forked meanwhile), and StopTracked returns
// when no process of t is left, having removed its cgroup. A waiter t
// keeps (asked to stay) is left, and so is the cgroup, once it reports
// done within grace (t.Keep.Reusable() then says true); one that exits
// instead, or is killed with the rest, is waited for as any other.
//
// A process is signalled through a pidfd opened while its start time is
// the one seen when it was found, so a pid reused meanwhile is never hit.
func StopTracked(ctx context.Context, t Tracked, grace time.Duration) (Stopped, error) {
	termCtx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	keep, kept := t.Keep, false
	defer func() {
		if keep != nil && !kept {
			keep.letGo() // whatever it does now, it is not released again
		}
	}()
	found := false
	for i := len(t.Groups) - 1; i >= 0; i-- {
		g := t.Groups[i]
		list := func() ([]member, error) { return t.subtree(g) }
		// The group's leader, known by its start time, gets its SIGTERM
		// before the group is listed (a restart waits for its exit first
		// of all); the rest of the group, its descendants, get theirs
		// once listed: parents first still.
		lead := member{pid: g.PID, start: g.Start}
		sent := false
		if g.Start != 0 && !t.isWaiter(lead) {
			sent, _ = sendSignal(lead, sigTerm)
		}
		var ms []member
		if !sent || t.Cgroup == "" || !cgroupOnly(t.Cgroup, append(t.waiterPIDs(), lead.pid)...) {
			var err error
			if ms, err = list(); err != nil {
				return AlreadyGone, err
			}
			ms = slices.DeleteFunc(ms, func(m member) bool { return m.pid == lead.pid && m.start == lead.start })
		} // else its cgroup holds nothing else to signal: the leader and waiters alone
		if len(ms) == 0 && !sent {
			continue
		}
		found = true
		t.signal(ms, sigTerm, true)
		if termCtx.Err() == nil {
			// A waiter kept reports done once it has reaped its whole tree
			// (it is a subreaper): one wake-up, and one look at what is
			// left, where watching each process's exit and listing each
			// group again take more.
			if t.stays(termCtx) {
				if t.Cgroup != "" && cgroupOnly(t.Cgroup, t.Keep.PID) {
					kept = true
					return Terminated, nil
				}
				if ms, err := t.members(); err == nil && len(ms) == 0 {
					kept = true
					return Terminated, nil
				}
			}
			_ = waitMembers(termCtx, list, nil)
		}
	}
	ms, err := t.members()
	if err != nil {
		return AlreadyGone, err
	}
	if len(ms) > 0 {
		found = true
		t.signal(ms, sigTerm, true)
	}
	if !found {
		if kept = t.stays(termCtx); kept {
			return AlreadyGone, nil
		}
		return AlreadyGone, t.removeCgroup(ctx)
	}
	if termCtx.Err() == nil && waitMembers(termCtx, t.members, nil) == nil {
		if kept = t.stays(termCtx); kept {
			return Terminated, nil
		}
		if termCtx.Err() == nil && waitMembers(termCtx, t.members, nil) == nil {
			return Terminated, t.removeCgroup(ctx)
		}
	}
	t.Keep = nil // killed with the rest
	if ctx.Err() != nil {
		return AlreadyGone, ctx.Err()
	}
	if ms, err := t.members(); err == nil && len(ms) == 0 {
		return Terminated, t.removeCgroup(ctx) // gone just as the grace period ended
	}
	killAll := func(ms []member) { t.signal(ms, sigKill, false) }
	if t.Cgroup != "" {
		if err := cgroupKill(t.Cgroup); err == nil {
			killAll = nil
		}
	}
	killCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := waitMembers(killCtx, t.members, killAll); err != nil {
		left, _ := t.Members()
		return Killed, &StillRunningError{PIDs: left, Err: err}
	}
	return Killed, t.removeCgroup(ctx)
}

// stays waits for the waiter t keeps to report done, its whole tree reaped
// (true: it stays, and so does the cgroup; asked again, it says so at
// once); false if t keeps none, or it exits instead (it is then one of t's
// members again, to wait for).
func (t *Tracked) stays(ctx context.Context) bool {
	if t.Keep == nil || t.kept {
		return t.kept
	}
	if t.Keep.AwaitDone(ctx) {
		t.kept = true
		return true
	}
	t.Keep = nil
	return false
}

// removeCgroup removes t's cgroup once the kernel has let go of its last
// processes (an exited process not yet reaped by its parent keeps it busy
// for a moment).
func (t Tracked) removeCgroup(ctx context.Context) error {
	if t.Cgroup == "" {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = poll(wctx, func() bool {
		populated, err := CgroupPopulated(t.Cgroup)
		return err != nil || !populated
	})
	return RemoveCgroup(t.Cgroup)
}

// signal sends sig to each of ms (but the waiters, if skipWaiters),
// parents before their children, as kill(2) of a process group reaches
// them all at once: a shell that traps TERM to clean up gets it while it
// waits for its command, not after seeing that command die of it (bash -c
// would then end without running its trap).
func (t Tracked) signal(ms []member, sig syscall.Signal, skipWaiters bool) {
	for _, m := range parentsFirst(ms) {
		if skipWaiters && t.isWaiter(m) {
			continue
		}
		_ = signalMember(m, sig)
	}
}

// signalMember sends sig to m if it is still the process found: through a
// pidfd opened while its pid has m's start time (Linux 5.3; before, kill(2)
// after the same check).
func signalMember(m member, sig syscall.Signal) error {
	_, err := sendSignal(m, sig)
	return err
}

// sendSignal is signalMember, saying whether sig was sent.
func sendSignal(m member, sig syscall.Signal) (sent bool, err error) {
	fd, err := unix.PidfdOpen(m.pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return false, nil // gone
		}
		if st, err := startTime(m.pid, false); err != nil || st != m.start {
			return false, nil
		}
		err = syscall.Kill(m.pid, sig)
		return err == nil, err
	}
	defer unix.Close(fd)
	if st, err := startTime(m.pid, false); err != nil || st != m.start {
		return false, nil // exited, or the pid is another process's now
	}
	err = unix.PidfdSendSignal(fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	return err == nil, err
}

// waitMembers waits until list finds no process, or ctx ends. each (may be
// nil) is called with every non-empty listing.
func waitMembers(ctx context.Context, list func() ([]member, error), each func([]member)) error {
	for {
		ms, err := list()
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			return nil
		}
		if each != nil {
			each(ms)
		}
		if err := waitExit(ctx, ms); err != nil {
			return err
		}
	}
}

// waitExit waits until every process of ms has exited, or ctx ends.
func waitExit(ctx context.Context, ms []member) error {
	var fds []unix.PollFd
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	var unwatched []member // no pidfd (Linux before 5.3): polled
	for _, m := range ms {
		fd, err := unix.PidfdOpen(m.pid, 0)
		if err != nil {
			if !errors.Is(err, unix.ESRCH) {
				unwatched = append(unwatched, m)
			}
			continue
		}
		if st, err := startTime(m.pid, false); err != nil || st != m.start {
			unix.Close(fd)
			continue
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	if len(unwatched) > 0 {
		err := poll(ctx, func() bool {
			for _, m := range unwatched {
				if st, err := startTime(m.pid, false); err == nil && st == m.start {
					return false
				}
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	for len(fds) > 0 {
		wait := 50 * time.Millisecond
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = max(time.Until(d), time.Millisecond)
		}
		n, err := unix.Poll(fds, int(wait/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if n > 0 {
			left := fds[:0]
			for _, f := range fds {
				if f.Revents != 0 {
					unix.Close(int(f.Fd))
					continue
				}
				left = append(left, f)
			}
			fds = left
		}
		if len(fds) > 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// Descendants returns the live processes below pid (its children, theirs,
// and so on), in pid order.
func Descendants(pid int) ([]int, error) {
	pids, err := allPIDs()
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, p := range pids {
		st, err := readStat(p)
		if err != nil || st.state == "Z" || st.state == "X" {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
	}
	found := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !found[c] {
				found[c] = true
				queue = append(queue, c)
			}
		}
	}
	return sortedKeys(found), nil
}

// SignalDescendants sends sig to every live process below this one.
func SignalDescendants(sig syscall.Signal) error {
	pids, err := Descendants(os.Getpid())
	if err != nil {
		return err
	}
	for _, m := range withStart(pids) {
		_ = signalMember(m, sig)
	}
	return nil
}

// parentsFirst returns ms ordered so that no process comes after one of its
// descendants (by depth within ms, from the parents withStart read).
func parentsFirst(ms []member) []member {
	if len(ms) < 2 {
		return ms
	}
	parent := make(map[int]int, len(ms))
	for _, m := range ms {
		parent[m.pid] = m.ppid
	}
	depth := make(map[int]int, len(ms))
	for _, m := range ms {
		d := 0
		for p, ok := parent[m.pid]; ok && d < len(ms); p, ok = parent[p] {
			d++
		}
		depth[m.pid] = d
	}
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b member) int { return cmp.Compare(depth[a.pid], depth[b.pid]) })
	return out
}
