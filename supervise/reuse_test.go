//go:build linux

package supervise

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// upAhead starts k the way pets up --watch does a service's first start:
// its waiter forked ahead (Prefork) and released with its command, which
// makes it one a restart may reuse.
func upAhead(t *testing.T, s *Supervisor, k petsfile.Key) {
	t.Helper()
	s.Prefork([]petsfile.Key{k})
	up(t, s, k)
}

// apiUpAhead is a world whose api-local server is up as pets up --watch
// starts it (upAhead), and its port.
func apiUpAhead(t *testing.T) (*world, *Supervisor, int) {
	t.Helper()
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(fooProject(t, w, "", serverCmd("api", port), port), nil)
	upAhead(t, s, apiKey)
	return w, s, port
}

// A restart runs the next command in the waiter of the instance it stops:
// the same waiter, in the same cgroup, runs a new server for a new
// instance, once the old server is gone; the new server has what a first
// start gives it and nothing of the command before (a variable the
// Petsfile no longer sets); the old server's end is no crash. A crash of
// the new server is recorded as ever (the waiter was not asked to stay: it
// exits), the restart after it forks a waiter of its own, and pets down
// leaves no process and no cgroup.
func TestRestartRunsTheNextCommandInTheSameWaiter(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			s := w.supervisor(loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s, env={"FOO": "bar", "OLD": "1"}), "127.0.0.1", %d)

