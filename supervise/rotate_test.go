package supervise

// Bounded logs: a Log rotates at a size, between lines; writers in other
// processes (here: other Logs of the same file) agree through its lock; a
// follower reads every line once, in order, across rotations.

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
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1048576", 1 << 20, true}, {"50M", 50 << 20, true}, {"50MB", 50 << 20, true},
		{"50mib", 50 << 20, true}, {"200k", 200 << 10, true}, {"1G", 1 << 30, true}, {" 2 GB ", 2 << 30, true},
		{"100b", 100, true}, {"", 0, false}, {"M", 0, false}, {"-1", 0, false}, {"1.5G", 0, false}, {"10T", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLogMaxFromTheEnvironment(t *testing.T) {
	t.Setenv(logMaxVar, "")
	if n, err := logMax(0); n != DefaultLogMax || err != nil {
		t.Errorf("logMax(0) without %s = %d, %v; want %d", logMaxVar, n, err, DefaultLogMax)
	}
	t.Setenv(logMaxVar, "10M")
	if n, err := logMax(0); n != 10<<20 || err != nil {
		t.Errorf("logMax(0) with %s=10M = %d, %v", logMaxVar, n, err)
	}
	if n, err := logMax(4096); n != 4096 || err != nil {
		t.Errorf("logMax(4096) = %d, %v: the Supervisor's setting wins", n, err)
	}
	if n, err := logMax(-1); n != 0 || err != nil {
		t.Errorf("logMax(-1) = %d, %v; want 0 (never rotate)", n, err)
	}
	t.Setenv(logMaxVar, "lots")
	if _, err := logMax(0); err == nil || !strings.Contains(err.Error(), `PETS_LOG_MAX: size "lots"`) {
		t.Errorf("logMax with a bad %s = %v", logMaxVar, err)
	}
}

// chainText returns the log's files, oldest first, concatenated, and how
// many there are.
func chainText(t *testing.T, path string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	n := 0
	for _, p := range logChain(path) {
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

func openLog(t *testing.T, path string, max int64) *Log {
	t.Helper()
	l, err := OpenLog(path, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLogRotatesBetweenLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-local.log")
	l := openLog(t, path, 100)
	var want strings.Builder
	// Lines of 30 bytes written in pieces that cut lines anywhere: each
	// file still holds whole lines only (a line under way when the limit
	// is reached ends in its file, which may exceed the limit by a line).
	var stream strings.Builder
	for i := range 16 {
		fmt.Fprintf(&stream, "line %02d %s\n", i, strings.Repeat("x", 21))
	}
	s := stream.String()
	want.WriteString(s)
	for len(s) > 0 {
		n := min(len(s), 7)
		if _, err := l.Write([]byte(s[:n])); err != nil {
			t.Fatal(err)
		}
		s = s[n:]
	}
	got, files := chainText(t, path)
	if got != want.String() {
		t.Errorf("the log's files hold\n%s\nwant\n%s", got, want.String())
	}
	if files != LogKeep+1 {
		t.Errorf("%d files; want %d (the log and %d rotated)", files, LogKeep+1, LogKeep)
	}
	for _, p := range logChain(path) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 100+30 || len(b) == 0 || b[len(b)-1] != '\n' {
			t.Errorf("%s: %d bytes, ending %q: want at most 100 and a line, whole lines", filepath.Base(p), len(b), b[max(0, len(b)-5):])
		}
	}
	// More, a line a write (as the waiter writes): the oldest go, each file
	// stays within the limit.
	for i := range 100 {
		fmt.Fprintf(l, "more %03d %s\n", i, strings.Repeat("y", 20))
	}
	got, files = chainText(t, path)
	if files != LogKeep+1 || len(got) > (LogKeep+1)*100 || !strings.HasSuffix(got, "more 099 "+strings.Repeat("y", 20)+"\n") {
		t.Errorf("%d files, %d bytes, ending %q", files, len(got), got[max(0, len(got)-40):])
	}
}

func TestLogLineLongerThanTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-local.log")
	l := openLog(t, path, 10)
	fmt.Fprintf(l, "short\n")
	// A new line that would pass the limit begins a new file; one that
	// does not end yet stays in its file (until twice the limit).
	l.Write([]byte("0123456789"))
	l.Write([]byte("abc"))
	if b, _ := os.ReadFile(path); string(b) != "0123456789abc" {
		t.Errorf("the log holds %q; want the line under way kept whole", b)
	}
	l.Write([]byte("def\nnext\n"))
	for i, want := range []string{"next\n", "0123456789abcdef\n", "short\n"} {
		if b, _ := os.ReadFile(rotatedName(path, i)); string(b) != want {
			t.Errorf("%s holds %q; want %q", filepath.Base(rotatedName(path, i)), b, want)
		}
	}
	// A line with no end in sight is cut at twice the limit.
	l.Write([]byte(strings.Repeat("z", 25)))
	l.Write([]byte("zz"))
	if b, _ := os.ReadFile(path); string(b) != "zz" {
		t.Errorf("the log holds %q; want the runaway line cut", b)
	}
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
	logs := make([]*Log, writers)
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
	// The disk use is bounded: the log and LogKeep rotated files, each at
	// most the limit.
	text, files := chainText(t, path)
	if files != LogKeep+1 || len(text) > (LogKeep+1)*max {
		t.Errorf("%d files, %d bytes; want %d files of at most %d bytes", files, len(text), LogKeep+1, max)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(all) != LogKeep+2 { // and the lock file
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

// A failed start's log tail spans a rotation.
func TestTailSinceAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-local.log")
	l := openLog(t, path, 30)
	fmt.Fprintf(l, "before\n")
	from := l.Pos()
	for i := range 6 {
		fmt.Fprintf(l, "after %d\n", i)
	}
	got := tailSince(from, 20)
	if want := []string{"after 0", "after 1", "after 2", "after 3", "after 4", "after 5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tailSince = %q; want %q", got, want)
	}
	if got := tailSince(from, 2); fmt.Sprint(got) != fmt.Sprint([]string{"after 4", "after 5"}) {
		t.Errorf("tailSince(2) = %q", got)
	}
}
