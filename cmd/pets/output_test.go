//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Output nobody reads never blocks the loop: with stdout and stderr pipes
// that no one reads (and a service that logs all the time), an edit still
// restarts its service, Ctrl-C still ends pets, and the reader that comes
// back is told how many log lines were dropped.
func TestWatchWithAStalledTerminalKeepsGoing(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("s/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("(while true; do echo a line of noise from s, to fill the pipe nobody reads; done) & exec $PETSERVER --name s --port %[1]d"), "127.0.0.1", %[1]d)
register("s", "local", s_local, watch=["s/**"])
`, port))
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := e.cmd("up", "--watch")
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	exited := make(chan struct{}) // closed when pets has exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		outR.Close()
		errR.Close()
	})
	waitFor(t, "s to be ready", func() bool { return e.list()["s-local"].Status == "ready" })
	// Far more than a pipe holds (64 KiB) has been logged: the pipe is full.
	log := filepath.Join(e.home, "logs", "s-local.log")
	waitFor(t, "s to have logged 2 MB", func() bool { fi, err := os.Stat(log); return err == nil && fi.Size() > 2<<20 })
	before := e.list()["s-local"].PID
	e.write("s/x", "1")
	waitFor(t, "s to be restarted while nobody reads pets' output", func() bool {
		l := e.list()["s-local"]
		return l.Status == "ready" && l.PID != before
	})
	// The reader comes back: it is told what it missed.
	found := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "service log lines were dropped while this output was not read") {
				found <- true
				break
			}
		}
		for sc.Scan() { // keep draining
		}
	}()
	go func() { // stderr too: a stalled stderr must not matter either, but drain it now
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
		}
	}()
	select {
	case <-found:
	case <-time.After(20 * time.Second):
		t.Error("no word of the dropped lines once the reader came back")
	}
	// Ctrl-C ends it within the grace period.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Error("pets did not exit within 15s of Ctrl-C")
	}
}

// Ctrl-C works while nothing reads pets' output at all.
func TestCtrlCWithAStalledTerminal(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("s", "local", lambda: service(start("(while true; do echo noise; done) & exec $PETSERVER --name s --port %[1]d"), "127.0.0.1", %[1]d))
`, port))
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	defer outR.Close()
	defer errR.Close()
	cmd := e.cmd("up", "--watch")
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	waitFor(t, "s to be ready", func() bool { return e.list()["s-local"].Status == "ready" })
	log := filepath.Join(e.home, "logs", "s-local.log")
	waitFor(t, "s to have logged 1 MB", func() bool { fi, err := os.Stat(log); return err == nil && fi.Size() > 1<<20 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("pets did not exit within 15s of Ctrl-C with nobody reading its output")
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left running: %v", s)
	}
}
