package logfile

// Bounded logs: a Log rotates at a size, between lines; writers in other
// processes (here: other Logs of the same file) agree through its lock; a
// follower reads every line once, in order, across rotations.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	t.Setenv(MaxEnv, "")
	if n, err := Max(0); n != DefaultMax || err != nil {
		t.Errorf("Max(0) without %s = %d, %v; want %d", MaxEnv, n, err, DefaultMax)
	}
	t.Setenv(MaxEnv, "10M")
	if n, err := Max(0); n != 10<<20 || err != nil {
		t.Errorf("Max(0) with %s=10M = %d, %v", MaxEnv, n, err)
	}
	if n, err := Max(4096); n != 4096 || err != nil {
		t.Errorf("Max(4096) = %d, %v: the Supervisor's setting wins", n, err)
	}
	if n, err := Max(-1); n != 0 || err != nil {
		t.Errorf("Max(-1) = %d, %v; want 0 (never rotate)", n, err)
	}
	t.Setenv(MaxEnv, "lots")
	if _, err := Max(0); err == nil || !strings.Contains(err.Error(), `PETS_LOG_MAX: size "lots"`) {
		t.Errorf("logMax with a bad %s = %v", MaxEnv, err)
	}
}

// chainText returns the log's files, oldest first, concatenated, and how
// many there are.
func chainText(t *testing.T, path string) (string, int) {
	t.Helper()
	var b bytes.Buffer
	n := 0
	for _, p := range Chain(path) {
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
	l, err := Open(path, max)
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
	if files != Keep+1 {
		t.Errorf("%d files; want %d (the log and %d rotated)", files, Keep+1, Keep)
	}
	for _, p := range Chain(path) {
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
	if files != Keep+1 || len(got) > (Keep+1)*100 || !strings.HasSuffix(got, "more 099 "+strings.Repeat("y", 20)+"\n") {
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

// A failed start's log tail spans a rotation.
func TestTailSinceAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-local.log")
	l := openLog(t, path, 30)
	fmt.Fprintf(l, "before\n")
	from := l.Pos()
	for i := range 6 {
		fmt.Fprintf(l, "after %d\n", i)
	}
	got := TailSince(from, 20)
	if want := []string{"after 0", "after 1", "after 2", "after 3", "after 4", "after 5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("TailSince = %q; want %q", got, want)
	}
	if got := TailSince(from, 2); fmt.Sprint(got) != fmt.Sprint([]string{"after 4", "after 5"}) {
		t.Errorf("TailSince(2) = %q", got)
	}
}
