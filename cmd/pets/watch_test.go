//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// watching is a `pets up --watch` (or `pets watch`) running in the background.
type watching struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string // stderr lines so far
	seen  int      // lines already consumed by waitLine
	done  chan struct{}
}

func (e *env) watch(args ...string) *watching {
	e.t.Helper()
	return e.watchCmd(e.cmd(args...))
}

// watchCmd starts cmd (a pets command line from e.cmd) as a watching and
// waits until it watches.
func (e *env) watchCmd(cmd *exec.Cmd) *watching {
	e.t.Helper()
	w := e.startWatching(cmd)
	w.waitLine(`^Watching `)
	return w
}

// startWatching starts cmd as a watching and returns at once.
func (e *env) startWatching(cmd *exec.Cmd) *watching {
	e.t.Helper()
	w := &watching{t: e.t, cmd: cmd, done: make(chan struct{})}
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
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

// waitLine waits for the next stderr line matching re (after the last one
// matched) and returns its submatches.
func (w *watching) waitLine(re string) []string {
	w.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		for i := w.seen; i < len(w.lines); i++ {
			if m := rx.FindStringSubmatch(w.lines[i]); m != nil {
				w.seen = i + 1
				w.mu.Unlock()
				return m
			}
		}
		w.mu.Unlock()
		select {
		case <-w.done:
			w.t.Fatalf("pets exited while waiting for %q:\n%s", re, w.output())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no line matching %q within 30s:\n%s", re, w.output())
		}
	}
}

// rest returns the lines after the last matched one, and consumes them.
func (w *watching) rest() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.lines[w.seen:]...)
	w.seen = len(w.lines)
	return out
}

func (w *watching) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// stop sends SIGINT (Ctrl-C) and waits for pets to exit; it returns the exit code.
func (w *watching) stop() int {
	if w.cmd.ProcessState != nil {
		return w.cmd.ProcessState.ExitCode()
	}
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.done
		w.t.Errorf("pets did not exit within a minute of Ctrl-C:\n%s", w.output())
	}
	_ = w.cmd.Wait()
	return w.cmd.ProcessState.ExitCode()
}

// chain writes a Petsfile: a <- b (b depends on a), and c alone; each owns
// its directory through watch=. Each server's command first records the
// content of its directory's "data" file (if any) in "seen", so tests can
// tell which edit a running instance saw.
func (e *env) chain() {
	var b strings.Builder
	for _, s := range []struct{ name, deps, params, depArg string }{
		{"a", "", "", ""},
		{"b", `"a"`, "a", ` --dep a=" + a["host"] + "`},
		{"c", "", "", ""},
	} {
		port := freePort(e.t)
		e.write(s.name+"/keep", "")
		fmt.Fprintf(&b, `
def %[1]s_local(%[2]s):
  s = start("cat %[1]s/data > %[1]s.seen 2>/dev/null; exec $PETSERVER --name %[1]s --port %[3]d%[4]s")
  return service(s, "127.0.0.1", %[3]d)
register("%[1]s", "local", %[1]s_local, deps=[%[5]s], watch=["%[1]s/**"], ignore=["%[1]s/ignored/**"])
`, s.name, s.params, port, s.depArg, s.deps)
	}
	e.write("Petsfile", b.String())
}

// chainWithBadData is chain, except that a refuses to start (exit 4, saying
// "a cannot start: bad data") while a/data says "bad".
func (e *env) chainWithBadData() {
	e.chain()
	e.write("Petsfile", strings.Replace(readFile(e.t, filepath.Join(e.dir, "Petsfile")),
		`cat a/data > a.seen 2>/dev/null;`, `cat a/data > a.seen 2>/dev/null; if grep -q bad a/data 2>/dev/null; then echo a cannot start: bad data; exit 4; fi;`, 1))
}

