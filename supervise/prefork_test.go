//go:build linux

package supervise

// A restart forks the next waiter, held, while the old instance stops
// (host.prefork), and releases it with the new command: the new server
// must run as a first start's would.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// heldWaiters returns the waiters of service name that this process forked,
// that run no command (held), and that were forked for another instance
// than not (pid -> its instance).
func heldWaiters(t *testing.T, name, not string) map[int]string {
	t.Helper()
	out := map[int]string{}
	children, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, f := range children {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(field)
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			args := strings.Split(string(cmd), "\x00")
			if len(args) < 2 || args[1] != "waiter" || !strings.Contains(string(cmd), "\x00--service\x00"+name+"\x00") {
				continue
			}
			if inst := environ(pid)[instanceVar]; inst != not && !hasChildren(pid) {
				out[pid] = inst
			}
		}
	}
	return out
}

// hasChildren says whether pid has a child (a waiter runs its command).
func hasChildren(pid int) bool {
	children, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range children {
		if b, _ := os.ReadFile(f); len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// environ returns pid's environment as it was exec'd.
func environ(pid int) map[string]string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	env := map[string]string{}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

func TestRestartForksTheNextWaiterWhileTheOldStops(t *testing.T) {
	for _, mode := range trackingModes(t) {
		for _, tc := range []struct {
			name string
			line func(port int) string
		}{
			// The waiter execs a plain "exec PROGRAM ARGS" itself...
			{"exec", func(port int) string { return serverCmd("api", port, "--ignore-term") }},
			// ...and hands anything else to bash.
			{"bash", func(port int) string {
				return `echo "foo=$FOO pwd=$PWD instance=$PETS_INSTANCE"; ` + serverCmd("api", port, "--ignore-term")
			}},
		} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				w := newWorld(t)
				port := freePort(t)
				s := w.supervisor(fooProject(t, w, "", tc.line(port), port), nil)
				s.Tracking = mode
				// The server ignores SIGTERM: its stop lasts the grace
				// period, then SIGKILL.
				s.Grace = 700 * time.Millisecond
				up(t, s, apiKey)
				old := w.record("api")
				oldServer := old.Procs[0].Child

				done := make(chan error, 1)
				go func() {
					_, err := s.Up(context.Background(), apiKey, nil)
					done <- err
				}()
				var held int
				waitFor(t, "the next waiter, forked while the old server still runs", func() bool {
					for pid := range heldWaiters(t, "api", old.Instance) {
						if proc.Alive(oldServer) {
							held = pid
							return true
						}
					}
					return false
				})
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				rec := w.record("api")
				if proc.Alive(oldServer) {
					t.Errorf("the old server %d outlived the restart", oldServer.PID)
				}
				if len(rec.Procs) != 1 || rec.Procs[0].PID != held || !rec.Procs[0].Waiter {
					t.Fatalf("recorded %+v; want the waiter %d forked during the stop", rec.Procs, held)
				}
				if rec.Status != state.Ready || rec.Instance == old.Instance || rec.Procs[0].Cmd != tc.line(port) || rec.Procs[0].Dir != w.dir {
					t.Errorf("record %+v; want ready, a new instance, the line %q in %s", rec, tc.line(port), w.dir)
				}
				// The server has what a first start gives it.
				runsAsStarted(t, w, rec, port)
				if tc.name == "bash" {
					b, err := os.ReadFile(w.state.LogPath("api", "local"))
					if err != nil {
						t.Fatal(err)
					}
					contains(t, "the log", string(b), fmt.Sprintf("foo=bar pwd=%s instance=%s\n", w.dir, rec.Instance))
				}
			})
		}
	}
}

// fooProject loads a Petsfile whose api-local provider runs first (lines of
// Starlark, may be "") and then start()s line with FOO=bar, ready on port:
// what runsAsStarted checks.
func fooProject(t *testing.T, w *world, first, line string, port int) *petsfile.Project {
	t.Helper()
	return loadProject(t, w.dir, fmt.Sprintf(`
def provider():
%s    return service(start(%s, env={"FOO": "bar"}), "127.0.0.1", %d)

register("api", "local", provider)
`, first, star(line), port))
}

