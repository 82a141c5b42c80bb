//go:build linux

package supervise

// Whole-tree ownership: servers that leave their process group (setsid, a
// double fork, a --daemonize-style fork whose parent exits) are stopped
// with their service, in both ways pets tracks a service's processes: its
// cgroup, and (PETS_TRACKING=environ) its marker variable, groups and
// descendants. A stop that cannot free the service's port fails, naming
// who holds it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// trackingModes are the ways a test runs: with a cgroup where the machine
// lets pets make one (root here; the test says when it cannot), and by
// environment.
func trackingModes(t *testing.T) []string {
	t.Helper()
	modes := []string{TrackEnviron}
	if cgroupsUsable() {
		modes = append([]string{TrackCgroup}, modes...)
	} else {
		t.Log("no cgroup v2 hierarchy pets may write to: testing environ tracking only")
	}
	return modes
}

// cgroupsUsable reports whether pets can make cgroups here.
func cgroupsUsable() bool {
	dir, err := newCgroup(filepath.Join(os.TempDir(), "pets-cgroup-probe"), "probe")
	if err != nil {
		return false
	}
	_ = proc.RemoveCgroup(dir)
	removeCgroupParents(dir)
	return true
}

// escapes are commands whose server leaves the process group pets started.
var escapes = []struct {
	name string
	line string // %[1]s petserver, %[2]d its port
}{
	// setsid forks (its caller leads a group) and the server runs in a new
	// session.
	{"setsid", "exec setsid %[1]s --name api --port %[2]d"},
	// A subshell forks the server and exits: the server is an orphan, in a
	// new session, with an empty environment (no PETS_INSTANCE).
	{"double fork", "(env -i setsid %[1]s --name api --port %[2]d &); exec sleep 1000"},
	// Like redis-server --daemonize yes: the command forks the server,
	// which closes its output, and exits 0 at once.
	{"daemonize", "setsid -f %[1]s --name api --port %[2]d </dev/null >/dev/null 2>&1; exit 0"},
}

func TestStopsEscapedServersAndRestartReplacesThem(t *testing.T) {
	for _, mode := range trackingModes(t) {
		for _, tc := range escapes {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				w := newWorld(t)
				port := freePort(t)
				project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", provider)
`, star(fmt.Sprintf(tc.line, petserverBin, port)), port))
				s := w.supervisor(project, nil)
				s.Tracking = mode
				up(t, s, apiKey)
				first := answerPID(t, port, "api")
				rec := w.record("api")
				if rec.Tracking != mode || (mode == TrackCgroup) != (rec.Cgroup != "") {
					t.Fatalf("recorded tracking %q, cgroup %q; want %s", rec.Tracking, rec.Cgroup, mode)
				}
				members, err := tracked(rec).Members()
				if err != nil || !slices.Contains(members, first) {
					t.Fatalf("the escaped server %d is not among the service's processes %v (%v)", first, members, err)
				}

				// A restart replaces the escaped server.
				up(t, s, apiKey)
				second := answerPID(t, port, "api")
				if second == first || !gone(first) {
					t.Errorf("after the restart pid %d answers; the first server %d gone: %v", second, first, gone(first))
				}
				if mode == TrackCgroup {
					if _, err := os.Stat(rec.Cgroup); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("the first instance's cgroup %s is still there (%v)", rec.Cgroup, err)
					}
				}

				// Down leaves nothing: not the server, not the port, not the cgroup.
				rec = w.record("api")
				t0 := time.Now()
				if err := s.Down(context.Background(), apiKey); err != nil {
					t.Fatal(err)
				}
				t.Logf("Down took %s", time.Since(t0))
				if !gone(second) {
					t.Errorf("the escaped server %d survived Down", second)
				}
				if proc.Accepting(addr(port)) {
					t.Errorf("port %d still accepts after Down", port)
				}
				if rec.Cgroup != "" {
					if _, err := os.Stat(filepath.Dir(rec.Cgroup)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("the cgroups of the state directory (%s) are still there (%v)", filepath.Dir(rec.Cgroup), err)
					}
				}
			})
		}
	}
}

// The escaped server ignores SIGTERM: after the grace period it is killed
// (cgroup.kill, or SIGKILL to each process).
func TestStopKillsEscapedServerThatIgnoresTerm(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			line := fmt.Sprintf("setsid -f %s --name api --port %d --ignore-term </dev/null >/dev/null 2>&1; exec sleep 1000", petserverBin, port)
			project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", provider)
`, star(line), port))
			s := w.supervisor(project, nil)
			s.Tracking, s.Grace = mode, 300*time.Millisecond
			up(t, s, apiKey)
			server := answerPID(t, port, "api")
			t0 := time.Now()
			out := &syncBuffer{}
			if err := DownAll(context.Background(), w.state, nil, s.Grace, out, nil); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(t0); took < s.Grace {
				t.Errorf("DownAll returned after %s, before the grace period", took)
			}
			contains(t, "pets down's output", out.String(), "api-local ignored SIGTERM; killed after 300ms")
			if !gone(server) || proc.Accepting(addr(port)) {
				t.Errorf("the server that ignores SIGTERM survived (gone: %v)", gone(server))
			}
		})
	}
}

