package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/windmilleng/pets/proc"
)

// TestAnnouncer: a petserver started with the announcer's variable set is
// found once it answers; an older server of the same port, and servers of
// other ports, are passed over; with no new server, server fails at its
// timeout, and serverUnless as soon as what it waits on is gone; more
// counts the later servers of one port.
func TestAnnouncer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix datagram sockets")
	}
	dir := t.TempDir()
	server := filepath.Join(dir, "petserver")
	if out, err := exec.Command("go", "build", "-o", server, "../../examples/petserver").CombinedOutput(); err != nil {
		t.Fatalf("build petserver: %v\n%s", err, out)
	}
	a, err := listenAnnounce(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	start := func(port int) *exec.Cmd {
		cmd := exec.Command(server, "--port", strconv.Itoa(port))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	other, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	first := start(port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Answering, its announcement left queued.
	if err := proc.WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), nil); err != nil {
		t.Fatal(err)
	}
	if pid, err := pidOf(port); err != nil || pid != first.Process.Pid {
		t.Fatalf("pidOf(%d) = %d, %v; want the first server, pid %d", port, pid, err, first.Process.Pid)
	}
	start(other)
	_ = first.Process.Kill()
	_ = first.Wait()
	second := start(port)
	if pid, err := a.server(port, first.Process.Pid, 10*time.Second); err != nil || pid != second.Process.Pid {
		t.Fatalf("server(%d, not %d) = %d, %v; want the second server, pid %d", port, first.Process.Pid, pid, err, second.Process.Pid)
	}
	if pid, err := a.server(port, second.Process.Pid, 100*time.Millisecond); !errors.Is(err, errNoServer) {
		t.Fatalf("server(%d, not %d) = %d, %v with no new server; want a timeout (errNoServer)", port, second.Process.Pid, pid, err)
	}
	gone := make(chan struct{})
	close(gone)
	if pid, err := a.serverUnless(port, second.Process.Pid, 10*time.Second, gone); !errors.Is(err, errGone) {
		t.Fatalf("serverUnless with gone closed = %d, %v; want errGone", pid, err)
	}

	// more counts the later servers of the port alone; drain forgets
	// what was announced before it.
	_ = second.Process.Kill()
	_ = second.Wait()
	third := start(port)
	if err := proc.WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", port), nil); err != nil {
		t.Fatal(err)
	}
	third2, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	start(third2)
	if n := a.more(port, time.Second); n != 1 {
		t.Errorf("more(%d) = %d after one more server on it (and one on another port); want 1", port, n)
	}
	_ = third.Process.Kill()
	_ = third.Wait()
	start(port)
	for len(a.c) == 0 { // its announcement, queued
		select {
		case <-ctx.Done():
			t.Fatal("no announcement from the fourth server")
		case <-time.After(time.Millisecond):
		}
	}
	a.drain()
	if n := a.more(port, 100*time.Millisecond); n != 0 {
		t.Errorf("more(%d) = %d with no new server since the last; want 0", port, n)
	}
	a.close()
	if v, ok := os.LookupEnv(announceVar); ok {
		t.Errorf("%s=%q after close; want it unset", announceVar, v)
	}
}
