package proc

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// liveMember cannot tell zombies apart here; trust kill(2).
func liveMember(int) bool { return true }

func setPdeathsig(*syscall.SysProcAttr) {} // not available; run() children are still killed as a group on cancel

// StartTime returns the process's start time in microseconds since the epoch.
func StartTime(pid int) (uint64, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return 0, err
	}
	if kp.Proc.P_pid != int32(pid) {
		return 0, fmt.Errorf("process %d not found", pid)
	}
	if kp.Proc.P_stat == 5 { // SZOMB
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	tv := kp.Proc.P_starttime
	return uint64(tv.Sec)*1e6 + uint64(tv.Usec), nil
}

func startTime(pid int, _ bool) (uint64, error) { return StartTime(pid) }
