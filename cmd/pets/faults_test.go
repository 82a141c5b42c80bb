//go:build linux

package main

// The fault-injection suite (go test -run TestFault ./cmd/pets/): what pets
// guarantees when it is interrupted, killed, raced or fed bad input, each
// case with the real pets binary and real processes. Cases kept elsewhere,
// which the suite relies on as they are:
//
//   - TestRecycledPIDIsNeverTakenForAPet (up_test.go): list and down with a
//     record whose pid a stranger now holds (TestFaultRecycledPIDOnUp adds up).
//   - TestKill9DuringUpLeavesNothingDownCannotClean,
//     TestKill9AtAnyMomentLeavesNothingDownCannotFind (up_test.go): kill -9
//     by timing (TestFaultKillAtEveryStepOfUp: at every step, by count).
//   - TestConcurrentUpsKeepStateIntact (up_test.go): two ups at once.
//   - watcher/limit_linux_test.go: inotify limits lowered inside a user
//     namespace (never the machine's own sysctl).
//   - TestWatchBurstGivesOneRestartPerService (watch_test.go): a 2,000-file
//     burst while nothing else happens (TestFaultBurstDuringARestart: while a
//     restart is under way).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// startPets starts cmd (from e.cmd) in the background and collects its
// stderr lines, like e.watch but without waiting for a watch to begin.
func (e *env) startPets(cmd *exec.Cmd) *watching {
	e.t.Helper()
	w := &watching{t: e.t, cmd: cmd, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() { w.stop() })
	return w
}

// exited waits (up to limit) for w's pets to exit and returns its exit code.
func (w *watching) exited(limit time.Duration) int {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(limit):
		w.t.Fatalf("pets still running %s later:\n%s", limit, w.output())
	}
	_ = w.cmd.Wait()
	return w.cmd.ProcessState.ExitCode()
}

// threeServers writes a Petsfile of three petservers, a <- b <- c (c
// depends on b, b on a).
func (e *env) threeServers() map[string]int {
	ports := map[string]int{}
	var b strings.Builder
	for _, s := range []struct{ name, dep string }{{"a", ""}, {"b", "a"}, {"c", "b"}} {
		port := freePort(e.t)
		ports[s.name] = port
		params, deps, depArg := "", "", ""
		if s.dep != "" {
			params, deps, depArg = "d", fmt.Sprintf("%q", s.dep), ` --dep `+s.dep+`=" + d["host"] + "`
		}
		fmt.Fprintf(&b, `
def %[1]s_local(%[2]s):
  return service(start("exec $PETSERVER --name %[1]s --port %[3]d%[4]s"), "127.0.0.1", %[3]d)
register("%[1]s", "local", %[1]s_local, deps=[%[5]s])
`, s.name, params, port, depArg, deps)
	}
	e.write("Petsfile", b.String())
	return ports
}

// noStraysWithin waits up to d for every process carrying the test's marker
// to be gone: a process pets forked but had not recorded when it died
// exits by itself, at once, as its go-ahead pipe closes.
func (e *env) noStraysWithin(d time.Duration, what string) {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := e.strays()
		if len(s) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: still running %s later: %v", what, d, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The first SIGTERM or SIGINT stops a Petsfile whose evaluation never ends
// (at the top level of the Petsfile or of a file it loads) at once: pets
// exits non-zero naming the position where evaluation was. No step limit
// here (PETS_MAX_STEPS=0): only the signal can stop it.
func TestFaultSignalStopsAnEndlessEvaluation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		sig   syscall.Signal
		pos   string
	}{
		{"top level, SIGTERM", map[string]string{
			"Petsfile": "register(\"a\", \"local\", lambda: None)\nprint(\"spinning\")\nwhile True:\n  pass\n",
		}, syscall.SIGTERM, "Petsfile:3:1"},
		{"loaded file, SIGINT", map[string]string{
			"Petsfile":     "load(\"lib\", \"x\")\nregister(\"a\", \"local\", lambda: None)\n",
			"lib/Petsfile": "x = 0\nprint(\"spinning\")\nwhile True:\n  x += 1\n",
		}, syscall.SIGINT, `lib/Petsfile:4:\d+`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for name, body := range tc.files {
				e.write(name, body)
			}
			cmd := e.cmd("up")
			cmd.Env = append(cmd.Env, "PETS_MAX_STEPS=0")
			w := e.startPets(cmd)
			w.waitLine(`^spinning$`)
			sent := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			code := w.exited(10 * time.Second)
			if took := time.Since(sent); took > 5*time.Second {
				t.Errorf("pets took %s to stop after %v", took, tc.sig)
			}
			if code == 0 {
				t.Errorf("exit 0 after %v", tc.sig)
			}
			w.waitLine(`^pets: ` + tc.pos + `: evaluation interrupted$`)
			e.nothingRunning()
		})
	}
}