// runsAsStarted checks that api's server, recorded as rec, answers on port
// with what a start gives it (FOO=bar from its env=, the PETS_* variables
// of rec's instance, the Petsfile's directory), and that no other waiter
// of api is left.
func runsAsStarted(t *testing.T, w *world, rec *state.Service, port int) {
	t.Helper()
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", rec.PID)) {
		t.Errorf("port %d answers %q; want the server, pid %d", port, got, rec.PID)
	}
	env := environ(rec.PID)
	for k, want := range map[string]string{"FOO": "bar", "PETS_SERVICE": "api", "PETS_TIER": "local", instanceVar: rec.Instance} {
		if env[k] != want {
			t.Errorf("the server's %s=%q; want %q", k, env[k], want)
		}
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", rec.PID)); err != nil || cwd != w.dir {
		t.Errorf("the server runs in %q (%v); want %s", cwd, err, w.dir)
	}
	if left := heldWaiters(t, "api", rec.Instance); len(left) > 0 {
		t.Errorf("waiters left beside the one recorded: %v", left)
	}
}

// A restart whose provider no longer runs anything lets the waiter it
// forked ahead go, and removes the cgroup made for it; or, where the old
// instance's waiter was to run the next command (its first start forked
// it ahead: reused), lets that one go, and removes its cgroup.
func TestRestartThatStartsNothingLetsTheHeldWaiterGo(t *testing.T) {
	for _, mode := range trackingModes(t) {
		for name, first := range map[string]func(*testing.T, *Supervisor, petsfile.Key){
			"forked": func(t *testing.T, s *Supervisor, k petsfile.Key) { up(t, s, k) },
			"reused": upAhead,
		} {
			t.Run(mode+"/"+name, func(t *testing.T) {
				restartThatStartsNothing(t, mode, first)
			})
		}
	}
}

func restartThatStartsNothing(t *testing.T, mode string, first func(*testing.T, *Supervisor, petsfile.Key)) {
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
	s.Tracking = mode
	first(t, s, apiKey)
	old := w.record("api")
	s.Project = loadProject(t, w.dir, `
def provider():
    return None

register("api", "local", provider)
`)
	up(t, s, apiKey)
	rec := w.record("api")
	if len(rec.Procs) != 0 || rec.Status != state.Ready || rec.Cgroup != "" {
		t.Errorf("record %+v; want ready, with no process and no cgroup", rec)
	}
	if left := heldWaiters(t, "api", ""); len(left) > 0 {
		t.Errorf("waiters left: %v", left)
	}
	if proc.GroupAlive(old.Procs[0].Identity) {
		t.Errorf("the old instance's group %v is still alive", old.Procs[0].Identity)
	}
	if mode == TrackCgroup {
		noCgroupOf(t, w, rec.Instance)
		noCgroupOf(t, w, old.Instance)
	}
}

// A restart whose provider calls run() before start(), while the next
// waiter is forked ahead in the background: run() runs in the new
// instance, and the restarted server runs as any start's does, in the
// cgroup made for it, with no waiter left over.
func TestRestartWithRunBeforeStart(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			s := w.supervisor(fooProject(t, w, `    run("echo ran >> runs")`+"\n", serverCmd("api", port), port), nil)
			s.Tracking = mode
			up(t, s, apiKey)
			old := w.record("api")
			up(t, s, apiKey)
			rec := w.record("api")
			if rec.Instance == old.Instance || len(rec.Procs) != 1 {
				t.Fatalf("after the restart: %+v; want a new instance with one process", rec)
			}
			runsAsStarted(t, w, rec, port)
			if b, _ := os.ReadFile(filepath.Join(w.dir, "runs")); string(b) != "ran\nran\n" {
				t.Errorf("run() ran %q; want twice", b)
			}
			if mode == TrackCgroup && !strings.Contains(rec.Cgroup, rec.Instance) {
				t.Errorf("cgroup %q is not the instance %s's", rec.Cgroup, rec.Instance)
			}
			if left := heldWaiters(t, "api", rec.Instance); len(left) > 0 {
				t.Errorf("waiters left beside the one recorded: %v", left)
			}
		})
	}
}

