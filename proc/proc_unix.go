//go:build !windows

package proc

import (
	"errors"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

func shell() string     { return "bash" }
func shellFlag() string { return "-c" }

// closeOnExec keeps fd from the programs this process execs.
func closeOnExec(fd int) { syscall.CloseOnExec(fd) }

// readable says, without waiting, whether a read of fd would not block
// (data, or the end of the pipe).
func readable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

func setGroup(cmd *exec.Cmd, dieWithParent bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if dieWithParent {
		setPdeathsig(cmd.SysProcAttr)
	}
}

func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return errors.New("invalid process group")
	}
	return syscall.Kill(-pgid, sig)
}

// groupExists reports whether any live (not zombie) process is in process
// group pgid. Zombies are ignored: an orphan's zombie lingers until init
// reaps it, which some inits do only every few seconds.
func groupExists(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return liveMember(pgid)
}

// signalOne signals one process.
func signalOne(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
