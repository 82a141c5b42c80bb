//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Is my edit live? pets list says FRESH or STALE (and which files), pets
// wait gates on it, and pets up / pets watch restart what drifted while no
// pets was watching.

type freshItem struct {
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Freshness string   `json:"freshness"`
	Files     []string `json:"files"`
	Reason    string   `json:"reason"`
	WatchedBy int      `json:"watchedBy"`
	PID       int      `json:"pid"`
}

func (e *env) freshness() map[string]freshItem {
	e.t.Helper()
	r := e.mustPets("list", "-o", "json")
	var items []freshItem
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		e.t.Fatalf("pets list -o json: %v\n%s", err, r.stdout)
	}
	m := map[string]freshItem{}
	for _, it := range items {
		m[it.Name] = it
	}
	return m
}

func TestEditWhileNothingWatchesIsStaleThenWatchRestartsIt(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.write("a/data", "v1")
	e.mustPets("up")
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" || it.WatchedBy != 0 {
			t.Errorf("%s right after pets up: %+v", n, it)
		}
	}
	table := e.mustPets("list").stdout
	if !regexp.MustCompile(`(?m)^NAME\s+AGE\s+HOST\s+PORT\s+STATUS\s+FRESH$`).MatchString(table) || !regexp.MustCompile(`(?m)^a-local\s.*\sready\s+FRESH$`).MatchString(table) {
		t.Errorf("pets list:\n%s", table)
	}
	before := e.pids()

	// Edited while no pets watches: only a is stale, and list says which file.
	e.write("a/data", "v2")
	f := e.freshness()
	if a := f["a-local"]; a.Freshness != "stale" || fmt.Sprint(a.Files) != fmt.Sprint([]string{filepath.Join(e.dir, "a", "data")}) {
		t.Errorf("a after the edit: %+v", a)
	}
	if f["b-local"].Freshness != "fresh" || f["c-local"].Freshness != "fresh" {
		t.Errorf("b or c not fresh: %+v", f)
	}
	if !regexp.MustCompile(`(?m)^a-local\s.*\sready\s+STALE$`).MatchString(e.mustPets("list").stdout) {
		t.Errorf("pets list does not say STALE")
	}
	// Nothing watches it: pets wait fails at once, saying what to do.
	t0 := time.Now()
	r := e.pets("wait", "a", "--timeout", "30s")
	if r.code == 0 || !strings.Contains(r.stderr, "a-local is stale: "+filepath.Join(e.dir, "a", "data")+" changed since it started") || !strings.Contains(r.stderr, "pets restart a-local") {
		t.Errorf("pets wait a: exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("pets wait took %s to say it cannot succeed", d)
	}
	e.mustPets("wait", "c") // c is fresh

	// pets watch restarts exactly what drifted (and its dependent), says so.
	w := e.watch("watch")
	m := w.waitLine(roundRE)
	if !strings.Contains(m[2], "a/data (changed while no pets was watching)") || !regexp.MustCompile(`^a-local restarted in \S+, b-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round at attach: %q", m[0])
	}
	waitFor(t, "a to run v2", func() bool { return readFile(t, filepath.Join(e.dir, "a.seen")) == "v2" })
	after := e.pids()
	if after["a-local"] == before["a-local"] || after["c-local"] != before["c-local"] {
		t.Errorf("pids %v -> %v", before, after)
	}
	e.mustPets("wait")
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" || it.WatchedBy != w.cmd.Process.Pid {
			t.Errorf("%s with pets watch attached: %+v", n, it)
		}
	}
	// After it detaches, the stamps it kept still say fresh.
	w.stop()
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" || it.WatchedBy != 0 {
			t.Errorf("%s after pets watch detached: %+v", n, it)
		}
	}
}

// pets wait, asked right after an edit, returns once the edit runs: not
// before the restart (the edit was counted), not never.
func TestWaitReturnsOnlyOnceTheEditRuns(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.gated(port)
	w := e.watch("up", "--watch")
	e.holdStarts()
	for i := 1; i <= 3; i++ {
		e.write("s/data", fmt.Sprintf("v%d", i))
		done := make(chan result, 1)
		go func() { done <- e.pets("wait", "--timeout", "60s") }()
		// While its restart is held up, s is stale, and wait waits.
		w.waitLine(`round \d+: restarting s-local$`)
		// (The watching pets is asked: its state is starting, even while
		// the record shows the old process gone and no new one yet.)
		if it := e.freshness()["s-local"]; it.Freshness != "stale" || it.WatchedBy == 0 || it.State != "starting" {
			t.Errorf("during the restart: %+v", it)
		}
		select {
		case r := <-done:
			t.Fatalf("pets wait returned before the restart: %+v", r)
		default:
		}
		e.write("go", "")
		r := <-done
		if r.code != 0 || !strings.Contains(r.stderr, "s-local: ready, fresh") {
			t.Fatalf("pets wait: %d\n%s", r.code, r.stderr)
		}
		if got := readFile(t, filepath.Join(e.dir, "s.seen")); got != fmt.Sprintf("v%d", i) {
			t.Errorf("pets wait returned while s ran %q, want v%d", got, i)
		}
		e.holdStarts()
	}
}

// pets up reuses what is fresh and restarts what drifted while nothing
// watched, saying so.
func TestUpRestartsWhatDrifted(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	before := e.pids()
	e.write("c/data", "new")
	r := e.mustPets("up")
	if !strings.Contains(r.stderr, "The service a-local is already running") || !strings.Contains(r.stderr, "The service c-local is now running") ||
		!strings.Contains(r.stderr, "Restarting c-local: c/data changed while no pets was watching") {
		t.Errorf("pets up:\n%s", r.stderr)
	}
	after := e.pids()
	if after["a-local"] != before["a-local"] || after["b-local"] != before["b-local"] || after["c-local"] == before["c-local"] {
		t.Errorf("pids %v -> %v: want only c restarted", before, after)
	}
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" {
			t.Errorf("%s: %+v", n, it)
		}
	}
	// A comment in the Petsfile: every service's configuration is stale
	// until a pets looks at it; pets up finds nothing changed and restarts
	// nothing.
	e.write("Petsfile", readFile(t, filepath.Join(e.dir, "Petsfile"))+"\n# a comment\n")
	if it := e.freshness()["a-local"]; it.Freshness != "stale" || fmt.Sprint(it.Files) != fmt.Sprint([]string{filepath.Join(e.dir, "Petsfile")}) {
		t.Errorf("after a comment in the Petsfile: %+v", it)
	}
	e.mustPets("up")
	if p := e.pids(); fmt.Sprint(p) != fmt.Sprint(after) {
		t.Errorf("a comment restarted something: %v -> %v", after, p)
	}
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" {
			t.Errorf("%s after pets up looked again: %+v", n, it)
		}
	}
}

// A question asked of a watching pets counts every edit made before it,
// even one still inside the watcher's quiet window (the barrier).
func TestListAndWaitCountEditsNotYetInARound(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch", "--quiet", "1500ms")
	e.write("c/data", "v1")
	t0 := time.Now()
	it := e.freshness()["c-local"]
	if it.Freshness != "stale" || fmt.Sprint(it.Files) != fmt.Sprint([]string{filepath.Join(e.dir, "c", "data")}) {
		t.Errorf("right after the edit (%s later): %+v", time.Since(t0), it)
	}
	// No round may have begun yet: the edit is in the quiet window.
	for _, l := range w.rest() {
		if strings.Contains(l, "round") {
			t.Fatalf("a round began within the quiet window (the test needs it not to): %s", l)
		}
	}
	if e.freshness()["a-local"].Freshness != "fresh" {
		t.Errorf("a is not fresh")
	}
	r := e.mustPets("wait", "c")
	if !strings.Contains(r.stderr, "c-local: ready, fresh") || readFile(t, filepath.Join(e.dir, "c.seen")) != "v1" {
		t.Errorf("pets wait returned before c ran v1: %s (c saw %q)", r.stderr, readFile(t, filepath.Join(e.dir, "c.seen")))
	}
	w.waitLine(`round 1: c/data -> c-local restarted`)
}

// A record without a stamp (written by an older pets) is unknown: pets up
// neither restarts it on a guess nor calls it fresh.
func TestARecordOfAnOlderPetsIsUnknown(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	before := e.pids()
	var st map[string]any
	p := filepath.Join(e.home, "state.json")
	if err := json.Unmarshal([]byte(readFile(t, p)), &st); err != nil {
		t.Fatal(err)
	}
	for _, svc := range st["services"].(map[string]any) {
		delete(svc.(map[string]any), "fresh")
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if it := e.freshness()["a-local"]; it.Freshness != "unknown" {
		t.Errorf("a without a stamp: %+v", it)
	}
	e.write("a/data", "changed meanwhile")
	e.mustPets("up")
	if after := e.pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pets up restarted services it could not judge: %v -> %v", before, after)
	}
	if it := e.freshness()["a-local"]; it.Freshness != "unknown" {
		t.Errorf("a after pets up: %+v (it may run the old a/data: not fresh)", it)
	}
	// A watching pets cannot tell either, until it restarts them.
	w := e.watch("watch")
	if it := e.freshness()["c-local"]; it.Freshness != "unknown" || it.WatchedBy == 0 {
		t.Errorf("c with pets watch attached: %+v", it)
	}
	e.write("a/data", "v2")
	w.waitLine(`round \d+: a/data -> a-local restarted in \S+, b-local bounced`)
	f := e.freshness()
	if f["a-local"].Freshness != "fresh" || f["b-local"].Freshness != "fresh" || f["c-local"].Freshness != "unknown" {
		t.Errorf("after a's restart and b's bounce: a %s, b %s, c %s", f["a-local"].Freshness, f["b-local"].Freshness, f["c-local"].Freshness)
	}
}

// pets up --watch starts the services before it walks what they start
// from; that walk's stamps reach the records (the first pets list waits for
// it), so that with the watching pets gone (kill -9: nothing more is
// written) pets list still says FRESH, and STALE after an edit.
func TestUpWatchRecordsTheStampsItTakesAfterTheStart(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.write("a/data", "v1")
	w := e.watch("up", "--watch")
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" || it.WatchedBy != w.cmd.Process.Pid {
			t.Errorf("%s asked of the watching pets: %+v", n, it)
		}
	}
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.done
	_ = w.cmd.Wait()
	for n, it := range e.freshness() {
		if it.Freshness != "fresh" || it.WatchedBy != 0 {
			t.Errorf("%s from its record, no pets watching: %+v", n, it)
		}
	}
	e.write("a/data", "v2")
	if a := e.freshness()["a-local"]; a.Freshness != "stale" || fmt.Sprint(a.Files) != fmt.Sprint([]string{filepath.Join(e.dir, "a", "data")}) {
		t.Errorf("a after an edit: %+v", a)
	}
	e.mustPets("down")
}

// `pets up --watch > pets.log 2>&1` in the project: the file pets' own
// output goes to is not the service's. Without that, every line pets
// prints about a restart would change a file the service owns, and restart
// it again, for ever; and pets list would say STALE after each line.
func TestWatchIgnoresTheFileItsOutputGoesTo(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	// s owns the whole project, where the output goes.
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("exec $PETSERVER --name s --port %d"), "127.0.0.1", %d)
register("s", "local", s_local)
`, port, port))
	logPath := filepath.Join(e.dir, "pets.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := e.cmd("up", "--watch")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
	text := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	rounds := func() []string { return regexp.MustCompile(`(?m)round \d+: .* -> .*$`).FindAllString(text(), -1) }
	waitFor(t, "pets to watch", func() bool { return strings.Contains(text(), "Watching ") })
	for i, name := range []string{"a.txt", "b.txt"} {
		e.write(name, "1")
		waitFor(t, "the round for "+name, func() bool { return len(rounds()) > i })
		// The next round is the next edit's: the lines of this one, written
		// to pets.log, start none.
		if got := rounds(); len(got) != i+1 || !strings.Contains(got[i], fmt.Sprintf("round %d: %s -> s-local restarted in ", i+1, name)) {
			t.Fatalf("after writing %s, rounds:\n%s\n\noutput:\n%s", name, strings.Join(got, "\n"), text())
		}
	}
	if f := e.freshness()["s-local"]; f.Freshness != "fresh" {
		t.Errorf("pets list: %+v; want fresh (pets.log is pets' own)", f)
	}
}