// gated writes a Petsfile with one service s, watching s/**, whose server
// records s/data in s.seen and listens on port only once the file "go"
// exists: a test removes it to hold a restart, and writes it to let go.
func (e *env) gated(port int) {
	e.write("s/data", "v0")
	e.write("go", "")
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("while [ ! -e go ]; do sleep 0.02; done; cat s/data > s.seen; exec $PETSERVER --name s --port %[1]d"), "127.0.0.1", %[1]d)
register("s", "local", s_local, watch=["s/**"])
`, port))
}

// holdStarts removes the "go" file of gated (and of the tests' own
// servers that wait for it): a start from now on waits until it is
// written again.
func (e *env) holdStarts() {
	e.t.Helper()
	if err := os.Remove(filepath.Join(e.dir, "go")); err != nil {
		e.t.Fatal(err)
	}
}

// pids returns the current pid of each listed service.
func (e *env) pids() map[string]int {
	m := map[string]int{}
	for n, it := range e.list() {
		m[n] = it.PID
	}
	return m
}

// settle waits until every earlier change has been handled: it edits c (an
// unrelated service) and waits for the round that restarts only c.
func (w *watching) settle(e *env) {
	w.t.Helper()
	e.write("c/sentinel", strconv.FormatInt(time.Now().UnixNano(), 10))
	// Only the sentinel touches c. A round restarts it, or the reload of a
	// Petsfile edited just before takes it in.
	w.waitLine(`round \d+: .* -> .*c-local restarted in |Petsfile reloaded .*c-local restarted in .*c/sentinel`)
}

var roundRE = `round (\d+): (.*) -> (.*) \((\S+) in all\)$`

func TestWatchRestartsOwnerThenDependentsInOrder(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	before := e.pids()

	e.write("a/main.go", "package main // edited")
	m := w.waitLine(roundRE)
	if !strings.HasSuffix(m[2], "a/main.go") || !regexp.MustCompile(`^a-local restarted in \S+, b-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	after := e.pids()
	if after["a-local"] == before["a-local"] || after["b-local"] == before["b-local"] {
		t.Errorf("a or b not restarted: %v -> %v", before, after)
	}
	if after["c-local"] != before["c-local"] {
		t.Errorf("c restarted although none of its files changed")
	}
	// b was started after a was ready again: its log shows a's new pid.
	if body := get(t, e.list()["b-local"].Port); !strings.Contains(body, fmt.Sprintf("a (pid %d)", after["a-local"])) {
		t.Errorf("b talks to %q, want the new a (pid %d)", body, after["a-local"])
	}

	// A dependent's own edit restarts it alone.
	e.write("b/x.txt", "1")
	if m := w.waitLine(roundRE); !regexp.MustCompile(`^b-local restarted in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	// Ignored files and the Petsfile itself restart nothing.
	e.write("a/ignored/x", "1")
	e.write("Petsfile", readFile(t, filepath.Join(e.dir, "Petsfile"))+"\n# comment\n")
	w.settle(e)
	if n := e.pids()["a-local"]; n != after["a-local"] {
		t.Error("an ignored file or the Petsfile restarted a")
	}
}

func TestWatchBurstGivesOneRestartPerService(t *testing.T) {
	e := newEnv(t)
	e.chain()
	for i := 0; i < 40; i++ {
		if err := os.MkdirAll(filepath.Join(e.dir, "a", fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The default quiet window is chosen for a checkout on a machine that is
	// not also running this race-instrumented test suite; a wider one makes the
	// test about coalescing, not about scheduling.
	w := e.watch("up", "--watch", "--quiet", "300ms")
	// 2,000 files written as fast as a checkout writes them (bash builtins, no
	// fork per file; the race-instrumented test binary would write slower).
	burst := exec.Command("bash", "-c", `for i in $(seq 0 1999); do printf -v d %02d $((i % 40)); echo x > a/d$d/f$i.go; done`)
	burst.Dir = e.dir
	if out, err := burst.CombinedOutput(); err != nil {
		t.Fatalf("burst: %v\n%s", err, out)
	}
	m := w.waitLine(roundRE)
	if !strings.Contains(m[2], "and 1998 more files") || !regexp.MustCompile(`^a-local restarted in \S+, b-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("burst round: %q", m[0])
	}
	w.settle(e)
	for _, l := range w.rest() {
		if strings.Contains(l, "a-local restarted") {
			t.Errorf("a restarted again for the same burst: %s", l)
		}
	}
}

