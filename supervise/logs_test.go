//go:build linux

package supervise

// Logs: selecting them, showing them, following them.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

// logDir returns a state directory with a log for each key ("name-tier"),
// holding the given text.
func logDir(t *testing.T, logs map[string]string) *state.Dir {
	t.Helper()
	d, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for k, text := range logs {
		if err := os.WriteFile(filepath.Join(d.Path, "logs", k+".log"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestLogFilesSelectsByNameAndNameTier(t *testing.T) {
	d := logDir(t, map[string]string{"api-local": "", "api-prod": "", "api-v2-local": "", "web-local": "", "my-api-local": ""})
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, "[api-local api-prod api-v2-local my-api-local web-local]"},
		{[]string{"api"}, "[api-local api-prod]"}, // every tier, not api-v2 or my-api
		{[]string{"api-v2"}, "[api-v2-local]"},
		{[]string{"api-prod"}, "[api-prod]"},
		{[]string{"my-api"}, "[my-api-local]"},
		{[]string{"web", "api-local"}, "[api-local web-local]"},
	} {
		got, err := LogFiles(d, tc.names)
		if err != nil {
			t.Errorf("LogFiles(%v): %v", tc.names, err)
			continue
		}
		if fmt.Sprint(keys(got)) != tc.want {
			t.Errorf("LogFiles(%v) = %v; want %s", tc.names, keys(got), tc.want)
		}
		for k, p := range got {
			if p != filepath.Join(d.Path, "logs", k+".log") {
				t.Errorf("LogFiles(%v)[%s] = %s", tc.names, k, p)
			}
		}
	}
}

func TestLogFilesUnknownName(t *testing.T) {
	for _, tc := range []struct {
		logs map[string]string
		hint string
	}{
		{map[string]string{"api-local": "", "web-local": ""}, "services with logs: api-local, web-local"},
		{nil, "no service has logged anything yet; run pets up first"},
	} {
		_, err := LogFiles(logDir(t, tc.logs), []string{"nope"})
		var uerr *petsfile.UsageError
		if !errors.As(err, &uerr) || uerr.Msg != `no log for "nope"` || uerr.Hint != tc.hint {
			t.Errorf("LogFiles(nope) with logs %v = %#v; want no log for \"nope\", hint %q", keys(tc.logs), err, tc.hint)
		}
	}
}

func TestShowLogsOneFileAsItIs(t *testing.T) {
	d := logDir(t, map[string]string{"api-local": "first\r\nsecond\nno newline yet"})
	files, err := LogFiles(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	if err := ShowLogs(context.Background(), files, false, out, false); err != nil {
		t.Fatal(err)
	}
	if want := "first\nsecond\nno newline yet\n"; out.String() != want {
		t.Errorf("ShowLogs = %q; want %q", out.String(), want)
	}
}

func TestShowLogsPrefixesSeveral(t *testing.T) {
	d := logDir(t, map[string]string{"frontend-local": "f1\n", "api-local": "a1\na2\n"})
	files, err := LogFiles(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	if err := ShowLogs(context.Background(), files, false, out, false); err != nil {
		t.Fatal(err)
	}
	want := "api-local      | a1\napi-local      | a2\nfrontend-local | f1\n"
	if out.String() != want {
		t.Errorf("ShowLogs = %q; want %q", out.String(), want)
	}
}

func TestShowLogsColoursEachService(t *testing.T) {
	d := logDir(t, map[string]string{"web-local": "w1\n", "api-local": "a1\n"})
	files, err := LogFiles(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	if err := ShowLogs(context.Background(), files, false, out, true); err != nil {
		t.Fatal(err)
	}
	// The first name (sorted) gets the palette's first colour (cyan), the next magenta.
	want := "\x1b[36mapi-local |\x1b[0m a1\n\x1b[35mweb-local |\x1b[0m w1\n"
	if out.String() != want {
		t.Errorf("ShowLogs = %q; want %q", out.String(), want)
	}
}

// follow runs ShowLogs with follow on files until the returned stop is
// called; stop fails the test if ShowLogs does not return or fails.
func follow(t *testing.T, files map[string]string, out *syncBuffer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ShowLogs(ctx, files, true, out, false) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ShowLogs: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("ShowLogs with follow did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitOutput waits until out contains want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q in the output", want), func() bool { return strings.Contains(out.String(), want) })
}

func TestShowLogsFollowPicksUpAppendedLines(t *testing.T) {
	d := logDir(t, map[string]string{"api-local": "old\n"})
	api := filepath.Join(d.Path, "logs", "api-local.log")
	web := filepath.Join(d.Path, "logs", "web-local.log") // created later
	out := &syncBuffer{}
	stop := follow(t, map[string]string{"api-local": api, "web-local": web}, out)
	waitOutput(t, out, "api-local | old\n")
	appendFile(t, api, "new 1\n")
	waitOutput(t, out, "api-local | new 1\n")
	appendFile(t, web, "born\n")
	waitOutput(t, out, "web-local | born\n")
	// A line is printed once it is whole.
	appendFile(t, api, "hal")
	appendFile(t, web, "sync\n")
	waitOutput(t, out, "web-local | sync\n")
	appendFile(t, api, "f a line\n")
	waitOutput(t, out, "api-local | half a line\n")
	stop()
	if strings.Contains(out.String(), "| hal\n") {
		t.Errorf("a partial line was printed before its end:\n%s", out.String())
	}
}

func TestShowLogsFollowAfterTruncation(t *testing.T) {
	d := logDir(t, map[string]string{"api-local": "a long line from before the truncation\n"})
	api := filepath.Join(d.Path, "logs", "api-local.log")
	out := &syncBuffer{}
	follow(t, map[string]string{"api-local": api}, out)
	waitOutput(t, out, "a long line from before the truncation\n")
	if err := os.WriteFile(api, []byte("fresh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, "\nfresh\n")
}

func TestFollowLogsStartsAtCurrentEnd(t *testing.T) {
	d := logDir(t, map[string]string{"api-local": "api old\n", "a-much-longer-name-local": "long old\n"})
	api := filepath.Join(d.Path, "logs", "api-local.log")
	long := filepath.Join(d.Path, "logs", "a-much-longer-name-local.log")
	out := &syncBuffer{}
	f := FollowLogs(map[string]string{"api-local": api}, out, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	appendFile(t, api, "api new\n")
	waitOutput(t, out, "api-local | api new\n")
	f.Add(map[string]string{"a-much-longer-name-local": long})
	appendFile(t, long, "long new\n")
	waitOutput(t, out, "a-much-longer-name-local | long new\n")
	appendFile(t, api, "api newer\n")
	waitOutput(t, out, fmt.Sprintf("%-24s | api newer\n", "api-local")) // padded to the longest name
	if s := out.String(); strings.Contains(s, "old") {
		t.Errorf("lines written before following began were printed:\n%s", s)
	}
}

func TestPrefixer(t *testing.T) {
	out := &syncBuffer{}
	p := &Prefixer{W: out, Width: 6, Color: true}
	p.Line("api", "one")
	p.Line("web", "two")
	p.Line("api", "three")
	want := "\x1b[36mapi    |\x1b[0m one\n\x1b[35mweb    |\x1b[0m two\n\x1b[36mapi    |\x1b[0m three\n"
	if out.String() != want {
		t.Errorf("Prefixer wrote %q; want %q", out.String(), want)
	}
	plain := &syncBuffer{}
	(&Prefixer{W: plain}).Line("api", "one")
	if plain.String() != "api | one\n" {
		t.Errorf("Prefixer without colour wrote %q", plain.String())
	}
}

func TestColorEnabled(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		terminal bool
		noColor  string
		want     bool
	}{
		{"always", false, "1", true},
		{"always", true, "", true},
		{"never", true, "", false},
		{"never", false, "", false},
		{"auto", true, "", true},
		{"auto", true, "1", false},
		{"auto", false, "", false},
		{"", true, "", true}, // unset means auto
		{"", false, "", false},
	} {
		if got := ColorEnabled(tc.mode, tc.terminal, tc.noColor); got != tc.want {
			t.Errorf("ColorEnabled(%q, terminal=%v, NO_COLOR=%q) = %v; want %v", tc.mode, tc.terminal, tc.noColor, got, tc.want)
		}
	}
}
