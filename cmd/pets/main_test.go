//go:build linux

package main

// End-to-end tests: the real pets binary (built with -race), real processes,
// real ports on 127.0.0.1. Every process a test's pets starts carries the
// test's marker in its environment; after the test none may be left.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/internal/freeport"
)

var (
	petsBin      string
	petserverBin string
)

const testVersion = "v0.0.0-e2e"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pets-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	petsBin = filepath.Join(dir, "pets")
	petserverBin = filepath.Join(dir, "petserver")
	build := func(out, pkg string, race bool) error {
		args := []string{"build", "-o", out, "-ldflags", "-X main.version=" + testVersion}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	// pets-waiter and pets-kube beside pets, as make build and go install
	// put them: what each server runs under (TestWaiterBinary checks which
	// one runs), and what pets hands Kubernetes to (TestPetsLinksNoClientGo).
	err = build(petsBin, ".", true)
	for _, b := range [][2]string{{"pets-waiter", "../pets-waiter"}, {"pets-kube", "../pets-kube"}, {"", "../../examples/petserver"}} {
		if err != nil {
			break
		}
		if b[0] == "" {
			err = build(petserverBin, b[1], false)
		} else {
			err = build(filepath.Join(dir, b[0]), b[1], true)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// petsAlone is a copy of the pets binary with nothing beside it.
func petsAlone(t *testing.T) string {
	t.Helper()
	alone := filepath.Join(t.TempDir(), "pets")
	b, err := os.ReadFile(petsBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return alone
}

// env is one test's world: a state dir, a project dir and a marker.
type env struct {
	t      *testing.T
	home   string
	dir    string
	marker string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	e := &env{t: t, home: t.TempDir(), dir: t.TempDir(), marker: "PETS_TEST_MARKER=" + hex.EncodeToString(b)}
	t.Cleanup(func() {
		// Stop whatever the test left running, then insist nothing is left.
		r := e.pets("down", "--grace", "2s")
		if r.code != 0 {
			t.Errorf("cleanup: pets down: %s", r.stderr)
		}
		if s := e.strays(); len(s) > 0 {
			t.Errorf("processes left behind after pets down: %v", s)
			for _, p := range s {
				_ = killPID(p)
			}
		}
	})
	return e
}

type result struct {
	stdout, stderr string
	code           int
}

func (e *env) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(petsBin, args...)
	cmd.Dir = e.dir
	// atexit_sleep_ms=0: the race runtime otherwise sleeps 1s at every exit.
	cmd.Env = append(os.Environ(), "PETS_HOME="+e.home, "PETSERVER="+petserverBin, e.marker, "NO_COLOR=", "GORACE=atexit_sleep_ms=0")
	return cmd
}

func (e *env) pets(args ...string) result {
	e.t.Helper()
	return e.petsIn(e.dir, args...)
}

// petsIn is pets, run in dir.
func (e *env) petsIn(dir string, args ...string) result {
	e.t.Helper()
	cmd := e.cmd(args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run pets %v: %v", args, err)
	}
	return r
}

// mustPets runs pets and fails the test on a non-zero exit.
func (e *env) mustPets(args ...string) result {
	e.t.Helper()
	r := e.pets(args...)
	if r.code != 0 {
		e.t.Fatalf("pets %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (e *env) write(name, body string) {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// strays lists live processes carrying this test's marker.
func (e *env) strays() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil || !bytes.Contains(b, []byte(e.marker+"\x00")) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
				continue // a zombie waiting for init: already dead
			}
		}
		out = append(out, pid)
	}
	return out
}

type listed struct {
	Name   string `json:"name"`
	Status string `json:"state"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	PID    int    `json:"pid"`
}

func (e *env) list() map[string]listed {
	e.t.Helper()
	r := e.mustPets("list", "-o", "json")
	var items []listed
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		e.t.Fatalf("pets list -o json: %v\n%s", err, r.stdout)
	}
	m := map[string]listed{}
	for _, it := range items {
		m[it.Name] = it
	}
	return m
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func get(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("GET :%d: %v", port, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func killPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// twoServers writes the announcement's shape with petserver on free ports.
func (e *env) twoServers() (backendPort, frontendPort int) {
	backendPort, frontendPort = freePort(e.t), freePort(e.t)
	e.write("Petsfile", fmt.Sprintf(`
def backend_local():
  server = start("$PETSERVER --name backend --port %d")
  return service(server, "127.0.0.1", %d)

backend = "backend"
register(backend, "local", backend_local)

def frontend_local(b):
  server = start("$PETSERVER --name frontend --port %d --dep backend=%%s" %% b["host"])
  return service(server, "127.0.0.1", %d)

frontend = "frontend"
register(frontend, "local", frontend_local, deps=[backend])
`, backendPort, backendPort, frontendPort, frontendPort))
	return backendPort, frontendPort
}

// nothingRunning fails the test if anything is recorded or running.
func (e *env) nothingRunning() {
	e.t.Helper()
	if l := e.list(); len(l) != 0 {
		e.t.Errorf("recorded, but should not be: %v", l)
	}
	if s := e.strays(); len(s) != 0 {
		e.t.Errorf("running, but should not be: %v", s)
	}
}
