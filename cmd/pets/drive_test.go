//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
)

// Seeing and driving the loop: pets restart (with and without a watching
// pets, and while a round runs), pets events -f, one watcher per service,
// a failed service staying listed.

func TestRestartWithoutAWatcherRunsTheRoundInPlace(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	before := e.pids()
	r := e.mustPets("restart", "a")
	if !regexp.MustCompile(`(?m)\] pets restart -> a-local restarted in \S+, b-local bounced in \S+ \(\S+ in all\)$`).MatchString(r.stderr) {
		t.Errorf("pets restart said:\n%s", r.stderr)
	}
	after := e.pids()
	if after["a-local"] == before["a-local"] || after["b-local"] == before["b-local"] || after["c-local"] != before["c-local"] {
		t.Errorf("pids %v -> %v: want a restarted, b bounced, c untouched", before, after)
	}
	// b talks to the new a.
	if body := get(t, e.list()["b-local"].Port); !strings.Contains(body, fmt.Sprintf("a (pid %d)", after["a-local"])) {
		t.Errorf("b answers %q, want the new a (pid %d)", body, after["a-local"])
	}
	if r := e.pets("restart", "nope"); r.code == 0 || !strings.Contains(r.stderr, `unknown service "nope"`) || strings.Contains(r.stderr, "pets up nope") {
		t.Errorf("pets restart nope: %d %s", r.code, r.stderr)
	}
}

// pets restart starts a service that is down, with the dependencies it
// needs, as pets up would; what depends on it and is down stays down.
func TestRestartStartsAServiceThatIsDown(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	e.mustPets("down")
	r := e.mustPets("restart", "b")
	if !regexp.MustCompile(`(?m)\] pets restart -> a-local restarted in \S+, b-local restarted in \S+ \(\S+ in all\)$`).MatchString(r.stderr) {
		t.Errorf("pets restart b said:\n%s", r.stderr)
	}
	l := e.list()
	if l["a-local"].Status != "ready" || l["b-local"].Status != "ready" {
		t.Errorf("after pets restart b: %+v", l)
	}
	if _, ok := l["c-local"]; ok {
		t.Errorf("c started, but only b was asked for: %+v", l)
	}
	if body := get(t, l["b-local"].Port); !strings.Contains(body, fmt.Sprintf("a (pid %d)", l["a-local"].PID)) {
		t.Errorf("b answers %q, want a (pid %d)", body, l["a-local"].PID)
	}
	// With -f too; a stopped dependent stays down.
	e.mustPets("down", "a")
	e.mustPets("restart", "-f", "Petsfile", "a-local")
	if l := e.list(); l["a-local"].Status != "ready" || len(l) != 1 {
		t.Errorf("after pets restart -f Petsfile a-local: %+v", l)
	}
}

// Through a watching pets too: a service pets down stopped is started by
// pets restart (and is the watching pets' again), never left waiting.
func TestRestartThroughTheWatchingPetsStartsAServiceThatIsDown(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.mustPets("down", "b")
	w.waitLine(`pets: b-local was stopped outside this pets \(pets down\)`)
	r := e.mustPets("restart", "b")
	m := w.waitLine(`round (\d+): pets restart -> b-local restarted in `)
	if !strings.Contains(r.stderr, "round "+m[1]+": pets restart -> b-local restarted") {
		t.Errorf("pets restart printed:\n%s\nwant round %s", r.stderr, m[1])
	}
	if l := e.list(); l["b-local"].Status != "ready" {
		t.Errorf("b after pets restart: %+v", l)
	}
	// Watched again: an edit restarts it.
	e.write("b/x", "1")
	w.waitLine(`round \d+: b/x -> b-local restarted`)
	// Its dependency stopped as well (pets down a stops b): both start.
	e.mustPets("down", "a")
	w.waitLine(`pets: a-local was stopped outside this pets \(pets down\)`)
	e.mustPets("restart", "b")
	w.waitLine(`round \d+: pets restart -> a-local restarted in \S+, b-local restarted in `)
	if l := e.list(); l["a-local"].Status != "ready" || l["b-local"].Status != "ready" {
		t.Errorf("a and b after pets restart b: %+v", l)
	}
}

