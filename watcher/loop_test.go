package watcher

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fakeBackend stands in for the OS: tests send events and errors by hand. It
// is recursive, like FSEvents, so the loop also filters ignored subtrees.
type fakeBackend struct {
	evs  chan fsnotify.Event
	errs chan error

	mu     sync.Mutex
	added  []string
	flat   []string // added with addFlat
	closed int
}

var _ backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{evs: make(chan fsnotify.Event), errs: make(chan error)}
}

func (*fakeBackend) recursive() bool                 { return true }
func (f *fakeBackend) events() <-chan fsnotify.Event { return f.evs }
func (f *fakeBackend) errors() <-chan error          { return f.errs }
func (f *fakeBackend) add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, dir)
	return nil
}
func (f *fakeBackend) addFlat(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, dir)
	f.flat = append(f.flat, dir)
	return nil
}
func (f *fakeBackend) remove(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = slices.DeleteFunc(f.added, func(d string) bool { return d == dir })
	f.flat = slices.DeleteFunc(f.flat, func(d string) bool { return d == dir })
	return nil
}
func (f *fakeBackend) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

// fakeClock moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       chan time.Time
	at      time.Time
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			t.c <- c.now
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

// loopFixture is a Watcher on a fake backend over a real temporary root.
type loopFixture struct {
	t    *testing.T
	root string
	fb   *fakeBackend
	w    *Watcher
}

func newLoopFixture(t *testing.T, opts Options) *loopFixture {
	t.Helper()
	f := &loopFixture{t: t, root: tempDir(t), fb: newFakeBackend()}
	opts.Roots = []string{f.root}
	w, err := start(opts, f.fb)
	if err != nil {
		t.Fatal(err)
	}
	f.w = w
	t.Cleanup(func() { w.Close() })
	return f
}

// write makes the file rel and sends its Write event.
func (f *loopFixture) write(rel string) string {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	mkdirAll(f.t, filepath.Dir(p))
	writeFile(f.t, p, "x")
	f.fb.evs <- fsnotify.Event{Name: p, Op: fsnotify.Write}
	return p
}

// batch returns the batch ready now, if any, once the loop is idle.
func (f *loopFixture) batch() (Batch, bool) {
	synctest.Wait()
	select {
	case b := <-f.w.Batches():
		return b, true
	default:
		return Batch{}, false
	}
}

// In these tests time.Sleep moves synctest's fake clock; nothing waits on real time.

func TestLoopQuietWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 100 * time.Millisecond, Cap: time.Second})
		start := time.Now()
		a := f.write("a.go")
		time.Sleep(50 * time.Millisecond)
		b := f.write("b.go")
		time.Sleep(99 * time.Millisecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v before the quiet window passed", got)
		}
		time.Sleep(time.Millisecond)
		got, ok := f.batch()
		if !ok {
			t.Fatal("no batch once the quiet window passed")
		}
		if !slices.Equal(got.Paths, []string{a, b}) || got.Overflow {
			t.Errorf("got %+v", got)
		}
		if d := time.Since(start); d != 150*time.Millisecond {
			t.Errorf("closed after %v, want 150ms", d)
		}
	})
}

func TestLoopCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Burst: 30 ms keeps the window from growing with the stream.
		f := newLoopFixture(t, Options{Quiet: 30 * time.Millisecond, Burst: 30 * time.Millisecond, Cap: 110 * time.Millisecond})
		start := time.Now()
		var got []Batch
		var when []time.Duration
		collect := func() {
			if b, ok := f.batch(); ok {
				got = append(got, b)
				when = append(when, time.Since(start))
			}
		}
		for i := range 10 { // events at 0, 20, ..., 180 ms
			f.write(filepath.Join("d", string(rune('a'+i))))
			for range 20 {
				time.Sleep(time.Millisecond)
				collect()
			}
		}
		for range 100 {
			time.Sleep(time.Millisecond)
			collect()
		}
		if len(got) != 2 || len(got[0].Paths) != 6 || len(got[1].Paths) != 4 {
			t.Fatalf("got %v", got)
		}
		if when[0] != 110*time.Millisecond || when[1] != 210*time.Millisecond {
			t.Errorf("closed at %v, want [110ms 210ms]", when)
		}
	})
}

func TestLoopMergesWhileCallerIsBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 30 * time.Millisecond})
		a := f.write("a")
		time.Sleep(100 * time.Millisecond) // first batch closed, nobody receives
		b := f.write("b")
		time.Sleep(100 * time.Millisecond) // second batch closed too
		got, ok := f.batch()
		if !ok || !slices.Equal(got.Paths, []string{a, b}) {
			t.Fatalf("got %v, %v; want one batch of both", got, ok)
		}
		if extra, ok := f.batch(); ok {
			t.Errorf("extra batch %v", extra)
		}
	})
}

func TestLoopOverflowMeansRescan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		f.fb.errs <- fsnotify.ErrEventOverflow
		time.Sleep(DefaultQuiet)
		got, ok := f.batch()
		if !ok || !got.Overflow || len(got.Paths) != 0 {
			t.Fatalf("got %+v, %v; want an overflow batch", got, ok)
		}
	})
}

func TestLoopPassesErrorsOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		boom := errors.New("boom")
		f.fb.errs <- boom
		synctest.Wait()
		select {
		case err := <-f.w.Errors():
			if !errors.Is(err, boom) {
				t.Errorf("got %v, want it to wrap %v", err, boom)
			}
		default:
			t.Fatal("no error delivered")
		}
	})
}

func TestLoopFiltersIgnoredAndDirectories(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Ignore: nil})
		writeFile(t, filepath.Join(f.root, ".gitignore"), "dist/\n")
		f.w.Update(Options{Roots: []string{f.root}, Ignore: []string{filepath.Join(f.root, "node_modules", "**")}})
		f.write("node_modules/x/y.js")
		f.write(".git/index")
		f.write("dist/bundle.js")
		f.write("pkg/.main.go.swp")
		// Windows reports Write on a directory that got a child: not a change.
		f.fb.evs <- fsnotify.Event{Name: filepath.Join(f.root, "pkg"), Op: fsnotify.Write}
		kept := f.write("pkg/main.go")
		time.Sleep(time.Second)
		got, ok := f.batch()
		if !ok || !slices.Equal(got.Paths, []string{kept}) {
			t.Errorf("got %v, %v; want only %s", got, ok, kept)
		}
	})
}

func TestLoopNewDirectoryFilesAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		d := filepath.Join(f.root, "moved-in")
		mkdirAll(t, filepath.Join(d, "sub"))
		writeFile(t, filepath.Join(d, "sub", "a.go"), "x")
		writeFile(t, filepath.Join(d, "b.go~"), "x")
		f.fb.evs <- fsnotify.Event{Name: d, Op: fsnotify.Create}
		time.Sleep(time.Second)
		got, ok := f.batch()
		if want := []string{filepath.Join(d, "sub", "a.go")}; !ok || !slices.Equal(got.Paths, want) {
			t.Errorf("got %v, %v; want %v", got, ok, want)
		}
	})
}

func TestLoopUsesInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		f := newLoopFixture(t, Options{Quiet: time.Hour, Cap: 2 * time.Hour, Clock: clock})
		a := f.write("a")
		synctest.Wait() // the loop has stamped the event with the fake time
		clock.Advance(time.Hour - time.Nanosecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v before the fake hour passed", got)
		}
		clock.Advance(time.Nanosecond)
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{a}) {
			t.Fatalf("got %v, %v after the fake hour", got, ok)
		}
	})
}

func TestCloseStopsEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		f.write("a")
		if err := f.w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, ok := <-f.w.Batches(); ok {
			t.Error("Batches still open")
		}
		if _, ok := <-f.w.Errors(); ok {
			t.Error("Errors still open")
		}
		if f.fb.closed != 1 {
			t.Errorf("backend closed %d times", f.fb.closed)
		}
		if err := f.w.Update(Options{Roots: []string{f.root}}); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close: %v", err)
		}
		// synctest.Test fails if any goroutine of the bubble is still running.
	})
}

// TestLoopHalfSavedWaitsForTheSave: a save caught halfway by a short window
// (the saving program stalled after renaming the file away, or after
// truncating it) stays open until the save ends, or a burst window at most,
// so that it is one change and no restart sees the file missing or empty.
func TestLoopHalfSavedWaitsForTheSave(t *testing.T) {
	const quiet, burst = 10 * time.Millisecond, 50 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: quiet, Burst: burst})
		// vim's writebackup: x renamed to x~, then a stall, then x written.
		x := f.write("x.go")
		time.Sleep(time.Second)
		f.batch()
		must(t, os.Rename(x, x+"~"))
		f.fb.evs <- fsnotify.Event{Name: x, Op: fsnotify.Rename}
		time.Sleep(30 * time.Millisecond) // three quiet windows: a stall
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v while the file is missing", got)
		}
		f.write("x.go")
		time.Sleep(quiet + time.Millisecond)
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{x}) {
			t.Fatalf("got %v, %v; want the save as one change of %s", got, ok, x)
		}

		// Truncated, a stall, then written.
		time.Sleep(time.Second)
		writeFile(t, x, "")
		f.fb.evs <- fsnotify.Event{Name: x, Op: fsnotify.Write}
		time.Sleep(30 * time.Millisecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v while the file is empty", got)
		}
		f.write("x.go")
		time.Sleep(quiet + time.Millisecond)
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{x}) {
			t.Fatalf("got %v, %v; want the save as one change of %s", got, ok, x)
		}

		// A file really removed waits a burst window, once, and goes.
		time.Sleep(time.Second)
		must(t, os.Remove(x))
		f.fb.evs <- fsnotify.Event{Name: x, Op: fsnotify.Remove}
		start := time.Now()
		got, ok := f.batch()
		for !ok {
			time.Sleep(time.Millisecond)
			got, ok = f.batch()
		}
		if !slices.Equal(got.Paths, []string{x}) {
			t.Errorf("got %v, want [%s]", got.Paths, x)
		}
		if d := time.Since(start); d != burst {
			t.Errorf("a removal closed after %v, want the burst window %v", d, burst)
		}
	})
}

// TestLoopWindowGrowsWithDistinctFiles: one file saved every 15 ms (a
// benchmark, an impatient user) keeps the quiet window, each save its own
// batch; distinct files changing every 15 ms (a formatter on a busy machine)
// widen it, and after at most one split the stream is one batch.
func TestLoopWindowGrowsWithDistinctFiles(t *testing.T) {
	const quiet, burst, gap = 10 * time.Millisecond, 50 * time.Millisecond, 15 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: quiet, Burst: burst, Cap: time.Minute})
		for i := range 20 {
			f.write("main.go")
			time.Sleep(quiet)
			if _, ok := f.batch(); !ok {
				t.Fatalf("save %d: no batch after the quiet window", i)
			}
			time.Sleep(gap - quiet)
		}
		time.Sleep(10 * time.Second) // forget them
		var batches []int
		for i := range 20 {
			f.write(filepath.Join("gen", string(rune('a'+i))+".go"))
			time.Sleep(gap)
			if b, ok := f.batch(); ok {
				batches = append(batches, len(b.Paths))
			}
		}
		time.Sleep(burst)
		if b, ok := f.batch(); ok {
			batches = append(batches, len(b.Paths))
		}
		if len(batches) > 2 || len(batches) == 0 {
			t.Errorf("20 files 15 ms apart came in batches of %v, want at most 2", batches)
		}
	})
}
