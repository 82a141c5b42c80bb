//go:build linux

package supervise

// Shared setup for the package's tests: real processes (bash, sleep and the
// examples' petserver, built once in TestMain), real ports on 127.0.0.1, a
// real state directory. Every test that starts processes calls newWorld,
// which puts a marker in the environment that every child inherits; at the
// end of the test whatever the test left recorded is stopped, and no process
// carrying the marker may be left.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/internal/freeport"
	"github.com/windmilleng/pets/logfile"
	"github.com/windmilleng/pets/waiter"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// petserverBin is examples/petserver, built once for the package's tests.
var petserverBin string

// helperVar makes the test binary a helper program instead of running the
// tests: see helperMain and helperCmd.
const helperVar = "PETS_SUPERVISE_TEST_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == waiter.Command {
		// Servers run under a waiter: `PROGRAM waiter ...`, this binary here.
		os.Exit(waiter.Run(os.Args[2:]))
	}
	if mode := os.Getenv(helperVar); mode != "" {
		os.Exit(helperMain(mode, os.Args[1:]))
	}
	// Waiters are this (-race) binary: the race runtime would otherwise
	// sleep 1s as each exits.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	dir, err := os.MkdirTemp("", "pets-supervise-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	petserverBin = filepath.Join(dir, "petserver")
	cmd := exec.Command("go", "build", "-o", petserverBin, "../examples/petserver")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build petserver:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperMain runs the test binary as a helper program:
//
//	status PORT: an HTTP server on 127.0.0.1:PORT whose /healthz answers
//	with the status code in the file ./status (503 while there is none),
//	printing "served CODE" for each answer.
func helperMain(mode string, args []string) int {
	switch {
	case mode == "status" && len(args) == 1:
		http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			code := http.StatusServiceUnavailable
			if b, err := os.ReadFile("status"); err == nil {
				if c, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					code = c
				}
			}
			w.WriteHeader(code)
			fmt.Printf("served %d\n", code)
		})
		fmt.Printf("status server (pid %d) listening on 127.0.0.1:%s\n", os.Getpid(), args[0])
		fmt.Fprintln(os.Stderr, http.ListenAndServe("127.0.0.1:"+args[0], nil))
		return 1
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q %q\n", mode, args)
	return 2
}

// helperCmd is the shell line that runs the test binary as helper mode.
func helperCmd(mode string, args ...string) string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return strings.Join(append([]string{helperVar + "=" + mode, "exec", shellQuote(exe)}, args...), " ")
}

// markerVar is the environment variable that marks a test's processes.
const markerVar = "PETS_SUPERVISE_TEST_MARKER"

// waitTimeout bounds every wait for a condition.
const waitTimeout = 20 * time.Second

// world is one test's state directory, project directory and process marker.
type world struct {
	t      *testing.T
	root   string
	dir    string // the project directory: Petsfiles and the files their commands write
	state  *state.Dir
	marker string // markerVar=value, as it appears in /proc/PID/environ
}

// newWorld sets the test's marker in the environment (so no t.Parallel) and
// makes sure that, when the test ends, every recorded service is stopped and
// no process with the marker is left.
func newWorld(t *testing.T) *world {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	value := hex.EncodeToString(b)
	t.Setenv(markerVar, value)
	// Every directory lives under root, created before the cleanup below is
	// registered, so it is removed only after the processes are gone.
	root := t.TempDir()
	w := &world{t: t, root: root, marker: markerVar + "=" + value}
	w.dir = w.mkdir("project")
	st, err := state.Open(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	w.state = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := stopAllRecorded(ctx, st); err != nil {
			t.Errorf("cleanup: stop recorded services: %v", err)
		}
		if s := w.strays(); len(s) > 0 {
			t.Errorf("processes left behind by the test: %v", describe(s))
			for _, pid := range s {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			for _, pid := range s {
				w.waitGone(pid)
			}
		}
		// Nor cgroups.
		parents, _ := cgroupParents(st.Path)
		for _, parent := range parents {
			left, _ := filepath.Glob(filepath.Join(parent, "*-*-*"))
			var dirs []string
			for _, d := range left {
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					dirs = append(dirs, d)
				}
			}
			if len(dirs) > 0 {
				t.Errorf("cgroups left behind by the test: %v", dirs)
				for _, d := range dirs {
					_ = os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
					waitFor(t, "a cgroup to empty", func() bool { p, err := proc.CgroupPopulated(d); return err != nil || !p })
					_ = proc.RemoveCgroup(d)
				}
				removeCgroupParents(dirs[0])
			}
		}
	})
	return w
}