func TestRestartGoesThroughTheWatchingPets(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	before := e.pids()
	r := e.mustPets("restart", "a-local")
	// The watching pets ran it: its round line, and the one pets restart
	// printed, name the same round.
	m := w.waitLine(`round (\d+): pets restart -> a-local restarted in \S+, b-local bounced in `)
	if !strings.Contains(r.stderr, "round "+m[1]+": pets restart -> a-local restarted") {
		t.Errorf("pets restart printed:\n%s\nwant round %s", r.stderr, m[1])
	}
	after := e.pids()
	if after["a-local"] == before["a-local"] || after["b-local"] == before["b-local"] || after["c-local"] != before["c-local"] {
		t.Errorf("pids %v -> %v: want a restarted, b bounced, c untouched", before, after)
	}
}

// A restart asked for while a round runs is queued behind it, never raced:
// the round in progress finishes, then the restart's round runs.
func TestRestartDuringARoundWaitsForIt(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.gated(port)
	w := e.watch("up", "--watch")
	if err := os.Remove(e.dir + "/go"); err != nil {
		t.Fatal(err)
	}
	e.write("s/x", "1")
	w.waitLine(`round 1: restarting s-local$`) // blocked until go exists
	done := make(chan result, 1)
	go func() { done <- e.pets("restart", "s") }()
	// The restart waits for round 1; nothing about it happens until then.
	waitFor(t, "pets restart to have connected to the watching pets", func() bool { return connected(t, e) })
	select {
	case r := <-done:
		t.Fatalf("pets restart returned during round 1: %+v", r)
	default:
	}
	e.write("go", "")
	w.waitLine(`round 1: s/x -> s-local restarted in `)
	w.waitLine(`round 2: pets restart -> s-local restarted in `)
	if r := <-done; r.code != 0 || !strings.Contains(r.stderr, "round 2: pets restart -> s-local restarted") {
		t.Errorf("pets restart: %d\n%s", r.code, r.stderr)
	}
}

// connected says whether a client is connected to the watching pets'
// socket: /proc/net/unix lists the listener and each accepted connection
// with the path the socket was bound at (under the state directory: it is
// bound in a private directory there, then renamed).
func connected(t *testing.T, e *env) bool {
	table, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(table), "\n") {
		if strings.Contains(l, " "+e.home+"/") {
			n++
		}
	}
	return n >= 2
}

func TestEventsFollowShowsTheRound(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	cmd := e.cmd("events", "-f", "-n", "1", "--type", "round.,service.ready,watch.started")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan events.Event, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev events.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("not a JSON event: %s", sc.Text())
				continue
			}
			lines <- ev
		}
		close(lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		wg.Wait()
	})
	// It prints the watch's start first: then it follows, and the edit's
	// round must come.
	deadline := time.After(30 * time.Second)
	select {
	case ev := <-lines:
		if ev.Type != events.WatchStarted {
			t.Fatalf("first event %+v, want watch.started", ev)
		}
	case <-deadline:
		t.Fatal("pets events -f printed nothing")
	}
	e.write("a/main.go", "1")
	var planned, finished *events.Event
	ready := map[string]bool{}
	for finished == nil {
		select {
		case ev, ok := <-lines:
			if !ok {
				t.Fatalf("pets events -f ended:\n%s", w.output())
			}
			if ev.V != events.Version || ev.Source == "" || ev.Time.IsZero() {
				t.Errorf("event without version, source or time: %+v", ev)
			}
			switch ev.Type {
			case events.RoundPlanned:
				planned = &ev
			case events.RoundFinished:
				finished = &ev
			case events.ServiceReady:
				ready[ev.Service] = true
			}
		case <-deadline:
			t.Fatalf("no round in pets events -f; pets said:\n%s", w.output())
		}
	}
	if planned == nil || planned.Round != finished.Round {
		t.Fatalf("planned %+v, finished %+v", planned, finished)
	}
	var got []string
	for _, s := range finished.Steps {
		got = append(got, fmt.Sprintf("%s %s %s (%s)", s.Kind, s.Service, s.Result, s.Reason))
	}
	want := "[restart a-local ok (a/main.go changed) bounce b-local ok (a-local restarted)]"
	if fmt.Sprint(got) != want {
		t.Errorf("steps %v\nwant  %s", got, want)
	}
	if !ready["a-local"] || !ready["b-local"] || ready["c-local"] {
		t.Errorf("ready events for %v", ready)
	}
}

