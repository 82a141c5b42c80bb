//go:build linux

package main

// Whole-tree ownership, end to end: servers that leave their process group
// (setsid, a double fork, a --daemonize-style fork) are stopped by pets
// down and replaced by a restart, with each service tracked by its cgroup
// and (PETS_TRACKING=environ) by its environment; pets list says which; a
// stop that cannot free the port fails, naming who holds it; a crash is
// reported with its exit status by any pets.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/proc"
)

// petsEnv runs pets with extra environment.
func (e *env) petsEnv(extra []string, args ...string) result {
	e.t.Helper()
	cmd := e.cmd(args...)
	cmd.Env = append(cmd.Env, extra...)
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

func (e *env) mustPetsEnv(extra []string, args ...string) result {
	e.t.Helper()
	r := e.petsEnv(extra, args...)
	if r.code != 0 {
		e.t.Fatalf("pets %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// trackingModes: cgroup where this machine lets pets make one, and environ.
func trackingModes(t *testing.T) []string {
	mount, _, err := proc.CgroupMount()
	if err == nil {
		probe := filepath.Join(mount, fmt.Sprintf("pets-e2e-probe-%d", os.Getpid()))
		if err = os.Mkdir(probe, 0o755); err == nil {
			_ = syscall.Rmdir(probe)
			return []string{"cgroup", "environ"}
		}
	}
	t.Logf("no cgroup can be made here (%v): environ tracking only", err)
	return []string{"environ"}
}

// servedPID is the pid petserver on port says it has.
func servedPID(t *testing.T, port int) int {
	t.Helper()
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(get(t, port))
	if m == nil {
		t.Fatalf("port %d does not say its pid", port)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func TestDownStopsDaemonsAndRestartReplacesThem(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			ps := map[string]int{"setsid": freePort(t), "doublefork": freePort(t), "daemon": freePort(t)}
			e.write("Petsfile", fmt.Sprintf(`
register("setsid", "local", lambda: service(start("exec setsid $PETSERVER --port %[1]d"), "127.0.0.1", %[1]d))
# A subshell forks the server and exits: an orphan, in a new session, with an
# empty environment.
register("doublefork", "local", lambda: service(start("(env -i setsid $PETSERVER --port %[2]d &); exec sleep 100000"), "127.0.0.1", %[2]d))
# As redis-server --daemonize yes: fork, the parent exits 0, the child keeps
# the port.
register("daemon", "local", lambda: service(start("setsid -f $PETSERVER --port %[3]d </dev/null >/dev/null 2>&1; exit 0"), "127.0.0.1", %[3]d))
`, ps["setsid"], ps["doublefork"], ps["daemon"]))
			tracking := []string{"PETS_TRACKING=" + mode}
			e.mustPetsEnv(tracking, "up")
			var items []struct {
				Name     string `json:"name"`
				State    string `json:"state"`
				Tracking string `json:"tracking"`
			}
			r := e.mustPets("list", "-o", "json")
			if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.Tracking != mode || it.State != "ready" {
					t.Errorf("%s: state %q, tracking %q; want ready, %s", it.Name, it.State, it.Tracking, mode)
				}
			}
			first := map[string]int{}
			for n, p := range ps {
				first[n] = servedPID(t, p)
			}
			cgroups := "" // MOUNT/pets/HASH: this state directory's cgroups
			if mount, _, err := proc.CgroupMount(); err == nil && mode == "cgroup" {
				sum := sha256.Sum256([]byte(e.home))
				cgroups = filepath.Join(mount, "pets", hex.EncodeToString(sum[:6]))
				for n := range ps {
					if m, _ := filepath.Glob(filepath.Join(cgroups, n+"-local-*")); len(m) != 1 {
						t.Errorf("%s: cgroups %v; want one in %s", n, m, cgroups)
					} else if b, _ := os.ReadFile(filepath.Join(m[0], "cgroup.procs")); !bytes.Contains(b, []byte(strconv.Itoa(first[n])+"\n")) {
						t.Errorf("%s: its server %d is not in its cgroup %s: %q", n, first[n], m[0], b)
					}
				}
			}

			// A restart really replaces each: the old server is gone, a new one serves.
			e.mustPetsEnv(tracking, "restart", "setsid", "doublefork", "daemon")
			for n, p := range ps {
				if now := servedPID(t, p); now == first[n] || proc.Alive(proc.Identity{PID: first[n]}) {
					t.Errorf("%s: pid %d serves after the restart; the old %d is alive: %v", n, now, first[n], proc.Alive(proc.Identity{PID: first[n]}))
				}
			}
			second := map[string]int{}
			for n, p := range ps {
				second[n] = servedPID(t, p)
			}

			e.mustPets("down")
			for n, p := range ps {
				if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", p)) || proc.Alive(proc.Identity{PID: second[n]}) {
					t.Errorf("%s: port %d still accepts, or its server %d survived pets down", n, p, second[n])
				}
			}
			e.nothingRunning()
			if cgroups != "" {
				if _, err := os.Stat(cgroups); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the cgroups of the state directory are left: %s (%v)", cgroups, err)
				}
			}
		})
	}
}

// A program outside the service took its port: pets down stops the
// service, but says it could not free the port, and who holds it.
func TestDownFailsWhenThePortStaysTaken(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
register("api", "local", lambda: service(start("touch started; exec sleep 100000"), "127.0.0.1", %d))
`, port))
	// The other program starts listening once the service has started.
	var other *exec.Cmd
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(e.dir, "started")); err == nil {
				other = exec.Command(petserverBin, "--name", "other", "--port", strconv.Itoa(port))
				if other.Start() == nil {
					return
				}
				other = nil
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	r := e.mustPets("up")
	<-done
	if other == nil {
		t.Fatal("the other program did not start")
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	if !strings.Contains(r.stderr, "answers, but not from a process of api-local") {
		t.Errorf("pets up did not warn of the listener from outside:\n%s", r.stderr)
	}
	r = e.pets("down", "--grace", "500ms")
	want := fmt.Sprintf("pets: stop api-local: 127.0.0.1:%d still accepts connections after api-local was stopped: pid %d (%s --name other --port %d) holds it; stop it (`kill %d`) before api-local can start again",
		port, other.Process.Pid, petserverBin, port, other.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("pets down: exit %d\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
	if l := e.list(); len(l) != 0 {
		t.Errorf("still recorded: %v", l)
	}
}

// A service another pets started crashes: pets list says how it ended,
// as its waiter recorded it.
func TestListSaysHowACrashedServiceEnded(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
def api():
  s = start("$PETSERVER --port %[1]d & while [ ! -e crash ]; do sleep 0.01; done; kill $!; echo giving up; exit 3")
  return service(s, "127.0.0.1", %[1]d)
register("api", "local", api)
`, port))
	e.mustPets("up")
	e.write("crash", "")
	waitFor(t, "pets list to see the crash", func() bool { return e.list()["api-local"].Status == "crashed" })
	var items []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(e.mustPets("list", "-o", "json").stdout), &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Reason != "it exited (exit status 3)" {
		t.Errorf("pets list -o json: %+v; want crashed: it exited (exit status 3)", items)
	}
	if r := e.mustPets("list"); !strings.Contains(r.stdout, "crashed (it exited (exit status 3))") {
		t.Errorf("pets list:\n%s", r.stdout)
	}
}
