package watcher

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/windmilleng/pets/watcher/watchertest"
)

var (
	measureQuiet  = flag.Bool("watcher.measure-quiet", false, "measure the quiet window a 2,000-file git checkout needs (see doc.go)")
	measureTrials = flag.Int("watcher.measure-trials", 10, "checkouts per quiet window in -watcher.measure-quiet")
)

// TestMeasureQuietWindow is how DefaultQuiet was chosen. It is a measurement,
// not a check, and runs only when asked:
//
//	go test -run TestMeasureQuietWindow -watcher.measure-quiet -v ./watcher/
//
// It makes a git repository whose branches differ in 2,000 files (20
// directories of 100), records the gaps between inotify events while git
// checks out the other branch, and then, for each candidate quiet window, counts
// the batches each checkout turns into, idle and with both cores kept busy.
func TestMeasureQuietWindow(t *testing.T) {
	if !*measureQuiet {
		t.Skip("a measurement; run with -watcher.measure-quiet")
	}
	root := tempDir(t)
	repo, err := watchertest.MakeGitRepo(root, 2000, 100)
	must(t, err)
	branch := "a"
	next := func() string {
		if branch == "a" {
			branch = "b"
		} else {
			branch = "a"
		}
		return branch
	}

	for _, load := range []bool{false, true} {
		stop := func() {}
		if load {
			stop = burnCPU(runtime.NumCPU())
		}
		var spans, maxGaps, p99s []time.Duration
		for range *measureTrials {
			span, maxGap, p99 := rawGaps(t, root, func() error { return repo.Checkout(next()) })
			spans, maxGaps, p99s = append(spans, span), append(maxGaps, maxGap), append(p99s, p99)
		}
		t.Logf("load=%v raw inotify, %d checkouts: event span median %v max %v; largest gap median %v max %v; p99 gap max %v",
			load, len(spans), median(spans), slices.Max(spans), median(maxGaps), slices.Max(maxGaps), slices.Max(p99s))

		for _, q := range []time.Duration{5, 10, 15, 20, 25, 30, 40, 50, 75, 100} {
			q *= time.Millisecond
			ones, worst := 0, 0
			for range *measureTrials {
				n := batchesForCheckout(t, root, q, func() error { return repo.Checkout(next()) }, len(repo.Changed))
				if n == 1 {
					ones++
				}
				worst = max(worst, n)
			}
			t.Logf("load=%v quiet=%-6v one batch in %2d/%d checkouts, worst %d batches", load, q, ones, *measureTrials, worst)
		}
		stop()
	}
}

// rawGaps watches every directory of root (but .git) with plain fsnotify, runs
// do, and returns the span of the events and the largest and 99th-percentile
// gaps between consecutive ones.
func rawGaps(t *testing.T, root string, do func() error) (span, maxGap, p99 time.Duration) {
	t.Helper()
	fw, err := fsnotify.NewBufferedWatcher(4096)
	must(t, err)
	defer fw.Close()
	must(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		return fw.Add(p)
	}))
	sentinel := filepath.Join(root, "zz-raw-sentinel")
	defer os.Remove(sentinel)
	// Read while git runs, so that the times are when events arrive.
	var times []time.Time
	var readErr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		deadline := time.After(waitLimit)
		for {
			select {
			case ev := <-fw.Events:
				if ev.Name == sentinel {
					return
				}
				times = append(times, time.Now())
			case err := <-fw.Errors:
				readErr = err
				return
			case <-deadline:
				readErr = fmt.Errorf("sentinel not seen")
				return
			}
		}
	}()
	must(t, do())
	writeFile(t, sentinel, "x")
	<-read
	must(t, readErr)
	if len(times) < 2 {
		t.Fatalf("only %d events", len(times))
	}
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	slices.Sort(gaps)
	return times[len(times)-1].Sub(times[0]), gaps[len(gaps)-1], gaps[len(gaps)*99/100]
}

// batchesForCheckout returns how many batches do turns into with quiet window
// q, checking that together they hold all changed paths.
func batchesForCheckout(t *testing.T, root string, q time.Duration, do func() error, changed int) int {
	t.Helper()
	w, err := New(Options{Roots: []string{root}, Quiet: q, Cap: time.Minute})
	must(t, err)
	defer w.Close()
	must(t, do())
	got := newProbe(t, w, root).sync()
	seen := map[string]bool{}
	for _, b := range got {
		for _, p := range b.Paths {
			seen[p] = true
		}
	}
	if len(got) > 1 && testing.Verbose() {
		var sizes []int
		for _, b := range got {
			sizes = append(sizes, len(b.Paths))
		}
		last := got[len(got)-1].Paths
		t.Logf("quiet %v: batch sizes %v; last batch starts %v", q, sizes, last[:min(3, len(last))])
	}
	if len(seen) != changed {
		t.Errorf("quiet %v: batches held %d paths, want %d", q, len(seen), changed)
	}
	return len(got)
}

// burnCPU keeps n goroutines spinning until the returned func is called.
func burnCPU(n int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-done:
					return
				default:
					for i := range 100000 {
						x += i
					}
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