func TestASecondWatcherOfAServiceIsRefused(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	r := e.pets("watch", "b")
	want := fmt.Sprintf("a-local, b-local are already watched by pets (pid %d)", w.cmd.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("a second pets watch: exit %d\n%s\nwant %q", r.code, r.stderr, want)
	}
	if r := e.pets("up", "--watch", "c"); r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("c-local is already watched by pets (pid %d)", w.cmd.Process.Pid)) {
		t.Errorf("a second pets up --watch: exit %d\n%s", r.code, r.stderr)
	}
	// Once the first is gone, watching is free again.
	w.stop()
	e.mustPets("up")
	w2 := e.watch("watch", "b")
	e.write("b/x", "1")
	w2.waitLine(`round 1: b/x -> b-local restarted`)
}

func TestAFailedServiceStaysListedWithItsReason(t *testing.T) {
	e := newEnv(t)
	e.chainWithBadData()
	w := e.watch("up", "--watch")
	e.write("a/data", "bad")
	w.waitLine(`a-local FAILED`)
	l := e.list()
	if l["a-local"].Status != "failed" {
		t.Fatalf("a-local after its failed restart: %+v", l["a-local"])
	}
	table := e.mustPets("list").stdout
	if !regexp.MustCompile(`(?m)^a-local .* failed \(.*exited \(exit status 4\).*\)\s+unknown$`).MatchString(table) {
		t.Errorf("pets list:\n%s", table)
	}
	// The table shortens the reason, and says how to see it whole.
	var items []struct{ Name, Reason string }
	if err := json.Unmarshal([]byte(e.mustPets("list", "-o", "json").stdout), &items); err != nil || len(items) == 0 {
		t.Fatalf("pets list -o json: %v %+v", err, items)
	}
	reason := ""
	for _, it := range items {
		if it.Name == "a-local" {
			reason = it.Reason
		}
	}
	if len(reason) <= 60 {
		t.Fatalf("reason %q: want one too long for the table", reason)
	}
	if r := e.mustPets("list"); strings.Contains(r.stdout, reason) || !strings.Contains(r.stderr, "pets list -o wide shows it whole") {
		t.Errorf("pets list with a long reason:\n%s%s", r.stdout, r.stderr)
	}
	if r := e.mustPets("list", "-o", "wide"); !strings.Contains(r.stdout, "failed ("+reason+")") || r.stderr != "" {
		t.Errorf("pets list -o wide: want the reason %q whole:\n%s%s", reason, r.stdout, r.stderr)
	}
	e.write("a/data", "good")
	w.waitLine(`a-local restarted in `)
	if st := e.list()["a-local"].Status; st != "ready" {
		t.Errorf("after the fix: %s", st)
	}
}