// The step limit turns an endless loop into an error with its position
// and the way to raise the limit.
func TestFaultStepLimitEndsAnEndlessLoop(t *testing.T) {
	e := newEnv(t)
	e.write("Petsfile", "register(\"a\", \"local\", lambda: None)\nx = 0\nwhile True:\n  x += 1\n")
	cmd := e.cmd("up")
	cmd.Env = append(cmd.Env, "PETS_MAX_STEPS=100000")
	w := e.startPets(cmd)
	if code := w.exited(30 * time.Second); code == 0 {
		t.Fatal("exit 0")
	}
	w.waitLine(`^pets: Petsfile:4:\d+: evaluation stopped after 100000 Starlark steps: is this an endless loop\?$`)
	w.waitLine(`^hint: .*PETS_MAX_STEPS=1000000 \(0: no limit\)$`)
	e.nothingRunning()
}

// Under --watch, a Petsfile edited into an endless loop and then fixed
// while its evaluation spins: the newer edit cancels the evaluation (which
// says nothing), and the fixed Petsfile is applied. No step limit
// (PETS_MAX_STEPS=0): only the newer edit can end the evaluation.
func TestFaultWatchFixedPetsfileSupersedesASpinningOne(t *testing.T) {
	e := newEnv(t)
	e.chain()
	cmd := e.cmd("up", "--watch")
	cmd.Env = append(cmd.Env, "PETS_MAX_STEPS=0")
	w := e.watchCmd(cmd)
	good := readFile(t, filepath.Join(e.dir, "Petsfile"))

	e.write("Petsfile", good+"\nprint(\"spinning\")\nwhile True:\n  pass\n")
	w.waitLine(`^spinning$`)
	dport := freePort(t)
	e.write("d/keep", "")
	e.write("Petsfile", good+fmt.Sprintf("\nregister(\"d\", \"local\", lambda: service(start(\"exec $PETSERVER --name d --port %d\"), \"127.0.0.1\", %d), watch=[\"d/**\"])\n", dport, dport))
	m := w.reloaded("d-local", "", "", 3)
	if !regexp.MustCompile(`; d-local started in \S+$`).MatchString(m[8]) {
		t.Errorf("reload line: %q", m[0])
	}
	if l := e.list(); l["d-local"].Status != "ready" || !strings.HasPrefix(get(t, dport), "d ") {
		t.Errorf("d not running after the fix: %+v", l)
	}
	if out := w.output(); strings.Contains(out, "does not evaluate") {
		t.Errorf("the superseded evaluation was reported:\n%s", out)
	}
	// The session goes on as before: an edit restarts its owner.
	e.write("c/x", "1")
	w.waitLine(`round \d+: c/x -> c-local restarted in \S+ \(`)
}

// faultKill is how a `pets up` run with PETS_FAULT ended.
type faultKill struct {
	killed bool   // by the hook (SIGKILL, after saying so)
	kind   string // the event it was killed at: fork or state-write
	stderr string
}

