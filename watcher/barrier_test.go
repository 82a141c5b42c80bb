package watcher

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// sentinels lists the barrier sentinels in dir.
func sentinels(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), barrierPrefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// barrier calls Barrier and, like the OS would, reports the creation of the
// sentinel it wrote (the fake backend reports nothing by itself). It returns
// the sentinel.
func (f *loopFixture) barrier(id uint64) string {
	f.t.Helper()
	must(f.t, f.w.Barrier(id))
	s := sentinels(f.t, f.root)
	if len(s) != 1 {
		f.t.Fatalf("sentinels after Barrier: %v, want one", s)
	}
	f.fb.evs <- fsnotify.Event{Name: s[0], Op: fsnotify.Create}
	synctest.Wait()
	if left := sentinels(f.t, f.root); len(left) != 0 {
		f.t.Errorf("sentinel %v not removed once seen", left)
	}
	// And the removal's event, which must change nothing.
	f.fb.evs <- fsnotify.Event{Name: s[0], Op: fsnotify.Remove}
	return s[0]
}

func TestBarrierKeepsTheOpenBatchOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 100 * time.Millisecond, Cap: time.Second})
		start := time.Now()
		a := f.write("a.go")
		time.Sleep(50 * time.Millisecond)
		f.barrier(1)
		got, ok := f.batch()
		want := Batch{Barriers: []Barrier{{ID: 1, Pending: []string{a}}}}
		if !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		time.Sleep(40 * time.Millisecond)
		b := f.write("b.go")
		// The batch closes one quiet window after b: the barrier neither
		// closed it nor, with its sentinel's events, extended it.
		time.Sleep(99 * time.Millisecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %+v before the quiet window passed", got)
		}
		time.Sleep(time.Millisecond)
		got, ok = f.batch()
		if want := (Batch{Paths: []string{a, b}}); !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		if d := time.Since(start); d != 190*time.Millisecond {
			t.Errorf("closed after %v, want 190ms", d)
		}
	})
}

func TestBarrierSentinelOpensNoBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 100 * time.Millisecond})
		f.barrier(7)
		got, ok := f.batch()
		if want := (Batch{Barriers: []Barrier{{ID: 7}}}); !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		// Another pets' sentinel, created and removed: nothing either.
		other := filepath.Join(f.root, barrierPrefix+"1-1")
		f.fb.evs <- fsnotify.Event{Name: other, Op: fsnotify.Create}
		f.fb.evs <- fsnotify.Event{Name: other, Op: fsnotify.Remove}
		time.Sleep(time.Second)
		if got, ok := f.batch(); ok {
			t.Errorf("sentinel events made batch %+v", got)
		}
	})
}

func TestBarrierAfterClosedBatchAndMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 30 * time.Millisecond})
		a := f.write("a")
		time.Sleep(100 * time.Millisecond) // a's batch closed, nobody receives
		f.barrier(1)                       // rides on a's batch
		b := f.write("b")
		f.barrier(2) // b's batch open: pending
		time.Sleep(100 * time.Millisecond)
		got, ok := f.batch()
		want := Batch{Paths: []string{a, b}, Barriers: []Barrier{{ID: 1}, {ID: 2, Pending: []string{b}}}}
		if !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		if extra, ok := f.batch(); ok {
			t.Errorf("extra batch %+v", extra)
		}
	})
}

func TestBarrierTimesOutOnTheInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		f := newLoopFixture(t, Options{Quiet: time.Hour, Clock: clock})
		a := f.write("a")
		must(t, f.w.Barrier(3)) // its event never comes
		s := sentinels(t, f.root)
		synctest.Wait()
		clock.Advance(barrierTimeout - time.Nanosecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %+v before the timeout", got)
		}
		clock.Advance(time.Nanosecond)
		got, ok := f.batch()
		if !ok || len(got.Barriers) != 1 || len(got.Paths) != 0 {
			t.Fatalf("got %+v, %v; want the failed barrier alone", got, ok)
		}
		br := got.Barriers[0]
		if br.ID != 3 || !errors.Is(br.Err, ErrBarrierLost) || !slices.Equal(br.Pending, []string{a}) {
			t.Errorf("got %+v, want ID 3, Pending [%s] and an ErrBarrierLost", br, a)
		}
		if !strings.Contains(br.Err.Error(), f.root) {
			t.Errorf("error %q does not name the root", br.Err)
		}
		if left := sentinels(t, f.root); len(left) != 0 {
			t.Errorf("sentinel %v left behind after the timeout", left)
		}
		// A late event of that sentinel is dropped.
		f.fb.evs <- fsnotify.Event{Name: s[0], Op: fsnotify.Create}
		if got, ok := f.batch(); ok {
			t.Errorf("late sentinel made batch %+v", got)
		}
	})
}

func TestBarrierWithoutRoots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, err := start(Options{}, newFakeBackend())
		must(t, err)
		defer w.Close()
		must(t, w.Barrier(9))
		synctest.Wait()
		select {
		case got := <-w.Batches():
			if want := (Batch{Barriers: []Barrier{{ID: 9}}}); !batchEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		default:
			t.Fatal("no barrier")
		}
	})
}

func TestBarrierSettledByOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{Quiet: 100 * time.Millisecond})
		must(t, f.w.Barrier(4)) // its sentinel's event was lost in the overflow
		f.fb.errs <- fsnotify.ErrEventOverflow
		got, ok := f.batch()
		if want := (Batch{Barriers: []Barrier{{ID: 4, Overflow: true}}}); !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		time.Sleep(100 * time.Millisecond)
		if got, ok := f.batch(); !ok || !got.Overflow {
			t.Errorf("got %+v, %v; want the overflow batch after the barrier", got, ok)
		}
		if left := sentinels(t, f.root); len(left) != 0 {
			t.Errorf("sentinel %v left behind", left)
		}
	})
}

func TestBarrierEveryRootOfARecursiveBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		other := tempDir(t)
		must(t, f.w.Update(Options{Roots: []string{f.root, other}}))
		must(t, f.w.Barrier(5))
		s1, s2 := sentinels(t, f.root), sentinels(t, other)
		if len(s1) != 1 || len(s2) != 1 {
			t.Fatalf("sentinels %v and %v, want one in each root", s1, s2)
		}
		f.fb.evs <- fsnotify.Event{Name: s1[0], Op: fsnotify.Create}
		if got, ok := f.batch(); ok {
			t.Fatalf("barrier %+v before every root's sentinel was seen", got)
		}
		// Dropping the other root: its stream stops, its sentinel goes, and
		// the barrier needs only the roots left.
		must(t, f.w.Update(Options{Roots: []string{f.root}}))
		got, ok := f.batch()
		if want := (Batch{Barriers: []Barrier{{ID: 5}}}); !ok || !batchEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, ok, want)
		}
		if left := sentinels(t, other); len(left) != 0 {
			t.Errorf("sentinel %v left in the dropped root", left)
		}
	})
}

func TestCloseRemovesWaitingSentinels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newLoopFixture(t, Options{})
		must(t, f.w.Barrier(1))
		must(t, f.w.Close())
		if left := sentinels(t, f.root); len(left) != 0 {
			t.Errorf("sentinel %v left after Close", left)
		}
		if err := f.w.Barrier(2); !errors.Is(err, ErrClosed) {
			t.Errorf("Barrier after Close: %v", err)
		}
	})
}

// batchEqual compares batches, errors by presence.
func batchEqual(a, b Batch) bool {
	return slices.Equal(a.Paths, b.Paths) && a.Overflow == b.Overflow &&
		slices.EqualFunc(a.Barriers, b.Barriers, func(x, y Barrier) bool {
			return x.ID == y.ID && slices.Equal(x.Pending, y.Pending) && x.Overflow == y.Overflow && (x.Err == nil) == (y.Err == nil)
		})
}