// Prefork forks the waiter of a first start before Up (while pets sees to
// its state and watches): Up records and releases that waiter, and the
// server runs as any first start's does.
func TestPreforkedWaiterIsTheFirstStartsWaiter(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w, s, port := apiServer(t, mode)
			s.Prefork([]petsfile.Key{apiKey})
			held, _ := preforked(t, "api", "")
			if f, err := w.state.Read(); err != nil || f.Services["api"] != nil {
				t.Fatalf("before Up the record is %+v (%v); want none", f.Services["api"], err)
			}
			up(t, s, apiKey)
			rec := w.record("api")
			if len(rec.Procs) != 1 || rec.Procs[0].PID != held || !rec.Procs[0].Waiter {
				t.Fatalf("recorded %+v; want the waiter %d Prefork forked", rec.Procs, held)
			}
			runsAsStarted(t, w, rec, port)
			if mode == TrackCgroup && !strings.Contains(rec.Cgroup, rec.Instance) {
				t.Errorf("cgroup %q is not the instance %s's", rec.Cgroup, rec.Instance)
			}
		})
	}
}

// A waiter Prefork forked that no Up takes (the service was up already, or
// pets stopped first) is let go by DropPreforked, its cgroup removed; a
// service that runs gets none.
func TestPreforkedWaiterNotTakenIsLetGo(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			s := w.supervisor(loadProject(t, w.dir, servicePetsfile("api", port)), nil)
			s.Tracking = mode
			webKey := petsfile.Key{Name: "web", Tier: "local"}
			s.Prefork([]petsfile.Key{webKey})
			_, instance := preforked(t, "web", "")
			s.DropPreforked()
			waitFor(t, "the waiter let go", func() bool { return len(heldWaiters(t, "web", "")) == 0 })
			if mode == TrackCgroup {
				noCgroupOf(t, w, instance)
			}

			up(t, s, apiKey)
			rec := w.record("api")
			s.Prefork([]petsfile.Key{apiKey})
			if left := heldWaiters(t, "api", rec.Instance); len(left) > 0 {
				t.Errorf("Prefork of a running service forked %v", left)
			}
		})
	}
}

// preforked waits for a waiter of service name to exist that is not of
// the instance not (which runs, if any), and returns its pid and instance.
func preforked(t *testing.T, name, not string) (pid int, instance string) {
	t.Helper()
	waitFor(t, "the waiter forked ahead", func() bool {
		for p, inst := range heldWaiters(t, name, not) {
			pid, instance = p, inst
			return true
		}
		return false
	})
	return pid, instance
}

