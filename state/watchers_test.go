package state

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"testing"

	"github.com/windmilleng/pets/proc"
)

func openT(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// self is this test process as a watcher of services.
func self(t *testing.T, services ...string) Watcher {
	t.Helper()
	st, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return Watcher{Identity: proc.Identity{PID: os.Getpid(), Start: st}, Socket: "/state/watch-self.sock", Services: services}
}

// running starts a process that runs until the test ends (or it is killed)
// and returns it as a watcher of services.
func running(t *testing.T, services ...string) (Watcher, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	st, err := proc.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	w := Watcher{Identity: proc.Identity{PID: cmd.Process.Pid, Start: st}, Socket: fmt.Sprintf("/state/watch-%d.sock", cmd.Process.Pid), Services: services}
	return w, cmd
}

func register(t *testing.T, d *Dir, w Watcher) func() error {
	t.Helper()
	unregister, err := d.RegisterWatcher(w)
	if err != nil {
		t.Fatalf("RegisterWatcher(%v): %v", w.Services, err)
	}
	return unregister
}

func recorded(t *testing.T, d *Dir) []int {
	t.Helper()
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, w := range f.Watchers {
		pids = append(pids, w.PID)
	}
	return pids
}

func TestWatcherConflictNamesThePID(t *testing.T) {
	d := openT(t)
	other, _ := running(t, "backend-local", "frontend-local")
	register(t, d, other)

	_, err := d.RegisterWatcher(self(t, "db-local", "backend-local"))
	var c *WatcherConflict
	if !errors.As(err, &c) {
		t.Fatalf("RegisterWatcher over a live watcher = %v, want a *WatcherConflict", err)
	}
	if c.PID != other.PID || !reflect.DeepEqual(c.Services, []string{"backend-local"}) || c.Socket != other.Socket {
		t.Errorf("conflict %+v, want pid %d, [backend-local], %s", c, other.PID, other.Socket)
	}
	want := fmt.Sprintf("backend-local is already watched by pets (pid %d); stop that one first, or use pets restart / pets list, which talk to it", other.PID)
	if err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if got := recorded(t, d); !reflect.DeepEqual(got, []int{other.PID}) {
		t.Errorf("recorded watchers %v after the refusal, want only %d", got, other.PID)
	}

	// Services nobody watches are fine, and each is found at its watcher.
	register(t, d, self(t, "db-local"))
	for svc, pid := range map[string]int{"frontend-local": other.PID, "db-local": os.Getpid()} {
		w, ok, err := d.WatcherOf(svc)
		if err != nil || !ok || w.PID != pid {
			t.Errorf("WatcherOf(%s) = %v, %v, %v; want pid %d", svc, w.PID, ok, err, pid)
		}
	}
	if _, ok, err := d.WatcherOf("cache-local"); ok || err != nil {
		t.Errorf("WatcherOf an unwatched service = %v, %v; want none", ok, err)
	}
}

func TestDeadWatcherIsDroppedAndDoesNotConflict(t *testing.T) {
	d := openT(t)
	dead, cmd := running(t, "backend-local")
	register(t, d, dead)
	if _, ok, _ := d.WatcherOf("backend-local"); !ok {
		t.Fatal("a running watcher is not found")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // reaped: its pid no longer names it

	if _, ok, err := d.WatcherOf("backend-local"); ok || err != nil {
		t.Fatalf("WatcherOf finds a dead watcher: %v, %v", ok, err)
	}
	if ws, err := d.LiveWatchers(); err != nil || len(ws) != 0 {
		t.Fatalf("LiveWatchers = %v, %v; want none", ws, err)
	}
	me := self(t, "backend-local")
	register(t, d, me)
	if got := recorded(t, d); !reflect.DeepEqual(got, []int{me.PID}) {
		t.Fatalf("recorded watchers %v, want the dead one dropped and only %d", got, me.PID)
	}
}

func TestUnregisterRemovesOnlyItsEntry(t *testing.T) {
	d := openT(t)
	other, _ := running(t, "frontend-local")
	register(t, d, other)
	me := self(t, "backend-local")
	unregister := register(t, d, me)
	if ws, err := d.LiveWatchers(); err != nil || len(ws) != 2 {
		t.Fatalf("LiveWatchers = %v, %v; want both", ws, err)
	}
	if err := unregister(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := d.WatcherOf("backend-local"); ok {
		t.Error("an unregistered watcher is still found")
	}
	if got := recorded(t, d); !reflect.DeepEqual(got, []int{other.PID}) {
		t.Errorf("recorded watchers %v after unregister, want only %d", got, other.PID)
	}
	if err := unregister(); err != nil {
		t.Errorf("unregister again: %v", err)
	}
	// Its services are free again.
	register(t, d, self(t, "backend-local"))
}

func TestRecycledPIDIsNotLive(t *testing.T) {
	d := openT(t)
	me := self(t, "backend-local")
	recycled := me
	recycled.Start++ // the same pid, another process
	recycled.Socket = "/state/watch-old.sock"
	if err := d.Update(func(f *File) error { f.Watchers = append(f.Watchers, recycled); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.WatcherOf("backend-local"); ok || err != nil {
		t.Fatalf("WatcherOf takes a recycled pid for the watcher: %v, %v", ok, err)
	}
	register(t, d, me)
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Watchers) != 1 || f.Watchers[0].Start != me.Start {
		t.Fatalf("recorded watchers %+v, want only the live one", f.Watchers)
	}
}

func TestRegisterFillsInIdentityAndReplacesItsOwnEntry(t *testing.T) {
	d := openT(t)
	register(t, d, Watcher{Identity: proc.Identity{PID: os.Getpid()}, Services: []string{"a-local"}})
	// After a reload the same pets watches other services.
	register(t, d, Watcher{Identity: proc.Identity{PID: os.Getpid()}, Services: []string{"b-local"}})
	ws, err := d.LiveWatchers()
	if err != nil {
		t.Fatal(err)
	}
	want := self(t).Start
	if len(ws) != 1 || ws[0].Start != want || !reflect.DeepEqual(ws[0].Services, []string{"b-local"}) || ws[0].Started.IsZero() {
		t.Fatalf("watchers %+v, want one with start %d, [b-local] and a start time", ws, want)
	}
}
