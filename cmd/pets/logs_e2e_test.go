//go:build linux

package main

// Bounded logs, end to end: a service that logs several times the limit
// (PETS_LOG_MAX) while `pets logs -f` follows it: the follower sees every
// line once, in order, across the rotations; the files on disk are the
// log and three rotated ones, within the limit, holding the end of the
// output, whole lines in order; `pets logs` prints them oldest first.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogsRotateWithoutLosingALineFollowed(t *testing.T) {
	e := newEnv(t)
	const (
		max    = 64 << 10
		bursts = 6
		lines  = 700 // a burst: 700 lines of 100 bytes, a rotation's worth
	)
	// Each burst waits for the test's go-ahead (ack-N), which comes once
	// pets logs -f has printed the burst's last line: a pace a follower
	// keeps up with, well past a rotation per step.
	e.write("Petsfile", fmt.Sprintf(`
register("chatty", "local", lambda: start("for b in $(seq 1 %d); do awk -v b=$b 'BEGIN { for (i = 1; i <= %d; i++) printf \"b%%03d l%%04d %%s\\n\", b, i, sprintf(\"%%88s\", \"\") }'; while [ ! -e ack-$b ]; do sleep 0.01; done; done; exec sleep 100000"))
`, bursts, lines))
	logEnv := []string{fmt.Sprintf("PETS_LOG_MAX=%d", max)}
	e.mustPetsEnv(logEnv, "up")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	follow := e.cmd("logs", "-f", "chatty")
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()
	go func() { <-ctx.Done(); _ = follow.Process.Kill() }()

	sc := bufio.NewScanner(out)
	next := 0 // lines of the bursts seen, in order
	for next < bursts*lines && sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "--- pets:") {
			continue
		}
		var b, i int
		if _, err := fmt.Sscanf(l, "b%03d l%04d ", &b, &i); err != nil || len(l) != 99 {
			t.Fatalf("pets logs -f printed %q, not a line of the service", l)
		}
		if got := (b-1)*lines + i - 1; got != next {
			t.Fatalf("pets logs -f printed line %d of burst %d after %d lines: a line lost, repeated or out of order", i, b, next)
		}
		next++
		if i == lines {
			e.write(fmt.Sprintf("ack-%d", b), "")
		}
	}
	if next != bursts*lines {
		t.Fatalf("pets logs -f printed %d of %d lines (%v)", next, bursts*lines, sc.Err())
	}

	// On disk: the log and three rotated files, each within the limit
	// (plus a line), the end of the output, in order.
	base := filepath.Join(e.home, "logs", "chatty-local.log")
	var onDisk []string
	total := 0
	for _, p := range []string{base + ".3", base + ".2", base + ".1", base} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (rotated files: %v)", err, globLogs(e))
		}
		if len(b) > max+100 {
			t.Errorf("%s: %d bytes, over the limit %d", filepath.Base(p), len(b), max)
		}
		total += len(b)
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.HasPrefix(l, "--- pets:") {
				onDisk = append(onDisk, l)
			}
		}
	}
	if files := globLogs(e); len(files) != 4 {
		t.Errorf("log files: %v; want the log and 3 rotated", files)
	}
	if total > 4*(max+100) {
		t.Errorf("the logs take %d bytes; want at most %d", total, 4*(max+100))
	}
	last := -1
	for _, l := range onDisk {
		var b, i int
		if _, err := fmt.Sscanf(l, "b%03d l%04d ", &b, &i); err != nil || len(l) != 99 {
			t.Fatalf("a line on disk is not whole: %q", l)
		}
		n := (b-1)*lines + i - 1
		if last >= 0 && n != last+1 {
			t.Fatalf("on disk, line %d follows %d", n, last)
		}
		last = n
	}
	if last != bursts*lines-1 || len(onDisk) < 3*lines {
		t.Errorf("on disk: %d lines ending with %d; want the last %d or more, ending with %d", len(onDisk), last, 3*lines, bursts*lines-1)
	}
	// pets logs prints what the files hold, oldest first.
	r := e.mustPets("logs", "chatty")
	if got := strings.Count(r.stdout, "\n"); got != len(onDisk)+strings.Count(r.stdout, "--- pets:") {
		t.Errorf("pets logs printed %d lines; the files hold %d", got, len(onDisk))
	}
}

func globLogs(e *env) []string {
	m, _ := filepath.Glob(filepath.Join(e.home, "logs", "chatty-local.log*"))
	var out []string
	for _, p := range m {
		if !strings.HasSuffix(p, ".lock") {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// TestLogMaxFlag: --log-max sets the size at which a log rotates (0: never),
// and a size pets cannot read is refused before anything starts.
func TestLogMaxFlag(t *testing.T) {
	e := newEnv(t)
	e.write("Petsfile", `
register("chatty", "local", lambda: start("awk 'BEGIN { for (i = 1; i <= 100; i++) printf \"line %03d %s\\n\", i, sprintf(\"%90s\", \"\") }'; echo last; exec sleep 100000"))
`)
	base := filepath.Join(e.home, "logs", "chatty-local.log")
	waitLast := func() {
		t.Helper()
		waitFor(t, "the log's last line", func() bool {
			b, _ := os.ReadFile(base)
			return strings.Contains(string(b), "last\n")
		})
	}

	if r := e.pets("up", "--log-max", "5X"); r.code == 0 || !strings.Contains(r.stderr, "want a number of bytes") {
		t.Errorf("--log-max 5X: exit %d\n%s", r.code, r.stderr)
	}
	if len(e.list()) != 0 {
		t.Errorf("--log-max 5X started something: %v", e.list())
	}

	e.mustPets("up", "--log-max", "2k")
	waitLast()
	files := globLogs(e)
	if len(files) != 4 {
		t.Errorf("--log-max 2k: log files %v; want the log and 3 rotated", files)
	}
	for _, f := range files {
		if fi, err := os.Stat(filepath.Join(e.home, "logs", f)); err != nil || fi.Size() > 2048+100 {
			t.Errorf("--log-max 2k: %s: %v bytes (%v)", f, fi.Size(), err)
		}
	}
	e.mustPets("down")

	for _, f := range files {
		_ = os.Remove(filepath.Join(e.home, "logs", f))
	}
	e.mustPets("up", "--log-max", "0")
	waitLast()
	if files := globLogs(e); len(files) != 1 {
		t.Errorf("--log-max 0: log files %v; want the one log", files)
	}
	if b, _ := os.ReadFile(base); strings.Count(string(b), "line ") != 100 {
		t.Errorf("--log-max 0: the log holds %d of 100 lines", strings.Count(string(b), "line "))
	}
}