// The events of a watching pets killed with kill -9 are in the events file:
// every event is written, whole, as it happens.
func TestEventsOfAKilledWatcherAreKept(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.write("a/main.go", "1")
	w.waitLine(roundRE)
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.done
	_ = w.cmd.Wait()
	r := e.mustPets("events", "-n", "-1", "--type", "round.finished,watch.started,service.ready")
	var types []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev events.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not an event: %q", l)
		}
		if ev.Source != fmt.Sprintf("watch %d", w.cmd.Process.Pid) {
			t.Errorf("an event of %q, want the watcher's", ev.Source)
		}
		types = append(types, string(ev.Type)+" "+ev.Service)
	}
	// The first start runs c beside a and b (it depends on neither), so
	// only a before b is fixed there; the round after it is one chain.
	i := slices.Index(types, "watch.started ")
	if i < 0 {
		t.Fatalf("no watch.started kept: %v", types)
	}
	up := slices.Clone(types[:i])
	if a, b := slices.Index(up, "service.ready a-local"), slices.Index(up, "service.ready b-local"); a < 0 || b < a {
		t.Errorf("first start: %v, want a ready before b", up)
	}
	slices.Sort(up)
	if got, want := fmt.Sprint(up), "[service.ready a-local service.ready b-local service.ready c-local]"; got != want {
		t.Errorf("first start kept %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(types[i+1:]), "[service.ready a-local service.ready b-local round.finished ]"; got != want {
		t.Errorf("round kept %s, want %s (all kept: %v)", got, want, types)
	}
	// What it left is still recorded: pets down stops it, and removes the
	// socket the killed pets could not.
	e.mustPets("down")
	if socks, _ := filepath.Glob(filepath.Join(e.home, "watch-*.sock")); len(socks) != 0 {
		t.Errorf("sockets left after pets down: %v", socks)
	}
}

