//go:build !windows

package waiter

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// relayed are the signals a waiter passes on to its command's tree.
var relayed = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// exitedOf says how a process with wait status ws ended, as
// os.ProcessState.String does.
func exitedOf(ws syscall.WaitStatus) exited {
	switch {
	case ws.Exited():
		return exited{text: "exit status " + strconv.Itoa(ws.ExitStatus()), code: ws.ExitStatus()}
	case ws.Signaled():
		text := "signal: " + ws.Signal().String()
		if ws.CoreDump() {
			text += " (core dumped)"
		}
		return exited{text: text, code: 128 + int(ws.Signal()), sig: ws.Signal()}
	}
	return exited{text: "unknown wait status " + strconv.Itoa(int(ws)), code: 1}
}

// waitChild waits for child alone.
func waitChild(child *os.Process, onChild func(exited)) exited {
	st, err := child.Wait()
	how := exited{code: 1}
	if err != nil {
		how.text = err.Error()
	} else if ws, ok := st.Sys().(syscall.WaitStatus); ok {
		how = exitedOf(ws)
	} else {
		how = exited{text: st.String(), code: st.ExitCode()}
	}
	onChild(how)
	return how
}

// mirrorExit ends the waiter the way its command ended where it can: by
// the same signal (those that end a Go program: HUP, INT, TERM, KILL), else
// with the exit status (128 + the signal for the others).
func mirrorExit(how exited) int {
	switch how.sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL:
		raise(how.sig)
	}
	return how.code
}

// raise ends the waiter by sig, its default action restored.
func raise(sig syscall.Signal) {
	signal.Reset(sig)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(2 * time.Second) // the signal ends the process meanwhile
}
