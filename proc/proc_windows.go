package proc

import (
	"errors"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/windows"
)

// closeOnExec: Windows passes a child no descriptor it was not given.
func closeOnExec(int) {}

// readable: a program on Windows is never asked to stay (see StayAsked).
func readable(int) bool { return false }

type signal int

const (
	sigTerm signal = iota
	sigKill
)

func shell() string     { return "bash" } // Git Bash or WSL's bash on PATH
func shellFlag() string { return "-c" }

func setGroup(cmd *exec.Cmd, _ bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// signalGroup ends the process tree rooted at pid: Windows has no SIGTERM, so
// both signals use taskkill (without /F first, then with it).
func signalGroup(pid int, sig signal) error {
	args := []string{"/T", "/PID", strconv.Itoa(pid)}
	if sig == sigKill {
		args = append([]string{"/F"}, args...)
	}
	return exec.Command("taskkill", args...).Run()
}

func groupExists(pid int) bool {
	_, err := StartTime(pid)
	return err == nil
}

// StartTime returns the process creation time (100 ns units since 1601).
func StartTime(pid int) (uint64, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return 0, err
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err == nil && code != 259 { // STILL_ACTIVE
		return 0, errors.New("process has exited")
	}
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		return 0, err
	}
	return uint64(c.HighDateTime)<<32 | uint64(c.LowDateTime), nil
}

func startTime(pid int, _ bool) (uint64, error) { return StartTime(pid) }

// signalOne ends the tree rooted at pid (taskkill /T), as signalGroup.
func signalOne(pid int, sig signal) error { return signalGroup(pid, sig) }
