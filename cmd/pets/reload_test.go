//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var reloadRE = `Petsfile reloaded in \d+ms: (\d+) added(?: \(([^)]*)\))?, (\d+) removed(?: \(([^)]*)\))?, (\d+) changed(?: \(([^)]*)\))?, (\d+) unchanged(.*)$`

// reloaded waits for the next reload line and checks its counts and names.
func (w *watching) reloaded(added, removed, changed string, unchanged int) []string {
	w.t.Helper()
	m := w.waitLine(reloadRE)
	got := fmt.Sprintf("added [%s] removed [%s] changed [%s] unchanged %s", m[2], m[4], m[6], m[7])
	want := fmt.Sprintf("added [%s] removed [%s] changed [%s] unchanged %d", added, removed, changed, unchanged)
	if got != want {
		w.t.Errorf("reload: got %s\nwant %s\n(line: %s)", got, want, m[0])
	}
	return m
}

func (e *env) edit(name string, f func(string) string) {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	e.write(name, f(readFile(e.t, p)))
}

func TestReloadCommentsAndWhitespaceRestartNothing(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	before := e.pids()
	e.edit("Petsfile", func(s string) string {
		return "# a comment\n\n" + strings.ReplaceAll(s, "\n", "\n\n") + "\n# another\n"
	})
	m := w.reloaded("", "", "", 3)
	if m[8] != "" {
		t.Errorf("restarts after a comment-only edit: %s", m[0])
	}
	if after := e.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pids changed: %v -> %v", before, after)
	}
}

// A write of the Petsfile that leaves its bytes as they were reloads nothing
// and says nothing: a save that changed nothing, or the end of a write that
// came as a batch of its own (make test's load once split one so). A change
// after it is the first reload reported.
func TestReloadOfTheSameBytesSaysNothing(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.edit("Petsfile", func(s string) string { return s })
	// A change to a's files while that write is taken in: a round, held for
	// the reload the write announced and joined to it.
	e.write("a/data", "after the same bytes")
	w.waitLine(`round \d+: a/data -> a-local restarted in \S+, b-local bounced`)
	e.edit("Petsfile", func(s string) string { return strings.Replace(s, "--name a ", "--name a2 ", 1) })
	m := w.waitLine(reloadRE)
	if got := fmt.Sprintf("added [%s] removed [%s] changed [%s] unchanged %s", m[2], m[4], m[6], m[7]); got != "added [] removed [] changed [a-local] unchanged 2" {
		t.Errorf("the first reload reported: %s (%s); want a-local's change alone", got, m[0])
	}
	for _, l := range strings.Split(w.output(), "\n") {
		if strings.Contains(l, "Petsfile reloaded") && !strings.HasSuffix(l, m[0]) {
			t.Errorf("a reload reported for a write that changed nothing: %q", l)
		}
	}
}

