//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

func TestUpListLogsDown(t *testing.T) {
	e := newEnv(t)
	bp, fp := e.twoServers()

	r := e.mustPets("up", "frontend")
	if want := fmt.Sprintf("backend-local\t127.0.0.1:%d\nfrontend-local\t127.0.0.1:%d\n", bp, fp); r.stdout != want {
		t.Errorf("up stdout = %q, want %q", r.stdout, want)
	}
	for _, want := range []string{
		fmt.Sprintf("Pets ran \"%s --name backend --port %d\"", "$PETSERVER", bp),
		"The service backend-local is now running",
		fmt.Sprintf("--dep backend=127.0.0.1:%d", bp),
		"The service frontend-local is now running",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if i, j := strings.Index(r.stderr, "backend-local is now"), strings.Index(r.stderr, "Pets ran \"$PETSERVER --name frontend"); i < 0 || j < i {
		t.Errorf("frontend started before backend was ready:\n%s", r.stderr)
	}
	if body := get(t, fp); !strings.Contains(body, "frontend") || !strings.Contains(body, "backend -> [backend") {
		t.Errorf("frontend answered %q", body)
	}

	table := e.mustPets("list").stdout
	if !regexp.MustCompile(`(?m)^NAME\s+AGE\s+HOST\s+PORT\s+STATUS\s+FRESH$`).MatchString(table) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^backend-local\s+\d+s\s+127\.0\.0\.1\s+%d\s+ready\s+FRESH$`, bp)).MatchString(table) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^frontend-local\s+\d+s\s+127\.0\.0\.1\s+%d\s+ready\s+FRESH$`, fp)).MatchString(table) {
		t.Errorf("pets list:\n%s", table)
	}
	l := e.list()
	if l["backend-local"].Port != bp || l["frontend-local"].Host != fmt.Sprintf("127.0.0.1:%d", fp) || l["backend-local"].PID == 0 {
		t.Errorf("pets list -o json: %+v", l)
	}

	logs := e.mustPets("logs", "backend").stdout
	if !strings.Contains(logs, "backend (pid") || strings.Contains(logs, "frontend") {
		t.Errorf("pets logs backend:\n%s", logs)
	}
	both := e.mustPets("logs", "--color=never").stdout
	if !regexp.MustCompile(`(?m)^backend-local  \| .*listening`).MatchString(both) ||
		!regexp.MustCompile(`(?m)^frontend-local \| .*listening`).MatchString(both) ||
		strings.Contains(both, "\x1b[") {
		t.Errorf("pets logs (two services, no colour):\n%s", both)
	}
	colored := e.mustPets("logs", "--color=always", "backend", "frontend").stdout
	if !strings.Contains(colored, "\x1b[36mbackend-local  |\x1b[0m") {
		t.Errorf("pets logs --color=always has no coloured prefix:\n%q", colored)
	}

	down := e.mustPets("down")
	if down.stdout != "Stopping frontend-local\nStopping backend-local\n" {
		t.Errorf("pets down stdout = %q (want dependents first)", down.stdout)
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind after down: %v", s)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("still listed after down: %v", l)
	}
	if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", bp)) {
		t.Error("backend port still accepts after down")
	}
	// Logs survive down.
	if logs := e.mustPets("logs", "backend-local").stdout; !strings.Contains(logs, "listening") {
		t.Errorf("log gone after down:\n%s", logs)
	}
}

