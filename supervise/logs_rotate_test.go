package supervise

// pets logs across rotations: a follower sees every line once, in order;
// pets logs prints the rotated files first.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/logfile"
)

func chainText(t *testing.T, path string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	n := 0
	for _, p := range logfile.Chain(path) {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		b.Write(data)
	}
	return b.String(), n
}

func openLog(t *testing.T, path string, max int64) *logfile.Log {
	t.Helper()
	l, err := logfile.Open(path, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// followed collects what a LogFollower prints for one log (no prefix).
type followed struct {
	mu    sync.Mutex
	lines []string
	buf   []byte
}

func (f *followed) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, p...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			break
		}
		f.lines = append(f.lines, string(f.buf[:i]))
		f.buf = f.buf[i+1:]
	}
	return len(p), nil
}

func (f *followed) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

// Several writers (each its own Log, as each waiter of a service is its own
// process) log many times the limit while `pets logs -f` follows: it sees
// every line once, each writer's in order, and the files stay within
// bounds.
func TestFollowAcrossRotationsSeesEveryLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-local.log")
	const (
		max     = 4 << 10
		writers = 3
		bursts  = 12
		perLine = 64
		lines   = max / perLine / 2 // per writer and burst: a burst is 1.5 limits
	)
	openLog(t, path, max) // the file exists before the follower starts
	out := &followed{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ShowLogs(ctx, map[string]string{"api-local": path}, true, out, false) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	line := func(w, b, i int) string {
		s := fmt.Sprintf("w%d b%02d l%03d ", w, b, i)
		return s + strings.Repeat(".", perLine-1-len(s))
	}
	logs := make([]*logfile.Log, writers)
	for w := range logs {
		logs[w] = openLog(t, path, max)
	}
	for b := range bursts {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range lines {
					if _, err := fmt.Fprintln(logs[w], line(w, b, i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		// The follower keeps up (as `pets logs -f` does with a service);
		// it may fall behind by a burst, which is more than a rotation.
		want := writers * lines * (b + 1)
		deadline := time.Now().Add(20 * time.Second)
		for len(out.seen()) < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	seen := out.seen()
	next := make([]int, writers) // the next line expected of each writer, b*lines+i
	count := map[string]int{}
	for _, l := range seen {
		count[l]++
		var w, b, i int
		if _, err := fmt.Sscanf(l, "w%d b%d l%d ", &w, &b, &i); err != nil || w >= writers || len(l) != perLine-1 {
			t.Fatalf("the follower printed %q, not a line the writers wrote", l)
		}
		if got := b*lines + i; got != next[w] {
			t.Fatalf("writer %d: the follower printed line %d after %d (out of order, or lost)", w, got, next[w]-1)
		}
		next[w]++
	}
	for w := range writers {
		if next[w] != bursts*lines {
			t.Errorf("writer %d: the follower printed %d of its %d lines", w, next[w], bursts*lines)
		}
	}
	for l, n := range count {
		if n != 1 {
			t.Errorf("the follower printed %q %d times", l, n)
		}
	}
	// The disk use is bounded: the log and logfile.Keep rotated files, each at
	// most the limit.
	text, files := chainText(t, path)
	if files != logfile.Keep+1 || len(text) > (logfile.Keep+1)*max {
		t.Errorf("%d files, %d bytes; want %d files of at most %d bytes", files, len(text), logfile.Keep+1, max)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(all) != logfile.Keep+2 { // and the lock file
		t.Errorf("files in the log directory: %v", all)
	}
	// What the files hold is the end of what was written, every line whole.
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if len(l) != perLine-1 {
			t.Errorf("a line of the files was cut: %q", l)
			break
		}
	}
}

// pets logs (without -f) prints the rotated files too, oldest first.
func TestShowLogsReadsRotatedFilesFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-local.log")
	l := openLog(t, path, 20)
	var want bytes.Buffer
	for i := range 8 {
		fmt.Fprintf(l, "line %d\n", i)
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if _, err := os.Stat(path + ".2"); err != nil {
		t.Fatalf("no rotation happened: %v", err)
	}
	var out bytes.Buffer
	if err := ShowLogs(context.Background(), map[string]string{"api-local": path}, false, &out, false); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("pets logs printed\n%s\nwant\n%s", out.String(), want.String())
	}
}