func TestReloadAddRemoveChange(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	before := e.pids()

	// Change a's command: a restarts, b (its dependent) is bounced, c is left alone.
	e.edit("Petsfile", func(s string) string { return strings.Replace(s, "--name a ", "--name a2 ", 1) })
	m := w.reloaded("", "", "a-local", 2)
	if !regexp.MustCompile(`; a-local restarted in \S+, b-local bounced in \S+$`).MatchString(m[8]) {
		t.Errorf("restarts: %q", m[8])
	}
	after := e.pids()
	if after["a-local"] == before["a-local"] || after["b-local"] == before["b-local"] || after["c-local"] != before["c-local"] {
		t.Errorf("pids %v -> %v", before, after)
	}
	if body := get(t, e.list()["a-local"].Port); !strings.HasPrefix(body, "a2 ") {
		t.Errorf("a runs the old command: %q", body)
	}

	// Add a service that b now depends on: d starts, then b restarts after it.
	dport := freePort(t)
	e.edit("Petsfile", func(s string) string {
		s = strings.Replace(s, `def b_local(a):`, `def b_local(a, d):`, 1)
		s = strings.Replace(s, `deps=["a"]`, `deps=["a", "d"]`, 1)
		return s + fmt.Sprintf("\nregister(\"d\", \"local\", lambda: service(start(\"exec $PETSERVER --name d --port %d\"), \"127.0.0.1\", %d), watch=[\"d/**\"])\n", dport, dport)
	})
	m = w.reloaded("d-local", "", "b-local", 2)
	if !regexp.MustCompile(`; d-local started in \S+, b-local restarted in \S+$`).MatchString(m[8]) {
		t.Errorf("restarts: %q", m[8])
	}
	if l := e.list(); l["d-local"].Status != "ready" {
		t.Errorf("d not running: %+v", l)
	}

	// Remove c: it stops; nothing else restarts.
	e.edit("Petsfile", func(s string) string {
		i := strings.Index(s, "\ndef c_local")
		j := strings.Index(s[i:], `ignore=["c/ignored/**"])`) + i + len(`ignore=["c/ignored/**"])`)
		return s[:i] + s[j:]
	})
	m = w.reloaded("", "c-local", "", 3)
	if m[8] != "" {
		t.Errorf("removal restarted something: %s", m[0])
	}
	if _, ok := e.list()["c-local"]; ok {
		t.Error("c still recorded after it was removed from the Petsfile")
	}

	// Change a port: a restarts on the new port and b is bounced onto it.
	newPort := freePort(t)
	oldPort := e.list()["a-local"].Port
	e.edit("Petsfile", func(s string) string { return strings.ReplaceAll(s, fmt.Sprint(oldPort), fmt.Sprint(newPort)) })
	m = w.reloaded("", "", "a-local, b-local", 1)
	if !regexp.MustCompile(`; a-local restarted in \S+, b-local restarted in \S+$`).MatchString(m[8]) {
		t.Errorf("restarts: %q", m[8])
	}
	if body := get(t, e.list()["b-local"].Port); !strings.Contains(body, fmt.Sprintf("a -> [a2 (pid %d)", e.pids()["a-local"])) {
		t.Errorf("b does not talk to a on its new port: %q", body)
	}

	// Ctrl-C stops everything, including what the reloads started.
	if code := w.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, w.output())
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind: %v", s)
	}
}

func TestReloadBrokenEditKeepsOldConfigUntilFixed(t *testing.T) {
	for _, tc := range []struct {
		name, broken, where string
	}{
		{"syntax error", "\ndef oops(:\n", `Petsfile:\d+:\d+: got ':', want '\)'`},
		{"failing load", "\nload(\"./nowhere\", \"x\")\n", `Petsfile:\d+:1: cannot load ./nowhere`},
		{"dependency cycle", "\nregister(\"x\", \"local\", lambda y: None, deps=[\"y\"])\nregister(\"y\", \"local\", lambda x: None, deps=[\"x\"])\n", `dependency cycle: x-local -> y-local -> x-local`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.chain()
			w := e.watch("up", "--watch")
			good := readFile(t, filepath.Join(e.dir, "Petsfile"))
			e.write("Petsfile", good+tc.broken)
			w.waitLine(`Petsfile changed but does not evaluate; still running the previous configuration:`)
			w.waitLine(tc.where)
			// The old configuration still runs and still watches.
			e.write("a/x", "1")
			w.waitLine(`round \d+: .* -> a-local restarted in \S+, b-local bounced`)
			// The fix (here: a real change too) is applied as a diff.
			e.write("Petsfile", strings.Replace(good, "--name c ", "--name c2 ", 1))
			w.reloaded("", "", "c-local", 2)
			if body := get(t, e.list()["c-local"].Port); !strings.HasPrefix(body, "c2 ") {
				t.Errorf("c after the fix: %q", body)
			}
		})
	}
}

func TestReloadOfALoadedFile(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("lib/keep", "")
	e.write("lib/Petsfile", fmt.Sprintf("def lib_local():\n  return service(start(\"exec $PETSERVER --name lib --port %d\"), \"127.0.0.1\", %d)\nregister(\"lib\", \"local\", lib_local, watch=[\"src/**\"])\n", port, port))
	e.write("lib/src/keep", "")
	e.write("Petsfile", "load(\"./lib\", \"lib_local\")\n")
	w := e.watch("up", "--watch")
	e.edit("lib/Petsfile", func(s string) string { return strings.Replace(s, "--name lib ", "--name lib2 ", 1) })
	w.reloaded("", "", "lib-local", 0)
	if body := get(t, port); !strings.HasPrefix(body, "lib2 ") {
		t.Errorf("lib after its Petsfile changed: %q", body)
	}
}

