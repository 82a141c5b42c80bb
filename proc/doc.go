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
//
// Foreground commands (Petsfile run()) also get their own group, are killed
// as a group when their context ends, and on Linux die with pets
// (PR_SET_PDEATHSIG) if pets itself is killed.
package proc