// A state directory whose path is too long for a socket address: the
// watching pets listens on a short private path instead, and pets restart
// finds it through the record.
func TestRequestsWorkWithALongStateDirectory(t *testing.T) {
	e := newEnv(t)
	e.home = filepath.Join(e.home, strings.Repeat("a-rather-long-directory-name-", 5))
	if err := os.MkdirAll(e.home, 0o755); err != nil {
		t.Fatal(err)
	}
	e.chain()
	w := e.watch("up", "--watch")
	var st struct {
		Watchers []struct {
			Socket string `json:"socket"`
		} `json:"watchers"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(e.home, "state.json"))), &st); err != nil || len(st.Watchers) != 1 {
		t.Fatalf("watchers recorded: %+v (%v)", st, err)
	}
	if s := st.Watchers[0].Socket; strings.HasPrefix(s, e.home) || len(s) >= 108 {
		t.Errorf("socket at %s (%d bytes): want a short path outside the state directory", s, len(s))
	}
	r := e.mustPets("restart", "c")
	w.waitLine(`round \d+: pets restart -> c-local restarted`)
	if !strings.Contains(r.stderr, "pets restart -> c-local restarted") {
		t.Errorf("pets restart:\n%s", r.stderr)
	}
}

// The record of what a pets watches follows its reloads: a service a
// reload adds is its (pets restart goes to it; a second watcher is
// refused).
func TestTheWatcherRecordFollowsReloads(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	dport := freePort(t)
	e.edit("Petsfile", func(s string) string {
		return s + fmt.Sprintf("\nregister(\"d\", \"local\", lambda: service(start(\"exec $PETSERVER --name d --port %d\"), \"127.0.0.1\", %d), watch=[\"d/**\"])\n", dport, dport)
	})
	w.reloaded("d-local", "", "", 3)
	if r := e.pets("watch", "d"); r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("d-local is already watched by pets (pid %d)", w.cmd.Process.Pid)) {
		t.Errorf("a second watcher of the added service: exit %d\n%s", r.code, r.stderr)
	}
	e.mustPets("restart", "d")
	w.waitLine(`round \d+: pets restart -> d-local restarted`)
}

// pets watch (attached, no names) applies a reload as pets up --watch does:
// an added service starts, a removed one stops.
func TestWatchAppliesAddedAndRemovedServices(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	w := e.watch("watch")
	dport := freePort(t)
	e.edit("Petsfile", func(s string) string {
		return s + fmt.Sprintf("\nregister(\"d\", \"local\", lambda: service(start(\"exec $PETSERVER --name d --port %d\"), \"127.0.0.1\", %d), watch=[\"d/**\"])\n", dport, dport)
	})
	w.reloaded("d-local", "", "", 3)
	if l := e.list(); l["d-local"].Status != "ready" {
		t.Errorf("d after it was added: %+v", l["d-local"])
	}
	e.edit("Petsfile", func(s string) string {
		i := strings.Index(s, "\ndef c_local")
		j := strings.Index(s[i:], `ignore=["c/ignored/**"])`) + i + len(`ignore=["c/ignored/**"])`)
		return s[:i] + s[j:]
	})
	w.reloaded("", "c-local", "", 3)
	if _, ok := e.list()["c-local"]; ok {
		t.Error("c still recorded after it was removed from the Petsfile")
	}
	// A comment restarts nothing and starts nothing that was not running.
	e.write("e/keep", "")
	e.edit("Petsfile", func(s string) string { return s + "\n# a comment\n" })
	if m := w.reloaded("", "", "", 3); m[8] != "" {
		t.Errorf("a comment restarted something: %s", m[0])
	}
}

// pets down of a service a pets watches: the watching pets leaves it alone
// (no crash, no restart on its next change) until it runs again.
func TestDownOfAWatchedServiceIsNotUndone(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.mustPets("down", "c")
	w.waitLine(`pets: c-local was stopped outside this pets \(pets down\)`)
	e.write("c/x", "1")
	e.write("a/x", "1")
	w.waitLine(`round \d+: a/x -> a-local restarted in \S+, b-local bounced in `)
	if _, ok := e.list()["c-local"]; ok {
		t.Error("c runs again after pets down, because a pets watched it")
	}
	for _, l := range w.rest() {
		if strings.Contains(l, "c-local is not running any more") || strings.Contains(l, "c-local restarted") {
			t.Errorf("after pets down: %s", l)
		}
	}
	// Started again by pets up: watched again.
	e.mustPets("up", "c")
	w.waitLine(`pets: c-local was started again outside this pets; watched again`)
	e.write("c/y", "1")
	w.waitLine(`round \d+: c/y -> c-local restarted`)
}

// The same, with the edits right after pets down and pets up, before the
// watching pets' periodic check (every second) can have noticed either:
// the round looks at what it is about to restart. b's own change does not
// start it, nor does a's restart bounce it; once pets up has started b
// again, its next change restarts it.
func TestDownOfAWatchedServiceIsNotUndoneByAnImmediateEdit(t *testing.T) {
	e := newEnv(t)
	e.chain() // a <- b, c
	w := e.watch("up", "--watch")
	e.mustPets("down", "b")
	e.write("b/x", "1")
	e.write("a/x", "1")
	w.waitLine(`round \d+: a/x -> a-local restarted in \S+ \(\S+ in all\)$`)
	w.settle(e)
	if l, ok := e.list()["b-local"]; ok {
		t.Errorf("b runs again after pets down, because a pets watched it: %+v", l)
	}
	for _, l := range strings.Split(w.output(), "\n") {
		if strings.Contains(l, "b-local restarted") || strings.Contains(l, "b-local bounced") || strings.Contains(l, "b-local started") ||
			strings.Contains(l, "b-local is not running any more") {
			t.Errorf("after pets down: %s", l)
		}
	}
	e.mustPets("up", "b")
	e.write("b/y", "1")
	w.waitLine(`round \d+: b/y -> b-local restarted in `)
}

// pets down of a service while a round that will bounce it is under way
// (its dependency still starting): the bounce, when its turn comes, finds it
// stopped and leaves it so. The round had looked at it before it began, and
// the bounce started it again.
func TestDownDuringARoundIsNotUndoneByItsBounce(t *testing.T) {
	e := newEnv(t)
	e.chain() // a <- b, c
	e.edit("Petsfile", func(s string) string {
		return strings.Replace(s, `cat a/data > a.seen 2>/dev/null;`, `while [ ! -e go ]; do sleep 0.02; done; cat a/data > a.seen 2>/dev/null;`, 1)
	})
	e.write("go", "")
	w := e.watch("up", "--watch")
	e.holdStarts()
	e.write("a/x", "1")
	w.waitLine(`round \d+: restarting a-local$`) // a waits for "go", b for a
	e.mustPets("down", "b")
	e.write("go", "")
	w.waitLine(`round \d+: a/x -> a-local restarted in \S+, b-local skipped \(stopped meanwhile by pets down\) \(\S+ in all\)$`)
	w.settle(e)
	if l, ok := e.list()["b-local"]; ok {
		t.Errorf("b runs again after pets down, started by the round under way: %+v", l)
	}
	// Left alone: a's next restart does not bounce it.
	e.write("a/y", "1")
	w.waitLine(`round \d+: a/y -> a-local restarted in \S+ \(\S+ in all\)$`)
	if _, ok := e.list()["b-local"]; ok {
		t.Error("b runs again after pets down and a's next restart")
	}
}

// With a Petsfile that does not evaluate, pets wait fails at once, naming
// the error, instead of waiting out its timeout.
func TestWaitAfterABrokenPetsfileSaysSo(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.edit("Petsfile", func(s string) string { return s + "\nthis is not starlark\n" })
	w.waitLine(`changed but does not evaluate`)
	t0 := time.Now()
	r := e.pets("wait", "--timeout", "30s")
	if r.code == 0 || !strings.Contains(r.stderr, "the Petsfile does not evaluate: ") || !strings.Contains(r.stderr, "Petsfile:") {
		t.Errorf("pets wait: exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("pets wait took %s to fail", d)
	}
	it := e.freshness()["a-local"]
	if it.Freshness != "stale" || !strings.Contains(it.Reason, "does not evaluate") || fmt.Sprint(it.Files) != fmt.Sprint([]string{filepath.Join(e.dir, "Petsfile")}) {
		t.Errorf("a after the broken edit: %+v", it)
	}
}

// A service that crashes again and again restarts by itself with a growing
// backoff, each restart one line with its exit status.
func TestWatchCrashLoopBacksOff(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("s/keep", "")
	// Ready (the server answers), then the service exits 3 a moment later.
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("$PETSERVER --name s --port %[1]d & p=$!; sleep 0.3; kill $p; exit 3"), "127.0.0.1", %[1]d)
register("s", "local", s_local, watch=["s/**"])
`, port))
	w := e.watch("up", "--watch")
	for _, after := range []string{"500ms", "1s", "2s"} {
		w.waitLine(`pets: s-local is not running any more \(exit status 3\) .*it restarts by itself`)
		w.waitLine(`round \d+: s-local crashed \(exit status 3\)( \d+ times in a row)?; restarted after ` + after + ` -> s-local restarted in `)
	}
	// A change to its files restarts it at once, whatever the backoff.
	w.waitLine(`pets: s-local is not running any more`)
	e.write("s/fix", "1")
	w.waitLine(`round \d+: s/fix -> s-local restarted in `)
}