func TestReloadWatchRulesTakeEffectWithoutLeakingWatches(t *testing.T) {
	e := newEnv(t)
	e.chain()
	for i := 0; i < 20; i++ {
		e.write(fmt.Sprintf("a/pkg%d/x.go", i), "x")
	}
	w := e.watch("up", "--watch")
	pid := w.cmd.Process.Pid
	before := len(inotifyInodes(t, pid))

	// Narrow a's watch to a/pkg0: the other 20 directories of a lose their watches.
	e.edit("Petsfile", func(s string) string { return strings.Replace(s, `watch=["a/**"]`, `watch=["a/pkg0/**"]`, 1) })
	w.reloaded("", "", "a-local", 2)
	// The watches change as the loop takes the new rules: wait for it.
	waitFor(t, fmt.Sprintf("%d watches after narrowing a's 21 directories to 1 (from %d)", before-20, before), func() bool {
		return len(inotifyInodes(t, pid)) == before-20
	})
	e.write("a/pkg5/x.go", "changed")
	e.write("a/pkg0/x.go", "changed")
	m := w.waitLine(roundRE)
	if strings.Contains(m[2], "pkg5") || !strings.Contains(m[2], "a/pkg0/x.go") {
		t.Errorf("round after narrowing: %q", m[0])
	}

	// Widen it again: the watches come back, no more and no fewer.
	e.edit("Petsfile", func(s string) string { return strings.Replace(s, `watch=["a/pkg0/**"]`, `watch=["a/**"]`, 1) })
	w.reloaded("", "", "a-local", 2)
	waitFor(t, fmt.Sprintf("%d watches after widening again", before), func() bool { return len(inotifyInodes(t, pid)) == before })
	e.write("a/pkg5/x.go", "again")
	w.waitLine(`round \d+: .*a/pkg5/x.go -> a-local restarted`)
	if _, err := os.Stat(filepath.Join(e.dir, "a", "pkg5")); err != nil {
		t.Fatal(err)
	}
}

// A service that failed to start at launch (and its dependent, skipped)
// was not running before pets up --watch: once a reload brings it up,
// this pets started it, and Ctrl-C stops it. It used to be left running
// and recorded: only a start step counted as this pets' start, and the
// reload restarts a changed service.
func TestWatchCtrlCStopsWhatFailedAtLaunchAndAReloadStarted(t *testing.T) {
	e := newEnv(t)
	e.chainWithBadData() // a refuses to start while a/data says "bad"
	e.write("a/data", "bad")
	w := e.watch("up", "--watch")
	if !strings.Contains(w.output(), "Ctrl-C to stop them.") { // nothing was up before: everything is this command's
		t.Errorf("the watch's banner promises less than it does:\n%s", w.output())
	}
	if l := e.list(); l["c-local"].Status != "ready" || l["a-local"].Status == "ready" {
		t.Fatalf("after the launch: %+v", l)
	}
	// The fix is in the Petsfile: a no longer reads its data file.
	e.edit("Petsfile", func(s string) string {
		return strings.Replace(s, `if grep -q bad a/data 2>/dev/null; then echo a cannot start: bad data; exit 4; fi;`, "", 1)
	})
	m := w.reloaded("", "", "a-local", 2)
	if !strings.Contains(m[8], "a-local restarted") {
		t.Errorf("the reload did not bring a up: %s", m[0])
	}
	waitFor(t, "a and b running", func() bool {
		l := e.list()
		return l["a-local"].Status == "ready" && l["b-local"].Status == "ready"
	})
	if code := w.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, w.output())
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind after Ctrl-C: %v", s)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("still recorded after Ctrl-C: %+v", l)
	}
}