func TestUpReusesReadyAndRestartsDead(t *testing.T) {
	e := newEnv(t)
	e.twoServers()
	e.mustPets("up", "frontend")
	first := e.list()

	r := e.mustPets("up", "frontend")
	if !strings.Contains(r.stderr, "The service backend-local is already running") ||
		!strings.Contains(r.stderr, "The service frontend-local is already running") ||
		strings.Contains(r.stderr, "Pets ran") {
		t.Errorf("second up did not reuse:\n%s", r.stderr)
	}
	if again := e.list(); again["backend-local"].PID != first["backend-local"].PID {
		t.Errorf("backend restarted although it was up: %d -> %d", first["backend-local"].PID, again["backend-local"].PID)
	}

	// The backend dies behind pets' back.
	if err := syscall.Kill(-first["backend-local"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "list to notice the dead backend", func() bool { return e.list()["backend-local"].Status == "crashed" })

	r = e.mustPets("up", "frontend")
	after := e.list()
	if after["backend-local"].PID == first["backend-local"].PID || after["backend-local"].Status != "ready" {
		t.Errorf("dead backend not restarted: %+v", after["backend-local"])
	}
	if after["frontend-local"].PID == first["frontend-local"].PID {
		t.Errorf("frontend not bounced after its dependency restarted:\n%s", r.stderr)
	}
}

func TestWithReplacesRunningTier(t *testing.T) {
	e := newEnv(t)
	port, fport := freePort(t), freePort(t)
	// Both tiers use the same port: the replacement must free it first.
	e.write("Petsfile", fmt.Sprintf(`
def backend(name):
  return lambda: service(start("$PETSERVER --name %%s --port %d" %% name), "127.0.0.1", %d)
register("backend", "local", backend("backend-local"))
register("backend", "staging", backend("backend-staging"))
register("frontend", "local", lambda b: service(start("$PETSERVER --name frontend --port %d --dep b=" + b["host"]), "127.0.0.1", %d), deps=["backend"])
`, port, port, fport, fport))
	e.mustPets("up", "frontend")
	before := e.list()

	r := e.mustPets("up", "frontend", "--with", "backend=staging")
	if !strings.Contains(r.stderr, "Replacing backend-local with backend-staging") {
		t.Errorf("no replacement message:\n%s", r.stderr)
	}
	l := e.list()
	if _, ok := l["backend-local"]; ok {
		t.Errorf("backend-local still recorded: %v", l)
	}
	if l["backend-staging"].Status != "ready" {
		t.Fatalf("backend-staging not running: %v", l)
	}
	if proc.Alive(proc.Identity{PID: before["backend-local"].PID}) {
		t.Error("the old backend-local process still runs")
	}
	if body := get(t, fport); !strings.Contains(body, "backend-staging") {
		t.Errorf("frontend does not talk to the staging backend: %q", body)
	}
	// Comma-separated --with and an explicit tier on the command line.
	r = e.pets("up", "frontend", "--with", "backend=local,frontend=nope")
	if r.code == 0 || !strings.Contains(r.stderr, `unknown tier "nope" for frontend`) {
		t.Errorf("bad tier in a comma list: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDryRunStartsNothing(t *testing.T) {
	e := newEnv(t)
	bp, _ := e.twoServers()
	r := e.mustPets("up", "--dry-run", "frontend")
	r.stderr = r.stdout // the plan is the result: stdout
	want := []string{
		"Pets would start backend-local:",
		fmt.Sprintf(`start "$PETSERVER --name backend --port %d"`, bp),
		fmt.Sprintf("wait until 127.0.0.1:%d accepts TCP", bp),
		"Pets would start frontend-local:",
		fmt.Sprintf("--dep backend=127.0.0.1:%d", bp),
		"Dry run: nothing was started.",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(r.stderr, w)
		if i <= last {
			t.Errorf("dry run output lacks %q after the previous line:\n%s", w, r.stderr)
		}
		last = i
	}
	e.nothingRunning()
}

func TestDownKillsServiceIgnoringTerm(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("stubborn", "local", lambda: service(start("$PETSERVER --ignore-term --port %d"), "127.0.0.1", %d))
`, port, port))
	e.mustPets("up")
	t0 := time.Now()
	r := e.mustPets("down", "--grace", "300ms")
	if !strings.Contains(r.stdout, "stubborn-local ignored SIGTERM; killed after 300ms") {
		t.Errorf("down did not say it killed:\n%s", r.stdout)
	}
	if time.Since(t0) < 300*time.Millisecond {
		t.Error("killed before the grace period passed")
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind: %v", s)
	}
}

func TestDownLeavesNoGrandchildren(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
def forky():
  # Two grandchildren in the background, one of them in a subshell.
  s = start("sleep 1000 & (sleep 1000 & wait) & $PETSERVER --port %d")
  return service(s, "127.0.0.1", %d)
register("forky", "local", forky)
`, port, port))
	e.mustPets("up")
	if n := len(e.strays()); n < 4 {
		t.Fatalf("%d processes running, want bash, two sleeps (one in a subshell) and the server", n)
	}
	e.mustPets("down")
	if s := e.strays(); len(s) != 0 {
		t.Errorf("grandchildren left behind after down: %v", s)
	}
}

func TestFailedUpShowsLogTailAndRollsBack(t *testing.T) {
	e := newEnv(t)
	bp, op := freePort(t), freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("other", "local", lambda: service(start("$PETSERVER --port %d"), "127.0.0.1", %d))
register("backend", "local", lambda: service(start("$PETSERVER --port %d"), "127.0.0.1", %d))
def frontend_local(b):
  s = start("echo frontend cannot reach its database; echo giving up >&2; exit 3")
  return service(s, "127.0.0.1", 1)
register("frontend", "local", frontend_local, deps=["backend"])
`, op, op, bp, bp))
	e.mustPets("up", "other")
	other := e.list()["other-local"]

	r := e.pets("up", "frontend")
	if r.code == 0 {
		t.Fatal("up of a failing service exited 0")
	}
	for _, want := range []string{
		"pets: frontend-local failed:",
		"the server exited (exit status 3) before 127.0.0.1:1 accepted connections",
		"Petsfile:6:17: ", // where service() was called
		"frontend cannot reach its database",
		"giving up",
		"Stopped backend-local (it was started by this command, which failed)",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	l := e.list()
	if _, ok := l["backend-local"]; ok {
		t.Error("backend-local, started by the failed up, is still recorded")
	}
	if _, ok := l["frontend-local"]; ok {
		t.Error("frontend-local is still recorded")
	}
	if l["other-local"].PID != other.PID || l["other-local"].Status != "ready" {
		t.Errorf("the failed up touched a service that was already up: %+v", l["other-local"])
	}
	if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", bp)) {
		t.Error("backend still serves after the rollback")
	}
}

// Started side by side, b becomes ready after a's failure has ended pets
// up: b was started by this command too, so it is stopped with the rest
// (it was left running, its record gone with nothing to stop it).
func TestFailedUpStopsWhatBecameReadyAfterTheFailure(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("a", "local", lambda: service(start("exit 3"), "127.0.0.1", 1))
register("b", "local", lambda: service(start("sleep 1; exec $PETSERVER --port %d"), "127.0.0.1", %d))
`, port, port))
	r := e.pets("up")
	if r.code == 0 || !strings.Contains(r.stderr, "pets: a-local failed:") {
		t.Fatalf("pets up: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "Stopped b-local (it was started by this command, which failed)") {
		t.Errorf("b was not stopped:\n%s", r.stderr)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("recorded after the failed up: %v", l)
	}
	if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Error("b still serves after the failed up")
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("processes left after the failed up: %v", s)
	}
}

