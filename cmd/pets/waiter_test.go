//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/windmilleng/pets/state"
)

// TestWaiterBinary: each server runs under pets-waiter when it is installed
// beside pets, else under `pets waiter`; the service works the same.
func TestWaiterBinary(t *testing.T) {
	alone := petsAlone(t) // a pets with no pets-waiter beside it
	for _, tc := range []struct {
		pets, want string
		args       string // the waiter's first argument after its program
	}{
		{petsBin, filepath.Join(filepath.Dir(petsBin), "pets-waiter"), "waiter"},
		{alone, alone, "waiter"},
	} {
		e := newEnv(t)
		e.oneServer()
		cmd := e.cmd("up")
		cmd.Path, cmd.Args[0] = tc.pets, tc.pets
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s up: %v\n%s", tc.pets, err, out)
		}
		w := e.waiterOf("a").PID
		exe, err := os.Readlink("/proc/" + strconv.Itoa(w) + "/exe")
		if err != nil {
			t.Fatal(err)
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(w) + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if exe != tc.want || len(args) < 2 || args[1] != tc.args {
			t.Errorf("%s up: the waiter runs %s %q; want %s %s ...", tc.pets, exe, args, tc.want, tc.args)
		}
		if l := e.list()["a-local"]; l.Status != "ready" {
			t.Errorf("%s up: a-local is %q", tc.pets, l.Status)
		}
		e.mustPets("down")
	}
}

// TestServiceDiesWithItsWaiter: a waiter killed outright (SIGKILL: no
// chance to pass anything on) takes its command with it (Pdeathsig, tied
// to the thread of the waiter that forked the command, which must live as
// long as the waiter does).
func TestServiceDiesWithItsWaiter(t *testing.T) {
	e := newEnv(t)
	e.oneServer()
	e.mustPets("up")
	w := e.waiterOf("a")
	child := w.Child.PID
	if child == 0 {
		t.Fatalf("the record's waiter %+v has no command recorded", w)
	}
	fd, err := unix.PidfdOpen(child, 0)
	if err != nil {
		t.Fatalf("pidfd of the command (pid %d): %v", child, err)
	}
	defer unix.Close(fd)
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("the command (pid %d) still runs 10s after its waiter was killed", child)
		}
		break
	}
}

// oneServer writes a Petsfile of one service, a, a petserver.
func (e *env) oneServer() {
	port := strconv.Itoa(freePort(e.t))
	e.write("Petsfile", `register("a", "local", lambda: service(start("exec $PETSERVER --name a --port `+port+`"), "127.0.0.1", `+port+`))`+"\n")
}

// waiterOf returns the one process of name's record, which must be a waiter.
func (e *env) waiterOf(name string) state.Proc {
	e.t.Helper()
	var f state.File
	b, err := os.ReadFile(filepath.Join(e.home, "state.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		e.t.Fatal(err)
	}
	svc := f.Services[name]
	if svc == nil || len(svc.Procs) != 1 || !svc.Procs[0].Waiter {
		e.t.Fatalf("the record of %s holds %+v; want one waiter", name, svc)
	}
	return svc.Procs[0]
}

// TestStateRemovedUnderWatch: the state directory removed under pets up
// --watch, Ctrl-C still stops every process it started (saying why the
// record comes back), and nothing is left running.
func TestStateRemovedUnderWatch(t *testing.T) {
	e := newEnv(t)
	e.oneServer()
	w := e.watch("up", "--watch")
	if len(e.strays()) == 0 {
		t.Fatal("no process of the service found running")
	}
	// pets may write into it meanwhile (the stamps of what it started):
	// RemoveAll then finds a directory not empty; again until it is gone.
	waitFor(t, "the state directory removed", func() bool { return os.RemoveAll(e.home) == nil })
	if code := w.stop(); code != 0 {
		t.Errorf("pets up --watch exited %d after Ctrl-C:\n%s", code, w.output())
	}
	if !strings.Contains(w.output(), "state.json was removed while pets ran") {
		t.Errorf("no word of the removed record:\n%s", w.output())
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left running after Ctrl-C: %v\n%s", s, w.output())
	}
}

// TestPetsWaiterPassesOnEverySignal: a server under `pets waiter` (no
// pets-waiter beside pets) gets each SIGTERM its waiter gets, however
// many: pets' own main, which quits at a second one, does not end the
// waiter with its command running.
func TestPetsWaiterPassesOnEverySignal(t *testing.T) {
	alone := petsAlone(t)
	e := newEnv(t)
	port := strconv.Itoa(freePort(t))
	// The server stays up through SIGTERMs, noting each (petserver runs in
	// the background so that bash, waiting for it, runs the trap at once).
	e.write("Petsfile", `register("a", "local", lambda: service(start("trap 'echo term >> terms' TERM; $PETSERVER --name a --port `+port+` --ignore-term & while :; do wait; done"), "127.0.0.1", `+port+`))`+"\n")
	cmd := e.cmd("up")
	cmd.Path, cmd.Args[0] = alone, alone
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pets up: %v\n%s", err, out)
	}
	w := e.waiterOf("a")
	terms := filepath.Join(e.dir, "terms")
	for i := 1; i <= 3; i++ {
		if err := syscall.Kill(w.PID, syscall.SIGTERM); err != nil {
			t.Fatalf("SIGTERM %d to the waiter %d: %v", i, w.PID, err)
		}
		waitFor(t, "the server's shell to note SIGTERM "+strconv.Itoa(i), func() bool {
			b, _ := os.ReadFile(terms)
			return strings.Count(string(b), "term\n") >= i
		})
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(w.PID) + "/stat"); err != nil || strings.Contains(string(st), ") Z ") {
		t.Errorf("the waiter %d ended after three SIGTERMs (%v)", w.PID, err)
	}
}
