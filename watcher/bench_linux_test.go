package watcher

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/watcher/watchertest"
)

var benchIdle = flag.Duration("watcher.idle", 0, "in BenchmarkWatchTree, also measure the CPU the watcher uses over this long idle (e.g. 10s)")

// BenchmarkWatchTree measures how long New takes to watch a 100,000-file tree
// next to a 50,000-file node_modules that .gitignore excludes, and the peak
// RSS of the process meanwhile (reset after the tree is written, so the
// figure is the test binary's baseline plus what watching costs). With
// -watcher.idle it also reports the CPU time the watcher used while nothing
// changed. For the bench table:
//
//	go test -run '^$' -bench BenchmarkWatchTree -benchtime 5x ./watcher/ -watcher.idle=10s
func BenchmarkWatchTree(b *testing.B) {
	root, err := filepath.EvalSymlinks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	dirs, err := watchertest.MakeTree(filepath.Join(root, "src"), 100_000, 100)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := watchertest.MakeTree(filepath.Join(root, "node_modules"), 50_000, 100); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("node_modules/\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	if err := watchertest.ResetPeakRSS(); err != nil {
		b.Logf("peak RSS not reset: %v", err)
	}
	opts := Options{Roots: []string{root}}
	watches := 0
	for b.Loop() {
		w, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = w.do(func() { watches = len(w.watched) })
		w.Close()
		b.StartTimer()
	}
	b.StopTimer()
	if want := dirs + 1; watches != want {
		b.Errorf("%d watches, want %d (the root and the src tree)", watches, want)
	}
	peak, err := watchertest.PeakRSS()
	if err == nil {
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	}
	b.ReportMetric(float64(watches), "watches")

	if *benchIdle > 0 {
		w, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		before := cpuTime(b)
		time.Sleep(*benchIdle) // a measurement of idleness, not synchronisation
		used := cpuTime(b) - before
		b.ReportMetric(float64(used)/float64(time.Millisecond), "idle-CPU-ms")
	}
}

// cpuTime is the user plus system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
