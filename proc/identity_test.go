//go:build !windows

package proc

// Identity is never taken from a pid alone: a process whose start time
// cannot be read is not run, and a record without one is not signalled.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failStartTime makes the start time of the next processes unreadable.
func failStartTime(t *testing.T) {
	t.Helper()
	readStartTime = func(int, bool) (uint64, error) { return 0, errors.New("no /proc here") }
	t.Cleanup(func() { readStartTime = startTime })
}

func TestStartHeldRefusesAProcessWithoutStartTime(t *testing.T) {
	dir := t.TempDir()
	failStartTime(t)
	p, err := StartHeld(Spec{Line: "touch ran; exec sleep 1000", Dir: dir})
	if err == nil {
		p.Release()
		t.Cleanup(func() { _ = signalGroup(p.PID, syscall.SIGKILL); <-p.Done() })
		t.Fatal("StartHeld ran a process whose start time it could not read")
	}
	if !errors.Is(err, ErrNoStartTime) || !strings.Contains(err.Error(), "cannot read the start time of pid") ||
		!strings.Contains(err.Error(), "does not run one it could not tell from a later process with the same pid") {
		t.Errorf("StartHeld = %v", err)
	}
	var pid int
	if _, serr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "pid "):], "pid %d", &pid); serr != nil || pid <= 0 {
		t.Fatalf("no pid in %q", err)
	}
	if Alive(Identity{PID: pid}) && groupExists(pid) {
		t.Errorf("the refused process %d still runs", pid)
	}
	time.Sleep(50 * time.Millisecond) // time it would need to run the command
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the refused process ran its command")
	}
}

func TestRunRefusesAProcessWithoutStartTime(t *testing.T) {
	dir := t.TempDir()
	failStartTime(t)
	started := false
	err := Run(context.Background(), Spec{Line: "touch ran", Dir: dir}, func(Identity) { started = true })
	if !errors.Is(err, ErrNoStartTime) || started {
		t.Errorf("Run = %v (onStart called: %v); want ErrNoStartTime, nothing recorded", err, started)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the refused command ran")
	}
}

func TestRecordWithoutStartTimeIsNeverSignalled(t *testing.T) {
	p := startT(t, "exec sleep 1000", nil)
	pidOnly := Identity{PID: p.PID}
	if GroupAlive(pidOnly) {
		t.Error("GroupAlive takes a pid without start time for a live group of ours")
	}
	how, err := Stop(context.Background(), pidOnly, 0)
	var ue *UntouchedError
	if !errors.As(err, &ue) || ue.PID != p.PID || how != AlreadyGone || !errors.Is(err, ErrNoStartTime) {
		t.Fatalf("Stop of a pid without start time = %v, %v; want an UntouchedError", how, err)
	}
	want := fmt.Sprintf("pid %d was not touched: its record has no start time, so pets cannot tell it from another process that got the same pid; if it is still yours, stop it yourself", p.PID)
	if err.Error() != want {
		t.Errorf("Stop says %q; want %q", err, want)
	}
	if !Alive(p.Identity) {
		t.Error("the process was signalled")
	}
	// StopTracked finds processes by their group only with a start time.
	if how, err := StopTracked(context.Background(), Tracked{Groups: []Identity{pidOnly}}, 0); err != nil || how != AlreadyGone || !Alive(p.Identity) {
		t.Errorf("StopTracked of a group without start time = %v, %v; alive: %v", how, err, Alive(p.Identity))
	}
}
