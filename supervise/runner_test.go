//go:build linux

package supervise

// The rebuild.Runner the engine drives: Check, Alive, Up (Down is in
// down_test.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
)

func TestUpRecordsReadyService(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	s := w.supervisor(project, nil)
	s.Fingerprints = map[petsfile.Key]string{apiKey: "fp-1"}
	v := up(t, s, apiKey)
	if v.PID == 0 || v.Hostname != "127.0.0.1" || v.Port != port {
		t.Fatalf("Up = %+v; want the server's pid at 127.0.0.1:%d", v, port)
	}
	rec := w.record("api")
	if rec.Tier != "local" || rec.Status != state.Ready || rec.PID != v.PID || rec.Hostname != "127.0.0.1" || rec.Port != port ||
		rec.Petsfile != project.Path || rec.Root != project.Path || rec.Fingerprint != "fp-1" {
		t.Errorf("record %+v does not match the service that came up (%+v from %s)", rec, v, project.Path)
	}
	if len(rec.Procs) != 1 || rec.Procs[0].Child.PID != v.PID || !rec.Procs[0].Waiter || !proc.GroupAlive(rec.Procs[0].Identity) || !proc.GroupAlive(rec.Procs[0].Child) {
		t.Errorf("recorded processes %+v; want the one live server, pid %d, under its live waiter", rec.Procs, v.PID)
	}
	if rec.Tracking != TrackCgroup && rec.Tracking != TrackEnviron || rec.Instance == "" {
		t.Errorf("record %+v: tracking %q, instance %q", rec, rec.Tracking, rec.Instance)
	}
	// The server's output reaches the log through its waiter, which copies
	// it while pets checks the port: the line may come a moment after Up.
	var log string
	waitFor(t, "the server's line in its log", func() bool {
		b, err := os.ReadFile(w.state.LogPath("api", "local"))
		log = string(b)
		return err == nil && strings.Contains(log, fmt.Sprintf("listening on %s", addr(port)))
	})
	contains(t, "the log", log, "--- pets: starting api-local at ", fmt.Sprintf("listening on %s", addr(port)))
}

// A service holds none of the pipes pets holds: the report pipe its waiter
// tells pets the server's pid on is the waiter's alone (it once stayed open
// in every server, on fd 4).
func TestServiceHoldsNoPipeOfPets(t *testing.T) {
	pipes := func(pid string) map[string]int {
		out := map[string]int{}
		ents, err := os.ReadDir("/proc/" + pid + "/fd")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fd, _ := strconv.Atoi(e.Name())
			if l, err := os.Readlink("/proc/" + pid + "/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
				out[l] = fd
			}
		}
		return out
	}
	before := pipes("self") // what this test binary was given, and passes on
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
	// A first start (its waiter forked with its command), a restart (forked
	// ahead: pets keeps the go-ahead pipe open), a restart in the same
	// waiter (released again on that pipe).
	for i := 0; i < 3; i++ {
		v := up(t, s, apiKey)
		ours := pipes("self")
		for l, fd := range pipes(strconv.Itoa(v.PID)) {
			if _, given := before[l]; given || fd <= 2 {
				continue
			}
			if mine, ok := ours[l]; ok {
				t.Errorf("start %d: the server (pid %d) holds on fd %d the pipe pets holds on fd %d (%s)", i+1, v.PID, fd, mine, l)
			}
		}
	}
	if rec := w.record("api"); len(rec.Procs) != 1 || rec.Procs[0].Exit != "" {
		t.Errorf("recorded %+v", rec.Procs)
	}
}

func TestUpUnregisteredService(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", freePort(t))), nil)
	_, err := s.Up(context.Background(), petsfile.Key{Name: "api", Tier: "prod"}, nil)
	if err == nil || !strings.Contains(err.Error(), "api-prod: not registered") {
		t.Fatalf("Up of an unregistered tier = %v", err)
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("an unregistered service was recorded")
	}
}

