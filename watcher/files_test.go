package watcher

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestFilesSeesWritesAndRenamesOfItsFilesOnly(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Petsfile")
	lib := filepath.Join(dir, "lib", "Petsfile")
	for _, p := range []string{pf, lib} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := WatchFiles([]string{pf}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := func() []string {
		t.Helper()
		select {
		case b := <-f.Changes():
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no change within 10s")
			return nil
		}
	}
	// Another file in the same directory is dropped; the Petsfile, written
	// in place, is reported (the other file comes first, so if it were
	// reported it would be in this batch or an earlier one).
	write(t, filepath.Join(dir, "other.txt"), "y")
	write(t, pf, "y")
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch = %v, want [%s]", got, pf)
	}
	// Replaced by a rename (editors' atomic save).
	write(t, pf+".tmp", "z")
	if err := os.Rename(pf+".tmp", pf); err != nil {
		t.Fatal(err)
	}
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch after rename = %v", got)
	}
	// Update: now the loaded file too.
	if err := f.Update([]string{pf, lib}); err != nil {
		t.Fatal(err)
	}
	write(t, lib, "w")
	if got := next(); !reflect.DeepEqual(got, []string{lib}) {
		t.Fatalf("batch = %v, want [%s]", got, lib)
	}
	// And dropped again: the lib directory's watch goes.
	if err := f.Update([]string{pf}); err != nil {
		t.Fatal(err)
	}
	write(t, lib, "v")
	write(t, pf, "v")
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch = %v, want only the Petsfile", got)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFilesStartedComesBeforeTheBatch(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Petsfile")
	if err := os.WriteFile(pf, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := WatchFiles([]string{pf}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(pf, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Started():
	case ps := <-f.Changes():
		t.Fatalf("the batch %v came before Started", ps)
	case <-time.After(10 * time.Second):
		t.Fatal("no Started")
	}
	select {
	case ps := <-f.Changes():
		if len(ps) != 1 || ps[0] != pf {
			t.Errorf("batch %v", ps)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch after Started")
	}
}

// filesFixture is a Files on a fake backend: tests send its events by hand.
type filesFixture struct {
	t     *testing.T
	dir   string
	fb    *fakeBackend
	f     *Files
	files []string
}

func newFilesFixture(t *testing.T, opts FilesOptions, names ...string) *filesFixture {
	t.Helper()
	return newFilesFixtureIn(t, func(string) {}, opts, names...)
}

// newFilesFixtureIn is newFilesFixture with prepare run on the directory
// before Files starts.
func newFilesFixtureIn(t *testing.T, prepare func(dir string), opts FilesOptions, names ...string) *filesFixture {
	t.Helper()
	x := &filesFixture{t: t, dir: tempDir(t), fb: newFakeBackend()}
	prepare(x.dir)
	for _, n := range names {
		x.files = append(x.files, filepath.Join(x.dir, n))
	}
	f, err := startFiles(x.files, opts, x.fb)
	if err != nil {
		t.Fatal(err)
	}
	x.f = f
	t.Cleanup(func() { f.Close() })
	return x
}

func (x *filesFixture) event(p string, op fsnotify.Op) {
	x.fb.evs <- fsnotify.Event{Name: p, Op: op}
}

// changes returns the batch ready now, if any, once the loop is idle.
func (x *filesFixture) changes() ([]string, bool) {
	synctest.Wait()
	select {
	case ps := <-x.f.Changes():
		return ps, true
	default:
		return nil, false
	}
}

// started reports whether Started holds a signal now, taking it.
func (x *filesFixture) started() bool {
	synctest.Wait()
	select {
	case <-x.f.Started():
		return true
	default:
		return false
	}
}

// In these tests time.Sleep moves synctest's fake clock; nothing waits on real time.

func TestFilesQuietWindowAndStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{Quiet: 100 * time.Millisecond, Cap: time.Second}, "Petsfile", "lib.star")
		pf, lib := x.files[0], x.files[1]
		start := time.Now()
		x.event(lib, fsnotify.Write)
		if !x.started() {
			t.Fatal("no Started at the first change")
		}
		time.Sleep(50 * time.Millisecond)
		x.event(pf, fsnotify.Create)
		x.event(lib, fsnotify.Write)
		if x.started() {
			t.Error("Started again inside one batch")
		}
		time.Sleep(99 * time.Millisecond)
		if got, ok := x.changes(); ok {
			t.Fatalf("batch %v before the quiet window passed", got)
		}
		time.Sleep(time.Millisecond)
		got, ok := x.changes()
		if want := []string{pf, lib}; !ok || !slices.Equal(got, want) {
			t.Fatalf("got %v, %v; want %v", got, ok, want)
		}
		if d := time.Since(start); d != 150*time.Millisecond {
			t.Errorf("closed after %v, want 150ms", d)
		}
		// The next change opens a new batch: Started again.
		x.event(pf, fsnotify.Write)
		if !x.started() {
			t.Error("no Started for the second batch")
		}
	})
}

func TestFilesCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Burst: 30 ms keeps the window from growing with the stream.
		x := newFilesFixture(t, FilesOptions{Quiet: 30 * time.Millisecond, Burst: 30 * time.Millisecond, Cap: 110 * time.Millisecond}, "Petsfile")
		start := time.Now()
		var when []time.Duration
		collect := func() {
			if _, ok := x.changes(); ok {
				when = append(when, time.Since(start))
			}
		}
		for range 10 { // a change every 20 ms, never quiet for 30
			x.event(x.files[0], fsnotify.Write)
			for range 20 {
				time.Sleep(time.Millisecond)
				collect()
			}
		}
		for range 100 {
			time.Sleep(time.Millisecond)
			collect()
		}
		if !slices.Equal(when, []time.Duration{110 * time.Millisecond, 210 * time.Millisecond}) {
			t.Errorf("batches closed at %v, want [110ms 210ms]", when)
		}
	})
}

func TestFilesDefaultCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{Quiet: time.Second}, "Petsfile")
		start := time.Now()
		for time.Since(start) < DefaultCap+time.Second {
			x.event(x.files[0], fsnotify.Write)
			time.Sleep(500 * time.Millisecond)
			if _, ok := x.changes(); ok {
				if d := time.Since(start); d != DefaultCap {
					t.Fatalf("closed after %v, want DefaultCap %v", d, DefaultCap)
				}
				return
			}
		}
		t.Fatal("a steady stream never closed")
	})
}

func TestFilesMergesWhileCallerIsBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{Quiet: 30 * time.Millisecond}, "a", "b")
		a, b := x.files[0], x.files[1]
		x.event(b, fsnotify.Write)
		time.Sleep(100 * time.Millisecond) // first batch closed, nobody receives
		x.started()
		x.event(a, fsnotify.Write)
		if !x.started() {
			t.Error("no Started for a batch opened while the last is unread")
		}
		time.Sleep(100 * time.Millisecond)
		got, ok := x.changes()
		if !ok || !slices.Equal(got, []string{a, b}) {
			t.Fatalf("got %v, %v; want one sorted batch of both", got, ok)
		}
		if extra, ok := x.changes(); ok {
			t.Errorf("extra batch %v", extra)
		}
	})
}

func TestFilesDropsOtherFilesAndChmod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{}, "Petsfile")
		x.event(filepath.Join(x.dir, "other.txt"), fsnotify.Write)
		x.event(x.files[0], fsnotify.Chmod)
		time.Sleep(time.Second)
		if x.started() {
			t.Error("Started for a change of no watched file")
		}
		if got, ok := x.changes(); ok {
			t.Errorf("batch %v", got)
		}
	})
}

func TestFilesOverflowReportsEveryFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{}, "a", "b")
		x.fb.errs <- fsnotify.ErrEventOverflow
		time.Sleep(DefaultBurst) // two files: a window wider than DefaultQuiet
		if got, ok := x.changes(); !ok || !slices.Equal(got, x.files) {
			t.Errorf("got %v, %v; want every file %v", got, ok, x.files)
		}
		select {
		case err := <-x.f.Errors():
			t.Errorf("overflow also sent as error %v", err)
		default:
		}
	})
}

func TestFilesUsesInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		x := newFilesFixture(t, FilesOptions{Quiet: time.Hour, Cap: 2 * time.Hour, Clock: clock}, "Petsfile")
		x.event(x.files[0], fsnotify.Write)
		synctest.Wait()
		clock.Advance(time.Hour - time.Nanosecond)
		if got, ok := x.changes(); ok {
			t.Fatalf("batch %v before the fake hour passed", got)
		}
		clock.Advance(time.Nanosecond)
		if got, ok := x.changes(); !ok || !slices.Equal(got, x.files) {
			t.Fatalf("got %v, %v after the fake hour", got, ok)
		}
	})
}

func TestFilesUpdateAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixture(t, FilesOptions{}, "Petsfile")
		lib := filepath.Join(x.dir, "lib", "Petsfile")
		if got := x.fb.added; !slices.Equal(got, []string{x.dir}) {
			t.Fatalf("watching %v, want %v", got, []string{x.dir})
		}
		must(t, x.f.Update([]string{x.files[0], lib}))
		if got := x.fb.added; !slices.Equal(got, []string{x.dir, filepath.Dir(lib)}) {
			t.Errorf("after Update watching %v", got)
		}
		must(t, x.f.Update([]string{lib}))
		if got := x.fb.added; !slices.Equal(got, []string{filepath.Dir(lib)}) {
			t.Errorf("after second Update watching %v", got)
		}
		x.event(x.files[0], fsnotify.Write) // no longer watched
		x.event(lib, fsnotify.Write)
		time.Sleep(time.Second)
		if got, ok := x.changes(); !ok || !slices.Equal(got, []string{lib}) {
			t.Errorf("got %v, %v; want only %s", got, ok, lib)
		}
		must(t, x.f.Close())
		must(t, x.f.Close())
		if x.fb.closed != 1 {
			t.Errorf("backend closed %d times", x.fb.closed)
		}
		if err := x.f.Update([]string{lib}); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close: %v", err)
		}
		// synctest.Test fails if the loop goroutine is still running.
	})
}
