package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testQuiet keeps tests quick; every wait is for an event, with waitLimit as
// the deadline, never a sleep.
const (
	testQuiet = 20 * time.Millisecond
	waitLimit = 20 * time.Second
)

func newTestWatcher(t *testing.T, opts Options) *Watcher {
	t.Helper()
	if opts.Quiet == 0 {
		opts.Quiet = testQuiet
	}
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// probe reads a Watcher's batches in the test goroutine. sync writes a
// sentinel file and waits for it, so everything written before it has been
// seen (tilt's internal/watch fsync idea).
type probe struct {
	t   *testing.T
	w   *Watcher
	dir string
	n   int
}

func newProbe(t *testing.T, w *Watcher, dir string) *probe { return &probe{t: t, w: w, dir: dir} }

const sentinelPrefix = "zz-sentinel-"

// sync returns the batches received up to the one holding a new sentinel, with
// sentinel paths taken out and batches left empty dropped.
func (p *probe) sync() []Batch {
	p.t.Helper()
	p.n++
	s := filepath.Join(p.dir, fmt.Sprintf("%s%d", sentinelPrefix, p.n))
	writeFile(p.t, s, "sentinel")
	got := p.until(func(b Batch) bool { return slices.Contains(b.Paths, s) })
	var out []Batch
	for _, b := range got {
		b.Paths = slices.DeleteFunc(slices.Clone(b.Paths), func(x string) bool {
			return strings.HasPrefix(filepath.Base(x), sentinelPrefix)
		})
		if len(b.Paths) > 0 || b.Overflow {
			out = append(out, b)
		}
	}
	return out
}

// until returns the batches received up to and including the first one for
// which done is true. Errors from the watcher fail the test.
func (p *probe) until(done func(Batch) bool) []Batch {
	p.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	var got []Batch
	for {
		select {
		case b, ok := <-p.w.Batches():
			if !ok {
				p.t.Fatalf("Batches closed; got %v", got)
			}
			got = append(got, b)
			if done(b) {
				return got
			}
		case err := <-p.w.Errors():
			p.t.Errorf("watcher error: %v", err)
		case <-deadline.C:
			p.t.Fatalf("no expected batch within %v; got %v", waitLimit, got)
		}
	}
}

// counts says how many batches held each path.
func counts(bs []Batch) map[string]int {
	m := map[string]int{}
	for _, b := range bs {
		for _, p := range b.Paths {
			m[p]++
		}
	}
	return m
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tempDir is t.TempDir with symlinks resolved, so paths compare equal to the
// ones the OS reports.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// collect reads w's batches from now on, as the rebuild engine does, while
// the caller changes files under dir. finish writes a sentinel in dir, waits
// for the batch holding it and returns the batches received, with the
// sentinel taken out and batches left empty dropped.
func collect(t *testing.T, w *Watcher, dir string) (finish func() []Batch) {
	t.Helper()
	sentinel := filepath.Join(dir, sentinelPrefix+"collect")
	got := make(chan []Batch, 1)
	go func() {
		var bs []Batch
		deadline := time.NewTimer(waitLimit)
		defer deadline.Stop()
		for {
			select {
			case b, ok := <-w.Batches():
				if !ok {
					t.Errorf("Batches closed")
					got <- bs
					return
				}
				bs = append(bs, b)
				if slices.Contains(b.Paths, sentinel) {
					got <- bs
					return
				}
			case err := <-w.Errors():
				t.Errorf("watcher error: %v", err)
			case <-deadline.C:
				t.Errorf("no sentinel within %v", waitLimit)
				got <- bs
				return
			}
		}
	}()
	return func() []Batch {
		t.Helper()
		writeFile(t, sentinel, "x")
		defer os.Remove(sentinel)
		var out []Batch
		for _, b := range <-got {
			b.Paths = slices.DeleteFunc(b.Paths, func(p string) bool { return p == sentinel })
			if len(b.Paths) > 0 || b.Overflow {
				out = append(out, b)
			}
		}
		return out
	}
}
