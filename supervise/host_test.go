//go:build linux

package supervise

// The petsfile.Host a provider's start(), run() and service() call.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

var apiKey = petsfile.Key{Name: "api", Tier: "local"}

// findProc returns rec's recorded process with pid: the process itself,
// or the waiter of a command with that pid.
func findProc(rec *state.Service, pid int) (state.Proc, bool) {
	for _, p := range rec.Procs {
		if p.PID == pid || p.Child.PID == pid {
			return p, true
		}
	}
	return state.Proc{}, false
}

func TestStartRecordsProcessBeforeItRuns(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	s := w.supervisor(nil, out)
	h := newHost(t, s, apiKey)
	stateFile := filepath.Join(w.state.Path, "state.json")
	snap := filepath.Join(w.dir, "snapshot.json")
	// The command's first act is to copy the state: the copy must already
	// name it, pid and start time.
	line := fmt.Sprintf("cp %s %s; exec sleep 1000", stateFile, snap)
	// While the test holds the state lock, Start cannot record the process:
	// it must be forked and held, its command not begun.
	unlock := w.lockState()
	type started struct {
		p   petsfile.Process
		err error
	}
	done := make(chan started, 1)
	go func() {
		p, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: line})
		done <- started{p, err}
	}()
	ran := func() bool { _, err := os.Stat(snap); return err == nil }
	var held int
	waitFor(t, "the process to wait, held, for its go-ahead", func() bool {
		held = w.heldPID()
		return held != 0 || ran()
	})
	if ran() {
		unlock()
		t.Fatal("the command ran while its process could not be recorded")
	}
	unlock()
	var r started
	select {
	case r = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Start did not return once the state was unlocked")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	// The held process is the command's waiter; Start returns the command's
	// pid, which the record names beside the waiter's once it reported it
	// (written while the provider goes on: Up waits for it).
	if err := h.awaitRecords(); err != nil {
		t.Fatal(err)
	}
	if final, ok := findProc(w.record("api"), r.p.PID); !ok || final.PID != held || final.Child.PID != r.p.PID {
		t.Errorf("Start returned pid %d; the held waiter was %d; recorded %+v", r.p.PID, held, final)
	}
	seen := readStateFile(t, snap)
	rec, ok := seen.Services["api"]
	if !ok {
		t.Fatalf("the state the command saw has no api: %+v", seen.Services)
	}
	got, ok := findProc(rec, held)
	if !ok {
		t.Fatalf("the command ran before its waiter, pid %d, was recorded; recorded: %+v", held, rec.Procs)
	}
	st, err := proc.StartTime(held)
	if err != nil {
		t.Fatal(err)
	}
	if got.Start != st || got.Cmd != line || got.Dir != w.dir || got.Run || !got.Waiter {
		t.Errorf("recorded %+v; want start %d, cmd %q, dir %s, a waiter, not a run()", got, st, line, w.dir)
	}
	contains(t, "progress", out.String(), fmt.Sprintf("Pets ran %q", line))
}

func TestStartRecordOutlivesTheCall(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	p, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	// Another pets reading the same state directory finds it, alive, once
	// its pid is written (Up waits for that before it says ready).
	if err := h.awaitRecords(); err != nil {
		t.Fatal(err)
	}
	other, err := state.Open(w.state.Path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := other.Read()
	if err != nil {
		t.Fatal(err)
	}
	rec := f.Services["api"]
	if rec == nil {
		t.Fatal("the record is gone")
	}
	got, ok := findProc(rec, p.PID)
	if !ok {
		t.Fatalf("pid %d is not recorded: %+v", p.PID, rec.Procs)
	}
	if !proc.GroupAlive(got.Identity) {
		t.Errorf("the recorded process %+v is not running", got.Identity)
	}
}

func TestStartPassesServiceEnvDirAndLog(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	line := `echo "svc=$PETS_SERVICE tier=$PETS_TIER pwd=$(pwd)"; exec sleep 1000`
	if _, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: line}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("svc=api tier=local pwd=%s\n", w.dir)
	logPath := w.state.LogPath("api", "local")
	waitFor(t, "the command's output in its log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), want)
	})
}