register("api", "local", provider)
`, star(serverCmd("api", port)), port)), nil)
			s.Tracking = mode
			upAhead(t, s, apiKey)
			first := w.record("api")
			if environ(first.PID)["OLD"] != "1" {
				t.Fatalf("the first server's OLD=%q; want 1", environ(first.PID)["OLD"])
			}

			s.Project = fooProject(t, w, "", serverCmd("api", port), port) // FOO=bar, no OLD
			up(t, s, apiKey)
			rec := w.record("api")
			if len(rec.Procs) != 1 || rec.Procs[0].Identity != first.Procs[0].Identity {
				t.Fatalf("after the restart, recorded %+v; want the waiter %d again", rec.Procs, first.Procs[0].PID)
			}
			if rec.Instance == first.Instance || rec.Procs[0].Child == first.Procs[0].Child || rec.PID == first.PID {
				t.Errorf("after the restart: instance %s, server %v (pid %d); want a new instance and a new server", rec.Instance, rec.Procs[0].Child, rec.PID)
			}
			if rec.Cgroup != first.Cgroup || rec.Tracking != first.Tracking {
				t.Errorf("tracked as %s in %q; want %s in %q, the waiter's", rec.Tracking, rec.Cgroup, first.Tracking, first.Cgroup)
			}
			if proc.Alive(first.Procs[0].Child) {
				t.Errorf("the old server %d outlived the restart", first.PID)
			}
			if rec.Procs[0].Exit != "" || rec.Status != state.Ready {
				t.Errorf("the restarted service is %s with exit %q; want ready, no exit (the old server's end is no crash)", rec.Status, rec.Procs[0].Exit)
			}
			runsAsStarted(t, w, rec, port)
			if v, ok := environ(rec.PID)["OLD"]; ok {
				t.Errorf("the new server has OLD=%q, which only the command before set", v)
			}

			// A crash: recorded, and the next restart forks a new waiter.
			if err := syscall.Kill(rec.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			w.waitGone(rec.Procs[0].PID)
			if exit := w.record("api").Procs[0].Exit; exit != "signal: killed" {
				t.Errorf("the crash was recorded as %q; want signal: killed", exit)
			}
			up(t, s, apiKey)
			after := w.record("api")
			if len(after.Procs) != 1 || after.Procs[0].PID == rec.Procs[0].PID {
				t.Fatalf("the restart after the crash recorded %+v; want a new waiter", after.Procs)
			}
			runsAsStarted(t, w, after, port)

			if err := s.Down(context.Background(), apiKey); err != nil {
				t.Fatal(err)
			}
			if mode == TrackCgroup {
				noCgroupOf(t, w, first.Instance)
				noCgroupOf(t, w, after.Instance)
			}
			if left := w.strays(); len(left) > 0 {
				t.Errorf("after pets down, left: %s", describe(left))
			}
		})
	}
}

// A restart that reuses its waiter writes the record that replaces the old
// one while the next command starts: the write that adds the new server
// to it waits for that one, so the record names the server that answers,
// even where (as here, held back until the new server answers) the
// replacing write is the later to be ready.
func TestReusedRestartRecordsItsServer(t *testing.T) {
	w, s, port := apiUpAhead(t)
	waiter := w.record("api").Procs[0].Identity
	var old int
	s.beforeReplaceWrite = func() {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(answer(port), "(pid ") || strings.Contains(answer(port), fmt.Sprintf("(pid %d)", old)) {
			if time.Now().After(deadline) {
				t.Error("the new server did not answer within 10s")
				return
			}
		}
	}
	for i := range 5 {
		old = w.record("api").PID
		up(t, s, apiKey)
		rec := w.record("api")
		if len(rec.Procs) != 1 || rec.Procs[0].Identity != waiter {
			t.Fatalf("restart %d recorded %+v; want the waiter %d again", i+1, rec.Procs, waiter.PID)
		}
		if c := rec.Procs[0].Child; c.PID != rec.PID || !proc.Alive(c) {
			t.Fatalf("restart %d: the waiter's command is recorded as %+v, the server as pid %d; want the running server", i+1, c, rec.PID)
		}
		if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", rec.PID)) {
			t.Fatalf("restart %d: port %d answers %q; want the recorded server, pid %d", i+1, port, got, rec.PID)
		}
	}
	downLeavesNothing(t, w, s)
}

// A server that ignores SIGTERM is killed after the grace period, and its
// waiter with it, though asked to stay: the restart forks a waiter of its
// own, in a cgroup of its own, and the old one's is removed.
func TestReusedWaiterKilledWithItsServer(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			s := w.supervisor(fooProject(t, w, "", serverCmd("api", port, "--ignore-term"), port), nil)
			s.Tracking = mode
			s.Grace = 300 * time.Millisecond
			upAhead(t, s, apiKey)
			first := w.record("api")
			up(t, s, apiKey)
			rec := w.record("api")
			if len(rec.Procs) != 1 || rec.Procs[0].PID == first.Procs[0].PID {
				t.Fatalf("recorded %+v; want a new waiter (the old one was killed)", rec.Procs)
			}
			if proc.Alive(first.Procs[0].Identity) || proc.Alive(first.Procs[0].Child) {
				t.Errorf("the old waiter or server outlived the restart: %+v", first.Procs[0])
			}
			runsAsStarted(t, w, rec, port)
			if mode == TrackCgroup {
				if rec.Cgroup == first.Cgroup || !strings.Contains(rec.Cgroup, rec.Instance) {
					t.Errorf("the restart runs in the cgroup %s; want one of its own instance %s", rec.Cgroup, rec.Instance)
				}
				noCgroupOf(t, w, first.Instance)
			}
		})
	}
}

// A restart right after the server crashed, whether its waiter has seen the
// crash yet or not (it then exits though asked to stay, or stays): the
// service comes up each time, and nothing is left behind.
func TestRestartRightAfterACrash(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
	upAhead(t, s, apiKey)
	for i := 0; i < 6; i++ {
		rec := w.record("api")
		if err := syscall.Kill(rec.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		v := up(t, s, apiKey)
		if v.PID == rec.PID {
			t.Fatalf("restart %d: the server is still pid %d", i+1, rec.PID)
		}
		if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", v.PID)) {
			t.Fatalf("restart %d: port %d answers %q; want pid %d", i+1, port, got, v.PID)
		}
	}
	downLeavesNothing(t, w, s)
}

// A waiter asked to stay passes the signals it gets on to each command it
// runs, writes no exit note for a command that ends then, and a signal it
// gets while it waits for its next command ends it, as one held from its
// fork does.
func TestReusedWaiterRelaysSignalsAndEndsByOneWhileHeld(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", freePort(t))), nil)
	s.Tracking = TrackEnviron
	h := newHost(t, s, apiKey)
	spec, err := h.waiterSpec(proc.Spec{Env: h.env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.startWaiter(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
		<-p.Done()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for run := 1; run <= 2; run++ {
		got, ready := fmt.Sprintf("usr1-%d", run), fmt.Sprintf("trapped-%d", run)
		line := fmt.Sprintf(`trap 'echo > %s; exit 0' USR1; echo > %s; while :; do sleep 0.01; done`, got, ready)
		if err := p.ReleaseTo(proc.Release{Line: line, Dir: w.dir}); err != nil {
			t.Fatal(err)
		}
		child, err := p.Child(ctx)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := p.Stay(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the command's trap", func() bool { return fileExists(filepath.Join(w.dir, ready)) })
		if err := syscall.Kill(p.PID, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the command to get the waiter's SIGUSR1", func() bool { return fileExists(filepath.Join(w.dir, got)) })
		if !p.AwaitDone(ctx) {
			t.Fatalf("run %d: the waiter did not stay after its command %d ended", run, child.PID)
		}
		// A command pets stopped for a restart is no crash: no exit note
		// (state.Dir.RecordExit) is written for it.
		if notes, _ := os.ReadDir(filepath.Join(w.state.Path, "exits")); len(notes) > 0 {
			t.Errorf("run %d: the waiter asked to stay wrote an exit note: %v", run, notes)
		}
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), "terminated") {
			t.Errorf("the held waiter ended with %v; want signal: terminated", err)
		}
	case <-ctx.Done():
		t.Fatal("a SIGTERM did not end the waiter waiting for its next command")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// downLeavesNothing stops api (pets down) and fails the test if a process
// of it is left.
func downLeavesNothing(t *testing.T, w *world, s *Supervisor) {
	t.Helper()
	if err := s.Down(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	if left := w.strays(); len(left) > 0 {
		t.Errorf("after pets down, left: %s", describe(left))
	}
}

// UpAfter (rebuild.Gater) stops the running instance while its gate is
// closed, and starts the next one only once it opens.
func TestUpAfterStartsNothingBeforeItsGate(t *testing.T) {
	w, s, port := apiUpAhead(t)
	old := w.record("api")
	gate := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		_, err := s.UpAfter(ctx, apiKey, nil, gate)
		done <- err
	}()
	w.waitGone(old.PID)
	waitFor(t, "the record of the next instance", func() bool { return w.record("api").Instance != old.Instance })
	// A moment with the gate closed: nothing answers, nothing new runs.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); <-tick.C {
		if got := answer(port); got != "" {
			t.Fatalf("port %d answers %q before the gate opened", port, got)
		}
		if rec := w.record("api"); rec.PID != 0 && rec.PID != old.PID {
			t.Fatalf("a server (pid %d) started before the gate opened", rec.PID)
		}
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("up after the gate: %v", err)
	}
	rec := w.record("api")
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", rec.PID)) {
		t.Fatalf("port %d answers %q; want the new server, pid %d", port, got, rec.PID)
	}
	downLeavesNothing(t, w, s)
}
