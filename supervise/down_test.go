//go:build linux

package supervise

// Stopping recorded services: Supervisor.Down, StopService, DownAll.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

func TestDownStopsWholeGroupAndRemovesRecord(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	line := "(sleep 1000 & echo $! > grandchild.pid; wait) & echo $! > child.pid; " + serverCmd("api", port)
	project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", provider)
`, star(line), port))
	out := &syncBuffer{}
	s := w.supervisor(project, out)
	v := up(t, s, apiKey)
	child := readPID(t, filepath.Join(w.dir, "child.pid"))
	grandchild := readPID(t, filepath.Join(w.dir, "grandchild.pid"))
	id := w.record("api").Procs[0].Identity
	if err := s.Down(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		what string
		pid  int
	}{{"server", v.PID}, {"child", child}, {"grandchild", grandchild}} {
		if !gone(p.pid) {
			t.Errorf("the %s (pid %d) survived Down", p.what, p.pid)
		}
	}
	if proc.GroupAlive(id) {
		t.Errorf("group %v survived Down", id)
	}
	if proc.Accepting(addr(port)) {
		t.Errorf("port %d still accepts after Down", port)
	}
	if rec, ok := w.lookup("api"); ok {
		t.Errorf("still recorded after Down: %+v", rec)
	}
	contains(t, "progress", out.String(), "Stopping api-local")
	if _, err := os.Stat(w.state.LogPath("api", "local")); err != nil {
		t.Errorf("the log did not survive Down: %v", err)
	}
}

func TestDownKillsServerThatIgnoresTerm(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port, "--ignore-term")), nil)
	s.Grace = 500 * time.Millisecond
	up(t, s, apiKey)
	id := w.record("api").Procs[0].Identity
	t0 := time.Now()
	if err := s.Down(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < s.Grace {
		t.Errorf("Down returned after %s, before the %s grace period ran out", took, s.Grace)
	}
	if proc.GroupAlive(id) {
		t.Errorf("the server that ignores SIGTERM survived Down")
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("still recorded after Down")
	}
}

func TestDownOfUnrecordedService(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", freePort(t))), out)
	if err := s.Down(context.Background(), apiKey); err != nil {
		t.Fatalf("Down of a service that is not running = %v", err)
	}
	if out.String() != "" {
		t.Errorf("Down of a service that is not running said %q", out.String())
	}
}

// Down of a name at one tier leaves another tier of the name running.
func TestDownLeavesAnotherTierAlone(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	out := &syncBuffer{}
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), out)
	v := up(t, s, apiKey)
	said := out.String()
	if err := s.Down(context.Background(), petsfile.Key{Name: "api", Tier: "prod"}); err != nil {
		t.Fatal(err)
	}
	if rec := w.record("api"); rec.Tier != "local" || rec.PID != v.PID || gone(v.PID) {
		t.Errorf("Down(api-prod) touched api-local: %+v", rec)
	}
	if more := strings.TrimPrefix(out.String(), said); more != "" {
		t.Errorf("Down(api-prod) said %q", more)
	}
}

// trapping is a command that, once ready (it touches name.ready), appends
// name to the file order when it gets SIGTERM and exits.
func trapping(name string) string {
	return fmt.Sprintf("trap 'echo %s >> order; exit 0' TERM; touch %s.ready; sleep 1000 & wait", name, name)
}

// waitReady waits until the trapping commands for names are ready.
func (w *world) waitReady(names ...string) {
	w.t.Helper()
	for _, n := range names {
		p := filepath.Join(w.dir, n+".ready")
		waitFor(w.t, n+" to be ready", func() bool { _, err := os.Stat(p); return err == nil })
	}
}

// stopOrder returns the names the trapping commands wrote, in order.
func (w *world) stopOrder() []string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "order"))
	return strings.Fields(string(b))
}

func TestStopServiceStopsNewestFirst(t *testing.T) {
	w := newWorld(t)
	first := w.startProc(trapping("first"))
	second := w.startProc(trapping("second"))
	w.waitReady("first", "second")
	rec := &state.Service{Name: "api", Tier: "local", Status: state.Ready, Procs: []state.Proc{
		{Identity: first.Identity, Cmd: "first"}, {Identity: second.Identity, Cmd: "second"},
	}}
	w.addRecord(rec)
	how, err := StopService(context.Background(), w.state, rec, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.stopOrder(), " "); got != "second first" {
		t.Errorf("stopped in the order %q; want newest first: \"second first\"", got)
	}
	if want := []proc.Stopped{proc.Terminated, proc.Terminated}; fmt.Sprint(how) != fmt.Sprint(want) {
		t.Errorf("StopService = %v; want %v", how, want)
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("still recorded after StopService")
	}
}

func TestStopServiceOfExitedProcesses(t *testing.T) {
	w := newWorld(t)
	rec := &state.Service{Name: "api", Tier: "local", Status: state.Ready, Procs: []state.Proc{
		{Identity: w.exited("true"), Cmd: "true"}, {Identity: w.exited("echo done"), Cmd: "echo done"},
	}}
	w.addRecord(rec)
	how, err := StopService(context.Background(), w.state, rec, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []proc.Stopped{proc.AlreadyGone, proc.AlreadyGone}; fmt.Sprint(how) != fmt.Sprint(want) {
		t.Errorf("StopService = %v; want %v", how, want)
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("still recorded after StopService")
	}
}

func TestStopServiceSparesReusedPID(t *testing.T) {
	w := newWorld(t)
	p := w.startProc("exec sleep 1000")
	// The record names an earlier process that had this pid.
	stale := proc.Identity{PID: p.PID, Start: p.Start - 1}
	rec := &state.Service{Name: "api", Tier: "local", Status: state.Ready, Procs: []state.Proc{{Identity: stale, Cmd: "old"}}}
	w.addRecord(rec)
	how, err := StopService(context.Background(), w.state, rec, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(how) != 1 || how[0] != proc.AlreadyGone {
		t.Errorf("StopService = %v; want [already gone]", how)
	}
	if !proc.Alive(p.Identity) {
		t.Error("StopService killed the process that now holds a recorded pid")
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("still recorded after StopService")
	}
}

func TestStopServiceKillsAfterGrace(t *testing.T) {
	w := newWorld(t)
	p := w.startProc("trap '' TERM; touch stubborn.ready; exec sleep 1000")
	w.waitReady("stubborn")
	rec := &state.Service{Name: "api", Tier: "local", Status: state.Ready, Procs: []state.Proc{{Identity: p.Identity, Cmd: "stubborn"}}}
	w.addRecord(rec)
	const grace = 300 * time.Millisecond
	t0 := time.Now()
	how, err := StopService(context.Background(), w.state, rec, grace)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < grace {
		t.Errorf("StopService returned after %s, before the grace period", took)
	}
	if len(how) != 1 || how[0] != proc.Killed {
		t.Errorf("StopService = %v; want [killed after the grace period]", how)
	}
	if proc.GroupAlive(p.Identity) {
		t.Error("the process that ignores SIGTERM survived")
	}
}

// chain brings up db <- api <- web (web depends on api, api on db) and an
// unrelated other, each a worker that records when it is stopped.
func (w *world) chain() {
	w.t.Helper()
	project := loadProject(w.t, w.dir, fmt.Sprintf(`
def worker(name):
    start(%s %% (name, name))

def db_local():
    worker("db")

def api_local(db):
    worker("api")

def web_local(api):
    worker("web")

def other_local():
    worker("other")

register("db", "local", db_local)
register("api", "local", api_local, deps=["db"])
register("web", "local", web_local, deps=["api"])
register("other", "local", other_local)
`, star(strings.NewReplacer("first", "%s").Replace(trapping("first")))))
	s := w.supervisor(project, nil)
	for _, n := range []string{"db", "api", "web", "other"} {
		var deps []petsfile.Value
		if n == "api" || n == "web" {
			deps = []petsfile.Value{{}}
		}
		up(w.t, s, petsfile.Key{Name: n, Tier: "local"}, deps...)
	}
	w.waitReady("db", "api", "web", "other")
}

// running returns the names of recorded services whose processes run.
func (w *world) running() []string {
	w.t.Helper()
	f, err := w.state.Read()
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, k := range Graph(f).Order {
		if Alive(f.Services[k.Name]) {
			out = append(out, k.Name)
		}
	}
	return out
}

// before reports whether a comes before b in order (both present).
func before(order []string, a, b string) bool {
	ia, ib := -1, -1
	for i, n := range order {
		switch n {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia >= 0 && ib >= 0 && ia < ib
}

func TestDownAllStopsDependentsFirst(t *testing.T) {
	w := newWorld(t)
	w.chain()
	out := &syncBuffer{}
	if err := DownAll(context.Background(), w.state, nil, 5*time.Second, out, nil); err != nil {
		t.Fatal(err)
	}
	order := w.stopOrder()
	if len(order) != 4 || !before(order, "web", "api") || !before(order, "api", "db") {
		t.Errorf("stopped %v; want all four, web before api before db", order)
	}
	var said []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		said = append(said, strings.TrimSuffix(strings.TrimPrefix(l, "Stopping "), "-local"))
	}
	// Services that do not depend on each other may be stopped side by
	// side: what is said keeps the dependency order, not the exact one.
	sorted := func(x []string) string { x = append([]string(nil), x...); sort.Strings(x); return fmt.Sprint(x) }
	if sorted(said) != sorted(order) || !before(said, "web", "api") || !before(said, "api", "db") {
		t.Errorf("said %q; want \"Stopping NAME-local\" for each of %v, web before api before db", out.String(), order)
	}
	if f, _ := w.state.Read(); len(f.Services) != 0 {
		t.Errorf("still recorded: %v", f.Services)
	}
}

func TestDownAllNamedStopsItsDependents(t *testing.T) {
	w := newWorld(t)
	w.chain()
	if err := DownAll(context.Background(), w.state, []string{"api"}, 5*time.Second, &syncBuffer{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.stopOrder(), " "); got != "web api" {
		t.Errorf("stopped %q; want \"web api\"", got)
	}
	if got := fmt.Sprint(w.running()); got != "[db other]" {
		t.Errorf("running after down api: %s; want [db other]", got)
	}
}

func TestDownAllAcceptsNameTier(t *testing.T) {
	w := newWorld(t)
	w.chain()
	if err := DownAll(context.Background(), w.state, []string{"db-local"}, 5*time.Second, &syncBuffer{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.stopOrder(), " "); got != "web api db" {
		t.Errorf("stopped %q; want \"web api db\"", got)
	}
	if got := fmt.Sprint(w.running()); got != "[other]" {
		t.Errorf("running after down db-local: %s; want [other]", got)
	}
}

func TestDownAllUnknownNameStopsNothing(t *testing.T) {
	w := newWorld(t)
	w.chain()
	for _, names := range [][]string{{"nope"}, {"api", "nope"}, {"api-prod"}} {
		bad := names[len(names)-1]
		err := DownAll(context.Background(), w.state, names, 5*time.Second, &syncBuffer{}, nil)
		var uerr *petsfile.UsageError
		if !errors.As(err, &uerr) {
			t.Fatalf("DownAll(%v) = %v (%T); want a *petsfile.UsageError", names, err, err)
		}
		if want := bad + " is not running"; uerr.Msg != want {
			t.Errorf("DownAll(%v): message %q; want %q", names, uerr.Msg, want)
		}
		if want := "running: api-local, db-local, other-local, web-local"; uerr.Hint != want {
			t.Errorf("DownAll(%v): hint %q; want %q", names, uerr.Hint, want)
		}
	}
	if order := w.stopOrder(); len(order) != 0 {
		t.Errorf("a refused down stopped %v", order)
	}
	if got := fmt.Sprint(w.running()); got != "[db api other web]" {
		t.Errorf("running after refused downs: %s; want all four", got)
	}
}

func TestDownAllWhenNothingRuns(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	if err := DownAll(context.Background(), w.state, nil, time.Second, out, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Nothing is running.\n" {
		t.Errorf("DownAll with nothing running said %q", out.String())
	}
	err := DownAll(context.Background(), w.state, []string{"api"}, time.Second, out, nil)
	var uerr *petsfile.UsageError
	if !errors.As(err, &uerr) || uerr.Msg != "api is not running" || uerr.Hint != "nothing is running" {
		t.Errorf("DownAll(api) with nothing running = %#v; want \"api is not running\", hint \"nothing is running\"", err)
	}
}

func TestDownAllSaysKilledAfterGrace(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, `
def provider():
    start("trap '' TERM; touch stubborn.ready; exec sleep 1000")

register("stubborn", "local", provider)
`)
	up(t, w.supervisor(project, nil), petsfile.Key{Name: "stubborn", Tier: "local"})
	w.waitReady("stubborn")
	id := w.record("stubborn").Procs[0].Identity
	out := &syncBuffer{}
	if err := DownAll(context.Background(), w.state, nil, 300*time.Millisecond, out, nil); err != nil {
		t.Fatal(err)
	}
	if want := "Stopping stubborn-local\n  stubborn-local ignored SIGTERM; killed after 300ms\n"; out.String() != want {
		t.Errorf("DownAll said %q; want %q", out.String(), want)
	}
	if proc.GroupAlive(id) {
		t.Error("the service that ignores SIGTERM survived")
	}
}

// eventLog collects events (safe for any goroutine).
type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *eventLog) Emit(e events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

func (l *eventLog) all() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Event(nil), l.evs...)
}

func TestDownAllEmitsStoppedEvents(t *testing.T) {
	w := newWorld(t)
	w.chain()
	sink := &eventLog{}
	if err := DownAll(context.Background(), w.state, []string{"api"}, 5*time.Second, &syncBuffer{}, sink); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range sink.all() {
		if e.Type == events.ServiceStopped {
			got = append(got, fmt.Sprintf("%s %s %q", e.Service, e.State, e.Reason))
		}
	}
	if want := []string{`web-local stopped "pets down"`, `api-local stopped "pets down"`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("service.stopped events %v; want %v", got, want)
	}
}

func TestDownAllRemovesFailedRecord(t *testing.T) {
	w := newWorld(t)
	w.addRecord(&state.Service{Name: "api", Tier: "local", Status: state.Failed, Reason: "it exited (exit status 2)"})
	out := &syncBuffer{}
	if err := DownAll(context.Background(), w.state, []string{"api"}, time.Second, out, nil); err != nil {
		t.Fatal(err)
	}
	if rec, ok := w.lookup("api"); ok {
		t.Errorf("the failed service is still recorded after down: %+v", rec)
	}
	contains(t, "DownAll's output", out.String(), "Stopping api-local")
}