func (e *env) upWithFault(fault string) faultKill {
	e.t.Helper()
	return e.withFault(fault, "up", "--grace", "1s")
}

// withFault runs pets args with PETS_FAULT set to fault.
func (e *env) withFault(fault string, args ...string) faultKill {
	e.t.Helper()
	cmd := e.cmd(args...)
	cmd.Env = append(cmd.Env, proc.FaultEnv+"="+fault)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	k := faultKill{stderr: stderr.String()}
	if err == nil {
		return k
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		e.t.Fatalf("pets %s with %s: %v", args[0], fault, err)
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	m := regexp.MustCompile(`pets: PETS_FAULT: killed at \S+ #\d+ \((\S+)\)`).FindStringSubmatch(k.stderr)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL || m == nil {
		e.t.Fatalf("pets %s with %s failed without being killed by the hook (%v):\n%s", args[0], fault, err, k.stderr)
	}
	k.killed, k.kind = true, m[1]
	return k
}

// kill -9 at every step of a 3-service pets up: after the N-th fork or
// state write, for N = 1, 2, ... until up completes (the first service's
// waiter is forked, held, before pets has recorded anything). After each, the state
// is readable, pets down stops everything (no process carrying the test's
// marker is left) and nothing stays recorded.
func TestFaultKillAtEveryStepOfUp(t *testing.T) {
	e := newEnv(t)
	e.threeServers()
	kinds := e.killAtEveryStep(nil, "up", "--grace", "1s")
	if kinds["fork"] == 0 {
		// No kill of the sweep fell on a fork (see below): the forks alone,
		// from nothing running again.
		if r := e.pets("down", "--grace", "1s"); r.code != 0 {
			t.Fatalf("pets down:\n%s", r.stderr)
		}
		kinds["fork"] = e.killAtEvery("fork", nil, "up", "--grace", "1s")["fork"]
	}
	// The first service's waiter is forked beside pets' own start-up
	// (Supervisor.Prefork), and the others' in the background while the
	// first starts (Supervisor.PreforkNext), so which kind the N-th step
	// is varies from run to run: a sweep may hit only one of the three
	// forks (CI saw 1 fork and 15 state writes once in a dozen runs), or
	// none (once, with every package's tests running, after state writes
	// got faster): then a second sweep kills at each fork.
	if kinds["fork"] < 1 || kinds["state-write"] < 3 {
		t.Errorf("killed at %v; want at least 1 fork and 3 state writes", kinds)
	}
}

// kill -9 at every step of a restart of a 3-service chain's first service
// (which bounces the two others): a restart forks each next waiter while
// the old server stops, and records it in the write that replaces the old
// record. After each kill the state is readable, pets down stops
// everything, and nothing is left running.
func TestFaultKillAtEveryStepOfARestart(t *testing.T) {
	e := newEnv(t)
	e.threeServers()
	up := func() {
		if r := e.pets("up", "--grace", "1s"); r.code != 0 {
			t.Fatalf("pets up:\n%s", r.stderr)
		}
	}
	kinds := e.killAtEveryStep(up, "restart", "--grace", "1s", "a")
	if kinds["fork"] == 0 {
		kinds["fork"] = e.killAtEvery("fork", up, "restart", "--grace", "1s", "a")["fork"]
	}
	// A waiter forked ahead is forked beside the stop's writes, so which
	// kind the N-th step is varies from run to run: most are writes.
	if kinds["fork"] < 1 || kinds["state-write"] < 3 {
		t.Errorf("killed at %v; want at least a fork and 3 state writes", kinds)
	}
	if r := e.pets("down", "--grace", "1s"); r.code != 0 {
		t.Fatalf("pets down:\n%s", r.stderr)
	}
}

// killAtEveryStep runs pets args (a command on the 3 servers) with
// PETS_FAULT=kill-at-step:N for N = 1, 2, ... until it completes, after
// before (may be nil) each time; after each kill the state is readable,
// pets down leaves nothing running and nothing recorded. It returns how
// many kills fell on each kind of step.
func (e *env) killAtEveryStep(before func(), args ...string) map[string]int {
	e.t.Helper()
	return e.killAtEvery("step", before, args...)
}

// killAtEvery is killAtEveryStep for the steps of one kind (PETS_FAULT's:
// step, fork or state-write).
func (e *env) killAtEvery(kind string, before func(), args ...string) map[string]int {
	t := e.t
	t.Helper()
	kinds := map[string]int{}
	for n := 1; ; n++ {
		if n > 200 {
			t.Fatalf("pets %s did not complete in 200 steps", args[0])
		}
		if before != nil {
			before()
		}
		k := e.withFault(fmt.Sprintf("kill-at-%s:%d", kind, n), args...)
		if !k.killed {
			if n < 7 && kind == "step" {
				t.Errorf("pets %s completed after %d steps; 3 services take at least 3 forks and 3 state writes", args[0], n-1)
			}
			if l := e.list(); len(l) != 3 || l["a-local"].Status != "ready" || l["b-local"].Status != "ready" || l["c-local"].Status != "ready" {
				t.Errorf("after the complete %s: %+v", args[0], l)
			}
			t.Logf("pets %s took %d steps (%v); killed after each", args[0], n-1, kinds)
			return kinds
		}
		kinds[k.kind]++
		listed := e.list() // fails the test if the state cannot be read
		r := e.pets("down", "--grace", "1s")
		if r.code != 0 {
			t.Fatalf("killed at step %d (%s), listed %+v: pets down failed:\n%s", n, k.kind, listed, r.stderr)
		}
		e.noStraysWithin(5*time.Second, fmt.Sprintf("killed at step %d (%s), listed %+v, then pets down", n, k.kind, listed))
		if l := e.list(); len(l) != 0 {
			t.Fatalf("killed at step %d (%s): still recorded after pets down: %+v", n, k.kind, l)
		}
	}
}

// Several pets up, down and list at once, three times over: the state file
// is valid JSON whenever it is read, every list answers with valid JSON,
// no command says the state is broken, and afterwards the record matches
// what runs: one up starts what three services take (as many processes as
// when they start alone), and one down leaves nothing.
func TestFaultConcurrentCommandsKeepStateValid(t *testing.T) {
	e := newEnv(t)
	ports := e.threeServers()
	stateFile := filepath.Join(e.home, "state.json")
	// How many processes three services take, alone (a server may run under
	// a helper of pets').
	e.mustPets("up")
	alone := len(e.strays())
	e.mustPets("down")

	stop := make(chan struct{})
	var bad []string
	reads := 0
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() { // reads the state file as fast as it can while the commands run
		defer readerDone.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(stateFile)
			if err == nil {
				reads++
				if !json.Valid(b) {
					bad = append(bad, string(b))
				}
			}
		}
	}()

	cmds := [][]string{
		{"up"}, {"up", "c"}, {"up", "b"}, {"down"}, {"down", "a"},
		{"list", "-o", "json"}, {"list", "-o", "json"}, {"list"}, {"list", "-o", "json"},
	}
	for round := 0; round < 3; round++ {
		results := make([]result, len(cmds))
		var wg sync.WaitGroup
		for i, args := range cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				full := append([]string{}, args...)
				if args[0] != "list" {
					full = append(full, "--grace", "1s")
				}
				results[i] = e.pets(full...)
			}()
		}
		wg.Wait()
		for i, r := range results {
			what := fmt.Sprintf("round %d: pets %s", round, strings.Join(cmds[i], " "))
			if strings.Contains(r.stderr, "read state") || strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "DATA RACE") {
				t.Errorf("%s:\n%s", what, r.stderr)
			}
			if cmds[i][0] == "list" {
				if r.code != 0 {
					t.Errorf("%s: exit %d\n%s", what, r.code, r.stderr)
				}
				if len(cmds[i]) > 1 && !json.Valid([]byte(r.stdout)) {
					t.Errorf("%s: not JSON: %q", what, r.stdout)
				}
			}
		}
		// With every command done, the record says what runs.
		for name, it := range e.list() {
			if it.Status != "ready" {
				t.Errorf("round %d: %s is %s after the commands ended", round, name, it.Status)
			}
		}
	}
	close(stop)
	readerDone.Wait()
	if len(bad) > 0 || reads == 0 {
		t.Errorf("%d reads of the state file, %d not JSON: %q", reads, len(bad), bad)
	}

	e.mustPets("up")
	l := e.list()
	for _, n := range []string{"a", "b", "c"} {
		if l[n+"-local"].Status != "ready" || !strings.HasPrefix(get(t, ports[n]), n+" ") {
			t.Errorf("after a last up: %s is %+v", n, l[n+"-local"])
		}
	}
	if s := e.strays(); len(s) != alone {
		t.Errorf("%d processes run for 3 services, %d when they start alone: %v (a process lost from the record, or a duplicate)", len(s), alone, s)
	}
	e.mustPets("down")
	e.nothingRunning()
}

