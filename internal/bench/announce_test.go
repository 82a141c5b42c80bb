package main

import (
	"context"
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
// timeout.
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
	if pid, err := a.server(port, second.Process.Pid, 100*time.Millisecond); err == nil {
		t.Fatalf("server(%d, not %d) = %d with no new server; want a timeout", port, second.Process.Pid, pid)
	}
	a.close()
	if v, ok := os.LookupEnv(announceVar); ok {
		t.Errorf("%s=%q after close; want it unset", announceVar, v)
	}
}
