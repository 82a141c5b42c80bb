// Package proc supervises local processes the way pets needs them: each
// started in its own process group (`bash -c`, stdin from /dev/null, output
// appended to a log file), signalled as a group, stopped gracefully with
// SIGTERM and then SIGKILL after a grace period, and identified by pid plus
// start time so that a recycled pid is never taken for a live pet.
//
// Identity: on Linux the start time is field 22 of /proc/PID/stat (clock ticks
// since boot); on macOS it is kinfo_proc's p_starttime; on Windows the
// process creation time. A process group is treated as ours only while its
// leader has the recorded start time, or, once the leader is gone, while
// members remain in the group: the kernel does not reuse a pid while a
// process group of that id still exists, so such members can only be ours.
// Identity is never taken from a pid alone: a process whose start time
// cannot be read is not run (StartHeld and Run fail with ErrNoStartTime,
// which is also what StartTime says on a platform without start times),
// and a record without one is never signalled (Stop returns an
// UntouchedError naming the pid and why).
//
// Held starts: StartHeld forks a process that waits for a go-ahead on fd 3
// (a pipe) before it runs anything, so the caller records it first (and
// may put it in a cgroup); if the caller dies first, the pipe closes and
// the process exits. A Spec.Wrap program (pets' waiter) reads the go-ahead
// itself (AwaitRelease) and reports the process it runs on fd 4
// (ReportChild, Proc.Child). It may be forked before its command is known
// (an empty Spec.Line: a restart forks the next waiter while the old server
// stops) and told the command, directory and variables with the go-ahead
// (Proc.ReleaseTo); a held process never released is let go (Abandon).
// One released with ReleaseTo keeps its go-ahead pipe: asked to stay
// (Proc.Stay) before its command is stopped, it reports done once the
// command's tree is gone (Proc.AwaitDone, which StopTracked waits for when
// Tracked.Keep names it) and takes its next release on the same pipe.
//
// Whole services (Tracked, StopTracked): every process of one start of a
// service, found through its cgroup v2 directory (CgroupMount,
// /proc/self/mountinfo; CgroupAdd, CgroupProcs; cgroup.kill, Linux 5.14),
// else through its marker variable, its process groups and their
// descendants (Tree), else (not Linux) its groups. Stopping signals each
// process through a pidfd (Linux 5.3) opened while the pid still has the
// start time it had when found, so a pid reused meanwhile is never hit;
// then waits (pidfds again) until none is left, and removes the cgroup.
//
// Foreground commands (Petsfile run()) also get their own group, are killed
// as a group when their context ends, and on Linux die with pets
// (PR_SET_PDEATHSIG) if pets itself is killed.
//
// Who holds a port, and which processes make up a service (Listening,
// Holders, Tree): what pets needs to tell its own server from whatever else
// answers on a service's address. On Linux these read /proc: the listening
// sockets of /proc/net/tcp and /proc/net/tcp6 (pets' network namespace) with
// their inodes; the processes holding a socket from the "socket:[inode]"
// links in /proc/PID/fd; a process's environment from /proc/PID/environ and
// its group and parent from /proc/PID/stat. Another user's processes cannot
// be inspected without privileges: as far as these functions say, they hold
// nothing. Elsewhere they fail with errors.ErrUnsupported and callers say
// they cannot tell.
package proc
