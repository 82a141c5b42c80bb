//go:build !windows

package proc

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startT starts line in its own group and makes sure the group is gone at
// the end of the test.
func startT(t *testing.T, line string, out *os.File) *Proc {
	t.Helper()
	p, err := Start(Spec{Line: line, Dir: t.TempDir(), Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = signalGroup(p.PID, syscall.SIGKILL)
		<-p.Done()
	})
	return p
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		<-tick.C
	}
}

// waitLines waits until path holds n words (one per line) and returns them.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Fields(string(b))
		return len(lines) >= n
	})
	return lines
}

func TestIdentityNeverMistakesRecycledPID(t *testing.T) {
	p := startT(t, "exec sleep 1000", nil)
	if p.Start == 0 {
		t.Fatal("no start time recorded")
	}
	if !Alive(p.Identity) {
		t.Fatal("a running process is not Alive")
	}
	// A record of an earlier process that had the same pid.
	stale := Identity{PID: p.PID, Start: p.Start - 1}
	if Alive(stale) {
		t.Fatal("a process with another start time was taken for the recorded one")
	}
	how, err := Stop(context.Background(), stale, time.Second)
	if err != nil || how != AlreadyGone {
		t.Fatalf("Stop(stale) = %v, %v; want AlreadyGone", how, err)
	}
	select {
	case <-p.Done():
		t.Fatal("Stop of a stale identity killed the process now holding that pid")
	default:
	}
	if !Alive(p.Identity) {
		t.Fatal("the live process died")
	}
}

func TestStopKillsAfterGraceWhenTermIsIgnored(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ready")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The trap is set before "ready" is written, so SIGTERM cannot arrive first.
	p := startT(t, `trap "" TERM; echo ready; while :; do sleep 0.05; done`, f)
	waitLines(t, out, 1)
	t0 := time.Now()
	how, err := Stop(context.Background(), p.Identity, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if how != Killed {
		t.Fatalf("Stop = %v, want Killed", how)
	}
	if took := time.Since(t0); took < 300*time.Millisecond {
		t.Fatalf("killed after %s, before the grace period", took)
	}
	if groupExists(p.PID) {
		t.Fatal("the group still has processes")
	}
}

func TestStopLeavesNoGrandchildren(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pids")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := startT(t, `sleep 1000 & echo $!; (sleep 1000 & echo $!; wait) & wait`, f)
	pids := waitLines(t, out, 2)
	var ids []Identity
	for _, s := range pids {
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		st, err := StartTime(pid)
		if err != nil {
			t.Fatalf("grandchild %d: %v", pid, err)
		}
		ids = append(ids, Identity{PID: pid, Start: st})
	}
	how, err := Stop(context.Background(), p.Identity, 5*time.Second)
	if err != nil || how != Terminated {
		t.Fatalf("Stop = %v, %v; want Terminated", how, err)
	}
	for _, id := range ids {
		if Alive(id) {
			t.Errorf("grandchild %d survived Stop", id.PID)
		}
	}
	if groupExists(p.PID) {
		t.Fatal("the group still has processes")
	}
}

func TestStopFindsOrphansAfterLeaderDied(t *testing.T) {
	out := filepath.Join(t.TempDir(), "pids")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The leader exits at once, leaving a child in its group.
	p := startT(t, `sleep 1000 & echo $!`, f)
	pid, _ := strconv.Atoi(waitLines(t, out, 1)[0])
	st, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	orphan := Identity{PID: pid, Start: st}
	<-p.Done()
	if !groupExists(p.PID) {
		t.Fatal("the orphan is not in the group")
	}
	if _, err := Stop(context.Background(), p.Identity, time.Second); err != nil {
		t.Fatal(err)
	}
	if Alive(orphan) {
		t.Fatalf("orphan %d survived", pid)
	}
}

func TestRunCancelKillsGroup(t *testing.T) {
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	started := make(chan Identity, 1)
	go func() {
		errc <- Run(ctx, Spec{Line: `sleep 1000 & echo $!; wait`, Dir: dir, Out: out}, func(id Identity) { started <- id })
	}()
	id := <-started
	pid, _ := strconv.Atoi(waitLines(t, out.Name(), 1)[0])
	st, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	if groupExists(id.PID) {
		t.Fatal("the run's group survived cancel")
	}
	if Alive(Identity{PID: pid, Start: st}) {
		t.Fatalf("the run's child %d survived", pid)
	}
}

func TestRunReportsExitStatus(t *testing.T) {
	err := Run(context.Background(), Spec{Line: "exit 3", Dir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Run(exit 3) = %v", err)
	}
}

func TestWaitTCP(t *testing.T) {
	// Exits before listening: ErrExited at once, not a timeout.
	p := startT(t, "exit 1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := WaitTCP(ctx, "127.0.0.1:1", p.Done()); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitTCP for an exited process = %v, want ErrExited", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := WaitTCP(ctx, ln.Addr().String(), nil); err != nil {
		t.Fatalf("WaitTCP on a listening port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := WaitTCP(short, addr, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTCP on a closed port = %v, want a deadline error", err)
	}
}

func TestHeldProcessExitsIfNeverReleased(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	p, err := StartHeld(Spec{Line: "echo ran > " + out + "; exec sleep 1000", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The starter "dies" before recording it: the go-ahead pipe closes.
	p.release.Close()
	p.release = nil
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		_ = signalGroup(p.PID, syscall.SIGKILL)
		t.Fatal("a held process kept running after its starter went away")
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the command ran without being released")
	}

	p, err = StartHeld(Spec{Line: "echo ran > " + out, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if b, err := os.ReadFile(out); err != nil || string(b) != "ran\n" {
		t.Fatalf("released command: %q %v", b, err)
	}
}