func TestUpReplacesRunningInstance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		another bool // the second Up comes from another pets (a new Supervisor)
	}{{"same supervisor", false}, {"another pets", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			project := loadProject(t, w.dir, servicePetsfile("api", port))
			s := w.supervisor(project, nil)
			first := up(t, s, apiKey)
			old := w.record("api").Procs[0].Identity
			if tc.another {
				s = w.supervisor(project, nil)
			}
			second := up(t, s, apiKey)
			if second.PID == first.PID {
				t.Fatalf("the second Up kept pid %d", first.PID)
			}
			if proc.GroupAlive(old) {
				t.Errorf("the replaced instance's group %v is still alive", old)
			}
			if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", second.PID)) {
				t.Errorf("port %d answers %q; want the new server, pid %d", port, got, second.PID)
			}
			rec := w.record("api")
			if rec.PID != second.PID || len(rec.Procs) != 1 || rec.Procs[0].Child.PID != second.PID {
				t.Errorf("record %+v; want only the new server %d", rec, second.PID)
			}
			b, _ := os.ReadFile(w.state.LogPath("api", "local"))
			if n := strings.Count(string(b), "--- pets: starting api-local"); n != 2 {
				t.Errorf("the log has %d start headers; want 2 (logs append across restarts):\n%s", n, b)
			}
		})
	}
}

// twoTiers registers api at local (port lp) and prod (port pp).
func twoTiers(lp, pp int) string {
	return fmt.Sprintf(`
def api_local():
    return service(start(%s), "127.0.0.1", %d)

def api_prod():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", api_local)
register("api", "prod", api_prod)
`, star(serverCmd("api-local", lp)), lp, star(serverCmd("api-prod", pp)), pp)
}

func TestUpReplacesOtherTier(t *testing.T) {
	w := newWorld(t)
	lp, pp := freePort(t), freePort(t)
	out := &syncBuffer{}
	s := w.supervisor(loadProject(t, w.dir, twoTiers(lp, pp)), out)
	up(t, s, apiKey)
	old := w.record("api").Procs[0].Identity
	prod := petsfile.Key{Name: "api", Tier: "prod"}
	v := up(t, s, prod)
	contains(t, "progress", out.String(), "Replacing api-local with api-prod")
	if proc.GroupAlive(old) || proc.Accepting(addr(lp)) {
		t.Errorf("api-local still runs after api-prod replaced it")
	}
	if rec := w.record("api"); rec.Tier != "prod" || rec.PID != v.PID {
		t.Errorf("record %+v; want api-prod, pid %d", rec, v.PID)
	}
}

func TestUpSaysWhyItRestartsChangedDefinition(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	s := w.supervisor(project, nil)
	s.Fingerprints = map[petsfile.Key]string{apiKey: "fp-1"}
	up(t, s, apiKey)
	out := &syncBuffer{}
	s2 := w.supervisor(project, out)
	s2.Fingerprints = map[petsfile.Key]string{apiKey: "fp-2"}
	up(t, s2, apiKey)
	contains(t, "progress", out.String(), "Restarting api-local: the Petsfile changed it since it started")
	if rec := w.record("api"); rec.Fingerprint != "fp-2" {
		t.Errorf("recorded fingerprint %q; want fp-2", rec.Fingerprint)
	}
}

// failingPetsfile starts a helper, then a server that fails once the helper
// runs (so the helper is surely running when Up rolls back).
func failingPetsfile(port int) string {
	return fmt.Sprintf(`
def provider():
    start("touch helper.started; exec sleep 1000")
    s = start("echo starting api; until [ -e helper.started ]; do sleep 0.01; done; echo 'fatal: no config' >&2; exit 2")
    return service(s, "127.0.0.1", %d)

register("api", "local", provider)
`, port)
}

func TestUpFailureStopsWhatItStarted(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, failingPetsfile(port)), nil)
	_, err := s.Up(context.Background(), apiKey, nil)
	if err == nil {
		t.Fatal("Up of a server that exits succeeded")
	}
	if _, err := os.Stat(filepath.Join(w.dir, "helper.started")); err != nil {
		t.Fatalf("the helper never ran, so this test proves nothing: %v", err)
	}
	if s := w.strays(); len(s) > 0 {
		t.Errorf("a failed Up left processes running: %s", describe(s))
	}
}

