package watcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const enospcChildEnv = "WATCHER_TEST_ENOSPC_CHILD"

// TestOutOfWatchesIsAnError runs out of inotify watches for real without
// touching the machine's settings: it re-runs itself in a new user namespace,
// whose own user.max_inotify_watches it may lower (Linux 5.11+), and watches
// more directories than that.
func TestOutOfWatchesIsAnError(t *testing.T) {
	if os.Getenv(enospcChildEnv) == "1" {
		enospcChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfWatchesIsAnError$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), enospcChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Skipf("cannot start a process in a new user namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("child skipped:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func enospcChild(t *testing.T) {
	const limit, dirs = 20, 50
	if err := os.WriteFile(maxNSWatchesFile, []byte(fmt.Sprint(limit)), 0); err != nil {
		t.Skipf("cannot lower user.max_inotify_watches in this namespace: %v", err)
	}
	root := tempDir(t)
	for i := range dirs - 1 {
		mkdirAll(t, filepath.Join(root, fmt.Sprintf("d%02d", i)))
	}
	w, err := New(Options{Roots: []string{root}})
	if err == nil {
		w.Close()
		t.Fatal("New watched more directories than the limit allows")
	}
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("got %T %v, want a *LimitError", err, err)
	}
	t.Logf("New: %v", err)
	if le.Needed != dirs || le.NSLimit != limit || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("got Needed=%d NSLimit=%d err=%v; want Needed=%d NSLimit=%d, ENOSPC", le.Needed, le.NSLimit, le.Err, dirs, limit)
	}
	for _, want := range []string{"fs.inotify.max_user_watches", fmt.Sprintf("%d here", dirs), "sudo sysctl fs.inotify.max_user_watches="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	// And no watch is left behind.
	if fds := inotifyFDs(t); len(fds) != 0 {
		t.Errorf("inotify fds left open: %v", fds)
	}

	// A running watcher that runs out sends the error on Errors.
	small := tempDir(t)
	w, err = New(Options{Roots: []string{small}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range dirs {
		mkdirAll(t, filepath.Join(small, fmt.Sprintf("n%02d", i)))
	}
	deadline := time.After(waitLimit)
	for {
		select {
		case err := <-w.Errors():
			if errors.As(err, &le) {
				t.Logf("running watcher: %v", err)
				return
			}
			t.Errorf("unexpected error: %v", err)
		case <-w.Batches():
		case <-deadline:
			t.Fatal("no LimitError from the running watcher")
		}
	}
}
