package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailFrom(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "line %02d\n", i)
	}
	b.WriteString("unfinished")
	text := b.String()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	at := func(line string) int64 { return int64(strings.Index(text, line)) }
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte("short\n"+strings.Repeat("x", 200_000)+"\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		path   string
		offset int64
		n      int
		want   []string
	}{
		{"last n after the offset", path, 0, 3, []string{"line 29", "line 30", "unfinished"}},
		{"fewer than n after the offset", path, at("line 28"), 20, []string{"line 28", "line 29", "line 30", "unfinished"}},
		{"offset mid-line", path, at("line 30") + 5, 20, []string{"30", "unfinished"}},
		{"offset at the end", path, int64(len(text)), 20, nil},
		{"missing file", filepath.Join(dir, "none"), 0, 20, nil},
		{"line longer than 64KiB", long, 0, 2, []string{strings.Repeat("x", 200_000), "end"}},
	} {
		got := tailFrom(tc.path, tc.offset, tc.n)
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			g, w := fmt.Sprintf("%q", got), fmt.Sprintf("%q", tc.want)
			if len(g) > 200 {
				g = g[:200] + "..."
			}
			if len(w) > 200 {
				w = w[:200] + "..."
			}
			t.Errorf("%s: tailFrom = %s; want %s", tc.name, g, w)
		}
	}
}
