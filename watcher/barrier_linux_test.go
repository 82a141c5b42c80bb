package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitBarrier reads w's batches up to the one carrying barrier id and returns
// them with the barrier. Watcher errors, a failed barrier and a sentinel in
// any Paths or Pending fail the test.
func waitBarrier(t *testing.T, w *Watcher, id uint64) ([]Batch, Barrier) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	var got []Batch
	for {
		select {
		case b, ok := <-w.Batches():
			if !ok {
				t.Fatalf("Batches closed; got %v", got)
			}
			got = append(got, b)
			noSentinels(t, b)
			for _, br := range b.Barriers {
				if br.ID == id {
					if br.Err != nil {
						t.Fatalf("barrier %d failed: %v", id, br.Err)
					}
					return got, br
				}
			}
		case err := <-w.Errors():
			t.Errorf("watcher error: %v", err)
		case <-deadline.C:
			t.Fatalf("no barrier %d within %v; got %v", id, waitLimit, got)
		}
	}
}

// noSentinels fails the test if a barrier sentinel shows in b.
func noSentinels(t *testing.T, b Batch) {
	t.Helper()
	ps := slices.Clone(b.Paths)
	for _, br := range b.Barriers {
		ps = append(ps, br.Pending...)
	}
	for _, p := range ps {
		if strings.HasPrefix(filepath.Base(p), barrierPrefix) {
			t.Errorf("sentinel %s reported in %+v", p, b)
		}
	}
}

// TestBarrierCountsEveryEarlierChange: whatever was changed before Barrier,
// in either root, is in a batch delivered before the barrier, in the
// barrier's batch, or in its Pending. On inotify one sentinel, in the first
// root, orders the events of both. The window (1 ms) is about as long as a
// change takes to reach its barrier, so both cases happen.
func TestBarrierCountsEveryEarlierChange(t *testing.T) {
	a, b := tempDir(t), tempDir(t)
	w := newTestWatcher(t, Options{Roots: []string{a, b}, Quiet: time.Millisecond})
	const n = 400
	seen := map[string]bool{}
	var inPaths, inPending int
	for i := range n {
		var changed []string
		switch i % 4 {
		case 0: // a write in the root holding the sentinel
			p := filepath.Join(a, fmt.Sprintf("f%04d", i))
			writeFile(t, p, "x")
			changed = append(changed, p)
		case 1: // in the other root
			p := filepath.Join(b, fmt.Sprintf("f%04d", i))
			writeFile(t, p, "x")
			changed = append(changed, p)
		case 2: // in a directory made just now, found by the watcher's walk
			d := filepath.Join(b, fmt.Sprintf("d%04d", i))
			mkdirAll(t, d)
			p := filepath.Join(d, "f")
			writeFile(t, p, "x")
			changed = append(changed, p)
		case 3: // renamed: both names
			from, to := filepath.Join(a, fmt.Sprintf("f%04d", i-3)), filepath.Join(a, fmt.Sprintf("g%04d", i))
			must(t, os.Rename(from, to))
			changed = append(changed, from, to)
		}
		for _, p := range changed {
			delete(seen, p) // each must be seen again after this change
		}
		must(t, w.Barrier(uint64(i)))
		got, br := waitBarrier(t, w, uint64(i))
		for _, bt := range got {
			for _, p := range bt.Paths {
				seen[p] = true
			}
		}
		for _, p := range changed {
			switch {
			case seen[p]:
				inPaths++
			case slices.Contains(br.Pending, p):
				inPending++
			default:
				t.Fatalf("iteration %d: %s changed before barrier %d, which came after %+v with Pending %v", i, p, i, got, br.Pending)
			}
		}
		if left := append(sentinels(t, a), sentinels(t, b)...); len(left) != 0 {
			t.Fatalf("sentinels %v left after their barrier", left)
		}
	}
	t.Logf("changes before a barrier: %d in batches delivered with or before it, %d pending", inPaths, inPending)
	// Nothing of the sentinels (their removal included) comes later either.
	for _, bt := range newProbe(t, w, a).sync() {
		noSentinels(t, bt)
	}
}

// TestBarrierKeepsARealBatchOpen: barriers asked during a burst of changes do
// not close its batch. The window is long (1 s) so that only a stall of the
// test of a second could close the batch between two changes; the point is
// what barriers do, not the scheduler.
func TestBarrierKeepsARealBatchOpen(t *testing.T) {
	root := tempDir(t)
	w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: time.Second, Cap: time.Minute})
	var written []string
	for i := range 20 {
		p := filepath.Join(root, fmt.Sprintf("f%02d", i))
		writeFile(t, p, "x")
		written = append(written, p)
		must(t, w.Barrier(uint64(i)))
		got, br := waitBarrier(t, w, uint64(i))
		for _, bt := range got {
			if len(bt.Paths) > 0 || bt.Overflow {
				t.Fatalf("barrier %d: a batch closed: %+v", i, bt)
			}
		}
		if !slices.Equal(br.Pending, written) {
			t.Fatalf("barrier %d: Pending %v, want %v", i, br.Pending, written)
		}
	}
	got := newProbe(t, w, root).sync()
	if len(got) != 1 || !slices.Equal(got[0].Paths, written) {
		t.Errorf("got %+v, want one batch of the %d files", got, len(written))
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (chattr +i).
const fsImmutableFL = 0x10

// makeReadOnly makes dir unwritable, even for root (by the immutable flag,
// which needs CAP_LINUX_IMMUTABLE), or skips the test.
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	must(t, os.Chmod(dir, 0o555))
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if writeSentinel(filepath.Join(dir, "probe")) != nil {
		return
	}
	must(t, os.Remove(filepath.Join(dir, "probe")))
	f, err := os.Open(dir)
	must(t, err)
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL))
	}
	if err != nil {
		t.Skipf("cannot make %s read-only: chmod does not stop this user and chattr +i failed: %v", dir, err)
	}
	t.Cleanup(func() {
		f, err := os.Open(dir)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags)); err != nil {
			t.Errorf("clear the immutable flag of %s: %v", dir, err)
		}
	})
}