func TestUpFailureReturnsServiceErrorWithLogTail(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, failingPetsfile(port)), nil)
	_, err := s.Up(context.Background(), apiKey, nil)
	var serr *ServiceError
	if !errors.As(err, &serr) {
		t.Fatalf("Up = %v (%T); want a *ServiceError", err, err)
	}
	if serr.Key != apiKey || serr.LogPath != w.state.LogPath("api", "local") {
		t.Errorf("ServiceError for %s with log %s; want %s, %s", serr.Key, serr.LogPath, apiKey, w.state.LogPath("api", "local"))
	}
	contains(t, "the cause", serr.Err.Error(), fmt.Sprintf("the server exited (exit status 2) before %s accepted connections", addr(port)))
	tail := strings.Join(serr.Tail, "\n")
	contains(t, "the log tail", tail, "--- pets: starting api-local", "starting api", "fatal: no config")
	contains(t, "the message", err.Error(), fmt.Sprintf("--- last %d lines of %s ---", len(serr.Tail), serr.LogPath), "fatal: no config")
}

// Without KeepFailed (pets up) a failed start leaves no record.
func TestUpFailureForgetsService(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, failingPetsfile(freePort(t))), nil)
	if _, err := s.Up(context.Background(), apiKey, nil); err == nil {
		t.Fatal("Up of a server that exits succeeded")
	}
	if rec, ok := w.lookup("api"); ok {
		t.Errorf("a failed service is still recorded: %+v", rec)
	}
}

func TestUpFailureKeptWhenKeepFailed(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, failingPetsfile(port))
	s := w.supervisor(project, nil)
	s.KeepFailed = true
	s.Fingerprints = map[petsfile.Key]string{apiKey: "fp-1"}
	if _, err := s.Up(context.Background(), apiKey, nil); err == nil {
		t.Fatal("Up of a server that exits succeeded")
	}
	rec := w.record("api")
	if rec.Status != state.Failed || rec.Tier != "local" || rec.Petsfile != project.Path || rec.Root != project.Path || rec.Fingerprint != "fp-1" {
		t.Errorf("record %+v; want api-local failed, from %s", rec, project.Path)
	}
	if !strings.Contains(rec.Reason, fmt.Sprintf("the server exited (exit status 2) before %s accepted connections", addr(port))) || strings.Contains(rec.Reason, "\n") {
		t.Errorf("recorded reason %q; want the first line of the failure", rec.Reason)
	}
	if len(rec.Procs) != 0 || rec.PID != 0 {
		t.Errorf("a failed service records processes: %+v", rec)
	}
	if ss := w.strays(); len(ss) > 0 {
		t.Errorf("a failed Up left processes running: %s", describe(ss))
	}
	if _, h := check(s, apiKey); h != rebuild.Dead {
		t.Errorf("Check of a failed service = %v; want Dead", h)
	}
	if alive(s, apiKey) {
		t.Error("a failed service is Alive")
	}
	// Asking whether it is alive does not rewrite why it failed.
	if got := w.record("api").Reason; got != rec.Reason {
		t.Errorf("after Alive, the reason is %q; want %q", got, rec.Reason)
	}
}