// noCgroupOf fails t if a cgroup of instance is left under w's state's
// cgroup parents.
func noCgroupOf(t *testing.T, w *world, instance string) {
	t.Helper()
	parents, err := cgroupParents(w.state.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parents {
		if matches, _ := filepath.Glob(filepath.Join(p, "*"+instance+"*")); len(matches) > 0 {
			t.Errorf("the cgroup of instance %s is still there: %v", instance, matches)
		}
	}
}

// PreforkNext, told of a round's restarts, forks the next waiter of a
// service that runs (for which Prefork forks none), unless its waiter can
// run the next command itself: one that no Up takes is let go by the func
// PreforkNext returns, and its cgroup removed; the restart's Up takes one,
// and the server runs as any restart's does. Its waiter, released with its
// command, is reused by the next restart: PreforkNext forks none for it.
func TestPreforkNextForksARestartsWaiter(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w, s, port := apiServer(t, mode)
			up(t, s, apiKey) // its waiter forked with its command: not reusable
			old := w.record("api")

			drop := s.PreforkNext([]petsfile.Key{apiKey}, nil)
			_, instance := preforked(t, "api", old.Instance)
			drop()
			waitFor(t, "the waiter let go", func() bool { return len(heldWaiters(t, "api", old.Instance)) == 0 })
			if mode == TrackCgroup {
				noCgroupOf(t, w, instance)
			}
			if now := w.record("api"); now.Instance != old.Instance || len(now.Procs) != 1 || now.Procs[0].Identity != old.Procs[0].Identity {
				t.Errorf("letting go of the unused waiter changed the record to %+v", now)
			}

			drop = s.PreforkNext([]petsfile.Key{apiKey}, nil)
			held, _ := preforked(t, "api", old.Instance)
			up(t, s, apiKey)
			drop()
			rec := w.record("api")
			if rec.Instance == old.Instance || len(rec.Procs) != 1 || rec.Procs[0].PID != held {
				t.Fatalf("after the restart, recorded %+v (instance %s); want the waiter %d PreforkNext forked", rec.Procs, rec.Instance, held)
			}
			runsAsStarted(t, w, rec, port)

			drop = s.PreforkNext([]petsfile.Key{apiKey}, nil)
			up(t, s, apiKey)
			drop()
			again := w.record("api")
			if again.Instance == rec.Instance || len(again.Procs) != 1 || again.Procs[0].Identity != rec.Procs[0].Identity || again.Procs[0].Child == rec.Procs[0].Child {
				t.Fatalf("after the next restart, recorded %+v (instance %s); want the waiter %d again, with a new command", again.Procs, again.Instance, held)
			}
			if left := heldWaiters(t, "api", again.Instance); len(left) > 0 {
				t.Errorf("PreforkNext forked a waiter for a service whose waiter is reused: %v", left)
			}
			runsAsStarted(t, w, again, port)
		})
	}
}

// PreforkNext forks the waiters of later (services whose steps wait for
// others) too, one after another in the background: each restart takes
// its own. The func it returns stops that, and lets go of every waiter it
// forked that no Up took, whenever it is called.
func TestPreforkNextForksLaterOnes(t *testing.T) {
	for _, mode := range trackingModes(t) {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			apiPort, webPort := freePort(t), freePort(t)
			s := w.supervisor(loadProject(t, w.dir, localServers([]string{"api", "web"}, []int{apiPort, webPort})), nil)
			s.Tracking = mode
			webKey := petsfile.Key{Name: "web", Tier: "local"}
			up(t, s, apiKey) // forked with their commands: not reusable
			up(t, s, webKey)
			api, web := w.record("api"), w.record("web")

			// Not taken: let go. Let go at once: the forks not made yet are
			// not made.
			drop := s.PreforkNext(nil, []petsfile.Key{apiKey, webKey})
			_, apiInst := preforked(t, "api", api.Instance)
			_, webInst := preforked(t, "web", web.Instance)
			drop()
			s.PreforkNext(nil, []petsfile.Key{apiKey, webKey})()
			for name, inst := range map[string]string{"api": api.Instance, "web": web.Instance} {
				if left := heldWaiters(t, name, inst); len(left) > 0 {
					t.Errorf("after the func PreforkNext returned, waiters of %s are left: %v", name, left)
				}
			}
			if mode == TrackCgroup {
				noCgroupOf(t, w, apiInst)
				noCgroupOf(t, w, webInst)
			}

			drop = s.PreforkNext(nil, []petsfile.Key{apiKey, webKey})
			apiHeld, _ := preforked(t, "api", api.Instance)
			webHeld, _ := preforked(t, "web", web.Instance)
			up(t, s, apiKey)
			up(t, s, webKey)
			drop()
			for name, held := range map[string]int{"api": apiHeld, "web": webHeld} {
				if rec := w.record(name); len(rec.Procs) != 1 || rec.Procs[0].PID != held {
					t.Errorf("%s's restart recorded %+v; want the waiter %d PreforkNext forked", name, rec.Procs, held)
				}
			}
		})
	}
}

// apiServer is a world whose Petsfile's api start()s a server on a free
// port, and a supervisor of it that tracks by mode.
func apiServer(t *testing.T, mode string) (*world, *Supervisor, int) {
	t.Helper()
	w := newWorld(t)
	port := freePort(t)
	s := w.supervisor(fooProject(t, w, "", serverCmd("api", port), port), nil)
	s.Tracking = mode
	return w, s, port
}