// PETS_TRACKING picks the way; an unknown value is refused before anything
// runs.
func TestTrackingFromTheEnvironment(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
	t.Setenv(trackingVar, "environ")
	up(t, s, apiKey)
	if rec := w.record("api"); rec.Tracking != TrackEnviron || rec.Cgroup != "" || rec.Instance == "" {
		t.Errorf("with %s=environ: tracking %q, cgroup %q, instance %q", trackingVar, rec.Tracking, rec.Cgroup, rec.Instance)
	}
	t.Setenv(trackingVar, "sometimes")
	if _, err := s.Up(context.Background(), apiKey, nil); err == nil || err.Error() != `PETS_TRACKING="sometimes": want auto, cgroup or environ` {
		t.Errorf("Up with a bad %s = %v", trackingVar, err)
	}
	if !proc.Accepting(addr(port)) {
		t.Error("a refused Up stopped the running instance")
	}
}

// listenWhen makes the test process itself listen on port once file exists
// (a program outside the service's tree that takes its port, as
// docker-proxy does for `docker run -p`), until the test ends.
func listenWhen(t *testing.T, file string, port int) {
	t.Helper()
	done := make(chan struct{})
	ready := make(chan net.Listener, 1)
	go func() {
		defer close(ready)
		for {
			if _, err := os.Stat(file); err == nil {
				if ln, err := net.Listen("tcp", addr(port)); err == nil {
					ready <- ln
					return
				}
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		if ln, ok := <-ready; ok {
			ln.Close()
		}
	})
}

// The service's port is held by a program outside it: its stop cannot
// free the port, and says who holds it; so a restart fails (and, for a
// watching pets, the service is recorded as failed, saying why), and so
// does pets down (which forgets the service all the same).
func TestStopThatCannotFreeThePortFails(t *testing.T) {
	for _, mode := range trackingModes(t) {
		for _, how := range []string{"restart", "down"} {
			t.Run(mode+"/"+how, func(t *testing.T) {
				w := newWorld(t)
				port := freePort(t)
				listenWhen(t, filepath.Join(w.dir, "started"), port)
				project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start("touch started; exec sleep 1000"), "127.0.0.1", %d)

register("api", "local", provider)
`, port))
				out := &syncBuffer{}
				s := w.supervisor(project, out)
				s.Tracking, s.Grace = mode, 300*time.Millisecond
				up(t, s, apiKey)
				contains(t, "progress", out.String(), "answers, but not from a process of api-local")
				sleep := w.record("api").PID
				self := os.Getpid()
				want := fmt.Sprintf("%s still accepts connections after api-local was stopped: %s holds it; stop it (`kill %d`) before api-local can start again",
					addr(port), holder{pid: self, cmd: proc.CmdLine(self)}, self)
				var err error
				if how == "restart" {
					s.KeepFailed = true
					_, err = s.Up(context.Background(), apiKey, nil)
				} else {
					err = DownAll(context.Background(), w.state, nil, s.Grace, out, nil)
					want = "stop api-local: " + want
				}
				var held *PortHeldError
				if !errors.As(err, &held) || err.Error() != want {
					t.Fatalf("%s = %v; want %q", how, err, want)
				}
				if !gone(sleep) {
					t.Errorf("the service's own process %d survived", sleep)
				}
				rec, ok := w.lookup("api")
				switch {
				case how == "restart" && (!ok || rec.Status != state.Failed || rec.Reason != want || len(rec.Procs) != 0):
					t.Errorf("record after the failed restart: %+v", rec)
				case how == "down" && ok:
					t.Errorf("still recorded after pets down: %+v", rec)
				}
			})
		}
	}
}

// A record without a start time is never signalled: the stop says which
// pid it left alone, and why.
func TestStopLeavesPIDWithoutStartTimeAlone(t *testing.T) {
	w := newWorld(t)
	p := w.startProc("exec sleep 1000")
	rec := &state.Service{Name: "api", Tier: "local", Status: state.Ready, Procs: []state.Proc{{Identity: proc.Identity{PID: p.PID}, Cmd: "old sleep"}}}
	w.addRecord(rec)
	out := &syncBuffer{}
	if err := DownAll(context.Background(), w.state, nil, time.Second, out, nil); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pets: api-local: pid %d (old sleep) was not touched: its record has no start time, so pets cannot tell it from another process that got the same pid; if it is still yours, stop it yourself", p.PID)
	contains(t, "pets down's output", out.String(), want)
	if !proc.Alive(p.Identity) {
		t.Error("the process without a recorded start time was stopped")
	}
	if _, ok := w.lookup("api"); ok {
		t.Error("still recorded after pets down")
	}
	if strings.Count(out.String(), "was not touched") != 1 {
		t.Errorf("said more than once:\n%s", out)
	}
}

// A cgroup no record names (a pets killed between making it and recording
// it) is removed by pets down; one a record names is not.
func TestDownAllPrunesUnrecordedCgroups(t *testing.T) {
	if !cgroupsUsable() {
		t.Skip("no cgroup v2 hierarchy pets may write to")
	}
	w := newWorld(t)
	stray, err := newCgroup(w.state.Path, cgroupName("ghost", "local", newInstance()))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
	s.Tracking = TrackCgroup
	up(t, s, apiKey)
	kept := w.record("api").Cgroup
	if err := DownAll(context.Background(), w.state, []string{"nothing-else"}, time.Second, &syncBuffer{}, nil); err == nil {
		t.Fatal("DownAll of an unknown name succeeded")
	}
	if err := DownAll(context.Background(), w.state, []string{"api"}, time.Second, &syncBuffer{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{stray, kept, filepath.Dir(kept)} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", dir, err)
		}
	}
}

// The servers of a service are stopped newest first, as before pets
// tracked services as a whole.
func TestDownStopsServersNewestFirst(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    start(%s)
    start(%s)

register("api", "local", provider)
`, star(trapping("first")), star(trapping("second"))))
			s := w.supervisor(project, nil)
			s.Tracking = mode
			up(t, s, apiKey)
			w.waitReady("first", "second")
			if err := s.Down(context.Background(), apiKey); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(w.stopOrder(), " "); got != "second first" {
				t.Errorf("stopped in the order %q; want newest first: \"second first\"", got)
			}
		})
	}
}

// A signal to a waiter is passed on to its command's whole tree (an
// escaped daemon included), and the waiter records how its command ended.
func TestWaiterPassesSignalsOn(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	line := fmt.Sprintf("setsid -f %s --name api --port %d </dev/null >/dev/null 2>&1; exec sleep 1000", petserverBin, port)
	project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    return service(start(%s), "127.0.0.1", %d)

register("api", "local", provider)
`, star(line), port))
	s := w.supervisor(project, nil)
	up(t, s, apiKey)
	server := answerPID(t, port, "api")
	rec := w.record("api")
	waiter := rec.Procs[0]
	if err := syscall.Kill(waiter.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service to end", func() bool { return gone(server) && gone(waiter.Child.PID) && gone(waiter.PID) })
	if p, _ := findProc(w.record("api"), waiter.PID); p.Exit != "signal: terminated" {
		t.Errorf("the waiter recorded %q; want \"signal: terminated\"", p.Exit)
	}
	if ok, exit := s.Alive(context.Background(), apiKey); ok || exit != "signal: terminated" {
		t.Errorf("Alive = %v, %q", ok, exit)
	}
}