// stopAllRecorded stops every service recorded in st (cleanup only).
func stopAllRecorded(ctx context.Context, st *state.Dir) error {
	f, err := st.Read()
	if err != nil {
		return err
	}
	for _, rec := range f.Services {
		if _, err := StopService(ctx, st, rec, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// mkdir makes a directory under the world's root.
func (w *world) mkdir(name string) string {
	w.t.Helper()
	d := filepath.Join(w.root, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// strays lists live (not zombie) processes that carry the test's marker.
func (w *world) strays() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil || !bytes.Contains(b, []byte(w.marker+"\x00")) {
			continue
		}
		if !proc.Alive(proc.Identity{PID: pid}) {
			continue // gone meanwhile, or a zombie waiting to be reaped
		}
		out = append(out, pid)
	}
	return out
}

// describe names processes by pid and command line, for failure messages.
func describe(pids []int) string {
	var parts []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		parts = append(parts, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
	}
	return strings.Join(parts, ", ")
}

// lockState takes the state directory's lock, as a concurrent pets would
// hold it; the returned func (also called when the test ends) releases it.
func (w *world) lockState() (unlock func()) {
	w.t.Helper()
	f, err := os.OpenFile(filepath.Join(w.state.Path, "state.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		w.t.Fatal(err)
	}
	var once sync.Once
	unlock = func() { once.Do(func() { f.Close() }) }
	w.t.Cleanup(unlock)
	return unlock
}

// heldPID returns the pid of a process of the test that start() forked and
// that waits for its go-ahead (blocked reading its pipe), or 0: a waiter
// (start()) or the held shell (run()).
func (w *world) heldPID() int {
	for _, pid := range w.strays() {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		held := bytes.Contains(cmd, []byte("\x00pets-start\x00")) || bytes.Contains(cmd, []byte("\x00"+waiter.Command+"\x00"))
		// The waiter is a Go program: the read may be any thread's.
		wchans, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
		for _, f := range wchans {
			wchan, _ := os.ReadFile(f)
			if held && bytes.Contains(wchan, []byte("pipe")) {
				return pid
			}
		}
	}
	return 0
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// waitGone waits until pid is no longer a live process.
func (w *world) waitGone(pid int) {
	w.t.Helper()
	waitFor(w.t, fmt.Sprintf("pid %d to exit", pid), func() bool { return !proc.Alive(proc.Identity{PID: pid}) })
}

// gone reports whether pid is no longer a live process (absent or a zombie).
func gone(pid int) bool { return !proc.Alive(proc.Identity{PID: pid}) }

// writePetsfile writes a Petsfile with text into dir and returns its path.
func writePetsfile(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, petsfile.FileName)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadProject writes text as dir's Petsfile and loads it.
func loadProject(t *testing.T, dir, text string) *petsfile.Project {
	t.Helper()
	p, err := petsfile.Load(context.Background(), writePetsfile(t, dir, text), petsfile.Options{})
	if err != nil {
		t.Fatalf("load Petsfile:\n%s\n%v", text, err)
	}
	return p
}

// star quotes s as a Starlark string literal.
func star(s string) string { return strconv.Quote(s) }

// serverCmd is the shell line that runs petserver as name on port.
func serverCmd(name string, port int, extra ...string) string {
	return strings.Join(append([]string{"exec", petserverBin, "--name", name, "--port", strconv.Itoa(port)}, extra...), " ")
}

// servicePetsfile registers one service name-local whose provider starts
// petserver on port and waits for it.
func servicePetsfile(name string, port int, extra ...string) string {
	return fmt.Sprintf(`
def provider():
    s = start(%s)
    return service(s, "127.0.0.1", %d)

register(%q, "local", provider)
`, star(serverCmd(name, port, extra...)), port, name)
}

// localServers registers name-local for each of names, whose provider
// starts petserver on the port at the same index and waits for it.
func localServers(names []string, ports []int) string {
	var b strings.Builder
	for i, name := range names {
		fmt.Fprintf(&b, "\ndef %s():\n    return service(start(%s), \"127.0.0.1\", %d)\n", name, star(serverCmd(name, ports[i])), ports[i])
	}
	for _, name := range names {
		fmt.Fprintf(&b, "register(%q, \"local\", %s)\n", name, name)
	}
	return b.String()
}

// supervisor returns a Supervisor for project on the world's state, with its
// progress in out (may be nil).
func (w *world) supervisor(project *petsfile.Project, out io.Writer) *Supervisor {
	return &Supervisor{State: w.state, Project: project, Stderr: out, Grace: 2 * time.Second, ReadyTimeout: waitTimeout}
}

// up starts k with s and fails the test if it does not come up.
func up(t *testing.T, s *Supervisor, k petsfile.Key, deps ...petsfile.Value) petsfile.Value {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	v, err := s.Up(ctx, k, deps)
	if err != nil {
		t.Fatalf("up %s: %v", k, err)
	}
	return v
}

// record returns the recorded service name, failing the test if there is none.
func (w *world) record(name string) *state.Service {
	w.t.Helper()
	rec, ok := w.lookup(name)
	if !ok {
		w.t.Fatalf("%s is not recorded", name)
	}
	return rec
}

// lookup returns the recorded service name, if any.
func (w *world) lookup(name string) (*state.Service, bool) {
	w.t.Helper()
	f, err := w.state.Read()
	if err != nil {
		w.t.Fatal(err)
	}
	rec, ok := f.Services[name]
	return rec, ok
}

// addRecord records svc directly (for tests that build records by hand).
func (w *world) addRecord(svc *state.Service) {
	w.t.Helper()
	err := w.state.Update(func(f *state.File) error {
		f.Services[svc.Name] = svc
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// startProc starts line outside any Supervisor, in its own group, and stops
// the group when the test ends.
func (w *world) startProc(line string) *proc.Proc {
	w.t.Helper()
	p, err := proc.Start(proc.Spec{Line: line, Dir: w.dir})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := p.Stop(ctx, 0); err != nil {
			w.t.Errorf("cleanup: stop %q: %v", line, err)
		}
	})
	return p
}

// exited returns the identity of a process that ran line and has exited.
func (w *world) exited(line string) proc.Identity {
	w.t.Helper()
	var id proc.Identity
	if err := proc.Run(context.Background(), proc.Spec{Line: line, Dir: w.dir}, func(i proc.Identity) { id = i }); err != nil {
		w.t.Fatal(err)
	}
	if id.PID == 0 || id.Start == 0 {
		w.t.Fatalf("no identity for %q: %+v", line, id)
	}
	w.waitGone(id.PID)
	return id
}

// readPID waits until path holds a pid and returns it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "a pid in "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// readStateFile waits until path holds a whole state file (a copy a command
// made) and returns it.
func readStateFile(t *testing.T, path string) *state.File {
	t.Helper()
	var f state.File
	waitFor(t, "a state file copy at "+path, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &f) == nil && f.Services != nil
	})
	return &f
}

// freePort returns a port on 127.0.0.1 that nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// addr is "127.0.0.1:port".
func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// answer returns what petserver on port answers, or "" if nothing does.
func answer(port int) string {
	c, err := net.DialTimeout("tcp", addr(port), time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(c)
	return string(b)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHost returns the host a provider of k gets from s, with k recorded as
// starting (as Up records it) and its log open.
func newHost(t *testing.T, s *Supervisor, k petsfile.Key) *host {
	t.Helper()
	err := s.State.Update(func(f *state.File) error {
		f.Services[k.Name] = &state.Service{Name: k.Name, Tier: k.Tier, Status: state.Starting, Started: time.Now()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logf, err := logfile.Open(s.State.LogPath(k.Name, k.Tier), logfile.DefaultMax)
	if err != nil {
		t.Fatal(err)
	}
	h := &host{s: s, key: k, log: logf, logStart: logf.Pos().Offset(), instance: newInstance(), logPath: logf.Name(), logMax: logf.Max()}
	t.Cleanup(func() {
		_ = h.awaitRecords() // as Up does: no write after the test
		logf.Close()
	})
	return h
}

// contains fails the test unless s contains each of want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, x := range want {
		if !strings.Contains(s, x) {
			t.Errorf("%s does not contain %q:\n%s", what, x, s)
		}
	}
}