func TestUpReplacesFailedRecord(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	broken := filepath.Join(w.dir, "broken")
	if err := os.WriteFile(broken, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", provider)
`, star("if [ -e broken ]; then echo 'fatal: broken' >&2; exit 2; fi; "+serverCmd("api", port)), port))
	s := w.supervisor(project, nil)
	s.KeepFailed = true
	if _, err := s.Up(context.Background(), apiKey, nil); err == nil {
		t.Fatal("Up succeeded while broken")
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	v := up(t, s, apiKey)
	if rec := w.record("api"); rec.Status != state.Ready || rec.PID != v.PID || rec.Reason != "" {
		t.Errorf("record %+v; want ready, pid %d, no reason", rec, v.PID)
	}
}

func TestUpFailureInRunHasItsOutput(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, `
def provider():
    run("echo compiling; echo 'error: syntax at main.go:3' >&2; exit 1")
    return service(start("exec sleep 1000"), "127.0.0.1", 1)

register("api", "local", provider)
`)
	s := w.supervisor(project, nil)
	_, err := s.Up(context.Background(), apiKey, nil)
	var serr *ServiceError
	if !errors.As(err, &serr) {
		t.Fatalf("Up = %v (%T); want a *ServiceError", err, err)
	}
	contains(t, "the cause", serr.Err.Error(), "exit status 1", "its output ended with:", "error: syntax at main.go:3")
	contains(t, "the log tail", strings.Join(serr.Tail, "\n"), "compiling", "error: syntax at main.go:3")
	if s := w.strays(); len(s) > 0 {
		t.Errorf("processes left: %s", describe(s))
	}
}

func TestUpRefusesSameNameFromAnotherPetsfile(t *testing.T) {
	w := newWorld(t)
	pa, pb := freePort(t), freePort(t)
	projA := loadProject(t, w.mkdir("a"), servicePetsfile("api", pa))
	projB := loadProject(t, w.mkdir("b"), servicePetsfile("api", pb))
	a := up(t, w.supervisor(projA, nil), apiKey)
	_, err := w.supervisor(projB, nil).Up(context.Background(), apiKey, nil)
	want := fmt.Sprintf("api-local is already running from %s; stop it first with `pets down api`", projA.Path)
	if err == nil || err.Error() != want {
		t.Fatalf("Up from another Petsfile = %v; want %q", err, want)
	}
	if got := answer(pa); !strings.Contains(got, fmt.Sprintf("(pid %d)", a.PID)) {
		t.Errorf("the running api from a/Petsfile was disturbed: port %d answers %q", pa, got)
	}
	if proc.Accepting(addr(pb)) {
		t.Error("the refused api from b/Petsfile was started")
	}
	if rec := w.record("api"); rec.Petsfile != projA.Path || rec.PID != a.PID {
		t.Errorf("record %+v; want a/Petsfile's api, pid %d", rec, a.PID)
	}
}

func TestUpReplacesDeadServiceFromAnotherPetsfile(t *testing.T) {
	w := newWorld(t)
	pa, pb := freePort(t), freePort(t)
	projA := loadProject(t, w.mkdir("a"), servicePetsfile("api", pa))
	projB := loadProject(t, w.mkdir("b"), servicePetsfile("api", pb))
	up(t, w.supervisor(projA, nil), apiKey)
	crash(t, w.record("api"))
	v := up(t, w.supervisor(projB, nil), apiKey)
	if rec := w.record("api"); rec.Petsfile != projB.Path || rec.PID != v.PID {
		t.Errorf("record %+v; want b/Petsfile's api, pid %d", rec, v.PID)
	}
}

// crash kills rec's processes behind the Supervisor's back (the record stays).
func crash(t *testing.T, rec *state.Service) {
	t.Helper()
	for _, p := range rec.Procs {
		if p.Child.PID != 0 {
			// Its command is killed; its waiter notes how, and ends.
			if err := syscall.Kill(-p.Child.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the waiter to end", func() bool { return !proc.GroupAlive(p.Identity) })
			continue
		}
		if _, err := proc.Stop(context.Background(), p.Identity, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// check returns s.Check(k).
func check(s *Supervisor, k petsfile.Key) (petsfile.Value, rebuild.Health) {
	return s.Check(context.Background(), k)
}

// alive returns whether s.Alive(k) says k is alive.
func alive(s *Supervisor, k petsfile.Key) bool {
	ok, _ := s.Alive(context.Background(), k)
	return ok
}

func TestCheckHealthyWhenUp(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	v := up(t, w.supervisor(project, nil), apiKey)
	if got, h := check(w.supervisor(project, nil), apiKey); h != rebuild.Healthy || got != v {
		t.Fatalf("Check = %+v, %v; want %+v, Healthy", got, h, v)
	}
}

func TestCheckAbsentWhenNotRecorded(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", freePort(t))), nil)
	if v, h := check(s, apiKey); h != rebuild.Absent || v != (petsfile.Value{}) {
		t.Errorf("Check of a service never started = %+v, %v; want Absent", v, h)
	}
}

func TestCheckDeadWhenPortDoesNotAccept(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", freePort(t))), nil)
	up(t, s, apiKey)
	// Its process runs on, but its recorded address no longer accepts.
	closed := freePort(t)
	if err := w.state.Update(func(f *state.File) error { f.Services["api"].Port = closed; return nil }); err != nil {
		t.Fatal(err)
	}
	if v, h := check(s, apiKey); h != rebuild.Dead || v != (petsfile.Value{}) {
		t.Errorf("Check = %+v, %v although %s does not accept connections; want Dead", v, h, addr(closed))
	}
	if !alive(s, apiKey) {
		t.Error("not Alive although its process runs (Alive does not connect)")
	}
}

func TestCheckRedefinedWhenFingerprintDiffers(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	s.Fingerprints = map[petsfile.Key]string{apiKey: "fp-1"}
	v := up(t, s, apiKey)
	for _, tc := range []struct {
		fp   map[petsfile.Key]string
		want rebuild.Health
	}{
		{map[petsfile.Key]string{apiKey: "fp-1"}, rebuild.Healthy},
		{map[petsfile.Key]string{apiKey: "fp-2"}, rebuild.Redefined},
		{nil, rebuild.Healthy}, // unknown: not a reason to restart
	} {
		s := w.supervisor(project, nil)
		s.Fingerprints = tc.fp
		if got, h := check(s, apiKey); h != tc.want || got != v {
			t.Errorf("Check with fingerprints %v = %+v, %v; want %+v, %v", tc.fp, got, h, v, tc.want)
		}
	}
}

func TestCheckAbsentAtAnotherTier(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(loadProject(t, w.dir, twoTiers(freePort(t), freePort(t))), nil)
	up(t, s, apiKey)
	prod := petsfile.Key{Name: "api", Tier: "prod"}
	if _, h := check(s, prod); h != rebuild.Absent {
		t.Errorf("Check(api-prod) = %v while api-local runs; want Absent", h)
	}
	if ok, exit := s.Alive(context.Background(), prod); ok || exit != "" {
		t.Errorf("Alive(api-prod) = %v, %q while api-local runs; want false, \"\"", ok, exit)
	}
	if rec := w.record("api"); rec.Reason != "" {
		t.Errorf("asking about api-prod marked api-local: reason %q", rec.Reason)
	}
}

func TestCheckAbsentFromAnotherPetsfile(t *testing.T) {
	w := newWorld(t)
	projA := loadProject(t, w.mkdir("a"), servicePetsfile("api", freePort(t)))
	projB := loadProject(t, w.mkdir("b"), servicePetsfile("api", freePort(t)))
	up(t, w.supervisor(projA, nil), apiKey)
	if _, h := check(w.supervisor(projB, nil), apiKey); h != rebuild.Absent {
		t.Errorf("Check from b/Petsfile = %v while a/Petsfile's api runs; want Absent", h)
	}
}

func TestCheckDeadWhenServerDied(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	up(t, s, apiKey)
	crash(t, w.record("api"))
	if _, h := check(s, apiKey); h != rebuild.Dead {
		t.Errorf("Check = %v after its server died; want Dead", h)
	}
	if alive(s, apiKey) {
		t.Error("Alive after its server died")
	}
}

func TestCheckDeadWhileStarting(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	up(t, s, apiKey)
	if err := w.state.Update(func(f *state.File) error { f.Services["api"].Status = state.Starting; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, h := check(s, apiKey); h != rebuild.Dead {
		t.Errorf("Check of a service recorded as starting = %v; want Dead", h)
	}
}

func TestAliveIgnoresExitedRunHelpers(t *testing.T) {
	w := newWorld(t)
	live := w.startProc("exec sleep 1000").Identity
	other := w.startProc("exec sleep 1000").Identity
	dead := w.exited("true")
	stale := proc.Identity{PID: live.PID, Start: live.Start - 1} // the pid, reused
	started := func(id proc.Identity) state.Proc { return state.Proc{Identity: id, Cmd: "start"} }
	ran := func(id proc.Identity) state.Proc { return state.Proc{Identity: id, Cmd: "run", Run: true} }
	for _, tc := range []struct {
		name   string
		pid    int
		status string
		procs  []state.Proc
		want   bool
	}{
		{"main server alive, helper exited", live.PID, state.Ready, []state.Proc{started(dead), started(live)}, true},
		{"main server exited, helper alive", dead.PID, state.Ready, []state.Proc{started(live), started(dead)}, false},
		{"main server alive, run() helper exited", live.PID, state.Ready, []state.Proc{ran(dead), started(live)}, true},
		{"no main server, one group alive", 0, state.Ready, []state.Proc{started(dead), started(live)}, true},
		{"no main server, run() exited, start() alive", 0, state.Ready, []state.Proc{ran(dead), started(live)}, true},
		{"no main server, all exited", 0, state.Ready, []state.Proc{started(dead)}, false},
		{"only a run() helper, still running", 0, state.Starting, []state.Proc{ran(other)}, false},
		{"only a run() helper, exited", 0, state.Starting, []state.Proc{ran(dead)}, false},
		{"main server's pid reused", stale.PID, state.Ready, []state.Proc{started(stale)}, false},
		{"started nothing, ready", 0, state.Ready, nil, true},
		{"started nothing, starting", 0, state.Starting, nil, false},
	} {
		rec := &state.Service{Name: "api", Tier: "local", Status: tc.status, PID: tc.pid, Procs: tc.procs}
		if got := Alive(rec); got != tc.want {
			t.Errorf("%s: Alive = %v; want %v", tc.name, got, tc.want)
		}
	}
}

func TestAliveAfterProviderThatOnlyRuns(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, `
def provider():
    run("echo applied")

register("job", "local", provider)
`)
	s := w.supervisor(project, nil)
	k := petsfile.Key{Name: "job", Tier: "local"}
	up(t, s, k)
	rec := w.record("job")
	if len(rec.Procs) != 0 || rec.Status != state.Ready {
		t.Fatalf("record %+v; want ready with no processes (run() helpers are not kept)", rec)
	}
	if !alive(s, k) {
		t.Error("a ready service that needs no process is not Alive")
	}
	if v, h := check(s, k); h != rebuild.Healthy || v != (petsfile.Value{}) {
		t.Errorf("Check = %+v, %v; want an empty value, Healthy", v, h)
	}
}

func TestSupervisorAlive(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	if alive(s, apiKey) {
		t.Error("Alive before anything was recorded")
	}
	up(t, s, apiKey)
	if ok, exit := s.Alive(context.Background(), apiKey); !ok || exit != "" {
		t.Errorf("Alive after Up = %v, %q; want true, \"\"", ok, exit)
	}
	if rec := w.record("api"); rec.Reason != "" || rec.Exit != "" {
		t.Errorf("a live service got a reason %q, exit %q", rec.Reason, rec.Exit)
	}
}

func TestSupervisorAliveWhenStateUnreadable(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	up(t, s, apiKey)
	stateFile := filepath.Join(w.state.Path, "state.json")
	saved, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stateFile, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok, exit := s.Alive(context.Background(), apiKey)
	if err := os.WriteFile(stateFile, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if !ok || exit != "" {
		t.Errorf("Alive with an unreadable state = %v, %q; want true (cannot tell: no crash reported)", ok, exit)
	}
}

func TestSupervisorAliveSaysHowItsServerExited(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	s := w.supervisor(project, nil)
	up(t, s, apiKey)
	if err := syscall.Kill(w.record("api").PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit string
	waitFor(t, "the killed server to be reported dead, with how it ended", func() bool {
		var ok bool
		ok, exit = s.Alive(context.Background(), apiKey)
		return !ok && exit != ""
	})
	if exit != "signal: killed" {
		t.Errorf("Alive says it ended with %q; want \"signal: killed\"", exit)
	}
	if rec := w.record("api"); rec.Exit != "signal: killed" || rec.Reason != "it exited (signal: killed)" {
		t.Errorf("recorded exit %q, reason %q; want \"signal: killed\", \"it exited (signal: killed)\"", rec.Exit, rec.Reason)
	}
}

func TestSupervisorAliveOfServiceStartedElsewhere(t *testing.T) {
	w := newWorld(t)
	project := loadProject(t, w.dir, servicePetsfile("api", freePort(t)))
	up(t, w.supervisor(project, nil), apiKey)
	crash(t, w.record("api"))
	// Another pets knows how the server ended: its waiter recorded it.
	ok, exit := w.supervisor(project, nil).Alive(context.Background(), apiKey)
	if ok || exit != "signal: killed" {
		t.Errorf("Alive = %v, %q; want false, \"signal: killed\"", ok, exit)
	}
	if rec := w.record("api"); rec.Reason != "it exited (signal: killed)" || rec.Exit != "signal: killed" {
		t.Errorf("recorded reason %q, exit %q; want \"it exited (signal: killed)\", \"signal: killed\"", rec.Reason, rec.Exit)
	}
}

func TestServiceErrorMessage(t *testing.T) {
	cause := errors.New("the server exited (exit status 1) before 127.0.0.1:1 accepted connections")
	withTail := &ServiceError{Key: apiKey, Err: cause, LogPath: "/s/logs/api-local.log", Tail: []string{"a", "b"}}
	if got, want := withTail.Error(), cause.Error()+"\n--- last 2 lines of /s/logs/api-local.log ---\na\nb"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	empty := &ServiceError{Key: apiKey, Err: cause, LogPath: "/s/logs/api-local.log"}
	if got, want := empty.Error(), cause.Error()+"\n(its log /s/logs/api-local.log is empty)"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(withTail, cause) {
		t.Error("ServiceError does not unwrap to its cause")
	}
}