func TestStartWithoutRecordLeavesNothingRunning(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	if err := w.state.Update(func(f *state.File) error { delete(f.Services, "api"); return nil }); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(w.dir, "ran")
	_, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: "touch " + ran + "; exec sleep 1000"})
	if err == nil || !strings.Contains(err.Error(), "no record to add pid") {
		t.Fatalf("Start without a record: err = %v; want \"no record to add pid\"", err)
	}
	if s := w.strays(); len(s) > 0 {
		t.Errorf("an unrecorded process is left running: %s", describe(s))
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the command ran although it could not be recorded")
	}
}

func TestRunRecordsThenRemovesItsProcess(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	s := w.supervisor(nil, out)
	h := newHost(t, s, apiKey)
	snap := filepath.Join(w.dir, "snapshot.json")
	line := fmt.Sprintf("cp %s %s; echo $$ > run.pid", filepath.Join(w.state.Path, "state.json"), snap)
	if err := h.Run(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: line}); err != nil {
		t.Fatal(err)
	}
	pid := readPID(t, filepath.Join(w.dir, "run.pid"))
	seen := readStateFile(t, snap)
	got, ok := findProc(seen.Services["api"], pid)
	if !ok {
		t.Fatalf("run() was not recorded while it ran (pid %d): %+v", pid, seen.Services["api"])
	}
	if !got.Run || got.Cmd != line || got.Start == 0 {
		t.Errorf("recorded %+v; want a run() of %q with a start time", got, line)
	}
	if rec := w.record("api"); len(rec.Procs) != 0 {
		t.Errorf("run() is still recorded after it ended: %+v", rec.Procs)
	}
	if !gone(pid) {
		t.Errorf("run() returned but pid %d is alive", pid)
	}
	contains(t, "progress", out.String(), fmt.Sprintf("Pets ran %q", line))
}

func TestRunFailureHoldsOutputTail(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	line := `for i in $(seq -w 1 30); do echo out-$i; done; echo "fatal: boom" >&2; exit 7`
	err := h.Run(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: line})
	if err == nil {
		t.Fatal("a failing run() returned nil")
	}
	msg := err.Error()
	// The last 20 lines: out-12 .. out-30 and the error.
	contains(t, "the error", msg, fmt.Sprintf("run %q: exit status 7", line), "its output ended with:\n  out-12\n", "out-30\n  fatal: boom")
	if strings.Contains(msg, "out-11") {
		t.Errorf("the error holds out-11, which is not among the run's last 20 lines:\n%s", msg)
	}
	if rec := w.record("api"); len(rec.Procs) != 0 {
		t.Errorf("a failed run() is still recorded: %+v", rec.Procs)
	}
}

func TestRunFailureTailIsOnlyThisRun(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	fmt.Fprintln(h.log, "earlier output of another instance")
	err := h.Run(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: "echo compiling; exit 1"})
	if err == nil {
		t.Fatal("a failing run() returned nil")
	}
	if want := "exit status 1; its output ended with:\n  compiling"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q; want it to end with %q, this run's output only", err, want)
	}
}

func TestRunCancelStopsItsGroup(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- h.Run(ctx, petsfile.Command{Service: apiKey, Dir: w.dir, Line: "sleep 1000 & echo $! > child.pid; wait"})
	}()
	child := readPID(t, filepath.Join(w.dir, "child.pid"))
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context ended")
	}
	if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Errorf("err = %v; want the context's error", err)
	}
	if !gone(child) {
		t.Errorf("the run()'s child %d outlived the cancelled run()", child)
	}
	if rec := w.record("api"); len(rec.Procs) != 0 {
		t.Errorf("a cancelled run() is still recorded: %+v", rec.Procs)
	}
}