func TestBarrierReadOnlyRoot(t *testing.T) {
	ro := tempDir(t)
	sub := filepath.Join(ro, "sub") // writable: for the probe
	mkdirAll(t, sub)
	makeReadOnly(t, ro)
	w := newTestWatcher(t, Options{Roots: []string{ro}})
	err := w.Barrier(1)
	if err == nil || !strings.Contains(err.Error(), ro) {
		t.Fatalf("Barrier on a read-only root: %v, want an error naming %s", err, ro)
	}
	// Nothing is delivered for it.
	for _, bt := range newProbe(t, w, sub).sync() {
		if len(bt.Barriers) > 0 {
			t.Errorf("barrier delivered after its error: %+v", bt)
		}
	}

	// On inotify one writable root is enough: its sentinel orders both.
	rw := tempDir(t)
	must(t, w.Update(Options{Roots: []string{ro, rw}, Quiet: testQuiet}))
	f := filepath.Join(sub, "f")
	writeFile(t, f, "x")
	must(t, w.Barrier(2))
	got, br := waitBarrier(t, w, 2)
	if !slices.Contains(br.Pending, f) && !slices.ContainsFunc(got, func(b Batch) bool { return slices.Contains(b.Paths, f) }) {
		t.Errorf("%s, written in the read-only root, missing before barrier 2: %+v", f, got)
	}
	if left := sentinels(t, rw); len(left) != 0 {
		t.Errorf("sentinel %v left", left)
	}
}

func TestBarrierWithoutRootsReal(t *testing.T) {
	w := newTestWatcher(t, Options{})
	must(t, w.Barrier(3))
	got, _ := waitBarrier(t, w, 3)
	if len(got) != 1 || len(got[0].Paths) != 0 {
		t.Errorf("got %+v, want the barrier alone", got)
	}
}

// TestBurstWithBarriersIsOneBatch: 2,000 files written as fast as the test
// can, with a barrier after every 100, are one batch, and every barrier has
// every file written before it pending.
func TestBurstWithBarriersIsOneBatch(t *testing.T) {
	root := tempDir(t)
	mkdirAll(t, filepath.Join(root, "src"))
	w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: burstQuiet, Cap: time.Minute})
	const n = 2000
	var written []string
	before := map[uint64][]string{}
	for i := range n {
		dir := filepath.Join(root, "src", fmt.Sprintf("d%02d", i/100))
		if i%100 == 0 {
			mkdirAll(t, dir)
		}
		f := filepath.Join(dir, fmt.Sprintf("f%04d.go", i))
		writeFile(t, f, "x")
		written = append(written, f)
		if i%100 == 99 {
			id := uint64(i / 100)
			must(t, w.Barrier(id))
			before[id] = slices.Sorted(slices.Values(written))
		}
	}
	s := filepath.Join(root, sentinelPrefix+"end")
	writeFile(t, s, "x")
	got := newProbe(t, w, root).until(func(b Batch) bool { return slices.Contains(b.Paths, s) })
	var withPaths []Batch
	var barriers []Barrier
	for _, b := range got {
		noSentinels(t, b)
		if len(b.Paths) > 0 {
			withPaths = append(withPaths, b)
		}
		barriers = append(barriers, b.Barriers...)
	}
	if len(withPaths) != 1 {
		t.Fatalf("got %d batches with paths, want 1 (%d barriers came)", len(withPaths), len(barriers))
	}
	want := append(slices.Sorted(slices.Values(written)), s)
	slices.Sort(want)
	if !slices.Equal(withPaths[0].Paths, want) {
		t.Errorf("batch has %d paths, want the %d files written and the end sentinel", len(withPaths[0].Paths), n)
	}
	if len(barriers) != len(before) {
		t.Fatalf("got %d barriers, want %d", len(barriers), len(before))
	}
	for i, br := range barriers {
		if br.ID != uint64(i) || br.Err != nil {
			t.Fatalf("barrier %d: %+v", i, br)
		}
		for _, p := range before[br.ID] {
			if _, ok := slices.BinarySearch(br.Pending, p); !ok {
				t.Fatalf("barrier %d: %s, written before it, not pending (%d pending)", br.ID, p, len(br.Pending))
			}
		}
	}
}

// burstQuiet is the quiet window of TestBurstWithBarriersIsOneBatch. With
// DefaultQuiet the test passed on an idle machine but split the burst in most
// runs with a load average of 10 on 2 cores, and split it just as often with
// no barriers at all (6 of 6 runs without, 4 of 6 with, never at a
// barrier): a stall of the race-instrumented writer, not a barrier, made the
// gap. A wider window makes the test about barriers, not about scheduling,
// as in cmd/pets' TestWatchBurstGivesOneRestartPerService.
const burstQuiet = 300 * time.Millisecond