// With restart_policy="no" a crash waits for the next change to the
// service's files, as every crash did before restart policies.
func TestWatchCrashWaitsForAChangeWithRestartPolicyNo(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.edit("Petsfile", func(s string) string {
		return strings.Replace(s, `register("a", "local", a_local, deps=[]`, `register("a", "local", a_local, restart_policy="no", deps=[]`, 1)
	})
	if !strings.Contains(readFile(t, filepath.Join(e.dir, "Petsfile")), `restart_policy="no"`) {
		t.Fatal("the test's Petsfile edit did not apply")
	}
	w := e.watch("up", "--watch")
	pid := e.pids()["a-local"]
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.waitLine(`pets: a-local is not running any more \(signal: killed\) \(see pets logs a-local\); it restarts on the next change to its files`)
	w.settle(e)
	if l := e.list()["a-local"]; l.Status != "crashed" {
		t.Errorf("a restarted by itself with restart_policy no: %+v", l)
	}
	e.write("a/fix.go", "1")
	w.waitLine(`round \d+: .*a/fix.go -> a-local restarted in \S+, b-local bounced`)
}

// Build before stop: the old server answers while the new one builds; a
// failed build keeps it running and answering, and the round says so; the
// first up of a service whose build fails fails it.
func TestBuildBeforeStopKeepsTheOldVersionServing(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("src/msg", "v1")
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("exec $PETSERVER --name $(cat out/msg) --port %[1]d"), "127.0.0.1", %[1]d)
register("s", "local", s_local, watch=["src/**"],
         build="if [ -e src/broken ]; then echo 'src/msg:1: syntax error' >&2; exit 2; fi; mkdir -p out && cp src/msg out/msg",
         build_outputs=["out/**"])