func TestWatchNewAndRecreatedDirectories(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.write("a/sub/old.txt", "1")
	w := e.watch("up", "--watch")

	// A directory created after start, written into at once.
	if err := os.MkdirAll(filepath.Join(e.dir, "a", "new", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("a/new/deep/f.txt", "1")
	if m := w.waitLine(roundRE); !strings.Contains(m[2], "a/new/deep/f.txt") {
		t.Errorf("round for the new directory: %q", m[0])
	}
	w.settle(e)

	// A watched directory deleted and recreated.
	if err := os.RemoveAll(filepath.Join(e.dir, "a", "sub")); err != nil {
		t.Fatal(err)
	}
	w.waitLine(`round \d+: .*a/sub.* -> a-local restarted`)
	w.settle(e)
	if err := os.Mkdir(filepath.Join(e.dir, "a", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.write("a/sub/again.txt", "2")
	w.waitLine(`round \d+: .*a/sub/again.txt -> a-local restarted`)
}

// An edit made while pets up --watch is still starting a service, after
// the start read its files, restarts it once the start is over: the file
// watcher is in place before anything starts. (It used to be lost, and
// pets list said FRESH.)
func TestUpWatchEditDuringTheFirstStartIsNotLost(t *testing.T) {
	e := newEnv(t)
	port, cport := freePort(t), freePort(t)
	e.write("s/data", "v0")
	e.write("c/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
def s_local():
  return service(start("cat s/data > s.seen; until [ -e go ]; do sleep 0.01; done; exec $PETSERVER --name s --port %[1]d"), "127.0.0.1", %[1]d)
register("s", "local", s_local, watch=["s/**"])
register("c", "local", lambda: service(start("exec $PETSERVER --port %[2]d"), "127.0.0.1", %[2]d), watch=["c/**"])
`, port, cport))
	w := e.startWatching(e.cmd("up", "--watch"))
	waitFor(t, "the first start to read s/data", func() bool {
		b, _ := os.ReadFile(filepath.Join(e.dir, "s.seen"))
		return string(b) == "v0"
	})
	e.write("s/data", "v1")
	e.write("go", "")
	w.waitLine(`^Watching `)
	m := w.waitLine(roundRE)
	if m[1] != "1" || !strings.Contains(m[2], "s/data") || !regexp.MustCompile(`^s-local restarted in \S+$`).MatchString(m[3]) {
		t.Errorf("the edit during the first start did not make round 1: %q", m[0])
	}
	if got := readFile(t, filepath.Join(e.dir, "s.seen")); got != "v1" {
		t.Errorf("s read %q after round 1, want v1", got)
	}
	if it := e.freshness()["s-local"]; it.Freshness != "fresh" {
		t.Errorf("s after round 1: %+v", it)
	}
	w.settle(e)
	for _, l := range w.rest() {
		if strings.Contains(l, "s-local restarted") {
			t.Errorf("s restarted a second time: %s", l)
		}
	}
}

func TestWatchEditDuringRestartIsNotLost(t *testing.T) {
	e := newEnv(t)
	port, cport := freePort(t), freePort(t)
	// a waits for a "go" file (which the test controls) before it starts, so
	// the test can edit while a restart is under way.
	e.write("a/data", "v0")
	e.write("c/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
def a_local():
  s = start("until [ -e go ]; do sleep 0.01; done; cat a/data > a.seen; exec $PETSERVER --name a --port %d")
  return service(s, "127.0.0.1", %d)
register("a", "local", a_local, watch=["a/**"])
register("c", "local", lambda: service(start("exec $PETSERVER --port %d"), "127.0.0.1", %d), watch=["c/**"])
`, port, port, cport, cport))
	e.write("go", "")
	w := e.watch("up", "--watch")

	e.holdStarts()
	e.write("a/data", "v1")
	w.waitLine(`round 1: restarting a-local`)
	// Round 1 is now blocked in a's start: edit again, twice.
	e.write("a/data", "v2")
	e.write("a/data", "v3")
	e.write("go", "")
	w.waitLine(`round 1: .* -> a-local restarted`)
	m := w.waitLine(roundRE)
	if m[1] != "2" || !strings.Contains(m[2], "a/data") || !regexp.MustCompile(`^a-local restarted in \S+$`).MatchString(m[3]) {
		t.Errorf("the edits during round 1 did not make round 2: %q", m[0])
	}
	waitFor(t, "a to have seen the last edit", func() bool { return readFile(t, filepath.Join(e.dir, "a.seen")) == "v3" })
	w.settle(e)
	for _, l := range w.rest() {
		if strings.Contains(l, "a-local restarted") {
			t.Errorf("a restarted a third time: %s", l)
		}
	}
}

func TestWatchFailureAndRecovery(t *testing.T) {
	e := newEnv(t)
	e.chainWithBadData() // a refuses to start while a/data says "bad"
	w := e.watch("up", "--watch")
	cBefore := e.pids()["c-local"]

	e.write("a/data", "bad")
	m := w.waitLine(roundRE)
	if !regexp.MustCompile(`^a-local FAILED after \S+, b-local skipped \(a-local failed\)$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	w.waitLine(`pets: a-local failed; it restarts on the next change to its files:`)
	w.waitLine(`a cannot start: bad data`)
	if l := e.list(); l["c-local"].PID != cBefore || l["b-local"].Status != "ready" {
		t.Errorf("a's failure disturbed other services: %+v", l)
	}
	e.write("a/data", "good")
	if m := w.waitLine(roundRE); !regexp.MustCompile(`^a-local restarted in \S+, b-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("recovery round: %q", m[0])
	}
	if st := e.list()["a-local"].Status; st != "ready" {
		t.Errorf("a after the fix: %s", st)
	}
}

// A crash is reported once, with how the process ended, and (restart
// policy on-failure, the default while watching) the service restarts by
// itself after its backoff, its dependents bounced after it. (Before
// restart policies it waited for the next change to its files: with
// restart_policy="no" it still does, TestWatchCrashWaitsForAChangeWithRestartPolicyNo.)
func TestWatchReportsCrashAndRestartsOnNextChange(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	pid := e.pids()["a-local"]
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.waitLine(`pets: a-local is not running any more \(signal: killed\) \(see pets logs a-local\); it restarts by itself`)
	w.waitLine(`round \d+: a-local crashed \(signal: killed\); restarted after 500ms -> a-local restarted in \S+, b-local bounced`)
	if l := e.list()["a-local"]; l.Status != "ready" || l.PID == pid {
		t.Errorf("a after its crash: %+v", l)
	}
	for _, l := range w.rest() {
		if strings.Contains(l, "is not running any more") {
			t.Errorf("crash reported more than once: %s", l)
		}
	}
}

func TestWatchCtrlCLeavesNothingBehind(t *testing.T) {
	e := newEnv(t)
	e.chain()
	w := e.watch("up", "--watch")
	e.write("a/x", "1")
	w.waitLine(roundRE)
	if code := w.stop(); code != 0 {
		t.Errorf("exit code after Ctrl-C: %d\n%s", code, w.output())
	}
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind after Ctrl-C: %v", s)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("still recorded after Ctrl-C: %v", l)
	}
}

// pets up --watch | tee, then Ctrl-C: tee is gone first, and pets, whose
// log lines now go to a closed pipe, must still stop its services.
func TestWatchOutputToAClosedPipeStillStopsEverything(t *testing.T) {
	e := newEnv(t)
	e.chain()
	// c also records which signals it started with ignored.
	pf := readFile(t, filepath.Join(e.dir, "Petsfile"))
	e.write("Petsfile", strings.Replace(pf, `start("cat c/data`, `start("grep SigIgn /proc/$$/status > c.sigign; cat c/data`, 1))
	cmd := e.cmd("up", "--watch")
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = wr
	w := e.watchCmd(cmd)
	wr.Close()
	r.Close()           // the reader (tee) is gone
	e.write("a/x", "1") // restarts a and b: their log lines go to stdout
	w.waitLine(roundRE)
	w.settle(e)
	// The services start with SIGPIPE as usual, not ignored (bit 13-1).
	var mask uint64
	if _, err := fmt.Sscanf(readFile(t, filepath.Join(e.dir, "c.sigign")), "SigIgn: %x", &mask); err != nil {
		t.Fatal(err)
	}
	if mask&(1<<(13-1)) != 0 {
		t.Errorf("a service started with SIGPIPE ignored (SigIgn %x)", mask)
	}
	if code := w.stop(); code != 0 {
		t.Errorf("exit code after Ctrl-C: %d\n%s", code, w.output())
	}
	e.nothingRunning()
}

func TestWatchAttachesToRunningServicesAndLeavesThemUp(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	before := e.pids()
	w := e.watch("watch")
	e.write("b/y", "1")
	if m := w.waitLine(roundRE); !regexp.MustCompile(`^b-local restarted in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	if code := w.stop(); code != 0 {
		t.Errorf("pets watch exit code after Ctrl-C: %d", code)
	}
	after := e.list()
	if len(after) != 3 || after["a-local"].PID != before["a-local"] || after["b-local"].Status != "ready" {
		t.Errorf("pets watch did not leave the services up: %+v", after)
	}
	if r := e.pets("watch", "nope"); r.code == 0 || !strings.Contains(r.stderr, `unknown service "nope"`) {
		t.Errorf("pets watch nope: %d %s", r.code, r.stderr)
	}
}

func TestNoWatchOverridesPetsWatch(t *testing.T) {
	e := newEnv(t)
	e.chain()
	cmd := e.cmd("up", "--no-watch")
	cmd.Env = append(cmd.Env, "PETS_WATCH=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), "Watching") {
		t.Errorf("--no-watch watched:\n%s", out)
	}
	if len(e.list()) != 3 {
		t.Error("services not up after --no-watch")
	}
}

func TestWatchIgnoredDirectoriesHoldNoInotifyWatch(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.write("a/.gitignore", "node_modules/\n")
	for i := 0; i < 30; i++ {
		e.write(fmt.Sprintf("a/node_modules/m%d/index.js", i), "x")
		e.write(fmt.Sprintf("a/ignored/i%d/x", i), "x")
	}
	e.write(".git/objects/aa/x", "x")
	w := e.watch("up", "--watch")
	// Watched: a, b, c (no subdirectories of theirs survive the ignores), the
	// Petsfile's directory (not recursively: for Petsfile edits), the git
	// directory of their work tree (not recursively: for git's index.lock)
	// and, for streaming logs, the state directory's logs; nothing else.
	want := map[uint64]string{inode(t, e.dir): "the Petsfile's directory", inode(t, filepath.Join(e.dir, ".git")): ".git"}
	for _, d := range []string{"a", "b", "c"} {
		want[inode(t, filepath.Join(e.dir, d))] = d
	}
	want[inode(t, filepath.Join(e.home, "logs"))] = "logs"
	got := inotifyInodes(t, w.cmd.Process.Pid)
	for ino := range got {
		if _, ok := want[ino]; !ok {
			t.Errorf("pets watches inode %d, which is none of %v", ino, want)
		}
	}
	for ino, name := range want {
		if !got[ino] {
			t.Errorf("pets does not watch %s", name)
		}
	}
	for _, ignored := range []string{"a/node_modules", "a/node_modules/m0", "a/ignored", "a/ignored/i0", ".git/objects", ".git/objects/aa"} {
		if got[inode(t, filepath.Join(e.dir, ignored))] {
			t.Errorf("ignored directory %s holds an inotify watch", ignored)
		}
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// inotifyInodes returns the inodes a process holds inotify watches on, read
// from the "inotify wd:N ino:HEX ..." lines of its /proc/PID/fdinfo.
func inotifyInodes(t *testing.T, pid int) map[uint64]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	re := regexp.MustCompile(`(?m)^inotify wd:[0-9a-f]+ ino:([0-9a-f]+) `) // both hex
	for _, fd := range fds {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			ino, err := strconv.ParseUint(m[1], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[ino] = true
		}
	}
	return out
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// Ctrl-C while pets watch restarts a service: the restart finishes (pets
// watch detaches; it never leaves a service stopped half-way).
func TestWatchCtrlCDuringARestartFinishesIt(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.gated(port) // the server starts listening only while "go" exists
	e.mustPets("up")
	before := e.pids()["s-local"]
	w := e.watch("watch")
	e.holdStarts()
	e.write("s/x", "1")
	w.waitLine(`round 1: restarting s-local$`)
	if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	e.write("go", "")
	w.waitLine(`round 1: .* -> s-local restarted in `) // not "interrupted"
	// The one Ctrl-C ends pets watch.
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		t.Fatalf("pets watch did not exit after Ctrl-C:\n%s", w.output())
	}
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("pets watch: %v\n%s", err, w.output())
	}
	l := e.list()
	if s := l["s-local"]; s.Status != "ready" || s.PID == before {
		t.Errorf("after Ctrl-C during its restart, s-local is %+v (was pid %d); want restarted and running", s, before)
	}
	if got := get(t, port); !strings.Contains(got, "s") {
		t.Errorf("s answers %q", got)
	}
}