func TestReadinessTimeout(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("slow", "local", lambda: service(start("$PETSERVER --port %d"), "127.0.0.1", %d))
`, port, freePort(t)))
	r := e.pets("up", "--timeout", "500ms")
	if r.code == 0 || !strings.Contains(r.stderr, "did not accept TCP connections within 500ms") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("timed-out service still recorded: %v", l)
	}
}

func TestKill9DuringUpLeavesNothingDownCannotClean(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	// The server runs but the service waits on a port nobody opens, so pets
	// is killed while it waits.
	e.write("Petsfile", fmt.Sprintf(`
def stuck():
  s = start("sleep 1000 & $PETSERVER --port %d")
  return service(s, "127.0.0.1", %d, timeout="10m")
register("stuck", "local", stuck)
`, port, freePort(t)))
	cmd := e.cmd("up")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to be recorded", func() bool {
		return proc.Accepting(fmt.Sprintf("127.0.0.1:%d", port)) && len(e.strays()) >= 3
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if s := e.strays(); len(s) < 2 {
		t.Fatalf("the service died with pets (%v); the test needs it alive", s)
	}
	if l := e.list(); l["stuck-local"].Status != "starting" {
		t.Errorf("list after kill -9: %+v", l)
	}
	e.mustPets("down")
	if s := e.strays(); len(s) != 0 {
		t.Errorf("pets down after kill -9 left: %v", s)
	}
}

func TestConcurrentUpsKeepStateIntact(t *testing.T) {
	e := newEnv(t)
	e.twoServers()
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.pets("up", "frontend")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("up #%d failed:\n%s", i, r.stderr)
		}
		if r.stdout != results[0].stdout {
			t.Errorf("the two ups disagree:\n%s\n%s", results[0].stdout, r.stdout)
		}
	}
	started := strings.Count(results[0].stderr+results[1].stderr, "Pets ran")
	if started != 2 {
		t.Errorf("%d servers started by two concurrent ups, want 2 (one per service):\n%s\n%s", started, results[0].stderr, results[1].stderr)
	}
	l := e.list()
	if len(l) != 2 || l["backend-local"].Status != "ready" || l["frontend-local"].Status != "ready" {
		t.Errorf("state after concurrent ups: %+v", l)
	}
	// Exactly one server process and its waiter per service (plus nothing else).
	if s := e.strays(); len(s) != 4 {
		t.Errorf("%d processes running, want 4 (a server and its waiter per service): %v", len(s), s)
	}
}

func TestRecycledPIDIsNeverTakenForAPet(t *testing.T) {
	e := newEnv(t)
	// An unrelated process now holds the pid a stale record names.
	other, err := proc.Start(proc.Spec{Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-other.PID, syscall.SIGKILL); <-other.Done() })
	dir, err := state.Open(e.home)
	if err != nil {
		t.Fatal(err)
	}
	err = dir.Update(func(f *state.File) error {
		f.Services["ghost"] = &state.Service{
			Name: "ghost", Tier: "local", Status: state.Ready, Started: time.Now(), PID: other.PID,
			Hostname: "127.0.0.1", Port: 1,
			Procs: []state.Proc{{Identity: proc.Identity{PID: other.PID, Start: other.Start - 100}, Cmd: "ghost"}},
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := e.list()["ghost-local"].Status; st != "crashed" {
		t.Errorf("a recycled pid is listed as %q, want exited", st)
	}
	e.mustPets("down", "ghost")
	select {
	case <-other.Done():
		t.Fatal("pets down killed an unrelated process that reused a pet's pid")
	default:
	}
	if !proc.Alive(other.Identity) {
		t.Fatal("the unrelated process died")
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("stale record not removed: %v", l)
	}
}

func TestBadInputStartsNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		petsfile string // "" = none at all
		args     []string
		want     []string
	}{
		{"syntax error", "def f(:\n  pass\n", []string{"up"},
			[]string{"Petsfile:1:8: got ':', want ')'", "hint:"}},
		{"evaluation error", "register('a', 'local', lambda: None)\nx = {}['k']\n", []string{"up"},
			[]string{`Petsfile:2:7: key "k" not in dict`, "Traceback"}},
		{"unknown service", "register('a', 'local', lambda: None)\n", []string{"up", "nope"},
			[]string{`unknown service "nope"`, "hint: registered services: a (local)"}},
		{"unknown tier", "register('a', 'local', lambda: None)\n", []string{"up", "a", "--tier", "k8s"},
			[]string{`a has no tier "k8s"`, "hint: a has tiers: local"}},
		{"dependency cycle", "register('a', 'local', lambda b: None, deps=['b'])\nregister('b', 'local', lambda a: None, deps=['a'])\n", []string{"up"},
			[]string{"dependency cycle: a-local -> b-local -> a-local", "hint:"}},
		{"missing Petsfile", "", []string{"up"},
			[]string{"no Petsfile in", "hint:"}},
		{"malformed --with", "register('a', 'local', lambda: None)\n", []string{"up", "--with", "a"},
			[]string{`malformed --with "a"`, "hint: write --with SERVICE=TIER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.petsfile != "" {
				// Something startable too, to prove nothing starts.
				e.write("Petsfile", tc.petsfile+fmt.Sprintf("register('z', 'local', lambda: service(start('$PETSERVER --port %d'), '127.0.0.1', %d))\n", freePort(t), freePort(t)))
			}
			r := e.pets(tc.args...)
			if r.code == 0 {
				t.Fatalf("exit 0; stderr:\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("errors went to stdout: %q", r.stdout)
			}
			e.nothingRunning()
		})
	}
}

func TestPetsfileFoundInParentOrByFlag(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("proj/Petsfile", fmt.Sprintf("register('a', 'local', lambda: service(start('$PETSERVER --port %d'), '127.0.0.1', %d))\n", port, port))
	e.write("proj/sub/dir/keep", "")
	e.dir = filepath.Join(e.dir, "proj", "sub", "dir")
	e.mustPets("up", "--dry-run")
	r := e.mustPets("up", "-f", "../../Petsfile", "--dry-run")
	if !strings.Contains(r.stdout, "Pets would start a-local") {
		t.Errorf("-f: %s", r.stdout)
	}
	if err := os.Remove(filepath.Join(e.dir, "keep")); err != nil {
		t.Fatal(err)
	}
}

// A Petsfile's errors name its files as they can be opened from where pets
// runs, not from the Petsfile's directory: -f elsewhere, a subdirectory,
// a loaded file.
func TestPetsfileErrorsNameFilesFromTheWorkingDirectory(t *testing.T) {
	e := newEnv(t)
	e.write("proj/Petsfile", "load('lib/defs.star', 'f')\nregister('a', 'local', f)\nx = {}['k']\n")
	e.write("proj/lib/defs.star", "def f():\n  return None\ny = undefined_name\n")
	e.write("proj/sub/keep", "")
	proj := filepath.Join(e.dir, "proj")
	for _, tc := range []struct {
		dir  string
		args []string
		want string
	}{
		{e.dir, []string{"up", "-f", "proj/Petsfile"}, "proj/lib/defs.star:3:5: undefined: undefined_name"},
		{e.dir, []string{"up", "-f", proj}, "proj/lib/defs.star:3:5: undefined: undefined_name"},
		{filepath.Join(proj, "sub"), []string{"up"}, "../lib/defs.star:3:5: undefined: undefined_name"},
		{proj, []string{"up"}, ": lib/defs.star:3:5: undefined: undefined_name"},
	} {
		r := e.petsIn(tc.dir, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("pets %s in %s: exit %d, stderr:\n%s\nwant %q", strings.Join(tc.args, " "), tc.dir, r.code, r.stderr, tc.want)
		}
	}
	// Past the loaded file's error, the Petsfile's own.
	e.write("proj/lib/defs.star", "def f():\n  return None\n")
	if r := e.petsIn(e.dir, "up", "-f", "proj"); !strings.Contains(r.stderr, `proj/Petsfile:3:7: key "k" not in dict`) {
		t.Errorf("pets up -f proj: stderr:\n%s\nwant the error at proj/Petsfile:3:7", r.stderr)
	}
	e.nothingRunning()
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	if r := e.mustPets("version"); !strings.HasPrefix(r.stdout, "pets "+testVersion+" ") {
		t.Errorf("pets version = %q", r.stdout)
	}
}

// kill -9 at many moments of an up that starts 30 processes: after each,
// pets down must find and stop everything that runs. (The delays are fault
// injection: where pets is when it dies, not synchronisation.)
func TestKill9AtAnyMomentLeavesNothingDownCannotFind(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("def many():\n")
	for i := 0; i < 30; i++ {
		b.WriteString("  start(\"exec sleep 1000\")\n")
	}
	b.WriteString(fmt.Sprintf("  return service(start(\"exec $PETSERVER --port %d\"), \"127.0.0.1\", %d)\nregister(\"many\", \"local\", many)\n", freePort(t), freePort(t)))
	e.write("Petsfile", b.String())
	for delay := 2 * time.Millisecond; delay < 80*time.Millisecond; delay += 7 * time.Millisecond {
		cmd := e.cmd("up", "--timeout", "1m")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		_ = cmd.Wait()
		timer.Stop()
		e.mustPets("down", "--grace", "1s")
		if s := e.strays(); len(s) != 0 {
			t.Fatalf("killed after %s: pets down left %d processes: %v", delay, len(s), s)
		}
	}
}