`, port))
	w := e.watch("up", "--watch")
	if got := get(t, port); !strings.HasPrefix(got, "v1 ") {
		t.Fatalf("the first build's server answers %q", got)
	}
	e.write("src/broken", "")
	e.write("src/msg", "v2")
	w.waitLine(`round \d+: .* -> s-local build FAILED after \S+, still running the previous version`)
	w.waitLine(`pets: s-local: build failed, still running the previous version`)
	w.waitLine(`src/msg:1: syntax error`)
	if got := get(t, port); !strings.HasPrefix(got, "v1 ") {
		t.Errorf("after a failed build the service answers %q; want the previous version, v1", got)
	}
	if l := e.list()["s-local"]; l.Status != "ready" {
		t.Errorf("after a failed build: %+v", l)
	}
	if it := e.freshness()["s-local"]; it.Freshness != "stale" {
		t.Errorf("after a failed build, freshness %+v", it)
	}
	// pets wait fails at once, saying why, rather than waiting out its
	// timeout for a service that stays stale until the next change.
	if r := e.pets("wait", "--timeout", "20s"); r.code == 0 || !strings.Contains(r.stderr, "s-local is stale: its build failed") ||
		!strings.Contains(r.stderr, "a change to its files builds again") {
		t.Errorf("pets wait after a failed build: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(e.dir, "src", "broken")); err != nil {
		t.Fatal(err)
	}
	w.waitLine(`round \d+: .* -> s-local restarted in `)
	if got := get(t, port); !strings.HasPrefix(got, "v2 ") {
		t.Errorf("after the fix the service answers %q", got)
	}
	w.stop()

	// A first up whose build fails fails the service, with the build's output.
	e.write("src/broken", "")
	r := e.pets("up")
	if r.code == 0 || !strings.Contains(r.stderr, "s-local failed") || !strings.Contains(r.stderr, "src/msg:1: syntax error") {
		t.Errorf("pets up with a failing build: exit %d\n%s", r.code, r.stderr)
	}
	if _, ok := e.list()["s-local"]; ok {
		t.Error("a service whose first build failed is recorded")
	}
}

// A change to an env file restarts the services that name it, and only
// them; the new process has the new value.
func TestEnvFileChangeRestartsWhatNamesIt(t *testing.T) {
	e := newEnv(t)
	pa, pb := freePort(t), freePort(t)
	e.write(".gitignore", ".env\n") // env files are watched whatever the ignore rules say
	e.write(".env", "GREETING=hello\n")
	e.write("a/keep", "")
	e.write("b/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
register("a", "local", lambda: service(start("echo $GREETING > a.seen; exec $PETSERVER --name a --port %[1]d"), "127.0.0.1", %[1]d), watch=["a/**"], env_files=[".env"])
register("b", "local", lambda: service(start("exec $PETSERVER --name b --port %[2]d"), "127.0.0.1", %[2]d), watch=["b/**"])
`, pa, pb))
	w := e.watch("up", "--watch")
	before := e.pids()
	if got := readFile(t, filepath.Join(e.dir, "a.seen")); got != "hello\n" {
		t.Errorf("a saw GREETING=%q", got)
	}
	e.write(".env", "GREETING=bonjour\n")
	w.waitLine(`round \d+: env file \.env changed -> a-local restarted in `)
	if got := readFile(t, filepath.Join(e.dir, "a.seen")); got != "bonjour\n" {
		t.Errorf("after the edit a saw GREETING=%q", got)
	}
	if after := e.pids(); after["b-local"] != before["b-local"] || after["a-local"] == before["a-local"] {
		t.Errorf("pids %v -> %v: want only a restarted", before, after)
	}
}

