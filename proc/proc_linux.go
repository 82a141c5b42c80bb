package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// liveMember reports whether /proc lists a non-zombie process in group pgid.
func liveMember(pgid int) bool {
	d, err := os.Open("/proc")
	if err != nil {
		return true // cannot tell: trust kill(2)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	want := []byte(strconv.Itoa(pgid))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		// f[0] state, f[1] ppid, f[2] pgrp.
		if len(f) > 2 && bytes.Equal(f[2], want) && string(f[0]) != "Z" && string(f[0]) != "X" {
			return true
		}
	}
	return false
}

func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// StartTime returns the process's start time in clock ticks since boot
// (field 22 of /proc/PID/stat). A zombie counts as not running.
func StartTime(pid int) (uint64, error) { return startTime(pid, false) }

func startTime(pid int, zombieOK bool) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	if !zombieOK && (string(f[0]) == "Z" || string(f[0]) == "X") {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(string(f[19]), 10, 64)
}