// A pid in the record that a stranger now holds (another start time) is
// never taken for the service: pets up starts the service anew without
// signalling the stranger, and pets down later leaves it alone too.
// (TestRecycledPIDIsNeverTakenForAPet covers list and down alone.)
func TestFaultRecycledPIDOnUp(t *testing.T) {
	e := newEnv(t)
	ports := e.threeServers()
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
		f.Services["a"] = &state.Service{
			Name: "a", Tier: "local", Status: state.Ready, Started: time.Now(), PID: other.PID,
			Petsfile: filepath.Join(e.dir, "Petsfile"), Root: filepath.Join(e.dir, "Petsfile"),
			Hostname: "127.0.0.1", Port: ports["a"],
			Procs: []state.Proc{{Identity: proc.Identity{PID: other.PID, Start: other.Start - 100}, Cmd: "exec $PETSERVER --name a"}},
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mustPets("up")
	l := e.list()
	if l["a-local"].Status != "ready" || l["a-local"].PID == other.PID || !strings.HasPrefix(get(t, ports["a"]), "a ") {
		t.Errorf("a after up: %+v", l["a-local"])
	}
	e.mustPets("down")
	select {
	case <-other.Done():
		t.Fatal("pets signalled an unrelated process that holds a recorded pid")
	default:
	}
	if !proc.Alive(other.Identity) {
		t.Fatal("the unrelated process died")
	}
	e.nothingRunning()
}

// A corrupt state.json: every command that needs the record fails with an
// error naming the file and what to do, signals nothing and starts
// nothing.
func TestFaultCorruptStateFile(t *testing.T) {
	e := newEnv(t)
	e.threeServers()
	other, err := proc.Start(proc.Spec{Line: "exec sleep 1000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-other.PID, syscall.SIGKILL); <-other.Done() })
	stateFile := filepath.Join(e.home, "state.json")
	// A record cut short, naming a live process.
	corrupt := fmt.Sprintf(`{"version": 1, "services": {"a": {"name": "a", "tier": "local", "status": "ready", "pid": %d, "procs": [{"pid": %d, "start": %d`, other.PID, other.PID, other.Start)
	if err := os.WriteFile(stateFile, []byte(corrupt), 0o644); err != nil {
		t.Fatal(err)
	}
	// Runs before newEnv's cleanup (pets down), which needs a record.
	t.Cleanup(func() { _ = os.Remove(stateFile) })

	for _, args := range [][]string{{"list"}, {"list", "-o", "json"}, {"up"}, {"up", "a"}, {"down"}, {"down", "a"}} {
		r := e.pets(args...)
		what := "pets " + strings.Join(args, " ")
		if r.code == 0 {
			t.Errorf("%s: exit 0 with a corrupt state file\nstdout:\n%s\nstderr:\n%s", what, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, stateFile) || !strings.Contains(r.stderr, "move it away") {
			t.Errorf("%s: the error does not name the file and what to do:\n%s", what, r.stderr)
		}
		if s := e.strays(); len(s) != 0 {
			t.Errorf("%s started processes with a corrupt state file: %v", what, s)
		}
		if !proc.Alive(other.Identity) {
			t.Fatalf("%s killed the process the corrupt record names", what)
		}
	}
	if got := readFile(t, stateFile); got != corrupt {
		t.Errorf("the corrupt state file was changed: %q", got)
	}
}

// A 2,000-file burst (a checkout) while a restart is under way: nothing is
// lost (the burst makes the next round, which starts the last content) and
// nothing restarts twice for it.
func TestFaultBurstDuringARestart(t *testing.T) {
	e := newEnv(t)
	port, cport := freePort(t), freePort(t)
	for i := 0; i < 40; i++ {
		if err := os.MkdirAll(filepath.Join(e.dir, "a", fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.write("a/data", "v0")
	e.write("c/keep", "")
	e.write("go", "")
	// a records what it starts from, then waits for the file "go" (which
	// the test holds back to keep a restart under way).
	e.write("Petsfile", fmt.Sprintf(`
def a_local():
  s = start("cat a/data > a.seen; until [ -e go ]; do sleep 0.01; done; exec $PETSERVER --name a --port %d")
  return service(s, "127.0.0.1", %d)
register("a", "local", a_local, watch=["a/**"])
register("c", "local", lambda: service(start("exec $PETSERVER --name c --port %d"), "127.0.0.1", %d), watch=["c/**"])
`, port, port, cport, cport))
	w := e.watch("up", "--watch")
	dir, err := state.Open(e.home)
	if err != nil {
		t.Fatal(err)
	}

	e.holdStarts()
	e.write("a/data", "v1")
	w.waitLine(`round 1: restarting a-local`)
	waitFor(t, "round 1's a to read v1", func() bool { return readFile(t, filepath.Join(e.dir, "a.seen")) == "v1" })

	// The burst, its last write the content a must end up with.
	burst := exec.Command("bash", "-c", `for i in $(seq 0 1999); do printf -v d %02d $((i % 40)); echo x > a/d$d/f$i.go; done; printf v-final > a/data`)
	burst.Dir = e.dir
	if out, err := burst.CombinedOutput(); err != nil {
		t.Fatalf("burst: %v\n%s", err, out)
	}
	// Written after the burst: once the loop has c's change, it has every
	// batch of the burst (batches come in order).
	since := time.Now()
	e.write("c/sentinel", "1")
	waitFor(t, "the loop to have the burst", func() bool {
		evs, _ := dir.RecentEvents(200)
		for _, ev := range evs {
			if ev.Type == events.ServiceStale && ev.Service == "c-local" && !ev.Time.Before(since) {
				return true
			}
		}
		return false
	})
	e.write("go", "")
	w.waitLine(`round 1: .* -> a-local restarted`)
	m := w.waitLine(roundRE)
	if m[1] != "2" || !strings.Contains(m[2], "more files") || strings.Count(m[3], "a-local restarted") != 1 {
		t.Errorf("the burst's round: %q", m[0])
	}
	waitFor(t, "a to start from the last content", func() bool { return readFile(t, filepath.Join(e.dir, "a.seen")) == "v-final" })
	if !strings.HasPrefix(get(t, port), "a ") {
		t.Error("a does not answer after the burst")
	}
	// Settle: an edit of c alone restarts c alone; a never restarted again.
	e.write("c/sentinel", "2")
	w.waitLine(`round \d+: .*c/sentinel -> c-local restarted in \S+ \(`)
	if n := strings.Count(w.output(), "a-local restarted"); n != 2 {
		t.Errorf("a restarted %d times for an edit and a burst, want 2:\n%s", n, w.output())
	}
}