// The case: another program already listens on a service's port.
// pets up fails at once, naming it, instead of calling its pages the
// service's.
func TestUpRefusesAPortAnotherProgramHolds(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	other := exec.Command("python3", "-m", "http.server", fmt.Sprint(port), "--bind", "127.0.0.1")
	other.Dir = t.TempDir()
	if err := other.Start(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 (the issue's other program) is missing: %v", err)
		}
		t.Skipf("python3 is not here to hold the port: %v", err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	waitFor(t, "the other program to listen", func() bool { return fetchable(port) })
	e.write("Petsfile", fmt.Sprintf(`register("backend", "local", lambda: service(start("exec $PETSERVER --name backend --port %[1]d"), "127.0.0.1", %[1]d))`+"\n", port))
	t0 := time.Now()
	r := e.pets("up", "--timeout", "30s")
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("127.0.0.1:%d is already in use by pid %d (", port, other.Process.Pid)) ||
		!strings.Contains(r.stderr, fmt.Sprintf("python3 -m http.server %d --bind 127.0.0.1); stop it, or give this service another port", port)) {
		t.Errorf("pets up on a port another program holds: exit %d\n%s", r.code, r.stderr)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("it took %s to say so", d)
	}
	if len(e.list()) != 0 {
		t.Errorf("recorded: %v", e.list())
	}
}

// pets wait -f takes a relative path as every other command does: the
// record has the Petsfile's absolute path, and -f is resolved against the
// current directory before it is compared with it (with a pets watching,
// and without).
func TestWaitTakesARelativePetsfilePath(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	parent, base := filepath.Dir(e.dir), filepath.Base(e.dir)
	waitIn := func(dir string, args ...string) {
		t.Helper()
		if r := e.petsIn(dir, append([]string{"wait", "--timeout", "30s"}, args...)...); r.code != 0 {
			t.Errorf("in %s, pets wait %s: exit %d\n%s", dir, strings.Join(args, " "), r.code, r.stderr)
		}
	}
	check := func() {
		t.Helper()
		waitIn(parent, "-f", base+"/Petsfile")
		waitIn(parent, "-f", "./"+base+"/Petsfile")
		waitIn(parent, "-f", base)
		waitIn(e.dir, "-f", "Petsfile")
	}
	check()
	e.watch("watch")
	check()
}

// pets wait --timeout T through a watching pets gives up after T and says
// T: the watching pets used to be given a second less, and said so
// ("timed out after 1.999s" for --timeout 3s).
func TestWaitThroughTheWatcherTimesOutAfterItsTimeout(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.gated(port)
	w := e.watch("up", "--watch")
	e.holdStarts()
	e.write("s/data", "v1")
	w.waitLine(`round 1: restarting s-local`) // held in its start until "go" exists
	r := e.pets("wait", "--timeout", "3s")
	if r.code == 0 || !strings.Contains(r.stderr, "timed out after 3s") {
		t.Errorf("pets wait --timeout 3s: exit %d\n%s", r.code, r.stderr)
	}
	e.write("go", "")
	w.waitLine(roundRE)
}

// pets wait outside any project names the Petsfiles of what runs, as -f
// arguments that work from there (it used to suggest make demo, with the
// demo running).
func TestWaitOutsideAProjectNamesTheRunningPetsfiles(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	elsewhere := t.TempDir()
	r := e.petsIn(elsewhere, "wait", "--timeout", "30s")
	m := regexp.MustCompile(`pets wait -f (\S+)`).FindStringSubmatch(r.stderr)
	if r.code == 0 || m == nil {
		t.Fatalf("pets wait outside the project: exit %d, want a failure naming the running Petsfile:\n%s", r.code, r.stderr)
	}
	if r := e.petsIn(elsewhere, "wait", "--timeout", "30s", "-f", m[1]); r.code != 0 {
		t.Errorf("the suggested pets wait -f %s: exit %d\n%s", m[1], r.code, r.stderr)
	}
}