func TestReadyFailsFastWhenServerExits(t *testing.T) {
	for _, tc := range []struct{ line, status string }{
		{"echo booting; exit 3", "exit status 3"},
		{"echo booting", "exit status 0"},
	} {
		t.Run(tc.status, func(t *testing.T) {
			w := newWorld(t)
			s := w.supervisor(nil, nil)
			h := newHost(t, s, apiKey)
			port := freePort(t)
			ctx := context.Background()
			p, err := h.Start(ctx, petsfile.Command{Service: apiKey, Dir: w.dir, Line: tc.line})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			err = h.Ready(ctx, apiKey, p, petsfile.Readiness{Hostname: "127.0.0.1", Port: port, Timeout: time.Minute})
			took := time.Since(t0)
			want := fmt.Sprintf("the server exited (%s) before %s accepted connections", tc.status, addr(port))
			if err == nil || err.Error() != want {
				t.Fatalf("Ready = %v; want %q", err, want)
			}
			if took > waitTimeout {
				t.Errorf("Ready took %s to notice the exit; it should not wait for the timeout", took)
			}
		})
	}
}

func TestReadyTimesOutWithAdvice(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	port := freePort(t)
	ctx := context.Background()
	p, err := h.Start(ctx, petsfile.Command{Service: apiKey, Dir: w.dir, Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = h.Ready(ctx, apiKey, p, petsfile.Readiness{Hostname: "127.0.0.1", Port: port, Timeout: 300 * time.Millisecond})
	want := fmt.Sprintf(`%s did not accept TCP connections within 300ms; if it is just slow, raise the timeout (service(..., timeout="2m") or --timeout)`, addr(port))
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v; want %q", err, want)
	}
	if took := time.Since(t0); took < 300*time.Millisecond {
		t.Errorf("Ready gave up after %s, before its 300ms timeout", took)
	}
}

func TestReadyDefaultsToSupervisorTimeout(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	s.ReadyTimeout = 250 * time.Millisecond
	h := newHost(t, s, apiKey)
	port := freePort(t)
	ctx := context.Background()
	p, err := h.Start(ctx, petsfile.Command{Service: apiKey, Dir: w.dir, Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Ready(ctx, apiKey, p, petsfile.Readiness{Hostname: "127.0.0.1", Port: port})
	if err == nil || !strings.Contains(err.Error(), "did not accept TCP connections within 250ms") {
		t.Fatalf("Ready = %v; want a timeout after the Supervisor's 250ms", err)
	}
}

func TestReadySucceedsWhenListening(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	port := freePort(t)
	ctx := context.Background()
	p, err := h.Start(ctx, petsfile.Command{Service: apiKey, Dir: w.dir, Line: serverCmd("api", port)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Ready(ctx, apiKey, p, petsfile.Readiness{Hostname: "127.0.0.1", Port: port, Timeout: waitTimeout}); err != nil {
		t.Fatal(err)
	}
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("api (pid %d)", p.PID)) {
		t.Errorf("Ready returned, but port %d answers %q, not the started server", port, got)
	}
}

func TestReadyRefusesProcessNotStartedHere(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = h.Ready(context.Background(), apiKey, petsfile.Process{PID: os.Getpid()}, petsfile.Readiness{Hostname: "127.0.0.1", Port: port})
	if err == nil || !strings.Contains(err.Error(), "was not started by start() in this provider") {
		t.Fatalf("Ready for a foreign pid = %v; want a refusal", err)
	}
}

func TestReadyReturnsContextError(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	port := freePort(t)
	p, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = h.Ready(ctx, apiKey, p, petsfile.Readiness{Hostname: "127.0.0.1", Port: port, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "raise the timeout") {
		t.Fatalf("Ready after its context ended = %v; want the context's error, without timeout advice", err)
	}
}
